"""erf, the inverse hyperbolic functions (through the log core) and cbrt."""

from __future__ import annotations

import math

from . import _coeffs as C
from ._emit import Emitter
from ._explog import _log1p_arg, exp_core, log_core

INF = math.inf
NAN = math.nan


def erf(m: Emitter, x):
    """|x| < 1: x + x*P(x*x). Otherwise 1 - e**(-x*x) * G(|x|) with G ~ erfc(x)*e**(x*x) a
    polynomial in |x| - center, e**(-x*x) evaluated on the exact square (hi + lo); |x| is
    clamped where erf rounds to 1."""
    d = m.double
    a = m.fabs(x)
    z = m.mul(x, x)
    small = m.fma(x, m.poly(z, C.ERF_SMALL[d]), x)
    top, center = (6.0, 3.5) if d else (4.0, 2.5)
    ac = m.sel(m.gt(a, top), top, a)
    sq = m.mul(ac, ac)
    sq_lo = m.fma(ac, ac, m.neg(sq))
    e = exp_core(m, m.neg(sq), lo=m.neg(sq_lo))
    large = m.sub(1.0, m.mul(e, m.poly(m.sub(ac, center), C.ERF_LARGE[d])))
    return m.sel(m.lt(a, 1.0), small, m.copysign(large, x))


def arcsinh(m: Emitter, x):
    """log1p(a + a*a/(1 + sqrt(1 + a*a))) for a = |x| <= 2**28, log(a) + ln 2 beyond."""
    a = m.fabs(x)
    big = m.gt(a, 2.0**28)
    a_s = m.sel(big, 1.0, a)
    g = m.add(a_s, m.div(m.mul(a_s, a_s), m.add(1.0, m.sqrt(m.fma(a_s, a_s, 1.0)))))
    u, corr = _log1p_arg(m, g)
    res = log_core(m, m.sel(big, a, u), m.sel(big, 0.0, corr), m.isel(big, 1, 0))
    res = m.sel(m.lt(a, 2.0**-28), a, res)
    res = m.sel(m.eq(a, INF), a, res)
    return m.copysign(m.sel(m.isnan(x), x, res), x)


def arccosh(m: Emitter, x):
    """x in [1, 2]: log1p(t + sqrt(2t + t*t)) with t = x - 1 (exact); (2, 2**28]:
    log(2x - 1/(x + sqrt(x*x - 1))); beyond: log(x) + ln 2."""
    big = m.gt(x, 2.0**28)
    mid = m.and_(m.gt(x, 2.0), m.not_(big))
    xs = m.sel(big, 2.0, x)
    t = m.sub(xs, 1.0)
    g = m.add(t, m.sqrt(m.fma(t, t, m.add(t, t))))
    u, corr = _log1p_arg(m, g)
    u_mid = m.sub(m.add(xs, xs), m.div(1.0, m.add(xs, m.sqrt(m.fma(xs, xs, -1.0)))))
    uu = m.sel(big, x, m.sel(mid, u_mid, u))
    cc = m.sel(m.or_(big, mid), 0.0, corr)
    res = log_core(m, uu, cc, m.isel(big, 1, 0))
    res = m.sel(m.eq(x, INF), INF, res)
    res = m.sel(m.lt(x, 1.0), NAN, res)
    return m.sel(m.isnan(x), x, res)


def arctanh(m: Emitter, x):
    """log1p(2a/(1-a))/2 for a = |x|, with 2a + 2a*a/(1-a) below 1/2 (fdlibm)."""
    a = m.fabs(x)
    one_m = m.sub(1.0, a)
    two_a = m.add(a, a)
    g = m.sel(m.lt(a, 0.5), m.add(two_a, m.div(m.mul(two_a, a), one_m)), m.div(two_a, one_m))
    g = m.sel(m.lt(a, 1.0), g, 1.0)
    u, corr = _log1p_arg(m, g)
    res = m.mul(log_core(m, u, corr), 0.5)
    res = m.sel(m.lt(a, 2.0**-28), a, res)
    res = m.sel(m.eq(a, 1.0), INF, res)
    res = m.sel(m.gt(a, 1.0), NAN, res)
    return m.copysign(m.sel(m.isnan(x), x, res), x)


def cbrt(m: Emitter, x):
    """|x| = 2**(3k + j) * f, f in [1, 2), j in {0, 1, 2}; cbrt(2**j f) by a polynomial, two
    Halley steps and a Newton step; the result is 2**k times that. Double only (float32 runs
    in double)."""
    a = m.fabs(x)
    tiny = m.lt(a, 2.0**-1022)
    a = m.sel(tiny, m.mul(a, 2.0**54), a)
    ia = m.to_int(a)
    e = m.isub(m.ashr(ia, 52), 1023)
    e = m.iadd(e, m.isel(tiny, -54, 0))
    f = m.from_int(m.b.or_(m.iand(ia, (1 << 52) - 1), m.i(0x3FF0000000000000)))
    ef = m.small_int_to_float(e)
    kf = m.floor(m.mul(m.add(ef, 0.5), 1.0 / 3.0))
    j = m.sub(ef, m.mul(kf, 3.0))
    f = m.mul(f, m.sel(m.eq(j, 0.0), 1.0, m.sel(m.eq(j, 1.0), 2.0, 4.0)))
    y = m.poly(f, C.CBRT)
    for _ in range(2):
        y3 = m.mul(m.mul(y, y), y)
        y = m.mul(y, m.div(m.fma(f, 2.0, y3), m.fma(y3, 2.0, f)))
    # a last Newton step on the exactly computed residual y**3 - f removes y's rounding error
    y2 = m.mul(y, y)
    y2_lo = m.fma(y, y, m.neg(y2))
    resid = m.fma(y2_lo, y, m.fma(y2, y, m.neg(f)))
    y = m.sub(y, m.div(resid, m.mul(y2, 3.0)))
    _, k = m.round_magic(kf)
    res = m.mul(y, m.pow2i(k))
    special = m.or_(m.or_(m.eq(a, 0.0), m.eq(a, INF)), m.isnan(x))
    return m.sel(special, x, m.copysign(res, x))
