"""Circular functions: sin, cos, tan (quadrant reduction by pi/2 in four parts with fma) and
arctan, arctan2, arcsin, arccos (argument reduction to a small interval, odd polynomials).
All in double, except float32 sin/cos: the quadrant and remainder in double (or, for |x| < 2**17,
in float32), the polynomials in float32 (twice the vector width of a double evaluation)."""

from __future__ import annotations

import math

from llvmlite import ir

from . import _coeffs as C
from ._emit import Emitter

# pi/2 = PIO2[0] + PIO2[1] + PIO2[2] + PIO2[3] + O(2**-135). The first three parts carry 26
# significant bits, so with fma every step but the last is exact while |q| < 2**52.
PIO2 = (
    float.fromhex("0x1.921fb58000000p+0"),
    float.fromhex("-0x1.dde9740000000p-27"),
    float.fromhex("0x1.1a62630000000p-54"),
    float.fromhex("0x1.8a2e03707344ap-81"),
)
# the last two parts merged: enough for float32 results (|r| >~ 2**-30 for float32 x < 2**51)
PIO2_3 = (PIO2[0], PIO2[1], PIO2[2] + PIO2[3])
TWO_OVER_PI = 0.6366197723675814
# pi/2 as float32 + float32 remainder
PIO2_F = (float.fromhex("0x1.921fb6p+0"), float.fromhex("-0x1.777a5cp-25"))
# pi/2 in three float32 parts (Cody-Waite with fma), for the short-range float32 reduction
PIO2_F3 = (float.fromhex("0x1.921fb6p+0"), float.fromhex("-0x1.777a5cp-25"),
           float.fromhex("-0x1.ee59dap-50"))
# below this |x| the float32 reduction is as accurate as the double one (0.83 / 0.85 ulp max
# over every 7th float32; 1.75 ulp at 2**20)
SHORT_LIMIT_F32 = 2.0**17
PIO2_HI, PIO2_LO = 1.5707963267948966, 6.123233995736766e-17
PIO4_HI, PIO4_LO = 0.7853981633974483, 3.061616997868383e-17
PI_HI, PI_LO = 3.141592653589793, 1.2246467991473532e-16
# up to this |x| (q < 2**51) every step above but the last is exact and q is at most one off;
# beyond it the quadrant and remainder are meaningless
REDUCTION_LIMIT = 2.0**51


def _minus_part(m: Emitter, r, q, part: float):
    """(hi, err) with hi + err = r - q*part exactly: the product and the difference are each
    rounded once, and both rounding errors are kept (TwoProd, TwoSum)."""
    p = m.mul(q, part)
    p_lo = m.fma(q, part, m.neg(p))
    hi = m.sub(r, p)
    bb = m.sub(hi, r)
    err = m.sub(m.sub(r, m.sub(hi, bb)), m.add(p, bb))
    return hi, m.sub(err, p_lo)


def _fast_two_sum(m: Emitter, hi, lo):
    """(r, r_lo): hi + lo rounded, and what the rounding lost (|lo| small against hi)."""
    r = m.add(hi, lo)
    return r, m.sub(lo, m.sub(r, hi))


def _reduce(m: Emitter, x):
    """(r, r_lo, n) with x = r + r_lo + q*pi/2, |r| <= ~pi/4, r_lo the rounding error of r and
    n = q mod 4 (an integer). Past REDUCTION_LIMIT, r and r_lo are clamped (to [-1, 1] and to
    a tiny interval) so that results stay sane; inf and nan give nan."""
    q = m.rint(m.mul(x, TWO_OVER_PI))
    # q mod 4 in floating point (every step exact), then to an integer
    _, n = m.round_magic(m.sub(q, m.mul(m.floor(m.mul(q, 0.25)), 4.0)))
    r = m.fma(q, -PIO2[0], x)
    r = m.fma(q, -PIO2[1], r)
    hi, err = _minus_part(m, r, q, PIO2[2])
    r, r_lo = _fast_two_sum(m, hi, m.sub(err, m.mul(q, PIO2[3])))
    # for large |x| the rounding of x * 2/pi can put q one off: move r back by pi/2 (exact)
    up, down = m.gt(r, PIO4_HI), m.lt(r, -PIO4_HI)
    step = m.sel(up, 1.0, m.sel(down, -1.0, 0.0))
    r = m.fma(step, -PIO2_HI, r)
    r_lo = m.fma(step, -PIO2_LO, r_lo)
    n = m.iadd(n, m.isel(up, 1, m.isel(down, -1, 0)))
    return m.clamp(r, -1.0, 1.0), m.clamp(r_lo, -(2.0**-40), 2.0**-40), n


def _sin_cos_poly(m: Emitter, r, r_lo):
    """(sin(r + r_lo), cos(r + r_lo)) for |r| <= ~pi/4, r_lo tiny, in m's type. float32
    evaluates cos as one Horner polynomial in r*r: the compensated 1 - r*r/2 of the double
    form costs a third of a float32 sin/cos and buys 0.35 ulp (1.17 -> 0.82 max)."""
    if not m.double:
        z = m.mul(r, r)
        s = m.add(r, m.fma(m.mul(r, z), m.poly(z, C.SIN[False]), r_lo))
        c = m.fma(z, m.poly(z, C.COS_F32), m.fma(m.neg(r), r_lo, 1.0))
        return s, c
    z = m.mul(r, r)
    hz = m.mul(z, 0.5)
    w = m.sub(1.0, hz)
    s_tail = m.fma(r_lo, w, m.mul(m.mul(r, z), m.poly(z, C.SIN[m.double])))
    c_tail = m.fma(m.mul(z, z), m.poly(z, C.COS[m.double]), m.sub(m.sub(1.0, w), hz))
    return m.add(r, s_tail), m.add(w, m.fma(m.neg(r), r_lo, c_tail))


def _quadrant(m: Emitter, s, c, n):
    """sin(r + n*pi/2) from sin r, cos r: odd n takes cos, n & 2 flips the sign."""
    odd = m.b.icmp_signed("!=", m.iand(n, 1), m.i(0))
    v = m.sel(odd, c, s)
    flip = m.shl(m.iand(n, 2), m.nbits - 2)
    return m.from_int(m.ixor(m.to_int(v), flip))


def _reduce_f32(m: Emitter, x):
    """float32 (r, r_lo, n) as ``_reduce``, computed in double: x (24 bits) less q*pi/2 with
    a three-part pi/2 (the first two steps exact, the third's rounding relative 2**-53 of r,
    pi/2's remainder under q*2**-107), split into float r + r_lo. The double part is a
    handful of operations; the polynomials that follow run at float32 width."""
    md = m.with_type(ir.DoubleType())
    xd = m.b.fpext(x, md.ty)
    q, n = md.round_magic(md.mul(xd, TWO_OVER_PI))
    rd = xd
    for part in PIO2_3:
        rd = md.fma(q, -part, rd)
    r = m.b.fptrunc(rd, m.ty)
    r_lo = m.b.fptrunc(md.sub(rd, m.b.fpext(r, md.ty)), m.ty)
    n = m.b.trunc(n, m.ity)
    # past 2**40 the rounding of x * 2/pi can put q one off (|r| up to ~1.18): move r back by
    # pi/2 (in float, exact by Sterbenz; pi/2's float rounding error goes to r_lo)
    stepf, step = m.round_magic(m.mul(r, TWO_OVER_PI))
    r = m.fma(stepf, -PIO2_F[0], r)
    r_lo = m.fma(stepf, -PIO2_F[1], r_lo)
    n = m.iadd(n, step)
    return m.clamp(r, -1.0, 1.0), m.clamp(r_lo, -(2.0**-20), 2.0**-20), n


def _reduce_f32_short(m: Emitter, x):
    """float32 (r, r_lo, n) as ``_reduce`` all in float32, valid for |x| < SHORT_LIMIT_F32:
    the first fma is exact, r_lo keeps the last one's rounding error. About a third of the
    operations of ``_reduce_f32`` (no double lanes, no conversions)."""
    q, n = m.round_magic(m.mul(x, TWO_OVER_PI))
    r = m.fma(q, -PIO2_F3[0], x)
    hi, err = _minus_part(m, r, q, PIO2_F3[1])
    r, r_lo = _fast_two_sum(m, hi, m.fma(q, -PIO2_F3[2], err))
    return r, r_lo, n


def _sin_cos(m: Emitter, x, short: bool = False):
    """(sin r, cos r, n) with x = r + n*pi/2 (n mod 4 matters), and a flag for |x| < 2**-13
    in float32, where sin x rounds to x and cos x to 1: there x is replaced by 0, so that
    r*r cannot underflow into subnormals (slow on x86) and cos comes out 1 exactly."""
    tiny = None
    if not m.double:
        tiny = m.lt(m.fabs(x), 2.0**-13)
        x = m.sel(tiny, 0.0, x)
    if m.double:
        r, r_lo, n = _reduce(m, x)
    else:
        r, r_lo, n = (_reduce_f32_short if short else _reduce_f32)(m, x)
    return (*_sin_cos_poly(m, r, r_lo), n, tiny)


def sin(m: Emitter, x, short: bool = False):
    s, c, n, tiny = _sin_cos(m, x, short)
    # sin(-0.0) = -0.0: the reduction loses the sign of zero
    return m.sel(tiny if tiny is not None else m.eq(x, 0.0), x, _quadrant(m, s, c, n))


def cos(m: Emitter, x, short: bool = False):
    s, c, n, _ = _sin_cos(m, x, short)
    return _quadrant(m, s, c, m.iadd(n, 1))


def tan(m: Emitter, x):
    """sin r / cos r, or -cos r / sin r in odd quadrants (tan has period pi)."""
    r, r_lo, n = _reduce(m, x)
    s, c = _sin_cos_poly(m, r, r_lo)
    odd = m.b.icmp_signed("!=", m.iand(n, 1), m.i(0))
    res = m.div(m.sel(odd, m.neg(c), s), m.sel(odd, s, c))
    return m.sel(m.eq(x, 0.0), x, res)


def _atan_core(m: Emitter, num, den):
    """atan(num/den) for num, den >= 0 as (hi, lo), reduced to |u| <= tan(pi/8) by
    atan(a) = pi/4 + atan((a-1)/(a+1)) and atan(a) = pi/2 - atan(1/a), with one division."""
    big = m.gt(num, m.mul(den, 2.414213562373095))
    mid = m.and_(m.gt(num, m.mul(den, 0.41421356237309503)), m.not_(big))
    u = m.div(
        m.sel(big, m.neg(den), m.sel(mid, m.sub(num, den), num)),
        m.sel(big, num, m.sel(mid, m.add(num, den), den)),
    )
    off_hi = m.sel(big, PIO2_HI, m.sel(mid, PIO4_HI, 0.0))
    off_lo = m.sel(big, PIO2_LO, m.sel(mid, PIO4_LO, 0.0))
    z = m.mul(u, u)
    v = m.add(u, m.fma(m.mul(u, z), m.poly(z, C.ATAN), off_lo))
    hi = m.add(off_hi, v)
    # Fast2Sum: off_hi is the larger unless it is 0, and then lo is 0 as it should be
    return hi, m.add(m.sub(off_hi, hi), v)


def arctan(m: Emitter, x):
    return m.copysign(_atan_core(m, m.fabs(x), m.c(1.0))[0], x)


def arctan2(m: Emitter, y, x):
    """atan(|y|/|x|) in [0, pi/2], mirrored to the left half plane (pi - it, in double-double)
    when x's sign bit is set, with y's sign; zeros and infinities as C99 atan2."""
    ay, ax = m.fabs(y), m.fabs(x)
    # bring both into a range where the reduction's sums and products neither overflow nor
    # lose bits to subnormals (exact power-of-two scaling, the ratio is unchanged)
    big = m.sel(m.gt(ay, ax), ay, ax)
    scale = m.sel(m.gt(big, 2.0**900), 2.0**-200, m.sel(m.lt(big, 2.0**-900), 2.0**200, 1.0))
    hi, lo = _atan_core(m, m.mul(ay, scale), m.mul(ax, scale))
    y_inf, x_inf = m.eq(ay, math.inf), m.eq(ax, math.inf)
    for cond, (c_hi, c_lo) in (
        (m.and_(m.eq(ay, 0.0), m.eq(ax, 0.0)), (0.0, 0.0)),
        (y_inf, (PIO2_HI, PIO2_LO)),
        (m.and_(y_inf, x_inf), (PIO4_HI, PIO4_LO)),
        (m.and_(x_inf, m.lt(ay, math.inf)), (0.0, 0.0)),
    ):
        hi, lo = m.sel(cond, c_hi, hi), m.sel(cond, c_lo, lo)
    left = m.add(m.sub(PI_HI, hi), m.sub(PI_LO, lo))
    res = m.copysign(m.sel(m.signbit(x), left, hi), y)
    return m.sel(m.or_(m.isnan(x), m.isnan(y)), m.add(x, y), res)


def _asin_parts(m: Emitter, a):
    """For a = |x| <= 1: big = a > 1/2, and pieces with asin(a) = small (a <= 1/2) or
    asin(a) = pi/2 - 2*big_half where big_half = asin(sqrt((1-a)/2)) (a > 1/2)."""
    big = m.gt(a, 0.5)
    z = m.sel(big, m.sub(0.5, m.mul(a, 0.5)), m.mul(a, a))
    p = m.mul(z, m.poly(z, C.ASIN))
    s = m.sqrt(z)
    # s + corr = sqrt(z) to about twice double precision; z = 0 (|x| = 1) needs no correction
    corr = m.div(m.fma(m.neg(s), s, z), m.add(s, s))
    corr = m.sel(m.eq(z, 0.0), 0.0, corr)
    big_half = m.add(s, m.fma(s, p, corr))
    small = m.fma(a, p, a)
    return big, small, big_half


def arcsin(m: Emitter, x):
    a = m.fabs(x)
    big, small, big_half = _asin_parts(m, a)
    res_big = m.add(m.sub(PIO2_HI, m.mul(big_half, 2.0)), PIO2_LO)
    return m.copysign(m.sel(big, res_big, small), x)


def arccos(m: Emitter, x):
    a = m.fabs(x)
    big, small, big_half = _asin_parts(m, a)
    # |x| <= 1/2: pi/2 - asin(x); x > 1/2: 2*asin(sqrt((1-x)/2)); x < -1/2: pi - that
    res_small = m.sub(PIO2_HI, m.sub(m.copysign(small, x), PIO2_LO))
    twice = m.mul(big_half, 2.0)
    res_neg = m.sub(PI_HI, m.sub(twice, PI_LO))
    res_big = m.sel(m.lt(x, 0.0), res_neg, twice)
    return m.sel(big, res_big, res_small)
