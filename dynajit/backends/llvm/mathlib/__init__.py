"""Vectorizable math in LLVM IR: NumPy's transcendental ufuncs (and ``erf``) as straight-line,
branch-free code that the loop vectorizer turns into SIMD code, for float32 and float64.

No libm call and no ``llvm.exp``/``llvm.log``/``llvm.sin``... intrinsic is ever emitted: on the
CPU they become one scalar libm call per lane (llvmlite has no SVML), and on NVPTX they abort
the process. The only intrinsics used are fma, fabs, floor, trunc, rint, copysign and sqrt,
which lower inline on x86 and NVPTX. Special values follow NumPy (C99): nan in, nan out; signed
zeros kept; domain errors give nan; poles give +-inf; overflow gives inf; subnormal inputs and
results are handled exactly (scaling goes through the exponent bits).

Usage, from a loop body being emitted::

    from dynajit.backends.llvm import mathlib
    if mathlib.supports("exp", np.float32):
        y = mathlib.emit(builder, "exp", [x], np.float32)   # x: an ir.FloatType() value

Accuracy: max ulp against the correctly rounded result, measured by
``benchmarks/math_accuracy.py`` on 10**7 inputs per function and dtype (half uniform over the
useful domain, half log-uniform magnitudes of both signs from subnormal to the largest finite,
plus special values); reference: long double (80-bit) or, for erf, a 64-bit-mantissa series.
Contract (held by tests/backends/llvm/test_mathlib.py): <= 2 ulp for float32, <= 4 ulp for
float64. *d*: the float32 routine computes in double and rounds once.

=========  =======  =======  ===============================================================
function   float32  float64  domain and method
=========  =======  =======  ===============================================================
exp        0.99     0.97     all; ln2 reduction, degree-6/12 polynomial, exponent-bit scaling
log        0.82     0.78     all; fdlibm decomposition s = f/(2+f), subnormals prescaled
log1p      0.81     0.79     all; log of u = 1 + x plus the rounding error of u, over u
expm1      1.27     1.30     all; 2**k * expm1(r) + (2**k - 1) in one fma, r in double-float
tanh       1.18     1.30     all; odd polynomial below 0.625 (float32: 0.7), 1 - 2/(e**(2|x|) + 1)
                             above (float32: e = 2**t with t reduced by one fma)
sin, cos   1.54     0.78     |x| < 2**51 (Cody-Waite with fma, r carried as hi + lo; float32:
                             the reduction in float32 below 2**17 (1.21 ulp), in double above,
                             polynomials in float32, cos one Horner polynomial in r*r)
erf        0.96     1.07     all; x + x P(x*x) below 1, 1 - e**(-x*x) G(x) above (G minimax)
power      0.50 d   1.20     all (C99 special cases); exp(y log|x|), log in double-double
exp2       0.00 d   0.83     all
log2       0.00 d   0.73     all; fdlibm split of log(1+f) so k + log(1+f)/ln2 stays exact
log10      0.00 d   0.63     all; as log2
sinh       0.00 d   2.25     all; expm1-based below 22, e**|x| / 2 (no overflow) above
cosh       0.00 d   1.45     all
tan        0.00 d   2.08     |x| < 2**51; sin/cos of the reduced argument
arctan     0.00 d   1.66     all; reduction to |u| <= tan(pi/8) with one division
arctan2    0.00 d   1.57     all (C99 special cases); pi - atan in double-double
arcsin     0.00 d   1.55     all; fdlibm's sqrt((1-|x|)/2) reduction above 1/2
arccos     0.00 d   1.00     all
arcsinh    0.00 d   1.66     all; through the log1p core
arccosh    0.00 d   1.83     all; through the log1p / log cores
arctanh    0.00 d   1.62     all; through the log1p core
cbrt       0.00 d   0.50     all; exponent / 3, polynomial, Halley, exact-residual Newton
logaddexp  0.00 d   1.52     all; NumPy's formula (error in ulps of max(|x|, |y|, |result|))
=========  =======  =======  ===============================================================

sin, cos and tan are accurate for |x| < ``REDUCTION_LIMIT`` (2**51, about 2.3e15); beyond
that the result is only kept within [-1, 1] (tan: finite), not accurate. float32 inputs above
2**51 are affected too. float32 sin and cos also have a short-range form (``short_range=True``,
accurate for |x| < 2**17 with the same max ulp as above): the quadrant reduction in float32
with a three-part pi/2 instead of in double, 1.7x faster. The llvm backend runs it first and
reruns a chunk with the full form (or the C library) when an argument was past its range.
The routines need hardware fma for speed (x86-64-v3 and later, every
NVIDIA GPU): without it llvm.fma becomes a libm call.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from llvmlite import ir

from ....errors import CompileError
from . import _explog, _special, _trig
from ._emit import ALLOWED_INTRINSICS, Emitter
from ._trig import REDUCTION_LIMIT

__all__ = ["ALLOWED_INTRINSICS", "FUNCTIONS", "REDUCTION_LIMIT", "emit", "supports"]

Routine = Callable[..., ir.Value]


def _in_double(fn: Routine) -> Routine:
    """A float32 routine that widens its arguments, runs ``fn`` in double and rounds once."""

    def run(m: Emitter, *args):
        md = m.with_type(ir.DoubleType())
        wide = [m.b.fpext(a, md.ty) for a in args]
        return m.b.fptrunc(fn(md, *wide), m.ty)

    return run


# name -> (arity, float64 routine, float32 routine)
FUNCTIONS: dict[str, tuple[int, Routine, Routine]] = {
    "exp": (1, _explog.exp, _explog.exp),
    "log": (1, _explog.log, _explog.log),
    "log1p": (1, _explog.log1p, _explog.log1p),
    "expm1": (1, _explog.expm1, _explog.expm1),
    "tanh": (1, _explog.tanh, _explog.tanh_f32),
    "sin": (1, _trig.sin, _trig.sin),
    "cos": (1, _trig.cos, _trig.cos),
    "erf": (1, _special.erf, _special.erf),
    "power": (2, _explog.power, _in_double(lambda m, x, y: _explog.power(m, x, y, False))),
    "exp2": (1, _explog.exp2, _in_double(_explog.exp2)),
    "log2": (1, _explog.log2, _in_double(_explog.log2)),
    "log10": (1, _explog.log10, _in_double(_explog.log10)),
    "sinh": (1, _explog.sinh, _in_double(_explog.sinh)),
    "cosh": (1, _explog.cosh, _in_double(_explog.cosh)),
    "tan": (1, _trig.tan, _in_double(_trig.tan)),
    "arctan": (1, _trig.arctan, _in_double(_trig.arctan)),
    "arctan2": (2, _trig.arctan2, _in_double(_trig.arctan2)),
    "arcsin": (1, _trig.arcsin, _in_double(_trig.arcsin)),
    "arccos": (1, _trig.arccos, _in_double(_trig.arccos)),
    "arcsinh": (1, _special.arcsinh, _in_double(_special.arcsinh)),
    "arccosh": (1, _special.arccosh, _in_double(_special.arccosh)),
    "arctanh": (1, _special.arctanh, _in_double(_special.arctanh)),
    "cbrt": (1, _special.cbrt, _in_double(_special.cbrt)),
    "logaddexp": (2, _explog.logaddexp, _in_double(_explog.logaddexp)),
}

_TYPES = {np.dtype(np.float32): ir.FloatType(), np.dtype(np.float64): ir.DoubleType()}

# Routines with a faster short-range form: name -> (dtype, |x| limit, routine).
SHORT_RANGE: dict[str, tuple[np.dtype, float, Routine]] = {
    "sin": (np.dtype(np.float32), _trig.SHORT_LIMIT_F32,
            lambda m, x: _trig.sin(m, x, short=True)),
    "cos": (np.dtype(np.float32), _trig.SHORT_LIMIT_F32,
            lambda m, x: _trig.cos(m, x, short=True)),
}


def short_range_limit(name: str, dtype) -> float | None:
    """The |x| below which ``emit(..., short_range=True)`` is accurate, or None where
    ``name`` on ``dtype`` has no short-range form.

    >>> short_range_limit("sin", np.float32), short_range_limit("sin", np.float64)
    (131072.0, None)
    """
    entry = SHORT_RANGE.get(name)
    return entry[1] if entry is not None and np.dtype(dtype) == entry[0] else None


def supports(name: str, dtype) -> bool:
    """Whether ``emit`` has a routine for NumPy ufunc ``name`` (or ``"erf"``) on ``dtype``.

    >>> supports("exp", np.float32), supports("exp", np.int32), supports("gamma", np.float64)
    (True, False, False)
    """
    try:
        dt = np.dtype(dtype)
    except TypeError:
        return False
    return name in FUNCTIONS and dt in _TYPES


def emit(builder: ir.IRBuilder, name: str, args: list[ir.Value], dtype,
         short_range: bool = False) -> ir.Value:
    """Append straight-line IR computing ``name(*args)`` at the builder's position and return
    the result. ``args`` are scalar values of the float type matching ``dtype`` (float32 or
    float64); the IR contains no branches and no calls other than the allowed intrinsics.

    >>> fn = ir.Function(ir.Module(), ir.FunctionType(ir.DoubleType(), [ir.DoubleType()]), "f")
    >>> b = ir.IRBuilder(fn.append_basic_block())
    >>> _ = b.ret(emit(b, "exp", [fn.args[0]], np.float64))
    """
    if not supports(name, dtype):
        raise CompileError(
            f"mathlib has no routine for {name!r} on {np.dtype(dtype)}; supported: "
            f"{', '.join(sorted(FUNCTIONS))} on float32 and float64"
        )
    arity, f64, f32 = FUNCTIONS[name]
    fty = _TYPES[np.dtype(dtype)]
    if len(args) != arity or any(a.type != fty for a in args):
        raise CompileError(
            f"mathlib.emit({name!r}) takes {arity} {fty} argument(s), got "
            f"{[str(a.type) for a in args]}"
        )
    m = Emitter(builder, fty)
    if short_range and short_range_limit(name, dtype) is not None:
        return SHORT_RANGE[name][2](m, *args)
    return (f64 if m.double else f32)(m, *args)
