"""Exponentials, logarithms and what is built from them: exp, exp2, expm1, log, log2, log10,
log1p, power, sinh, cosh, tanh, logaddexp. Range reduction by ln 2 (Cody-Waite, with fma),
minimax polynomials (`_coeffs`), exact rescaling through the exponent bits."""

from __future__ import annotations

import math

from . import _coeffs as C
from ._emit import Emitter

INF = math.inf
NAN = math.nan
LOG2E = 1.4426950408889634

# ln 2 split for the reduction x - k*ln2 (fma makes the first product exact in both cases)
LN2_HI = {True: 0.6931471805599453, False: 0.693147182464599609375}
LN2_LO = {True: 2.3190468138462996e-17, False: -1.9046542121259336e-09}
# ln 2 split for log: LN2_HI has trailing zeros so that k * LN2_HI is exact for every k
LOG_LN2_HI = {True: 6.93147180369123816490e-01, False: 6.9313812256e-01}
LOG_LN2_LO = {True: 1.90821492927058770002e-10, False: 9.0580006145e-06}
# exp input limits: below the first the result is +0, above the second inf (with margin for a
# caller's extra power of two)
EXP_LIMITS = {True: (-746.0, 711.0), False: (-104.0, 90.0)}


def exp_core(m: Emitter, x, lo=None, kextra=None):
    """e**(x + lo) * 2**kextra, where lo is a small correction to x; nan stays nan,
    overflow gives inf, underflow gives correctly rounded subnormals or 0."""
    d = m.double
    xc = m.clamp(x, *EXP_LIMITS[d])
    kf, k = m.round_magic(m.mul(xc, LOG2E))
    r = m.fma(kf, -LN2_HI[d], xc)
    r = m.fma(kf, -LN2_LO[d], r)
    if lo is not None:
        r = m.add(r, lo)
    p = m.add(m.fma(m.mul(r, r), m.poly(r, C.EXP[d]), r), 1.0)
    if kextra is not None:
        k = m.iadd(k, kextra)
    return m.ldexp(p, k)


def exp(m: Emitter, x):
    return exp_core(m, x)


def exp2(m: Emitter, x):
    """2**x: k = rint(x), r = x - k exactly, 2**r by a polynomial in r."""
    xc = m.clamp(x, -1080.0, 1030.0)
    kf, k = m.round_magic(xc)
    r = m.sub(xc, kf)
    p = m.fma(r, m.poly(r, C.EXP2), 1.0)
    return m.ldexp(p, k)


def expm1(m: Emitter, x):
    """e**x - 1 = T*r + (T - 1) + T*(e**r - 1 - r) with T = 2**k, r = x - k*ln2 carried with
    its rounding error c. The first two terms are one fma, so nothing cancels for k = +-1;
    T = 2 * 2**(k-1) keeps the scale finite up to the overflow threshold."""
    d = m.double
    xc = m.clamp(x, -40.0 if d else -18.0, 710.0 if d else 89.0)
    kf, k = m.round_magic(m.mul(xc, LOG2E))
    r1 = m.fma(kf, -LN2_HI[d], xc)
    r = m.fma(kf, -LN2_LO[d], r1)
    c = m.fma(kf, -LN2_LO[d], m.sub(r1, r))
    r2 = m.mul(r, r)
    # e**(r+c) - 1 - r = r*r/2 + r**3 P(r) + c*(1 + r)
    small = m.fma(m.mul(r2, r), m.poly(r, C.EXPM1[d]), m.fma(r2, 0.5, m.fma(c, r, c)))
    th = m.pow2i(m.isub(k, 1))
    hi = m.fma(th, r, m.sub(th, 0.5))
    res = m.mul(m.fma(th, small, hi), 2.0)
    # tiny x (subnormals, signed zeros) is its own answer; the formula would lose the last bit
    return m.sel(m.lt(m.fabs(x), 2.0 ** -(m.mant + 2)), x, res)


def log_parts(m: Emitter, u, kextra=None):
    """u = 2**k * (1 + f) with 1 + f in [sqrt(1/2), sqrt(2)), for finite u > 0 (subnormals
    included). Returns (k as float, f, f*f/2, s = f/(2+f), R) where
    log(1+f) = f - f*f/2 + s*(f*f/2 + R) (fdlibm's decomposition)."""
    d = m.double
    tiny = m.lt(u, 2.0**-1022 if d else 2.0**-126)
    u = m.sel(tiny, m.mul(u, 2.0**54 if d else 2.0**25), u)
    one_bits = 0x3FF0000000000000 if d else 0x3F800000
    sqrt_half_bits = 0x3FE6A09E667F3BCD if d else 0x3F3504F3
    ix = m.iadd(m.to_int(u), one_bits - sqrt_half_bits)
    k = m.isub(m.ashr(ix, m.mant), m.bias)
    k = m.iadd(k, m.isel(tiny, -54 if d else -25, 0))
    if kextra is not None:
        k = m.iadd(k, kextra)
    mant_mask = (1 << m.mant) - 1
    f = m.sub(m.from_int(m.iadd(m.iand(ix, mant_mask), sqrt_half_bits)), 1.0)
    s = m.div(f, m.add(f, 2.0))
    z = m.mul(s, s)
    big_r = m.mul(z, m.poly(z, C.LOG[d]))
    hfsq = m.mul(m.mul(f, f), 0.5)
    return m.small_int_to_float(k), f, hfsq, s, big_r


def log_core(m: Emitter, u, corr=None, kextra=None):
    """log(u) + corr + kextra*ln2 for finite u > 0, where corr is a small correction (the
    rounding error of u relative to u, for log1p)."""
    d = m.double
    kf, f, hfsq, s, big_r = log_parts(m, u, kextra)
    lo = m.mul(kf, LOG_LN2_LO[d])
    if corr is not None:
        lo = m.add(lo, corr)
    inner = m.sub(hfsq, m.fma(s, m.add(hfsq, big_r), lo))
    return m.sub(m.mul(kf, LOG_LN2_HI[d]), m.sub(inner, f))


def _log_specials(m: Emitter, x, res):
    """NumPy's values at the edges of log's domain: log(inf)=inf, log(0)=-inf, log(<0)=nan."""
    res = m.sel(m.eq(x, INF), INF, res)
    res = m.sel(m.eq(x, 0.0), -INF, res)
    res = m.sel(m.lt(x, 0.0), NAN, res)
    return m.sel(m.isnan(x), x, res)


def log(m: Emitter, x):
    return _log_specials(m, x, log_core(m, x))


def _log_scaled(m: Emitter, x, inv_hi: float, inv_lo: float, k_hi: float, k_lo: float):
    """k*log_b(2) + log(1+f)/ln(b) in double, with log(1+f) split into a high part with 32
    trailing zero bits and the rest so that the products stay accurate (fdlibm's log2/log10)."""
    kf, f, hfsq, s, big_r = log_parts(m, x)
    hi = m.sub(f, hfsq)
    hi = m.from_int(m.iand(m.to_int(hi), 0xFFFFFFFF00000000 - (1 << 64)))
    lo = m.add(m.sub(m.sub(f, hi), hfsq), m.mul(s, m.add(hfsq, big_r)))
    val_hi = m.mul(hi, inv_hi)
    val_lo = m.fma(m.add(lo, hi), inv_lo, m.mul(lo, inv_hi))
    y_hi = m.mul(kf, k_hi)
    val_lo = m.fma(kf, k_lo, val_lo)
    w = m.add(y_hi, val_hi)
    val_lo = m.add(val_lo, m.add(m.sub(y_hi, w), val_hi))
    return _log_specials(m, x, m.add(val_lo, w))


def log2(m: Emitter, x):
    return _log_scaled(m, x, 1.44269504072144627571e00, 1.67517131648865118353e-10, 1.0, 0.0)


def log10(m: Emitter, x):
    return _log_scaled(
        m, x, 4.34294481878168880939e-01, 2.50829467116452752298e-11,
        3.01029995663611771306e-01, 3.69423907715893078616e-13,
    )


def _log1p_arg(m: Emitter, x):
    """(u, c/u) with u = fl(1 + x) and c = (1 + x) - u exactly, so log1p(x) = log(u) + c/u."""
    u = m.add(x, 1.0)
    c = m.sel(m.lt(u, 2.0), m.sub(x, m.sub(u, 1.0)), m.sub(1.0, m.sub(u, x)))
    return u, m.div(c, u)


def log1p_core(m: Emitter, x):
    """log1p(x) for x > -1 finite (callers with a nonnegative argument need no specials)."""
    u, corr = _log1p_arg(m, x)
    res = log_core(m, u, corr)
    return m.sel(m.lt(m.fabs(x), 2.0 ** -(m.mant + 2)), x, res)


def log1p(m: Emitter, x):
    res = log1p_core(m, x)
    res = m.sel(m.eq(x, INF), INF, res)
    res = m.sel(m.eq(x, -1.0), -INF, res)
    res = m.sel(m.lt(x, -1.0), NAN, res)
    return m.sel(m.isnan(x), x, res)


def _log_dd(m: Emitter, ax):
    """log(ax) as a double-double (hi, lo) with about 2**-66 relative error, for power:
    log(1+f) = 2s + (2/3)s**3 + s**5 P(s*s), s = f/(2+f), the first two terms in
    double-double arithmetic."""
    kf, f, _, _, _ = log_parts(m, ax)
    # den = 2 + f = 1 + m exactly as den + den_lo (Fast2Sum: 1 is the larger exponent)
    den = m.add(f, 2.0)
    den_lo = m.sub(f, m.sub(den, 2.0))
    s = m.div(f, den)
    rem = m.fma(m.neg(s), den, f)
    rem = m.fma(m.neg(s), den_lo, rem)
    s_lo = m.div(rem, den)
    s2 = m.mul(s, s)
    s2_lo = m.fma(s, s, m.neg(s2))
    s3 = m.mul(s2, s)
    s3_lo = m.add(m.fma(s2, s, m.neg(s3)), m.fma(s2_lo, s, m.mul(m.mul(s2, s_lo), 3.0)))
    c3_hi, c3_lo = 0.6666666666666666, 3.700743415417188e-17
    t3 = m.mul(s3, c3_hi)
    t3_lo = m.add(m.fma(s3, c3_hi, m.neg(t3)), m.fma(s3_lo, c3_hi, m.mul(s3, c3_lo)))
    t5 = m.mul(m.mul(s3, s2), m.poly(s2, C.POWLOG))
    two_s = m.mul(s, 2.0)
    h = m.add(two_s, t3)
    h_lo = m.add(m.sub(t3, m.sub(h, two_s)), m.add(m.fma(s_lo, 2.0, t3_lo), t5))
    # + k*ln2 (LOG_LN2_HI has trailing zeros: the product is exact)
    kl = m.mul(kf, LOG_LN2_HI[True])
    kl_lo = m.mul(kf, LOG_LN2_LO[True])
    tot = m.add(kl, h)
    bb = m.sub(tot, kl)
    err = m.add(m.sub(kl, m.sub(tot, bb)), m.sub(h, bb))
    lo = m.add(err, m.add(h_lo, kl_lo))
    hi = m.add(tot, lo)
    return hi, m.sub(lo, m.sub(hi, tot))


def _power_specials(m: Emitter, x, y, mag):
    """C99 / NumPy special cases of pow around the magnitude |x|**y computed for finite
    positive |x|."""
    ax, ay = m.fabs(x), m.fabs(y)
    yint = m.eq(m.trunc(y), y)
    half = m.mul(y, 0.5)
    yodd = m.and_(yint, m.one(m.trunc(half), half))
    ylt0 = m.lt(y, 0.0)
    res = m.sel(m.eq(ax, 0.0), m.sel(ylt0, INF, 0.0), mag)
    res = m.sel(m.eq(ax, INF), m.sel(ylt0, 0.0, INF), res)
    grows = m.b.icmp_unsigned("==", m.gt(ax, 1.0), m.gt(y, 0.0))
    at_inf = m.sel(m.eq(ax, 1.0), 1.0, m.sel(grows, INF, 0.0))
    res = m.sel(m.eq(ay, INF), at_inf, res)
    res = m.sel(m.and_(m.signbit(x), yodd), m.neg(res), res)
    bad = m.and_(m.and_(m.lt(x, 0.0), m.lt(ax, INF)), m.not_(yint))
    res = m.sel(bad, NAN, res)
    res = m.sel(m.or_(m.isnan(x), m.isnan(y)), m.add(x, y), res)
    return m.sel(m.or_(m.eq(y, 0.0), m.eq(x, 1.0)), 1.0, res)


def power(m: Emitter, x, y, precise: bool = True):
    """x**y = exp(y * log|x|) with log|x| in double-double. float32 runs in double with
    ``precise=False``: the plain double log is accurate enough for a float32 result."""
    ax = m.fabs(x)
    if precise:
        lhi, llo = _log_dd(m, ax)
        p = m.mul(y, lhi)
        p_lo = m.fma(y, llo, m.fma(y, lhi, m.neg(p)))
        p_lo = m.sel(m.lt(m.fabs(p), 1000.0), p_lo, 0.0)
        mag = exp_core(m, p, lo=p_lo)
    else:
        mag = exp_core(m, m.mul(y, log_core(m, ax)))
    return _power_specials(m, x, y, mag)


def tanh(m: Emitter, x):
    """The float64 tanh (float32: `tanh_f32`). |x| < 0.625: x + x**3 P(x*x). Above:
    1 - 2/(e + 1) with e = e**(2|x|) >= 3.49, so the subtraction loses at most one bit and e's
    error is damped by 2e/(e+1)**2 <= 0.35 (hence `TANH_EXP`, a degree below exp's own
    polynomial); 2|x| is clamped where tanh rounds to 1, which keeps e**(2|x|) a plain
    2**k * p (no ldexp). 1.35 ulp on 10**7 samples; GELU at 1e7 float64 8.05 ms (8.45 with
    the full-degree polynomials, which measured 1.30 ulp)."""
    d = m.double
    a = m.fabs(x)
    # odd in x: evaluated on |x| and given x's sign at the end (so -0.0 stays -0.0); below
    # 2**-(mant/2 + 2) tanh x rounds to x, and a = 0 keeps a*a out of slow subnormals
    tiny = m.lt(a, 2.0 ** -(m.mant // 2 + 2))
    a = m.sel(tiny, 0.0, a)
    z = m.mul(a, a)
    small = m.fma(m.mul(a, z), m.poly(z, C.TANH[d]), a)
    y = m.mul(m.sel(m.gt(a, 22.0), 22.0, a), 2.0)
    kf, k = m.round_magic(m.mul(y, LOG2E))
    r = m.fma(kf, -LN2_HI[d], y)
    r = m.fma(kf, -LN2_LO[d], r)
    e = m.mul(m.add(m.fma(m.mul(r, r), m.poly(r, C.TANH_EXP if d else C.EXP[d]), r), 1.0),
              m.pow2i(k))
    big = m.sub(1.0, m.div(2.0, m.add(e, 1.0)))
    return m.sel(tiny, x, m.copysign(m.sel(m.lt(a, 0.625), small, big), x))


# 2 log2(e) rounded to float32 (tanh_f32 reduces by it in one fma, without a low part)
TWO_LOG2E_F32 = 2.8853900432586670


def tanh_f32(m: Emitter, x):
    """The float32 tanh, written for the fewest multiplies (it is the hot call of GELU and
    tanh MLPs): |x| < 0.7: x + x**3 P(x*x). Above: 1 - 2/(e + 1) with e = 2**t, t = 2|x| log2 e
    reduced to t - k by one fma (its error, and the unsplit constant's, reach tanh damped by
    2e/(e+1)**2 <= 0.33), 2**(t-k) a degree-5 polynomial (9.3e-8) and k added to its exponent
    bits (|x| is clamped at 9.25, where tanh rounds to 1, so e stays finite and normal).
    Measured over every float32 below 9.5: 1.57 ulp (with a degree-6 polynomial 1.18, and GELU
    at 1e7 on two threads 4.5% slower: 2.48 against 2.37 ms; the float64 routine's form in
    float32: 1.33 ulp, and 13% slower). No separate tiny-argument case: the small branch is
    exact there, and dropping it took the GELU loop from 46 to 42 instructions (no spill):
    tanh 2.22 -> 1.95 ms, GELU 3.13 -> 2.84 at 1e7 on two threads."""
    a = m.fabs(x)
    z = m.mul(a, a)
    # exact for tiny |x| too (x**3/3 is below half an ulp of x there, and x*z underflows)
    small = m.fma(m.mul(a, z), m.poly(z, C.TANH[False]), a)
    ac = m.sel(m.gt(a, 9.25), 9.25, a)
    kf, k = m.round_magic(m.mul(ac, TWO_LOG2E_F32))
    f = m.fma(ac, TWO_LOG2E_F32, m.neg(kf))
    p = m.fma(f, m.poly(f, C.EXP2_F32), 1.0)
    e = m.from_int(m.iadd(m.to_int(p), m.shl(k, m.mant)))
    big = m.sub(1.0, m.div(2.0, m.add(e, 1.0)))
    # nan takes the small branch (unordered compare), which keeps it a nan: the big branch's
    # integer exponent arithmetic could turn a nan into a number
    return m.copysign(m.sel(m.ult(a, 0.7), small, big), x)


def sinh(m: Emitter, x):
    """(e + e/(e+1))/2 with e = expm1|x| (no cancellation), e**|x|/2 past 22."""
    a = m.fabs(x)
    small = m.lt(a, 22.0)
    em = expm1(m, m.sel(small, a, 22.0))
    h = m.mul(m.add(em, m.div(em, m.add(em, 1.0))), 0.5)
    big = exp_core(m, a, kextra=m.i(-1))
    return m.copysign(m.sel(small, h, big), x)


def cosh(m: Emitter, x):
    """e/2 + 1/(4 * e/2) with e/2 = e**|x| * 2**-1 (finite up to the true overflow)."""
    eh = exp_core(m, m.fabs(x), kextra=m.i(-1))
    return m.add(eh, m.div(0.25, eh))


def logaddexp(m: Emitter, x, y):
    """log(e**x + e**y) = max + log1p(e**-|x-y|), NumPy's formula and special cases."""
    d = m.sub(x, y)
    big = m.sel(m.gt(d, 0.0), x, y)
    res = m.add(big, log1p_core(m, exp_core(m, m.neg(m.fabs(d)))))
    res = m.sel(m.isnan(d), d, res)
    return m.sel(m.eq(x, y), m.add(x, math.log(2.0)), res)
