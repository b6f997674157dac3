"""Scalar semantics in LLVM IR, NumPy's for every loop dtype: casts (x86's conversion of
out-of-range floats), integer wraparound, floor division and modulo signs, division by zero
giving 0 for integers, shifts past the bit width, NaN propagation in maximum/minimum and in
reductions, and the math functions (branch-free polynomials from ``mathlib`` where they
exist, else the C library's scalar function). Values are LLVM values; bool is i8 0/1."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
from llvmlite import ir

from dynajit.backends.llvm import mathlib  # the polynomial math library (vectorizable)

I1 = ir.IntType(1)
I8 = ir.IntType(8)
I32 = ir.IntType(32)
I64 = ir.IntType(64)
# Bits of a kernel's range flag: a sin/cos/tan argument past the short float32 reduction,
# and past the polynomials' whole range (REDUCTION_LIMIT).
RANGE_SHORT = 1
RANGE_EXACT = 2


def _ty(dtype: np.dtype) -> ir.Type:
    if dtype.kind == "f":
        return ir.FloatType() if dtype.itemsize == 4 else ir.DoubleType()
    return ir.IntType(8 * dtype.itemsize)


def _signed(dtype: np.dtype) -> bool:
    return dtype.kind == "i"


# C library names of the math ufuncs (double; float adds an "f").
LIBM = {"exp": "exp", "exp2": "exp2", "expm1": "expm1", "log": "log", "log2": "log2",
        "log10": "log10", "log1p": "log1p", "sin": "sin", "cos": "cos", "tan": "tan",
        "arcsin": "asin", "arccos": "acos", "arctan": "atan", "arctan2": "atan2",
        "hypot": "hypot", "sinh": "sinh", "cosh": "cosh", "tanh": "tanh", "arcsinh": "asinh",
        "arccosh": "acosh", "arctanh": "atanh", "cbrt": "cbrt", "power": "pow",
        "float_power": "pow"}


class ScalarOps:
    def __init__(self, owner: Any):
        self.owner = owner

    @property
    def b(self) -> ir.IRBuilder:
        return self.owner.builder

    # ---------------------------------------------------------------------------- basics
    def constant(self, value: Any, dtype: np.dtype) -> ir.Value:
        ty = _ty(dtype)
        if dtype.kind == "f":
            return ir.Constant(ty, float(np.asarray(value, dtype)))
        v = int(value)
        bits = 8 * dtype.itemsize
        if v >= 1 << (bits - 1):
            v -= 1 << bits
        return ir.Constant(ty, v)

    def truth(self, x: ir.Value, dtype: np.dtype) -> ir.Value:
        """x != 0 as i1 (NaN is true, as bool(nan) in NumPy)."""
        if dtype.kind == "f":
            return self.b.fcmp_unordered("!=", x, ir.Constant(x.type, 0.0))
        return self.b.icmp_unsigned("!=", x, ir.Constant(x.type, 0))

    def bool8(self, bit: ir.Value) -> ir.Value:
        return self.b.zext(bit, I8)

    def where(self, c: ir.Value, a: ir.Value, b_: ir.Value) -> ir.Value:
        return self.b.select(self.b.icmp_unsigned("!=", c, ir.Constant(I8, 0)), a, b_)

    def cast(self, x: ir.Value, src: np.dtype, dst: np.dtype) -> ir.Value:
        b = self.b
        if src == dst:
            return x
        if dst.kind == "b":
            return self.bool8(self.truth(x, src))
        dty = _ty(dst)
        if src.kind == "b":
            return b.uitofp(x, dty) if dst.kind == "f" else b.zext(x, dty) \
                if dty.width > 8 else x
        if src.kind in "iu" and dst.kind in "iu":
            if dty.width == x.type.width:
                return x
            if dty.width < x.type.width:
                return b.trunc(x, dty)
            return b.sext(x, dty) if _signed(src) else b.zext(x, dty)
        if src.kind in "iu":  # to float
            return b.sitofp(x, dty) if _signed(src) else b.uitofp(x, dty)
        if dst.kind == "f":
            return b.fpext(x, dty) if dty.intrinsic_name == "f64" else b.fptrunc(x, dty)
        return self._float_to_int(x, src, dst)

    def _x86_fptosi(self, x: ir.Value, bits: int) -> ir.Value:
        """cvttsd2si: NaN and out-of-range values give the minimum integer."""
        b = self.b
        ity = ir.IntType(bits)
        lo = -(2.0 ** (bits - 1))
        ok = b.and_(b.fcmp_ordered(">=", x, ir.Constant(x.type, lo)),
                    b.fcmp_ordered("<", x, ir.Constant(x.type, -lo)))
        safe = b.select(ok, x, ir.Constant(x.type, 0.0))
        return b.select(ok, b.fptosi(safe, ity), ir.Constant(ity, -(1 << (bits - 1))))

    def _float_to_int(self, x: ir.Value, src: np.dtype, dst: np.dtype) -> ir.Value:
        b = self.b
        dty = _ty(dst)
        if dst.kind == "i":
            wide = self._x86_fptosi(x, max(32, dty.width))
            return b.trunc(wide, dty) if dty.width < wide.type.width else wide
        if dty.width < 64:  # uint8/16 convert through int32, uint32 through int64
            wide = self._x86_fptosi(x, 32 if dty.width < 32 else 64)
            return b.trunc(wide, dty)
        # float -> uint64 as compilers do it: values >= 2**63 are shifted down first.
        big = b.fcmp_ordered(">=", x, ir.Constant(x.type, 2.0 ** 63))
        shifted = b.select(big, b.fsub(x, ir.Constant(x.type, 2.0 ** 63)), x)
        v = self._x86_fptosi(shifted, 64)
        return b.select(big, b.xor(v, ir.Constant(I64, -(1 << 63))), v)

    # ---------------------------------------------------------------------------- math
    def intrinsic(self, name: str, args: list[ir.Value]) -> ir.Value:
        ty = args[0].type
        fn = self.b.module.declare_intrinsic(name, [ty], ir.FunctionType(ty, [ty] * len(args)))
        return self.b.call(fn, args)

    def libm(self, name: str, args: tuple, dtype: np.dtype) -> ir.Value:
        cname = LIBM[name] + ("f" if dtype.itemsize == 4 else "")
        ty = _ty(dtype)
        module = self.b.module
        fn = module.globals.get(cname)
        if fn is None:
            fn = ir.Function(module, ir.FunctionType(ty, [ty] * len(args)), cname)
        return self.b.call(fn, list(args))

    # The polynomial sin/cos/tan reduce their argument accurately only below this magnitude.
    REDUCED = frozenset({"sin", "cos", "tan"})

    def math(self, name: str, args: tuple, dtype: np.dtype) -> ir.Value:
        owner = self.owner
        tier = owner.math_tier
        if name in self.REDUCED and tier == "exact":
            return self.libm(name, args, dtype)  # the rerun after a huge argument
        short = tier == "short" and mathlib.short_range_limit(name, dtype) is not None
        flag = owner.range_flag
        if name in self.REDUCED and flag is not None:
            # Note arguments past the short and the full reduction's range: the kernel then
            # reruns with the full reduction or the C library's functions.
            b = self.b
            mag = self.intrinsic("llvm.fabs", [args[0]])
            bits = b.shl(b.zext(b.fcmp_ordered(">=", mag, ir.Constant(
                mag.type, float(mathlib.REDUCTION_LIMIT))), I32), ir.Constant(I32, 1))
            used = RANGE_EXACT
            if short:
                past = b.fcmp_ordered(">=", mag, ir.Constant(
                    mag.type, mathlib.short_range_limit(name, dtype)))
                bits = b.or_(bits, b.zext(past, I32))
                used |= RANGE_SHORT
            b.store(b.or_(b.load(flag), bits), flag)
            owner.range_flag_used |= used
        if mathlib.supports(name, dtype):
            return mathlib.emit(self.b, name, list(args), dtype, short_range=short)
        return self.libm(name, args, dtype)

    # ---------------------------------------------------------------------------- reductions
    def reduction_start(self, kind: str, dtype: np.dtype, src: np.dtype) -> dict:
        eb = self.owner.entry_builder
        acc: dict[str, Any] = {"kind": kind, "dtype": dtype, "src": src}
        if kind in ("argmax", "argmin"):
            acc["best"] = eb.alloca(_ty(src))
            acc["index"] = eb.alloca(I64)
            acc["has"] = eb.alloca(I1)
            self.b.store(ir.Constant(I64, 0), acc["index"])
            self.b.store(ir.Constant(I1, 0), acc["has"])
            self.b.store(ir.Constant(_ty(src), 0), acc["best"])
            return acc
        acc["slot"] = eb.alloca(_ty(dtype))
        self.b.store(self._identity(kind, dtype), acc["slot"])
        if kind in ("max", "min") and dtype.kind == "f":
            # "a nan was seen", apart from the max/min of the other values (see reduction_step)
            acc["nan"] = eb.alloca(I32)
            self.b.store(ir.Constant(I32, 0), acc["nan"])
        return acc

    def _identity(self, kind: str, dtype: np.dtype) -> ir.Value:
        ty = _ty(dtype)
        if kind == "sum" or kind == "any":
            return ir.Constant(ty, 0.0 if dtype.kind == "f" else 0)
        if kind == "prod" or kind == "all":
            return ir.Constant(ty, 1.0 if dtype.kind == "f" else 1)
        info = np.finfo(dtype) if dtype.kind == "f" else None
        if kind == "max":
            if info is not None:
                return ir.Constant(ty, -math.inf)
            return self.constant(np.iinfo(dtype).min if dtype.kind != "b" else 0, dtype)
        if info is not None:
            return ir.Constant(ty, math.inf)
        return self.constant(np.iinfo(dtype).max if dtype.kind != "b" else 1, dtype)

    def reduction_step(self, acc: dict, v: ir.Value, flat: ir.Value) -> None:
        b = self.b
        kind, dtype = acc["kind"], acc["dtype"]
        if kind in ("argmax", "argmin"):
            src = acc["src"]
            best = b.load(acc["best"])
            has = b.load(acc["has"])
            if src.kind == "f":
                better = b.fcmp_ordered(">" if kind == "argmax" else "<", v, best)
                isnan = b.fcmp_unordered("uno", v, v)
                best_nan = b.fcmp_unordered("uno", best, best)
                take = b.and_(b.not_(b.and_(has, best_nan)), b.or_(isnan, better))
            else:
                op = ">" if kind == "argmax" else "<"
                better = (b.icmp_signed if src.kind == "i" else b.icmp_unsigned)(op, v, best)
                take = better
            take = b.or_(b.not_(has), take)
            b.store(b.select(take, v, best), acc["best"])
            b.store(b.select(take, flat, b.load(acc["index"])), acc["index"])
            b.store(ir.Constant(I1, 1), acc["has"])
            return
        cur = b.load(acc["slot"])
        if kind == "sum":
            new = self._reassoc(b.fadd(cur, v)) if dtype.kind == "f" else (
                b.or_(cur, v) if dtype.kind == "b" else b.add(cur, v))
        elif kind == "prod":
            new = self._reassoc(b.fmul(cur, v)) if dtype.kind == "f" else (
                b.and_(cur, v) if dtype.kind == "b" else b.mul(cur, v))
        elif kind == "any":
            new = b.or_(cur, v)
        elif kind == "all":
            new = b.and_(cur, v)
        elif dtype.kind == "f":
            # NaN propagates (NumPy's reductions) through an i32 "nan seen" flag (an i1 one
            # keeps loops from vectorizing) beside a compare-and-select max/min that LLVM
            # vectorizes to one vmaxps/vminps per vector (llvm.maximum costs six
            # instructions on x86). Its nnan flag makes it poison once a nan arrives, but
            # reduction_result then returns nan without reading it. Which of -0.0 and +0.0
            # wins is left open (nsz), as in NumPy, whose answer depends on the visit order.
            fast = ("nnan", "nsz")
            better = b.fcmp_ordered(">" if kind == "max" else "<", v, cur, flags=fast)
            new = b.select(better, v, cur, flags=fast)
            isnan = b.zext(b.fcmp_unordered("uno", v, v), I32)
            b.store(b.or_(b.load(acc["nan"]), isnan), acc["nan"])
        else:
            new = self._int_minmax(kind == "max", cur, v, dtype)
        b.store(new, acc["slot"])

    def reduction_result(self, acc: dict) -> ir.Value:
        b = self.b
        if acc["kind"] in ("argmax", "argmin"):
            return b.load(acc["index"])
        value = b.load(acc["slot"])
        if "nan" in acc:
            seen = b.icmp_unsigned("!=", b.load(acc["nan"]), ir.Constant(I32, 0))
            value = b.select(seen, ir.Constant(value.type, math.nan), value)
        return value

    @staticmethod
    def _reassoc(instr: Any) -> Any:
        # Summation order is free (NumPy's own pairwise order differs from a plain loop):
        # reassociation lets LLVM keep several vector partial sums.
        instr.flags.append("reassoc")
        return instr

    def _int_minmax(self, is_max: bool, a: ir.Value, c: ir.Value, dtype: np.dtype) -> ir.Value:
        cmp = self.b.icmp_signed if dtype.kind == "i" else self.b.icmp_unsigned
        return self.b.select(cmp(">=" if is_max else "<=", a, c), a, c)


# ------------------------------------------------------------------------------ ufuncs
Emit = Callable[[ScalarOps, tuple, np.dtype], ir.Value]
UFUNCS: dict[str, Emit] = {}
# Which loop dtype kinds each ufunc is emitted for ("b" bool, "i" signed, "u" unsigned, "f").
KINDS: dict[str, str] = {}


def ufunc(name: str, kinds: str) -> Callable[[Emit], Emit]:
    def deco(fn: Emit) -> Emit:
        UFUNCS[name] = fn
        KINDS[name] = kinds
        return fn

    return deco


def _fz(x: ir.Value, v: float) -> ir.Value:
    return ir.Constant(x.type, v)


def _iz(x: ir.Value, v: int) -> ir.Value:
    return ir.Constant(x.type, v)


@ufunc("add", "biuf")
def _add(s: ScalarOps, a: tuple, d: np.dtype) -> ir.Value:
    if d.kind == "f":
        return s.b.fadd(*a)
    return s.b.or_(*a) if d.kind == "b" else s.b.add(*a)


@ufunc("subtract", "iuf")
def _sub(s: ScalarOps, a: tuple, d: np.dtype) -> ir.Value:
    return s.b.fsub(*a) if d.kind == "f" else s.b.sub(*a)


@ufunc("multiply", "biuf")
def _mul(s: ScalarOps, a: tuple, d: np.dtype) -> ir.Value:
    if d.kind == "f":
        return s.b.fmul(*a)
    return s.b.and_(*a) if d.kind == "b" else s.b.mul(*a)


@ufunc("divide", "f")
def _div(s: ScalarOps, a: tuple, d: np.dtype) -> ir.Value:
    return s.b.fdiv(*a)


def _float_divmod(s: ScalarOps, x: ir.Value, y: ir.Value) -> tuple[ir.Value, ir.Value]:
    """NumPy's npy_divmod (floor division and the matching modulo) for floats."""
    b = s.b
    mod = b.frem(x, y)
    zero_y = b.fcmp_ordered("==", y, _fz(y, 0.0))
    div = b.fdiv(b.fsub(x, mod), y)
    mod_nz = b.fcmp_unordered("!=", mod, _fz(mod, 0.0))
    flip = b.and_(mod_nz, b.icmp_unsigned("!=", b.fcmp_ordered("<", y, _fz(y, 0.0)),
                                          b.fcmp_ordered("<", mod, _fz(mod, 0.0))))
    mod2 = b.select(flip, b.fadd(mod, y), mod)
    div2 = b.select(flip, b.fsub(div, _fz(div, 1.0)), div)
    mod3 = b.select(mod_nz, mod2, s.intrinsic("llvm.copysign", [_fz(y, 0.0), y]))
    div_nz = b.fcmp_unordered("!=", div2, _fz(div2, 0.0))
    fl = s.intrinsic("llvm.floor", [div2])
    fl = b.select(b.fcmp_ordered(">", b.fsub(div2, fl), _fz(fl, 0.5)), b.fadd(fl, _fz(fl, 1.0)),
                  fl)
    quotient = b.fdiv(x, y)
    floordiv = b.select(div_nz, fl, s.intrinsic("llvm.copysign", [_fz(x, 0.0), quotient]))
    return b.select(zero_y, quotient, floordiv), b.select(zero_y, mod, mod3)


def _int_divmod(s: ScalarOps, x: ir.Value, y: ir.Value, d: np.dtype) -> tuple:
    """Floor division and modulo with NumPy's rules: by zero gives 0, MIN // -1 gives MIN."""
    b = s.b
    zero = b.icmp_unsigned("==", y, _iz(y, 0))
    if d.kind == "u" or d.kind == "b":
        safe = b.select(zero, _iz(y, 1), y)
        q, r = b.udiv(x, safe), b.urem(x, safe)
        return b.select(zero, _iz(x, 0), q), b.select(zero, _iz(x, 0), r)
    minus1 = b.icmp_signed("==", y, _iz(y, -1))
    safe = b.select(b.or_(zero, minus1), _iz(y, 1), y)
    q = b.sdiv(x, safe)
    r = b.srem(x, safe)
    q = b.select(minus1, b.sub(_iz(x, 0), x), q)  # wraps for MIN, as NumPy's result
    r = b.select(minus1, _iz(x, 0), r)
    adjust = b.and_(b.icmp_signed("!=", r, _iz(r, 0)),
                    b.icmp_unsigned("!=", b.icmp_signed("<", r, _iz(r, 0)),
                                    b.icmp_signed("<", y, _iz(y, 0))))
    q = b.select(adjust, b.sub(q, _iz(q, 1)), q)
    r = b.select(adjust, b.add(r, y), r)
    return b.select(zero, _iz(x, 0), q), b.select(zero, _iz(x, 0), r)


@ufunc("floor_divide", "iuf")
def _floordiv(s: ScalarOps, a: tuple, d: np.dtype) -> ir.Value:
    return (_float_divmod(s, *a) if d.kind == "f" else _int_divmod(s, *a, d))[0]


@ufunc("remainder", "iuf")
def _remainder(s: ScalarOps, a: tuple, d: np.dtype) -> ir.Value:
    return (_float_divmod(s, *a) if d.kind == "f" else _int_divmod(s, *a, d))[1]


@ufunc("fmod", "iuf")
def _fmod(s: ScalarOps, a: tuple, d: np.dtype) -> ir.Value:
    b = s.b
    x, y = a
    if d.kind == "f":
        return b.frem(x, y)
    zero = b.icmp_unsigned("==", y, _iz(y, 0))
    if d.kind == "u":
        return b.select(zero, _iz(x, 0), b.urem(x, b.select(zero, _iz(y, 1), y)))
    bad = b.or_(zero, b.icmp_signed("==", y, _iz(y, -1)))
    return b.select(bad, _iz(x, 0), b.srem(x, b.select(bad, _iz(y, 1), y)))


@ufunc("negative", "iuf")
def _neg(s: ScalarOps, a: tuple, d: np.dtype) -> ir.Value:
    return s.b.fneg(a[0]) if d.kind == "f" else s.b.sub(_iz(a[0], 0), a[0])


@ufunc("positive", "iuf")
def _pos(s: ScalarOps, a: tuple, d: np.dtype) -> ir.Value:
    return a[0]


@ufunc("conjugate", "biuf")
def _conj(s: ScalarOps, a: tuple, d: np.dtype) -> ir.Value:
    return a[0]


@ufunc("absolute", "biuf")
def _abs(s: ScalarOps, a: tuple, d: np.dtype) -> ir.Value:
    x = a[0]
    if d.kind == "f":
        return s.intrinsic("llvm.fabs", [x])
    if d.kind == "i":
        return s.b.select(s.b.icmp_signed("<", x, _iz(x, 0)), s.b.sub(_iz(x, 0), x), x)
    return x


@ufunc("fabs", "f")
def _fabs(s: ScalarOps, a: tuple, d: np.dtype) -> ir.Value:
    return s.intrinsic("llvm.fabs", [a[0]])


@ufunc("reciprocal", "f")
def _recip(s: ScalarOps, a: tuple, d: np.dtype) -> ir.Value:
    return s.b.fdiv(_fz(a[0], 1.0), a[0])


@ufunc("square", "iuf")
def _square(s: ScalarOps, a: tuple, d: np.dtype) -> ir.Value:
    return _mul(s, (a[0], a[0]), d)


@ufunc("sqrt", "f")
def _sqrt(s: ScalarOps, a: tuple, d: np.dtype) -> ir.Value:
    return s.intrinsic("llvm.sqrt", [a[0]])


@ufunc("sign", "iuf")
def _sign(s: ScalarOps, a: tuple, d: np.dtype) -> ir.Value:
    b, x = s.b, a[0]
    if d.kind == "f":
        pos = b.select(b.fcmp_ordered(">", x, _fz(x, 0.0)), _fz(x, 1.0), _fz(x, 0.0))
        neg = b.select(b.fcmp_ordered("<", x, _fz(x, 0.0)), _fz(x, -1.0), pos)
        return b.select(b.fcmp_unordered("uno", x, x), x, neg)
    if d.kind == "u":
        return b.zext(b.icmp_unsigned("!=", x, _iz(x, 0)), x.type) if x.type.width > 1 else x
    gt = b.zext(b.icmp_signed(">", x, _iz(x, 0)), x.type)
    lt = b.zext(b.icmp_signed("<", x, _iz(x, 0)), x.type)
    return b.sub(gt, lt)


@ufunc("heaviside", "f")
def _heaviside(s: ScalarOps, a: tuple, d: np.dtype) -> ir.Value:
    b = s.b
    x, h0 = a
    r = b.select(b.fcmp_ordered("<", x, _fz(x, 0.0)), _fz(x, 0.0), _fz(x, 1.0))
    r = b.select(b.fcmp_ordered("==", x, _fz(x, 0.0)), h0, r)
    return b.select(b.fcmp_unordered("uno", x, x), x, r)


@ufunc("copysign", "f")
def _copysign(s: ScalarOps, a: tuple, d: np.dtype) -> ir.Value:
    return s.intrinsic("llvm.copysign", list(a))


def _minmax(is_max: bool, nan_wins: bool) -> Emit:
    def emit(s: ScalarOps, a: tuple, d: np.dtype) -> ir.Value:
        b = s.b
        x, y = a
        if d.kind == "b":
            return b.or_(x, y) if is_max else b.and_(x, y)
        if d.kind in "iu":
            return s._int_minmax(is_max, x, y, d)
        keep_x = b.fcmp_ordered(">=" if is_max else "<=", x, y)
        if nan_wins:  # maximum/minimum: (x >= y || isnan(x)) ? x : y
            keep_x = b.or_(keep_x, b.fcmp_unordered("uno", x, x))
        else:  # fmax/fmin: (x >= y || isnan(y)) ? x : y
            keep_x = b.or_(keep_x, b.fcmp_unordered("uno", y, y))
        return b.select(keep_x, x, y)

    return emit


UFUNCS["maximum"], KINDS["maximum"] = _minmax(True, True), "biuf"
UFUNCS["minimum"], KINDS["minimum"] = _minmax(False, True), "biuf"
UFUNCS["fmax"], KINDS["fmax"] = _minmax(True, False), "biuf"
UFUNCS["fmin"], KINDS["fmin"] = _minmax(False, False), "biuf"

_CMP = {"equal": "==", "not_equal": "!=", "less": "<", "less_equal": "<=", "greater": ">",
        "greater_equal": ">="}


def _compare(op: str) -> Emit:
    def emit(s: ScalarOps, a: tuple, d: np.dtype) -> ir.Value:
        b = s.b
        if d.kind == "f":
            bit = b.fcmp_unordered(op, *a) if op == "!=" else b.fcmp_ordered(op, *a)
        elif d.kind == "i":
            bit = b.icmp_signed(op, *a)
        else:
            bit = b.icmp_unsigned(op, *a)
        return s.bool8(bit)

    return emit


for _name, _op in _CMP.items():
    UFUNCS[_name], KINDS[_name] = _compare(_op), "biuf"


def _logical(kind: str) -> Emit:
    def emit(s: ScalarOps, a: tuple, d: np.dtype) -> ir.Value:
        bits = [s.truth(x, d) for x in a]
        if kind == "not":
            return s.bool8(s.b.not_(bits[0]))
        fn = {"and": s.b.and_, "or": s.b.or_, "xor": s.b.xor}[kind]
        return s.bool8(fn(*bits))

    return emit


for _kind in ("and", "or", "xor", "not"):
    UFUNCS[f"logical_{_kind}"], KINDS[f"logical_{_kind}"] = _logical(_kind), "biuf"


def _classify(kind: str) -> Emit:
    def emit(s: ScalarOps, a: tuple, d: np.dtype) -> ir.Value:
        b, x = s.b, a[0]
        if d.kind != "f":
            return ir.Constant(I8, 1 if kind == "isfinite" else 0)
        if kind == "isnan":
            bit = b.fcmp_unordered("uno", x, x)
        elif kind == "isinf":
            bit = b.fcmp_ordered("==", s.intrinsic("llvm.fabs", [x]), _fz(x, math.inf))
        elif kind == "isfinite":
            bit = b.fcmp_ordered("<", s.intrinsic("llvm.fabs", [x]), _fz(x, math.inf))
        else:  # signbit
            ity = ir.IntType(x.type.intrinsic_name == "f64" and 64 or 32)
            bit = b.icmp_signed("<", b.bitcast(x, ity), ir.Constant(ity, 0))
        return s.bool8(bit)

    return emit


for _kind in ("isnan", "isinf", "isfinite"):
    UFUNCS[_kind], KINDS[_kind] = _classify(_kind), "biuf"
UFUNCS["signbit"], KINDS["signbit"] = _classify("signbit"), "f"


@ufunc("bitwise_and", "biu")
def _band(s: ScalarOps, a: tuple, d: np.dtype) -> ir.Value:
    return s.b.and_(*a)


@ufunc("bitwise_or", "biu")
def _bor(s: ScalarOps, a: tuple, d: np.dtype) -> ir.Value:
    return s.b.or_(*a)


@ufunc("bitwise_xor", "biu")
def _bxor(s: ScalarOps, a: tuple, d: np.dtype) -> ir.Value:
    return s.b.xor(*a)


@ufunc("invert", "biu")
def _invert(s: ScalarOps, a: tuple, d: np.dtype) -> ir.Value:
    return s.b.xor(a[0], _iz(a[0], 1 if d.kind == "b" else -1))


@ufunc("left_shift", "iu")
def _lshift(s: ScalarOps, a: tuple, d: np.dtype) -> ir.Value:
    b = s.b
    x, n = a
    ok = b.icmp_unsigned("<", n, _iz(n, x.type.width))  # negative counts are huge unsigned
    return b.select(ok, b.shl(x, b.select(ok, n, _iz(n, 0))), _iz(x, 0))


@ufunc("right_shift", "iu")
def _rshift(s: ScalarOps, a: tuple, d: np.dtype) -> ir.Value:
    b = s.b
    x, n = a
    ok = b.icmp_unsigned("<", n, _iz(n, x.type.width))
    safe = b.select(ok, n, _iz(n, 0))
    if d.kind == "u":
        return b.select(ok, b.lshr(x, safe), _iz(x, 0))
    fill = b.select(b.icmp_signed("<", x, _iz(x, 0)), _iz(x, -1), _iz(x, 0))
    return b.select(ok, b.ashr(x, safe), fill)


def _rounding(intrinsic: str) -> Emit:
    def emit(s: ScalarOps, a: tuple, d: np.dtype) -> ir.Value:
        return s.intrinsic(intrinsic, [a[0]]) if d.kind == "f" else a[0]

    return emit


for _name, _intr in (("floor", "llvm.floor"), ("ceil", "llvm.ceil"), ("trunc", "llvm.trunc"),
                     ("rint", "llvm.rint")):
    UFUNCS[_name], KINDS[_name] = _rounding(_intr), "biuf"


def _math(name: str) -> Emit:
    return lambda s, a, d: s.math(name, a, d)


for _name in LIBM:
    if _name not in ("power", "float_power"):
        UFUNCS[_name], KINDS[_name] = _math(_name), "f"


@ufunc("power", "f")
def _power(s: ScalarOps, a: tuple, d: np.dtype) -> ir.Value:
    return s.math("power", a, d)


@ufunc("float_power", "f")
def _float_power(s: ScalarOps, a: tuple, d: np.dtype) -> ir.Value:
    return s.math("power", a, d)


def _scale(to_degrees: bool) -> Emit:
    # NumPy's factor is computed in the loop's own precision (180.0f / NPY_PIf for float32).
    def emit(s: ScalarOps, a: tuple, d: np.dtype) -> ir.Value:
        pi, half_turn = np.asarray(math.pi, d), np.asarray(180.0, d)
        factor = half_turn / pi if to_degrees else pi / half_turn
        return s.b.fmul(a[0], ir.Constant(a[0].type, float(factor)))

    return emit


for _name, _deg in (("deg2rad", False), ("radians", False), ("rad2deg", True),
                    ("degrees", True)):
    UFUNCS[_name], KINDS[_name] = _scale(_deg), "f"


def _logaddexp(base2: bool) -> Emit:
    """NumPy's npy_logaddexp(2): x + log1p(exp(-|x - y|)) with x the larger; equal inputs
    (infinities included) give x + log(2)."""
    def emit(s: ScalarOps, a: tuple, d: np.dtype) -> ir.Value:
        b = s.b
        x, y = a
        tmp = b.fsub(x, y)
        big = b.select(b.fcmp_ordered(">", tmp, _fz(tmp, 0.0)), x, y)
        neg_abs = b.fneg(s.intrinsic("llvm.fabs", [tmp]))
        if base2:
            term = b.fmul(s.math("log1p", (s.math("exp2", (neg_abs,), d),), d),
                          _fz(x, 1 / math.log(2)))
            eq = b.fadd(x, _fz(x, 1.0))
        else:
            term = s.math("log1p", (s.math("exp", (neg_abs,), d),), d)
            eq = b.fadd(x, _fz(x, math.log(2)))
        r = b.fadd(big, term)
        r = b.select(b.fcmp_unordered("uno", tmp, tmp), tmp, r)
        return b.select(b.fcmp_ordered("==", x, y), eq, r)

    return emit


UFUNCS["logaddexp"], KINDS["logaddexp"] = _logaddexp(False), "f"
UFUNCS["logaddexp2"], KINDS["logaddexp2"] = _logaddexp(True), "f"


def supports(name: str, dtype: np.dtype) -> bool:
    return name in UFUNCS and np.dtype(dtype).kind in KINDS[name]
