"""VJP rules of the elementwise ops: every float-valued ufunc, where, clip, the casts and
copies, and copy_into (the functional write). Subgradient conventions (see docs/autograd.md):
abs and sign-like kinks take 0 at 0 (``sign(0) = 0``); maximum/minimum/fmax/fmin split the
cotangent evenly between tied inputs; clip passes it to ``a`` on the closed interval
[lo, hi] and to the bound outside it; where passes it to the chosen branch only."""

from __future__ import annotations

import math
from typing import Any

from dynajit.autograd.rules import TupleCotangent, no_gradient, vjp_rule
from dynajit.graph.graph import Node

_LN2 = math.log(2.0)
_LN10 = math.log(10.0)


def _unary(*names: str) -> Any:
    """A rule for one-input ufuncs: ``fn(e, x, out, g)`` returns x's cotangent."""

    def deco(fn: Any) -> Any:
        def rule(e, node, g):
            x = node.args[0]
            yield x, lambda: fn(e, x, node, g)

        rule.__name__ = fn.__name__
        vjp_rule(*names)(rule)
        return fn

    return deco


@_unary("negative")
def _negative(e, x, out, g):
    return e.neg(g)


@_unary("positive", "conjugate")
def _identity(e, x, out, g):
    return g


@_unary("absolute", "fabs")
def _absolute(e, x, out, g):
    return e.mul(g, e.ufunc("sign", x))


@_unary("reciprocal")
def _reciprocal(e, x, out, g):
    return e.neg(e.mul(g, e.square(out)))


@_unary("square")
def _square(e, x, out, g):
    return e.mul(g, e.mul(x, 2.0))


@_unary("sqrt")
def _sqrt(e, x, out, g):
    return e.div(e.mul(g, 0.5), out)


@_unary("cbrt")
def _cbrt(e, x, out, g):
    return e.div(g, e.mul(e.square(out), 3.0))


@_unary("exp")
def _exp(e, x, out, g):
    return e.mul(g, out)


@_unary("exp2")
def _exp2(e, x, out, g):
    return e.mul(g, e.mul(out, _LN2))


@_unary("expm1")
def _expm1(e, x, out, g):
    return e.mul(g, e.add(out, 1.0))


@_unary("log")
def _log(e, x, out, g):
    return e.div(g, x)


@_unary("log2")
def _log2(e, x, out, g):
    return e.div(g, e.mul(x, _LN2))


@_unary("log10")
def _log10(e, x, out, g):
    return e.div(g, e.mul(x, _LN10))


@_unary("log1p")
def _log1p(e, x, out, g):
    return e.div(g, e.add(x, 1.0))


@_unary("sin")
def _sin(e, x, out, g):
    return e.mul(g, e.ufunc("cos", x))


@_unary("cos")
def _cos(e, x, out, g):
    return e.neg(e.mul(g, e.ufunc("sin", x)))


@_unary("tan")
def _tan(e, x, out, g):
    return e.mul(g, e.add(e.square(out), 1.0))


def _one_minus_square(e, x):
    return e.sub(1.0, e.square(x))


@_unary("arcsin")
def _arcsin(e, x, out, g):
    return e.div(g, e.sqrt(_one_minus_square(e, x)))


@_unary("arccos")
def _arccos(e, x, out, g):
    return e.neg(e.div(g, e.sqrt(_one_minus_square(e, x))))


@_unary("arctan")
def _arctan(e, x, out, g):
    return e.div(g, e.add(e.square(x), 1.0))


@_unary("sinh")
def _sinh(e, x, out, g):
    return e.mul(g, e.ufunc("cosh", x))


@_unary("cosh")
def _cosh(e, x, out, g):
    return e.mul(g, e.ufunc("sinh", x))


@_unary("tanh")
def _tanh(e, x, out, g):
    return e.mul(g, _one_minus_square(e, out))


@_unary("arcsinh")
def _arcsinh(e, x, out, g):
    return e.div(g, e.sqrt(e.add(e.square(x), 1.0)))


@_unary("arccosh")
def _arccosh(e, x, out, g):
    return e.div(g, e.sqrt(e.sub(e.square(x), 1.0)))


@_unary("arctanh")
def _arctanh(e, x, out, g):
    return e.div(g, _one_minus_square(e, x))


@_unary("deg2rad", "radians")
def _deg2rad(e, x, out, g):
    return e.mul(g, math.pi / 180.0)


@_unary("rad2deg", "degrees")
def _rad2deg(e, x, out, g):
    return e.mul(g, 180.0 / math.pi)


# Piecewise constant in every float input, or never float-valued (comparisons, logical
# and bitwise ops, predicates, integer-only ops): the cotangent of every input is zero.
vjp_rule(
    "sign", "floor", "ceil", "trunc", "rint", "spacing", "floor_divide",
    "equal", "not_equal", "less", "less_equal", "greater", "greater_equal",
    "logical_and", "logical_or", "logical_xor", "logical_not",
    "isnan", "isinf", "isfinite", "signbit",
    "bitwise_and", "bitwise_or", "bitwise_xor", "invert", "left_shift", "right_shift",
    "bitwise_count", "gcd", "lcm",
)(no_gradient)


# ------------------------------------------------------------------------------ binary
@vjp_rule("add")
def _add(e, node, g):
    x1, x2 = node.args
    yield x1, lambda: g
    yield x2, lambda: g


@vjp_rule("subtract")
def _subtract(e, node, g):
    x1, x2 = node.args
    yield x1, lambda: g
    yield x2, lambda: e.neg(g)


@vjp_rule("multiply")
def _multiply(e, node, g):
    x1, x2 = node.args
    yield x1, lambda: e.mul(g, x2)
    yield x2, lambda: e.mul(g, x1)


@vjp_rule("divide")
def _divide(e, node, g):
    x1, x2 = node.args
    yield x1, lambda: e.div(g, x2)
    yield x2, lambda: e.neg(e.div(e.mul(g, node), x2))


def _power_rule(name: str) -> Any:
    """power and float_power: d/dx1 = x2 * x1**(x2 - 1) (0 where x2 == 0, also at x1 == 0);
    d/dx2 = out * log(x1), with log(1) in place of log(0) so that 0**x2 (constant 0 or 1)
    has gradient 0 in x2, as in JAX."""

    def rule(e, node, g):
        x1, x2 = node.args

        def d_base():
            if not isinstance(x2, Node):
                if x2 == 0:
                    return None
                return e.mul(g, e.mul(e.ufunc(name, x1, x2 - 1), x2))
            slope = e.mul(e.ufunc(name, x1, e.sub(x2, 1)), x2)
            return e.mul(g, e.where(e.ufunc("equal", x2, 0), 0.0, slope))

        def d_exponent():
            if isinstance(x1, Node):
                safe = e.where(e.ufunc("equal", x1, 0), 1.0, x1)
            else:
                safe = 1.0 if x1 == 0 else x1
            log = (e.ufunc("log", safe) if isinstance(safe, Node)
                   else math.log(safe) if safe > 0 else math.nan)  # a negative base: NaN
            return e.mul(e.mul(g, node), log)

        yield x1, d_base
        yield x2, d_exponent

    rule.__name__ = f"_{name}"
    return vjp_rule(name)(rule)


_power_rule("power")
_power_rule("float_power")


def _choice_rule(name: str, picks_first: str, fills_nan: bool) -> Any:
    """maximum/minimum (NaN propagates) and fmax/fmin (NaN ignored): each input gets the
    cotangent where it is the one chosen, half of it on ties."""

    def rule(e, node, g):
        x1, x2 = node.args

        def weight(a, b):
            # 0/1 masks and a multiply: NumPy's where is several times slower.
            wins = e.ufunc(picks_first, a, b)
            if fills_nan:  # fmax(a, NaN) is a
                wins = e.ufunc("logical_or", wins, e.ufunc("logical_and", e.ufunc(
                    "isnan", b), e.ufunc("logical_not", e.ufunc("isnan", a))))
            tie = e.ufunc("equal", a, b)
            return e.add(e.mask(wins, g.meta.dtype), e.mul(e.mask(tie, g.meta.dtype), 0.5))

        yield x1, lambda: e.mul(g, weight(x1, x2))
        yield x2, lambda: e.mul(g, weight(x2, x1))

    rule.__name__ = f"_{name}"
    return vjp_rule(name)(rule)


_choice_rule("maximum", "greater", False)
_choice_rule("minimum", "less", False)
_choice_rule("fmax", "greater", True)
_choice_rule("fmin", "less", True)


@vjp_rule("arctan2")
def _arctan2(e, node, g):
    y, x = node.args

    def norm():
        # In the cotangent's dtype: the square of an integer input may overflow.
        return e.add(*(e.square(e.astype(v, g.meta.dtype)) if isinstance(v, Node)
                       else v * v for v in (x, y)))

    yield y, lambda: e.div(e.mul(g, x), norm())
    yield x, lambda: e.neg(e.div(e.mul(g, y), norm()))


@vjp_rule("hypot")
def _hypot(e, node, g):
    x1, x2 = node.args
    # hypot(0, 0) = 0 has the subgradient 0: divide by 1 there (x1 = x2 = 0 anyway).
    safe = lambda: e.where(e.ufunc("equal", node, 0), 1.0, node)  # noqa: E731
    yield x1, lambda: e.div(e.mul(g, x1), safe())
    yield x2, lambda: e.div(e.mul(g, x2), safe())


def _logaddexp_rule(name: str, exp: str) -> Any:
    def rule(e, node, g):
        x1, x2 = node.args
        yield x1, lambda: e.mul(g, e.ufunc(exp, e.sub(x1, node)))
        yield x2, lambda: e.mul(g, e.ufunc(exp, e.sub(x2, node)))

    rule.__name__ = f"_{name}"
    return vjp_rule(name)(rule)


_logaddexp_rule("logaddexp", "exp")
_logaddexp_rule("logaddexp2", "exp2")


@vjp_rule("copysign")
def _copysign(e, node, g):
    x1, x2 = node.args

    def d_x1():
        same = e.ufunc("equal", e.signbit(x1), e.signbit(x2))
        return e.mul(g, e.where(same, 1.0, -1.0))

    yield x1, d_x1


@vjp_rule("nextafter")
def _nextafter(e, node, g):
    yield node.args[0], lambda: g


@vjp_rule("ldexp")
def _ldexp(e, node, g):
    x1, x2 = node.args
    yield x1, lambda: e.ufunc("ldexp", g, x2)


@vjp_rule("heaviside")
def _heaviside(e, node, g):
    x1, x2 = node.args
    yield x2, lambda: e.mul(g, e.mask(e.ufunc("equal", x1, 0), g.meta.dtype))


@vjp_rule("remainder")
def _remainder(e, node, g):
    x1, x2 = node.args
    yield x1, lambda: g
    yield x2, lambda: e.neg(e.mul(g, e.ufunc("floor_divide", x1, x2)))


@vjp_rule("fmod")
def _fmod(e, node, g):
    x1, x2 = node.args
    yield x1, lambda: g
    yield x2, lambda: e.neg(e.mul(g, e.ufunc("trunc", e.div(x1, x2))))


def _item(e, node, index):
    return e.call("tuple_item", node, index)


@vjp_rule("divmod")
def _divmod(e, node, g):
    x1, x2 = node.args
    g_rem = g[1]
    if g_rem is None:
        return
    yield x1, lambda: g_rem
    yield x2, lambda: e.neg(e.mul(g_rem, _item(e, node, 0)))


@vjp_rule("frexp")
def _frexp(e, node, g):
    g_mantissa = g[0]
    if g_mantissa is not None:
        yield node.args[0], lambda: e.ufunc("ldexp", g_mantissa,
                                            e.neg(_item(e, node, 1)))


@vjp_rule("modf")
def _modf(e, node, g):
    if g[0] is not None:
        yield node.args[0], lambda: g[0]


# ------------------------------------------------------------------------------ where, clip
@vjp_rule("where")
def _where(e, node, g):
    cond, x, y = node.args
    if isinstance(cond, Node):
        yield x, lambda: e.where(cond, g, 0.0)
        yield y, lambda: e.where(cond, 0.0, g)
    else:  # a literal condition picks one branch everywhere
        yield (x if cond else y), lambda: g


@vjp_rule("clip")
def _clip(e, node, g):
    """np.clip is minimum(maximum(a, lo), hi): the upper bound gets the cotangent where the
    lower-clipped value is above it, the lower bound where ``a`` is below it, ``a`` on the
    closed interval between (so lo > hi gives everything to hi, as NumPy returns hi)."""
    a, lo, hi = node.args
    dtype = g.meta.dtype
    lower = a if lo is None else e.ufunc("maximum", a, lo)
    inside_hi = None if hi is None else e.ufunc("less_equal", lower, hi)
    g_lower = g if inside_hi is None else e.mul(g, e.mask(inside_hi, dtype))
    if hi is not None:
        yield hi, lambda: e.mul(g, e.mask(e.ufunc("logical_not", inside_hi), dtype))
    if lo is None:
        yield a, lambda: g_lower
        return
    above_lo = e.ufunc("greater_equal", a, lo)
    yield a, lambda: e.mul(g_lower, e.mask(above_lo, dtype))
    yield lo, lambda: e.mul(g_lower, e.mask(e.ufunc("logical_not", above_lo), dtype))


# ------------------------------------------------------------------------------ casts, writes
@vjp_rule("astype", "array")
def _cast(e, node, g):
    yield node.args[0], lambda: g


@vjp_rule("copy_into")
def _copy_into(e, node, g):
    """The written array is overwritten everywhere (``src`` broadcasts to it), so only
    ``src`` gets a cotangent: summed over the broadcast, cast back to its dtype."""
    yield node.args[1], lambda: g


@vjp_rule("tuple_item")
def _tuple_item(e, node, g):
    parent, index = node.args
    yield parent, lambda: TupleCotangent(index, g)
