"""Elementwise ops: every arithmetic, comparison, logical, bitwise and math ufunc for the
numeric dtypes, the Python operators that reach them, and ``where``, ``clip``, ``astype``,
``asarray``/``array``/``copy``. Each ufunc op's dtype rule is NumPy's own type resolution
(see ``rules.probe``); its shape rule is broadcasting."""

from __future__ import annotations

import builtins
import operator
from collections.abc import Callable
from typing import Any

import numpy as np

from dynajit.graph.graph import Node
from dynajit.graph.meta import TensorMeta
from dynajit.ops.registry import Bound, OpDef, binds, register
from dynajit.ops.rules import (
    broadcast_shapes,
    check_dtype_arg,
    has_array,
    is_array,
    meta,
    meta_like,
    probe,
    reject,
)

_NOVALUE = np._NoValue

# name -> (family comment); every ufunc NumPy has for numeric/bool dtypes (gufuncs such as
# matmul live in linalg.py; isnat is datetime-only).
UFUNC_NAMES = (
    # arithmetic
    "add subtract multiply divide floor_divide remainder fmod divmod power float_power "
    "negative positive absolute fabs reciprocal square sqrt cbrt sign heaviside "
    "copysign nextafter spacing ldexp frexp modf gcd lcm "
    # comparison and logical
    "equal not_equal less less_equal greater greater_equal "
    "logical_and logical_or logical_xor logical_not maximum minimum fmax fmin "
    "isnan isinf isfinite signbit "
    # bitwise
    "bitwise_and bitwise_or bitwise_xor invert left_shift right_shift bitwise_count "
    # rounding
    "floor ceil trunc rint "
    # exponents and logarithms
    "exp exp2 expm1 log log2 log10 log1p logaddexp logaddexp2 "
    # trigonometric and hyperbolic
    "sin cos tan arcsin arccos arctan arctan2 hypot sinh cosh tanh arcsinh arccosh arctanh "
    "deg2rad rad2deg degrees radians conjugate"
).split()

UFUNC_OPS: dict[str, OpDef] = {}


def _ufunc_impl(ufunc: np.ufunc) -> Callable[..., Any]:
    """Eager implementation with the ufunc's fixed arity (so signatures can be checked).
    ``out_dtype`` (from ``out=``) is passed to NumPy as an output array of that dtype,
    because NumPy picks the loop with the output in view (``np.square(c64, out=c128)``
    computes in complex128); ``copy_into`` then writes the result into the real target."""
    def run(inputs: tuple, dtype: Any, out_dtype: Any) -> Any:
        # Keywords only when given: NumPy's scalar fast path (taken without keywords)
        # rounds complex64 differently from its loops, and eager code takes it.
        kwargs: dict[str, Any] = {} if dtype is None else {"dtype": dtype}
        if out_dtype is not None:
            shape = np.broadcast_shapes(*(np.shape(x) for x in inputs))
            kwargs["out"] = np.empty(shape, out_dtype)
        return ufunc(*inputs, **kwargs)

    if ufunc.nin == 1:
        def impl(x, *, dtype=None, out_dtype=None):
            return run((x,), dtype, out_dtype)
    else:
        def impl(x1, x2, *, dtype=None, out_dtype=None):
            return run((x1, x2), dtype, out_dtype)
    impl.__name__ = ufunc.__name__
    return impl


def _ufunc_meta_rule(ufunc: np.ufunc) -> Callable[..., Any]:
    def rule(*inputs: Any, dtype: np.dtype | None = None,
             out_dtype: np.dtype | None = None) -> Any:
        shape = broadcast_shapes(*(m.shape for m in inputs if isinstance(m, TensorMeta)))
        if out_dtype is None:
            result = probe(ufunc, *inputs, dtype=dtype)
        else:
            out = TensorMeta((1,) * len(shape), out_dtype)
            result = probe(ufunc, *inputs, dtype=dtype, out=out)
            return TensorMeta(shape, result.dtype)
        if ufunc.nout == 1:
            return meta_like(result, shape)
        return tuple(meta_like(r, shape) for r in result)

    return rule


def _bind_ufunc_call(op: OpDef, ufunc: np.ufunc, args: tuple, out: Any, where: Any,
                     casting: str, order: str, dtype: Any, subok: bool,
                     signature: Any) -> Bound | None:
    if len(args) == ufunc.nin + ufunc.nout and out is None:
        args, out = args[:ufunc.nin], args[ufunc.nin:]
    if len(args) != ufunc.nin:
        raise TypeError(f"{ufunc.__name__}() takes from {ufunc.nin} to "
                        f"{ufunc.nin + ufunc.nout} positional arguments but {len(args)} "
                        "were given")
    if not has_array(*args):
        return None
    for a in args:
        reject(isinstance(a, (list, tuple)),
               f"np.{ufunc.__name__}: a list/tuple argument must be converted with "
               "np.asarray first")
    reject(where is not True, f"np.{ufunc.__name__}: where= is not supported")
    reject(casting != "same_kind", f"np.{ufunc.__name__}: casting={casting!r} is not supported")
    reject(order != "K", f"np.{ufunc.__name__}: order={order!r} is not supported")
    reject(subok is not True, f"np.{ufunc.__name__}: subok=False is not supported")
    reject(signature is not None, f"np.{ufunc.__name__}: signature= is not supported")
    if isinstance(out, tuple):
        reject(len(out) != 1 or ufunc.nout != 1,
               f"np.{ufunc.__name__}: out= for a multi-output ufunc is not supported")
        out = out[0]
    reject(out is not None and not isinstance(out, Node),
           f"np.{ufunc.__name__}: out= must be an array")
    kwargs = {}
    dt = check_dtype_arg(dtype)
    if dt is not None:
        kwargs["dtype"] = dt
    if out is not None:
        kwargs["out_dtype"] = out.meta.dtype
    return Bound(op, tuple(args), kwargs, out=out)


def _make_ufunc_op(name: str) -> OpDef:
    ufunc = getattr(np, name)
    op = register(OpDef(
        name=ufunc.__name__, family="elementwise", impl=_ufunc_impl(ufunc),
        meta_rule=_ufunc_meta_rule(ufunc), pointwise=True, recomputable=True,
        doc=f"np.{ufunc.__name__} ({ufunc.nin} in, {ufunc.nout} out)",
    ))

    def bind(*args, out=None, where=True, casting="same_kind", order="K", dtype=None,
             subok=True, signature=None):
        return _bind_ufunc_call(op, ufunc, args, out, where, casting, order, dtype, subok,
                                signature)

    binds(ufunc, op=op)(bind)
    return op


for _name in UFUNC_NAMES:
    UFUNC_OPS[_name] = _make_ufunc_op(_name)


def ufunc_op(ufunc: np.ufunc) -> OpDef:
    return UFUNC_OPS[ufunc.__name__]


# ------------------------------------------------------------------------------ operators
_BINARY_OPERATORS = {
    "add": np.add, "sub": np.subtract, "mul": np.multiply, "truediv": np.divide,
    "floordiv": np.floor_divide, "mod": np.remainder, "lshift": np.left_shift,
    "rshift": np.right_shift, "and": np.bitwise_and, "or": np.bitwise_or,
    "xor": np.bitwise_xor,
}
_COMPARISONS = {
    "eq": np.equal, "ne": np.not_equal, "lt": np.less, "le": np.less_equal,
    "gt": np.greater, "ge": np.greater_equal,
}
_REFLECTED_COMPARISON = {"eq": "eq", "ne": "ne", "lt": "gt", "le": "ge", "gt": "lt", "ge": "le"}
_UNARY_OPERATORS = {"neg": np.negative, "pos": np.positive, "invert": np.invert,
                    "abs": np.absolute}


def _binary(ufunc: np.ufunc, a: Any, b: Any, out: Node | None = None) -> Bound | None:
    if not has_array(a, b):
        return None
    bound = ufunc_op(ufunc)
    return _bind_ufunc_call(bound, ufunc, (a, b), out, True, "same_kind", "K", None, True,
                            None)


def _inplace_target(a: Any) -> Node | None:
    """``a op= b`` writes into ``a`` only when ``a`` is an ndarray; NumPy scalars (like
    Python numbers) rebind the name to a new value."""
    return a if isinstance(a, Node) and not a.meta.scalar else None


def _operator_fn(name: str) -> Any:
    return getattr(operator, name if name not in ("and", "or") else f"{name}_")


def _register_binary_operator(name: str, ufunc: np.ufunc) -> None:
    op = ufunc_op(ufunc)
    dunder = name if name not in ("and", "or") else name
    binds(_operator_fn(name), getattr(np.ndarray, f"__{dunder}__"), op=op)(
        lambda a, b, _u=ufunc: _binary(_u, a, b))
    binds(getattr(np.ndarray, f"__r{dunder}__"), op=op)(
        lambda self, other, _u=ufunc: _binary(_u, other, self))

    def inplace(a: Any, b: Any, _u: np.ufunc = ufunc) -> Bound | None:
        return _binary(_u, a, b, out=_inplace_target(a))

    binds(getattr(operator, f"i{dunder}"), getattr(np.ndarray, f"__i{dunder}__"), op=op)(inplace)


for _name, _ufunc in _BINARY_OPERATORS.items():
    _register_binary_operator(_name, _ufunc)

for _name, _ufunc in _COMPARISONS.items():
    binds(getattr(operator, _name), getattr(np.ndarray, f"__{_name}__"), op=ufunc_op(_ufunc))(
        lambda a, b, _u=_ufunc: _binary(_u, a, b))

for _name, _ufunc in _UNARY_OPERATORS.items():
    _callables = [getattr(operator, _name), getattr(np.ndarray, f"__{_name}__")]
    if _name == "abs":
        _callables.append(builtins.abs)
    if _name == "invert":
        _callables.append(operator.inv)
    binds(*_callables, op=ufunc_op(_ufunc))(
        lambda a, _u=_ufunc: Bound(ufunc_op(_u), (a,), {}) if is_array(a) else None)


@binds(np.ndarray.conj, np.ndarray.conjugate, op=ufunc_op(np.conjugate))
def _bind_conj_method(self):
    """``x.conj()`` is ``np.conjugate(x)`` for complex arrays and ``x`` itself otherwise."""
    if self.meta.dtype.kind != "c":
        return self
    return Bound(ufunc_op(np.conjugate), (self,), {})


def _bind_divmod(a: Any, b: Any) -> Bound | None:
    return _binary(np.divmod, a, b)


binds(builtins.divmod, np.ndarray.__divmod__, op=ufunc_op(np.divmod))(_bind_divmod)
binds(np.ndarray.__rdivmod__, op=ufunc_op(np.divmod))(lambda self, other: _binary(
    np.divmod, other, self))


def _power(base: Any, exponent: Any, out: Node | None = None) -> Bound | None:
    """``base ** exponent`` as NumPy's ndarray.__pow__ does it: a float or complex array
    raised to the Python literal 2, -1 or 0.5 uses square, reciprocal or sqrt (same values,
    NumPy's own fast path), anything else is np.power."""
    if not has_array(base, exponent):
        return None
    if isinstance(base, Node) and not base.meta.scalar and base.meta.dtype.kind in "fc":
        fast = None
        if type(exponent) is int:
            fast = {2: np.square, -1: np.reciprocal}.get(exponent)
        elif type(exponent) is float and exponent == 0.5:
            fast = np.sqrt
        if fast is not None:
            kwargs = {} if out is None else {"out_dtype": out.meta.dtype}
            return Bound(ufunc_op(fast), (base,), kwargs, out=out)
    return _binary(np.power, base, exponent, out=out)


binds(operator.pow, np.ndarray.__pow__, builtins.pow, op=ufunc_op(np.power))(
    lambda a, b, mod=None: _power(a, b) if mod is None else _reject_pow_mod())
binds(np.ndarray.__rpow__, op=ufunc_op(np.power))(lambda self, other: _binary(
    np.power, other, self))
binds(operator.ipow, np.ndarray.__ipow__, op=ufunc_op(np.power))(
    lambda a, b: _power(a, b, out=_inplace_target(a)))


def _reject_pow_mod() -> None:
    reject(True, "pow(x, y, mod) with arrays is not supported")


# ------------------------------------------------------------------------------ where
def _where_rule(cond: Any, x: Any, y: Any) -> TensorMeta:
    shapes = [m.shape for m in (cond, x, y) if isinstance(m, TensorMeta)]
    return meta_like(probe(np.where, cond, x, y), broadcast_shapes(*shapes))


WHERE = register(OpDef("where", "elementwise", impl=lambda condition, x, y: np.where(
    condition, x, y), meta_rule=_where_rule, pointwise=True, recomputable=True,
    doc="np.where(condition, x, y): elementwise choice"))


@binds(np.where, op=WHERE)
def _bind_where(condition, x=_NOVALUE, y=_NOVALUE):
    if x is _NOVALUE and y is _NOVALUE:
        if not has_array(condition):
            return None
        reject(True, "np.where(condition) with one argument has a data-dependent shape")
    if (x is _NOVALUE) != (y is _NOVALUE):
        raise ValueError("either both or neither of x and y should be given")
    if not has_array(condition, x, y):
        return None
    return Bound(WHERE, (condition, x, y), {})


# ------------------------------------------------------------------------------ clip
def _clip_rule(a: Any, lo: Any, hi: Any) -> TensorMeta:
    shapes = [m.shape for m in (a, lo, hi) if isinstance(m, TensorMeta)]
    return meta_like(probe(np.clip, a, lo, hi), broadcast_shapes(*shapes))


CLIP = register(OpDef("clip", "elementwise", impl=lambda a, lo, hi: np.clip(a, lo, hi),
                      meta_rule=_clip_rule, pointwise=True, recomputable=True,
                      doc="np.clip(a, lo, hi); None means unbounded on that side"))


def _clip_bounds(a_min: Any, a_max: Any, min: Any, max: Any) -> tuple[Any, Any]:
    if min is not _NOVALUE:
        if a_min is not _NOVALUE:
            raise TypeError("Passed more than one argument for the lower bound")
        a_min = min
    if max is not _NOVALUE:
        if a_max is not _NOVALUE:
            raise TypeError("Passed more than one argument for the upper bound")
        a_max = max
    return (None if a_min is _NOVALUE else a_min), (None if a_max is _NOVALUE else a_max)


@binds(np.clip, op=CLIP)
def _bind_clip(a, a_min=_NOVALUE, a_max=_NOVALUE, out=None, *, min=_NOVALUE, max=_NOVALUE,
               **kwargs):
    reject(bool(kwargs), f"np.clip: ufunc keyword(s) {sorted(kwargs)} are not supported")
    lo, hi = _clip_bounds(a_min, a_max, min, max)
    if not has_array(a, lo, hi):
        return None
    return Bound(CLIP, (a, lo, hi), {}, out=out)


@binds(np.ndarray.clip, op=CLIP)
def _bind_clip_method(self, min=None, max=None, out=None, **kwargs):
    reject(bool(kwargs), f"ndarray.clip: ufunc keyword(s) {sorted(kwargs)} are not supported")
    return Bound(CLIP, (self, min, max), {}, out=out)


# ------------------------------------------------------------------------------ casts, copies
def _astype_rule(x: TensorMeta, dtype: np.dtype) -> TensorMeta:
    return TensorMeta(x.shape, dtype, scalar=x.scalar)


ASTYPE = register(OpDef("astype", "elementwise", impl=lambda x, dtype: x.astype(dtype),
                        meta_rule=_astype_rule, pointwise=True, recomputable=True,
                        doc="x.astype(dtype): unsafe cast, NumPy's conversion rules"))


@binds(np.ndarray.astype, op=ASTYPE)
def _bind_astype_method(self, dtype, order="K", casting="unsafe", subok=True, copy=True):
    reject(order != "K", f"ndarray.astype: order={order!r} is not supported")
    reject(casting != "unsafe", f"ndarray.astype: casting={casting!r} is not supported")
    dt = check_dtype_arg(dtype)
    if not copy and dt == self.meta.dtype:
        return self
    return Bound(ASTYPE, (self,), {"dtype": dt})


@binds(np.astype, op=ASTYPE)
def _bind_astype(x, dtype, /, *, copy=True, device=None):
    if not isinstance(x, Node):
        raise TypeError(f"Input should be a NumPy array. It is a {type(x)} instead.")
    reject(device not in (None, "cpu"), f"np.astype: device={device!r} is not supported")
    dt = check_dtype_arg(dtype)
    if not copy and dt == x.meta.dtype:
        return x
    return Bound(ASTYPE, (x,), {"dtype": dt})


def _asarray_rule(x: TensorMeta, dtype: np.dtype | None = None) -> TensorMeta:
    return TensorMeta(x.shape, x.dtype if dtype is None else dtype)


# Always a new ndarray (never a NumPy scalar); `asarray` of an ndarray with the same dtype is
# the array itself and binds to no op at all.
ARRAY = register(OpDef("array", "elementwise",
                       impl=lambda x, dtype=None: np.array(x, dtype=dtype, copy=True),
                       meta_rule=_asarray_rule, pointwise=True, recomputable=True,
                       doc="np.array(x, dtype) / np.copy(x): a new ndarray"))


@binds(np.asarray, op=ARRAY)
def _bind_asarray(a, dtype=None, order=None, *, device=None, copy=None, like=None):
    if not isinstance(a, Node):
        return None
    reject(order not in (None, "K", "A"), f"np.asarray: order={order!r} is not supported")
    reject(like is not None, "np.asarray: like= is not supported")
    reject(device not in (None, "cpu"), f"np.asarray: device={device!r} is not supported")
    dt = check_dtype_arg(dtype)
    same = dt is None or dt == a.meta.dtype
    if copy is False and not same:
        raise ValueError("Unable to avoid copy while creating an array as requested.")
    if same and not copy and not a.meta.scalar:
        return a
    return Bound(ARRAY, (a,), {} if dt is None else {"dtype": dt})


@binds(np.array, op=ARRAY)
def _bind_array(object, dtype=None, *, copy=True, order="K", subok=False, ndmin=0,
                like=None):
    if not isinstance(object, Node):
        return None
    reject(order not in ("K", "A"), f"np.array: order={order!r} is not supported")
    reject(ndmin != 0, "np.array: ndmin= is not supported")
    reject(like is not None, "np.array: like= is not supported")
    return _bind_asarray(object, dtype, copy=copy)


@binds(np.copy, op=ARRAY)
def _bind_copy(a, order="K", subok=False):
    if not isinstance(a, Node):
        return None
    reject(order not in ("K", "A"), f"np.copy: order={order!r} is not supported")
    return Bound(ARRAY, (a,), {})


@binds(np.ndarray.copy, op=ASTYPE)
def _bind_copy_method(self, order="C"):
    reject(order not in ("C", "K", "A"), f"ndarray.copy: order={order!r} is not supported")
    return Bound(ASTYPE, (self,), {"dtype": self.meta.dtype})


__all__ = ["ARRAY", "ASTYPE", "CLIP", "UFUNC_OPS", "WHERE", "meta", "ufunc_op"]
