"""Reductions and scans: sum, prod, max, min, any, all, mean, var, std, argmax, argmin,
cumsum and cumprod, as NumPy functions (``np.amax``/``np.amin`` too) and ndarray methods.
Output shapes come from the normalized axes; dtypes and scalar-ness from NumPy itself
(``rules.probe``). ``out=`` is exact: the op computes NumPy's own result for ``out``'s dtype
(``out_dtype``), and ``copy_into`` then writes it without any conversion."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from dynajit.graph.graph import Node, iter_nodes
from dynajit.graph.meta import TensorMeta
from dynajit.ops.registry import Bound, OpDef, binds, register
from dynajit.ops.rules import check_dtype_arg, has_array, meta_like, normalize_axis, probe, reject

_NOVALUE = np._NoValue


# ------------------------------------------------------------------------------ shapes
def reduced_shape(shape: tuple, axes: tuple[int, ...], keepdims: bool) -> tuple:
    """The shape left after reducing ``axes`` (kept as size 1 with ``keepdims``)."""
    if keepdims:
        return tuple(1 if i in axes else s for i, s in enumerate(shape))
    return tuple(s for i, s in enumerate(shape) if i not in axes)


def _reduced_size(shape: tuple, axes: tuple[int, ...]) -> Any:
    n = 1
    for i in axes:
        n = n * shape[i]
    return n


def _all_axes(shape: tuple, axis: tuple[int, ...] | None) -> tuple[int, ...]:
    return tuple(range(len(shape))) if axis is None else axis


def _arg_shape(shape: tuple, axis: int | None, keepdims: bool) -> tuple:
    if axis is None:
        return (1,) * len(shape) if keepdims else ()
    return reduced_shape(shape, (axis,), keepdims)


def _scan_shape(shape: tuple, axis: int | None) -> tuple:
    if axis is None:  # the flattened array
        return (_reduced_size(shape, tuple(range(len(shape)))),)
    return tuple(shape)


# ------------------------------------------------------------------------------ arguments
def _reject_nodes(value: Any, reason: str) -> None:
    reject(any(True for _ in iter_nodes(value)), reason)


def _reduce_axes(axis: Any, ndim: int, name: str, moment: bool) -> tuple[int, ...]:
    """``axis`` as a sorted tuple of non-negative ints (None: every axis). Lists, floats and
    bools raise TypeError as in NumPy. The ufunc reductions accept a plain 0 or -1 on a 0-d
    array (it names no axis); mean/var/std (``moment``) do not, and they count the reduced
    items first, reading a bool axis as an int (so it can be NumPy's AxisError)."""
    _reject_nodes(axis, f"{name}: axis= must be a Python int or a tuple of ints")
    if axis is None:
        return tuple(range(ndim))
    items = axis if isinstance(axis, tuple) else (axis,)
    if moment:
        for a in items:
            normalize_axis(int(a) if isinstance(a, bool) else a, ndim)
    elif ndim == 0 and not isinstance(axis, tuple):
        normalize_axis(axis, 1)
        return ()
    axes = [normalize_axis(a, ndim) for a in items]
    if len(set(axes)) != len(axes):
        raise ValueError("duplicate value in 'axis'")
    return tuple(sorted(axes))


def _single_axis(axis: Any, ndim: int, name: str) -> int | None:
    """argmax/argmin/cumsum/cumprod: one int or None; a 0-d array counts as 1-d (so 0 and
    -1 name its single element, the same as None)."""
    _reject_nodes(axis, f"{name}: axis= must be a Python int")
    if axis is None:
        return None
    if ndim == 0:
        normalize_axis(axis, 1)
        return None
    return normalize_axis(axis, ndim)


def _int_flag(value: Any, name: str) -> bool:
    """``keepdims`` of ufunc reductions (and mean/var/std, which pass it to one): an int."""
    reject(isinstance(value, Node), f"{name}: keepdims= must be a Python bool")
    if isinstance(value, int):
        return bool(value)
    if isinstance(value, float):
        raise TypeError("integer argument expected, got float")
    raise TypeError(f"'{type(value).__name__}' object cannot be interpreted as an integer")


def _check_a(a: Any, name: str, *others: Any) -> bool:
    """True when ``a`` is an array; False when the call involves no array at all (the
    caller runs it); Unsupported when arrays hide inside a list or sit only in ``out=``."""
    if isinstance(a, Node):
        return True
    reject(has_array(a, *others),
           f"{name}: a list, tuple or Python scalar argument must be converted with "
           "np.asarray first")
    return False


def _out_kwargs(a: Node, out: Any, shape: tuple, name: str, message: str,
                scan: bool = False) -> dict:
    """``out=`` must be an ndarray of exactly the result's shape (NumPy's reductions never
    broadcast into out); the op then computes in NumPy's way for out's dtype."""
    if out is None:
        return {}
    if not isinstance(out, Node) or out.meta.scalar:
        raise TypeError(message)
    if tuple(out.meta.shape) != tuple(shape):
        raise ValueError(f"{name}: out= has shape {tuple(out.meta.shape)}, the result has "
                         f"shape {tuple(shape)}")
    # A NumPy scalar's reduction methods write into out but return a new scalar: the call's
    # value is not the written array.
    reject(a.meta.scalar and not scan,
           f"{name}: out= with a NumPy scalar input is not supported (NumPy returns a new "
           "scalar, not out)")
    return {"out_dtype": out.meta.dtype}


def _bound(op: OpDef, a: Node, kwargs: dict, out: Any) -> Bound:
    # The op already produced out's dtype exactly as NumPy computes it: the copy converts
    # nothing (NumPy's own out casting is checked by the op's probe).
    return Bound(op, (a,), kwargs, out=out, out_casting="no")


def _given(**kwargs: Any) -> dict:
    """The keyword arguments that differ from "not given" (None or NumPy's _NoValue)."""
    return {k: v for k, v in kwargs.items() if v is not None and v is not _NOVALUE}


def _compute(fn: Callable[..., Any], a: Any, shape: tuple, out_dtype: np.dtype | None,
             **kwargs: Any) -> Any:
    """``fn(a, **kwargs)``; with ``out_dtype``, what NumPy writes into a fresh out= array of
    that dtype. Which loop NumPy picks and how it casts into out differ per function (the
    reductions cast unsafely, std's sqrt with same_kind, argmax needs a safe cast from out
    to intp; mean divides inside out), so only NumPy's own call with an out is exact."""
    if out_dtype is None:
        return fn(a, **kwargs)
    out = np.zeros(shape, out_dtype)
    fn(a, out=out, **kwargs)
    return out


def _meta(fn: Callable[..., Any], a: TensorMeta, shape: tuple, out_dtype: np.dtype | None,
          **kwargs: Any) -> TensorMeta:
    """The meta of ``_compute``: dtype, scalar-ness and dtype errors from NumPy itself."""
    if out_dtype is not None:
        kwargs["out"] = TensorMeta((1,) * len(shape), out_dtype)
    return meta_like(probe(fn, a, **kwargs), shape)


# ------------------------------------------------------------------------------ sum, prod,
# max, min, any, all: ufunc reductions
_REDUCE_ARRAY_OUT = "return arrays must be of ArrayType"


def _any(a: Any, *, dtype: Any = None, **kwargs: Any) -> Any:
    """np.any as ndarray.any computes it (logical_or.reduce in bool unless ``dtype``)."""
    return np.logical_or.reduce(a, dtype=np.dtype(bool) if dtype is None else dtype, **kwargs)


def _all(a: Any, *, dtype: Any = None, **kwargs: Any) -> Any:
    """np.all as ndarray.all computes it (logical_and.reduce in bool unless ``dtype``)."""
    return np.logical_and.reduce(a, dtype=np.dtype(bool) if dtype is None else dtype, **kwargs)


def _ufunc_reduction(name: str, fn: Callable[..., Any], ufunc: np.ufunc, has_identity: bool,
                     **flags: Any) -> OpDef:
    """An op computed by ``fn`` (np.sum, ...), which reduces with ``ufunc``. Without an
    identity (max, min) a zero-size reduction needs ``initial=``; ``initial=None`` removes
    the identity of the others too."""

    def impl(a, *, axis=None, keepdims=False, dtype=None, initial=_NOVALUE, out_dtype=None):
        shape = reduced_shape(np.shape(a), _all_axes(np.shape(a), axis), keepdims)
        return _compute(fn, a, shape, out_dtype, axis=axis, keepdims=keepdims,
                        **_given(dtype=dtype), **({} if initial is _NOVALUE else
                                                  {"initial": initial}))

    def rule(a, *, axis=None, keepdims=False, dtype=None, initial=_NOVALUE, out_dtype=None):
        axes = _all_axes(a.shape, axis)
        shape = reduced_shape(a.shape, axes, keepdims)
        no_identity = initial is None or (not has_identity and initial is _NOVALUE)
        if no_identity and _reduced_size(a.shape, axes) == 0:
            raise ValueError(f"zero-size array to reduction operation {ufunc.__name__} "
                             "which has no identity")
        return _meta(fn, a, shape, out_dtype, axis=axes, keepdims=keepdims,
                     **_given(dtype=dtype), **({} if initial is _NOVALUE else
                                               {"initial": initial}))

    impl.__name__ = rule.__name__ = name
    return register(OpDef(name, "reductions", impl=impl, meta_rule=rule, reduction=True,
                          **flags))


SUM = _ufunc_reduction(
    "sum", np.sum, np.add, True, recomputable=True,
    doc="np.sum over sorted axes (add.reduce: pairwise for floats); `initial` is NumPy's "
        "start value; `out_dtype`: what NumPy writes into an out= of that dtype")
PROD = _ufunc_reduction(
    "prod", np.prod, np.multiply, True,
    doc="np.prod over sorted axes (multiply.reduce); `initial`, `out_dtype` as in sum")
MAX = _ufunc_reduction(
    "max", np.max, np.maximum, False, recomputable=True,
    doc="np.max over sorted axes (maximum.reduce: NaN propagates); no identity, so a "
        "zero-size reduction needs `initial`; `out_dtype` as in sum")
MIN = _ufunc_reduction(
    "min", np.min, np.minimum, False, recomputable=True,
    doc="np.min over sorted axes (minimum.reduce: NaN propagates); as max")
ANY = _ufunc_reduction(
    "any", _any, np.logical_or, True, recomputable=True, differentiable=False,
    doc="np.any over sorted axes (logical_or.reduce in bool; `dtype` comes only from "
        "ndarray.any); `out_dtype` as in sum")
ALL = _ufunc_reduction(
    "all", _all, np.logical_and, True, recomputable=True, differentiable=False,
    doc="np.all over sorted axes (logical_and.reduce in bool); as any")


def _bind_reduce(op: OpDef, name: str, a: Any, axis: Any, out: Any, keepdims: Any,
                 where: Any, dtype: Any = None, initial: Any = _NOVALUE) -> Bound | None:
    if not _check_a(a, name, axis, out, initial, where):
        return None
    reject(where is not True and where is not _NOVALUE, f"{name}: where= is not supported")
    axes = _reduce_axes(axis, a.meta.ndim, name, moment=False)
    kd = _int_flag(False if keepdims is _NOVALUE else keepdims, name)
    kwargs: dict[str, Any] = {"axis": axes, "keepdims": kd}
    dt = check_dtype_arg(dtype)
    if dt is not None:
        kwargs["dtype"] = dt
    if initial is not _NOVALUE:
        reject(isinstance(initial, Node), f"{name}: initial= must be a Python scalar")
        kwargs["initial"] = initial
    kwargs.update(_out_kwargs(a, out, reduced_shape(a.meta.shape, axes, kd), name,
                              _REDUCE_ARRAY_OUT))
    return _bound(op, a, kwargs, out)


@binds(np.sum, op=SUM)
def _bind_sum(a, axis=None, dtype=None, out=None, keepdims=_NOVALUE, initial=_NOVALUE,
              where=_NOVALUE):
    return _bind_reduce(SUM, "np.sum", a, axis, out, keepdims, where, dtype, initial)


# The reduction methods forward to numpy._core._methods (_sum, _amax, _any, ...): their
# parameters, positional ones included, are those functions' parameters.
@binds(np.ndarray.sum, op=SUM)
def _bind_sum_method(self, /, axis=None, dtype=None, out=None, keepdims=False,
                     initial=_NOVALUE, where=True):
    return _bind_reduce(SUM, "ndarray.sum", self, axis, out, keepdims, where, dtype, initial)


@binds(np.prod, op=PROD)
def _bind_prod(a, axis=None, dtype=None, out=None, keepdims=_NOVALUE, initial=_NOVALUE,
               where=_NOVALUE):
    return _bind_reduce(PROD, "np.prod", a, axis, out, keepdims, where, dtype, initial)


@binds(np.ndarray.prod, op=PROD)
def _bind_prod_method(self, /, axis=None, dtype=None, out=None, keepdims=False,
                      initial=_NOVALUE, where=True):
    return _bind_reduce(PROD, "ndarray.prod", self, axis, out, keepdims, where, dtype,
                        initial)


@binds(np.max, np.amax, op=MAX)
def _bind_max(a, axis=None, out=None, keepdims=_NOVALUE, initial=_NOVALUE, where=_NOVALUE):
    return _bind_reduce(MAX, "np.max", a, axis, out, keepdims, where, initial=initial)


@binds(np.ndarray.max, op=MAX)
def _bind_max_method(self, /, axis=None, out=None, keepdims=False, initial=_NOVALUE,
                     where=True):
    return _bind_reduce(MAX, "ndarray.max", self, axis, out, keepdims, where, initial=initial)


@binds(np.min, np.amin, op=MIN)
def _bind_min(a, axis=None, out=None, keepdims=_NOVALUE, initial=_NOVALUE, where=_NOVALUE):
    return _bind_reduce(MIN, "np.min", a, axis, out, keepdims, where, initial=initial)


@binds(np.ndarray.min, op=MIN)
def _bind_min_method(self, /, axis=None, out=None, keepdims=False, initial=_NOVALUE,
                     where=True):
    return _bind_reduce(MIN, "ndarray.min", self, axis, out, keepdims, where, initial=initial)


@binds(np.any, op=ANY)
def _bind_any(a, axis=None, out=None, keepdims=_NOVALUE, *, where=_NOVALUE):
    return _bind_reduce(ANY, "np.any", a, axis, out, keepdims, where)


@binds(np.ndarray.any, op=ANY)
def _bind_any_method(self, /, axis=None, dtype=None, out=None, keepdims=False, *,
                     where=True):
    return _bind_reduce(ANY, "ndarray.any", self, axis, out, keepdims, where, dtype)


@binds(np.all, op=ALL)
def _bind_all(a, axis=None, out=None, keepdims=_NOVALUE, *, where=_NOVALUE):
    return _bind_reduce(ALL, "np.all", a, axis, out, keepdims, where)


@binds(np.ndarray.all, op=ALL)
def _bind_all_method(self, /, axis=None, dtype=None, out=None, keepdims=False, *,
                     where=True):
    return _bind_reduce(ALL, "ndarray.all", self, axis, out, keepdims, where, dtype)


# ------------------------------------------------------------------------------ mean, var, std
def _mean_rule(a, *, axis=None, keepdims=False, dtype=None, out_dtype=None):
    shape = reduced_shape(a.shape, _all_axes(a.shape, axis), keepdims)
    return _meta(np.mean, a, shape, out_dtype, axis=_all_axes(a.shape, axis),
                 keepdims=keepdims, **_given(dtype=dtype))


def _mean(a, *, axis=None, keepdims=False, dtype=None, out_dtype=None):
    shape = reduced_shape(np.shape(a), _all_axes(np.shape(a), axis), keepdims)
    return _compute(np.mean, a, shape, out_dtype, axis=axis, keepdims=keepdims,
                    **_given(dtype=dtype))


# An empty mean/var is NaN with NumPy's RuntimeWarning, not an error.
MEAN = register(OpDef(
    "mean", "reductions", impl=_mean, meta_rule=_mean_rule, reduction=True,
    recomputable=True,
    doc="np.mean over sorted axes: add.reduce (in float64 for int/bool, float32 for "
        "float16) divided by the count; `out_dtype` as in sum"))


def _variance(name: str, fn: Callable[..., Any], doc: str) -> OpDef:
    def impl(a, *, axis=None, keepdims=False, dtype=None, ddof=0, out_dtype=None):
        shape = reduced_shape(np.shape(a), _all_axes(np.shape(a), axis), keepdims)
        return _compute(fn, a, shape, out_dtype, axis=axis, keepdims=keepdims, ddof=ddof,
                        **_given(dtype=dtype))

    def rule(a, *, axis=None, keepdims=False, dtype=None, ddof=0, out_dtype=None):
        axes = _all_axes(a.shape, axis)
        return _meta(fn, a, reduced_shape(a.shape, axes, keepdims), out_dtype, axis=axes,
                     keepdims=keepdims, ddof=ddof, **_given(dtype=dtype))

    impl.__name__ = rule.__name__ = name
    return register(OpDef(name, "reductions", impl=impl, meta_rule=rule, reduction=True,
                          cost=2, doc=doc))


VAR = _variance("var", np.var, "np.var over sorted axes: two passes (mean, then squared "
                "deviations) divided by max(count - ddof, 0); `correction=` binds as ddof")
STD = _variance("std", np.std, "np.std: the square root of var, as var")


def _bind_moment(op: OpDef, name: str, a: Any, axis: Any, dtype: Any, out: Any,
                 keepdims: Any, where: Any, ddof: Any = 0, mean: Any = _NOVALUE,
                 correction: Any = _NOVALUE) -> Bound | None:
    if correction is not _NOVALUE:  # np.var/np.std check this before anything else
        if isinstance(ddof, Node) or ddof != 0:
            raise ValueError("ddof and correction can't be provided simultaneously.")
        ddof = correction
    if not _check_a(a, name, axis, out, where, ddof, mean):
        return None
    reject(where is not True and where is not _NOVALUE, f"{name}: where= is not supported")
    reject(mean is not None and mean is not _NOVALUE, f"{name}: mean= is not supported")
    reject(isinstance(ddof, Node), f"{name}: ddof=/correction= must be a Python number")
    axes = _reduce_axes(axis, a.meta.ndim, name, moment=True)
    kd = _int_flag(False if keepdims is _NOVALUE else keepdims, name)
    kwargs: dict[str, Any] = {"axis": axes, "keepdims": kd}
    dt = check_dtype_arg(dtype)
    if dt is not None:
        kwargs["dtype"] = dt
    if op is not MEAN and not (type(ddof) is int and ddof == 0):
        kwargs["ddof"] = ddof
    kwargs.update(_out_kwargs(a, out, reduced_shape(a.meta.shape, axes, kd), name,
                              _REDUCE_ARRAY_OUT))
    return _bound(op, a, kwargs, out)


@binds(np.mean, op=MEAN)
def _bind_mean(a, axis=None, dtype=None, out=None, keepdims=_NOVALUE, *, where=_NOVALUE):
    return _bind_moment(MEAN, "np.mean", a, axis, dtype, out, keepdims, where)


@binds(np.ndarray.mean, op=MEAN)
def _bind_mean_method(self, /, axis=None, dtype=None, out=None, keepdims=False, *,
                      where=True):
    return _bind_moment(MEAN, "ndarray.mean", self, axis, dtype, out, keepdims, where)


@binds(np.var, op=VAR)
def _bind_var(a, axis=None, dtype=None, out=None, ddof=0, keepdims=_NOVALUE, *,
              where=_NOVALUE, mean=_NOVALUE, correction=_NOVALUE):
    return _bind_moment(VAR, "np.var", a, axis, dtype, out, keepdims, where, ddof, mean,
                        correction)


@binds(np.ndarray.var, op=VAR)
def _bind_var_method(self, /, axis=None, dtype=None, out=None, ddof=0, keepdims=False, *,
                     where=True, mean=None):
    return _bind_moment(VAR, "ndarray.var", self, axis, dtype, out, keepdims, where, ddof,
                        mean)


@binds(np.std, op=STD)
def _bind_std(a, axis=None, dtype=None, out=None, ddof=0, keepdims=_NOVALUE, *,
              where=_NOVALUE, mean=_NOVALUE, correction=_NOVALUE):
    return _bind_moment(STD, "np.std", a, axis, dtype, out, keepdims, where, ddof, mean,
                        correction)


@binds(np.ndarray.std, op=STD)
def _bind_std_method(self, /, axis=None, dtype=None, out=None, ddof=0, keepdims=False, *,
                     where=True, mean=None):
    return _bind_moment(STD, "ndarray.std", self, axis, dtype, out, keepdims, where, ddof,
                        mean)


# ------------------------------------------------------------------------------ argmax, argmin
_ARRAY_OUT = "output must be an array"


def _arg_reduction(name: str, fn: Callable[..., Any]) -> OpDef:
    def impl(a, *, axis=None, keepdims=False, out_dtype=None):
        return _compute(fn, a, _arg_shape(np.shape(a), axis, keepdims), out_dtype, axis=axis,
                        keepdims=keepdims)

    def rule(a, *, axis=None, keepdims=False, out_dtype=None):
        empty = a.size == 0 if axis is None else a.shape[axis] == 0
        if empty:
            raise ValueError(f"attempt to get {name} of an empty sequence")
        return _meta(fn, a, _arg_shape(a.shape, axis, keepdims), out_dtype, axis=axis,
                     keepdims=keepdims)

    impl.__name__ = rule.__name__ = name
    return register(OpDef(
        name, "reductions", impl=impl, meta_rule=rule, reduction=True, differentiable=False,
        doc=f"np.{name} along one axis (None: the flattened array); first index of the "
            "extreme, NaN counts as the extreme; `out_dtype` as in sum"))


ARGMAX = _arg_reduction("argmax", np.argmax)
ARGMIN = _arg_reduction("argmin", np.argmin)


def _bind_arg(op: OpDef, name: str, a: Any, axis: Any, out: Any, keepdims: Any) -> Bound | None:
    if not _check_a(a, name, axis, out):
        return None
    ax = _single_axis(axis, a.meta.ndim, name)
    reject(isinstance(keepdims, Node), f"{name}: keepdims= must be a Python bool")
    kd = keepdims is not _NOVALUE and bool(keepdims)
    kwargs: dict[str, Any] = {"axis": ax, "keepdims": kd}
    kwargs.update(_out_kwargs(a, out, _arg_shape(a.meta.shape, ax, kd), name, _ARRAY_OUT))
    return _bound(op, a, kwargs, out)


@binds(np.argmax, op=ARGMAX)
def _bind_argmax(a, axis=None, out=None, *, keepdims=_NOVALUE):
    return _bind_arg(ARGMAX, "np.argmax", a, axis, out, keepdims)


@binds(np.ndarray.argmax, op=ARGMAX)
def _bind_argmax_method(self, /, axis=None, out=None, *, keepdims=False):
    return _bind_arg(ARGMAX, "ndarray.argmax", self, axis, out, keepdims)


@binds(np.argmin, op=ARGMIN)
def _bind_argmin(a, axis=None, out=None, *, keepdims=_NOVALUE):
    return _bind_arg(ARGMIN, "np.argmin", a, axis, out, keepdims)


@binds(np.ndarray.argmin, op=ARGMIN)
def _bind_argmin_method(self, /, axis=None, out=None, *, keepdims=False):
    return _bind_arg(ARGMIN, "ndarray.argmin", self, axis, out, keepdims)


# ------------------------------------------------------------------------------ cumsum, cumprod
def _scan(name: str, fn: Callable[..., Any], ufunc: np.ufunc) -> OpDef:
    def impl(a, *, axis=None, dtype=None, out_dtype=None):
        return _compute(fn, a, _scan_shape(np.shape(a), axis), out_dtype, axis=axis,
                        **_given(dtype=dtype))

    def rule(a, *, axis=None, dtype=None, out_dtype=None):
        return _meta(fn, a, _scan_shape(a.shape, axis), out_dtype, axis=axis,
                     **_given(dtype=dtype))

    impl.__name__ = rule.__name__ = name
    # A scan, not a reduction: the output has the input's size. It is flagged a reduction
    # because it is lowered like one (a loop carrying the running value along the axis).
    return register(OpDef(
        name, "reductions", impl=impl, meta_rule=rule, reduction=True,
        doc=f"np.{name}: running {ufunc.__name__}.accumulate along one axis (None: the "
            "flattened array, C order); a scan, output shaped like the input; "
            "`out_dtype` as in sum"))


CUMSUM = _scan("cumsum", np.cumsum, np.add)
CUMPROD = _scan("cumprod", np.cumprod, np.multiply)


def _bind_scan(op: OpDef, name: str, a: Any, axis: Any, dtype: Any, out: Any) -> Bound | None:
    if not _check_a(a, name, axis, out):
        return None
    ax = _single_axis(axis, a.meta.ndim, name)
    kwargs: dict[str, Any] = {"axis": ax}
    dt = check_dtype_arg(dtype)
    if dt is not None:
        kwargs["dtype"] = dt
    kwargs.update(_out_kwargs(a, out, _scan_shape(a.meta.shape, ax), name, _ARRAY_OUT,
                              scan=True))
    return _bound(op, a, kwargs, out)


@binds(np.cumsum, op=CUMSUM)
def _bind_cumsum(a, axis=None, dtype=None, out=None):
    return _bind_scan(CUMSUM, "np.cumsum", a, axis, dtype, out)


@binds(np.ndarray.cumsum, op=CUMSUM)
def _bind_cumsum_method(self, /, axis=None, dtype=None, out=None):
    return _bind_scan(CUMSUM, "ndarray.cumsum", self, axis, dtype, out)


@binds(np.cumprod, op=CUMPROD)
def _bind_cumprod(a, axis=None, dtype=None, out=None):
    return _bind_scan(CUMPROD, "np.cumprod", a, axis, dtype, out)


@binds(np.ndarray.cumprod, op=CUMPROD)
def _bind_cumprod_method(self, /, axis=None, dtype=None, out=None):
    return _bind_scan(CUMPROD, "ndarray.cumprod", self, axis, dtype, out)


__all__ = ["ALL", "ANY", "ARGMAX", "ARGMIN", "CUMPROD", "CUMSUM", "MAX", "MEAN", "MIN", "PROD",
           "STD", "SUM", "VAR", "reduced_shape"]
