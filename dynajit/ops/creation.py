"""Creation ops: new arrays from literal sizes (zeros, ones, full, empty, arange, linspace,
eye/identity) and from a prototype array's shape and dtype (the ``_like`` forms). Sizes are
literals the graph is specialized on; a size read from an array value would make the output
shape data-dependent, so it is refused."""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from typing import Any

import numpy as np
from numpy._core.multiarray import MAXDIMS

from dynajit.errors import Unsupported
from dynajit.graph.graph import Node
from dynajit.graph.meta import TensorMeta
from dynajit.ops.registry import Bound, OpDef, binds, register
from dynajit.ops.rules import (
    broadcast_shapes,
    check_dtype_arg,
    has_array,
    probe,
    quiet,
    reject,
)

_NOVALUE = np._NoValue
_MAX_INTP = int(np.iinfo(np.intp).max)
_MIN_INTP = int(np.iinfo(np.intp).min)
_FLOAT64 = np.dtype(np.float64)
_NUMBERS = (bool, int, float, complex, np.number, np.bool_)


# ------------------------------------------------------------------------------ arguments
def _size(value: Any, where: str) -> int:
    """One dimension, converted the way NumPy's shape converter does it."""
    if isinstance(value, Node):
        raise _data_dependent(where)
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"expected a sequence of integers or a single integer, got {value!r}")
    size = operator.index(value)
    if not _MIN_INTP <= size <= _MAX_INTP:
        raise ValueError("Maximum allowed dimension exceeded")
    return size


def _shape_arg(shape: Any, where: str) -> tuple[int, ...]:
    """A ``shape`` argument (an int or a sequence of ints) as a tuple of Python ints."""
    if has_array(shape):
        raise _data_dependent(where)
    if shape is None:
        raise TypeError("Use () not None as shape arguments")
    reject(isinstance(shape, np.ndarray),
           f"{where}: a concrete ndarray shape must be a tuple of ints")
    if hasattr(type(shape), "__index__") or not hasattr(shape, "__iter__"):
        dims = (_size(shape, where),)
    else:
        dims = tuple(_size(s, where) for s in shape)
    if len(dims) > MAXDIMS:
        raise ValueError(f"maximum supported dimension for an ndarray is currently {MAXDIMS},"
                         f" found {len(dims)}")
    return dims


def _data_dependent(where: str) -> Unsupported:
    return Unsupported(f"{where}: a size from an array value is data-dependent")


def _check_size(shape: tuple, dtype: np.dtype) -> None:
    """NumPy's allocation checks: no negative sizes, and ``size * itemsize`` (zero sizes
    skipped, as NumPy does) must fit in intp."""
    nbytes = dtype.itemsize
    for size in shape:
        if size == 0:
            continue
        if size < 0:
            raise ValueError("negative dimensions are not allowed")
        nbytes = nbytes * size
        if nbytes > _MAX_INTP:
            raise ValueError("array is too big; `arr.size * arr.dtype.itemsize` is larger "
                             "than the maximum possible size.")


def _check_order(order: Any, allowed: tuple[str, ...], where: str,
                 validate: Callable[[], Any]) -> None:
    """Accept the memory orders in ``allowed`` (and None); an invalid order raises NumPy's
    own error (``validate`` runs NumPy on a zero-size call), a valid other one is refused."""
    if order is not None and order not in allowed:
        with quiet():
            validate()
        reject(not (isinstance(order, str) and order.upper() in allowed),
               f"{where}: order={order!r} is not supported")


def _check_device(device: Any, where: str, validate: Callable[[], Any]) -> None:
    if device is None or (isinstance(device, str) and device == "cpu"):
        return
    reject(isinstance(device, Node), f"{where}: device= must be a literal")
    validate()  # NumPy's own error for a device other than "cpu"
    reject(True, f"{where}: device={device!r} is not supported")


def _dtype_or(dtype: Any, default: np.dtype) -> np.dtype:
    dt = check_dtype_arg(dtype)
    return default if dt is None else dt


def _fill_arg(fill_value: Any, where: str) -> None:
    """A fill value is an array (a Node) or a number literal."""
    if isinstance(fill_value, (Node, *_NUMBERS)):
        return
    reject(isinstance(fill_value, (list, tuple)),
           f"{where}: a list/tuple fill_value must be converted with np.asarray first")
    reject(True, f"{where}: fill_value of type {type(fill_value).__name__} is not supported "
                 "(a number or an array)")


def _literal_dtype(value: Any) -> np.dtype:
    """The dtype ``np.asarray`` gives a number literal (NEP 50: int -> int64, large ints ->
    uint64 or object, float -> float64)."""
    with quiet():
        return np.asarray(value).dtype


def _check_fill(fill_value: Any, shape: tuple, dtype: np.dtype) -> None:
    """What ``copyto(result, fill_value, casting='unsafe')`` raises: a fill array must
    broadcast to the result (its leading size-1 dimensions may exceed the result's rank);
    a Python int out of the dtype's range raises OverflowError."""
    if isinstance(fill_value, TensorMeta):
        fill_shape = fill_value.shape
        while len(fill_shape) > len(shape) and fill_shape[0] == 1:
            fill_shape = fill_shape[1:]
        if len(fill_shape) > len(shape) or broadcast_shapes(fill_shape, shape) != shape:
            raise ValueError(f"could not broadcast input array from shape {fill_value.shape} "
                             f"into shape {shape}")
        return
    probe(np.copyto, TensorMeta((), dtype), fill_value, casting="unsafe")


# ------------------------------------------------------------------- zeros, ones, full, empty
def _new_rule(shape: tuple, *, dtype: np.dtype) -> TensorMeta:
    _check_size(shape, dtype)
    return TensorMeta(shape, dtype)


# No allocation this large can succeed (x86-64 and arm64 Linux give user space 2**47 bytes).
_UNALLOCATABLE = 1 << 47


def _full_rule(shape: tuple, fill_value: Any, *, dtype: np.dtype) -> TensorMeta:
    _check_size(shape, dtype)
    # np.full allocates before it converts the fill value: an allocation that must fail
    # raises MemoryError (when the graph runs) before any error about the value.
    if math.prod(shape) * dtype.itemsize < _UNALLOCATABLE:
        _check_fill(fill_value, shape, dtype)
    return TensorMeta(shape, dtype)


def _creation_op(name: str, impl: Callable[..., Any], rule: Callable[..., Any], doc: str,
                 **flags: Any) -> OpDef:
    flags.setdefault("differentiable", False)
    return register(OpDef(name, "creation", impl=impl, meta_rule=rule, recomputable=True,
                          doc=doc, **flags))


ZEROS = _creation_op("zeros", lambda shape, *, dtype: np.zeros(shape, dtype), _new_rule,
                     "np.zeros(shape, dtype)")
ONES = _creation_op("ones", lambda shape, *, dtype: np.ones(shape, dtype), _new_rule,
                    "np.ones(shape, dtype)")
# Values are undefined: only the meta is defined, and CSE must not merge two of them.
EMPTY = _creation_op("empty", lambda shape, *, dtype: np.empty(shape, dtype), _new_rule,
                     "np.empty(shape, dtype): uninitialized values", deterministic=False)
# Differentiable with respect to an array fill_value (the gradient sums over the broadcast).
FULL = _creation_op("full", lambda shape, fill_value, *, dtype: np.full(shape, fill_value,
                                                                          dtype),
                    _full_rule, "np.full(shape, fill_value, dtype): fill_value broadcast",
                    differentiable=True)


def _bind_new(op: OpDef, fn: Callable[..., Any], shape: Any, dtype: Any, order: Any,
              device: Any, like: Any, fill_value: Any = _NOVALUE) -> Bound:
    where = f"np.{fn.__name__}"
    shape = _shape_arg(shape, where)
    if fill_value is _NOVALUE:
        dt = _dtype_or(dtype, _FLOAT64)
        args: tuple = (shape,)
    else:
        _fill_arg(fill_value, where)
        if dtype is None:
            dtype = (fill_value.meta.dtype if isinstance(fill_value, Node)
                     else _literal_dtype(fill_value))
        dt = check_dtype_arg(dtype)
        args = (shape, fill_value)
    _check_order(order, ("C",), where, lambda: np.empty(0, order=order))
    _check_device(device, where, lambda: np.empty(0, device=device))
    reject(like is not None, f"{where}: like= is not supported")
    return Bound(op, args, {"dtype": dt})


@binds(np.zeros, op=ZEROS)
def _bind_zeros(shape, dtype=None, order="C", *, device=None, like=None):
    return _bind_new(ZEROS, np.zeros, shape, dtype, order, device, like)


@binds(np.ones, op=ONES)
def _bind_ones(shape, dtype=None, order="C", *, device=None, like=None):
    return _bind_new(ONES, np.ones, shape, dtype, order, device, like)


@binds(np.empty, op=EMPTY)
def _bind_empty(shape, dtype=None, order="C", *, device=None, like=None):
    return _bind_new(EMPTY, np.empty, shape, dtype, order, device, like)


@binds(np.full, op=FULL)
def _bind_full(shape, fill_value, dtype=None, order="C", *, device=None, like=None):
    return _bind_new(FULL, np.full, shape, dtype, order, device, like, fill_value)


# ------------------------------------------------------------------------------ _like forms
def _like_meta(a: TensorMeta, dtype: np.dtype | None, shape: tuple | None) -> TensorMeta:
    """An ndarray (never a NumPy scalar, even for a scalar prototype)."""
    result = TensorMeta(a.shape if shape is None else shape,
                        a.dtype if dtype is None else dtype)
    _check_size(result.shape, result.dtype)
    return result


def _like_rule(a: TensorMeta, *, dtype: np.dtype | None = None,
               shape: tuple | None = None) -> TensorMeta:
    return _like_meta(a, dtype, shape)


def _full_like_rule(a: TensorMeta, fill_value: Any, *, dtype: np.dtype | None = None,
                    shape: tuple | None = None) -> TensorMeta:
    result = _like_meta(a, dtype, shape)
    _check_fill(fill_value, result.shape, result.dtype)
    return result


ZEROS_LIKE = _creation_op(
    "zeros_like", lambda a, *, dtype=None, shape=None: np.zeros_like(a, dtype, shape=shape),
    _like_rule, "np.zeros_like(a, dtype, shape=shape): a's shape and dtype unless given")
ONES_LIKE = _creation_op(
    "ones_like", lambda a, *, dtype=None, shape=None: np.ones_like(a, dtype, shape=shape),
    _like_rule, "np.ones_like(a, dtype, shape=shape)")
EMPTY_LIKE = _creation_op(
    "empty_like", lambda a, *, dtype=None, shape=None: np.empty_like(a, dtype, shape=shape),
    _like_rule, "np.empty_like(a, dtype, shape=shape): uninitialized values",
    deterministic=False)
FULL_LIKE = _creation_op(
    "full_like", lambda a, fill_value, *, dtype=None, shape=None: np.full_like(
        a, fill_value, dtype, shape=shape),
    _full_like_rule, "np.full_like(a, fill_value, dtype, shape=shape)", differentiable=True)

_LIKE_BASE = {ZEROS_LIKE: ZEROS, ONES_LIKE: ONES, EMPTY_LIKE: EMPTY, FULL_LIKE: FULL}


def _bind_like(op: OpDef, fn: Callable[..., Any], a: Any, dtype: Any, order: Any,
               shape: Any, device: Any, fill_value: Any = _NOVALUE) -> Bound:
    # subok only matters for ndarray subclasses; graph arrays are base-class ndarrays.
    where = f"np.{fn.__name__}"
    dt = check_dtype_arg(dtype)
    _check_order(order, ("K", "C"), where, lambda: np.empty_like(np.empty(0), order=order))
    shape = None if shape is None else _shape_arg(shape, where)
    _check_device(device, where, lambda: np.empty_like(np.empty(0), device=device))
    if fill_value is not _NOVALUE:
        _fill_arg(fill_value, where)
    if not isinstance(a, Node):
        # A number prototype: its shape and dtype are known now.
        reject(not isinstance(a, _NUMBERS), f"{where}: the prototype must be an array or a "
                                            "number (convert lists with np.asarray first)")
        dt = check_dtype_arg(_literal_dtype(a) if dt is None else dt)
        shape = () if shape is None else shape
        base = _LIKE_BASE[op]
        if fill_value is _NOVALUE:
            return Bound(base, (shape,), {"dtype": dt})
        return Bound(base, (shape, fill_value), {"dtype": dt})
    kwargs: dict[str, Any] = {}
    if dt is not None and dt != a.meta.dtype:
        kwargs["dtype"] = dt
    if shape is not None:
        kwargs["shape"] = shape
    args = (a,) if fill_value is _NOVALUE else (a, fill_value)
    return Bound(op, args, kwargs)


@binds(np.zeros_like, op=ZEROS_LIKE)
def _bind_zeros_like(a, dtype=None, order="K", subok=True, shape=None, *, device=None):
    return _bind_like(ZEROS_LIKE, np.zeros_like, a, dtype, order, shape, device)


@binds(np.ones_like, op=ONES_LIKE)
def _bind_ones_like(a, dtype=None, order="K", subok=True, shape=None, *, device=None):
    return _bind_like(ONES_LIKE, np.ones_like, a, dtype, order, shape, device)


@binds(np.empty_like, op=EMPTY_LIKE)
def _bind_empty_like(prototype, /, dtype=None, order="K", subok=True, shape=None, *,
                     device=None):
    return _bind_like(EMPTY_LIKE, np.empty_like, prototype, dtype, order, shape, device)


@binds(np.full_like, op=FULL_LIKE)
def _bind_full_like(a, fill_value, dtype=None, order="K", subok=True, shape=None, *,
                    device=None):
    return _bind_like(FULL_LIKE, np.full_like, a, dtype, order, shape, device, fill_value)


# ------------------------------------------------------------------------------ arange
def _ceil_length(value: float) -> int:
    """NumPy's ``_arange_safe_ceil_to_intp``."""
    if math.isnan(value):
        raise ValueError("arange: cannot compute length")
    if math.isinf(value) or not _MIN_INTP <= math.ceil(value) <= -_MIN_INTP:
        raise ValueError("Maximum allowed size exceeded")
    # ceil(value) == 2**63 passes NumPy's check and is then cast to intp in C: cast it the
    # same way.
    with quiet():
        return int(np.float64(math.ceil(value)).astype(np.intp))


def _as_double(value: Any) -> float:
    """CPython's ``PyFloat_AsDouble``: __float__, else __index__, else TypeError."""
    kind = type(value)
    if hasattr(kind, "__float__"):
        return kind.__float__(value)
    if hasattr(kind, "__index__"):
        return float(operator.index(value))
    raise TypeError(f"must be real number, not {kind.__name__}")


def _arange_length(start: Any, stop: Any, step: Any, dtype: np.dtype) -> int:
    """NumPy's ``_calc_length``: ceil((stop - start) / step) with the literals' own
    arithmetic; a complex dtype takes the smaller of the real and imaginary lengths; a
    quotient that underflowed to zero gives 0 or 1 by its sign."""
    with quiet():
        delta = stop - start
        delta_nonzero = bool(delta != 0)
        quotient = delta / step  # ZeroDivisionError for a zero Python step, as NumPy
        quotient_is_zero = bool(quotient == 0)
    if dtype.kind == "c" and isinstance(quotient, complex):
        return max(min(_ceil_length(quotient.real), _ceil_length(quotient.imag)), 0)
    with quiet():
        value = _as_double(quotient)
    if quotient_is_zero and delta_nonzero:
        return 0 if math.copysign(1.0, value) < 0 else 1
    return max(_ceil_length(value), 0)


def _arange_rule(start: Any, stop: Any, step: Any, *, dtype: np.dtype) -> TensorMeta:
    length = _arange_length(start, stop, step, dtype)
    _check_size((length,), dtype)
    # NumPy stores `start` and `start + step` with the dtype's setitem (a Python int out of
    # range raises OverflowError), then fills the rest with the dtype's fill function (bool
    # refuses lengths above 2).
    if length >= 1:
        with quiet():
            first_two = np.empty(2, dtype)
            first_two[0] = start
            if length >= 2:
                first_two[1] = start + step
    if length > 2:
        probe(np.arange, 3, dtype=dtype)
    return TensorMeta((length,), dtype)


ARANGE = _creation_op(
    "arange", lambda start, stop, step, *, dtype: np.arange(start, stop, step, dtype=dtype),
    _arange_rule, "np.arange(start, stop, step, dtype): evenly spaced values in [start, stop)")


def _arange_value(value: Any) -> Any:
    if isinstance(value, Node):
        raise _data_dependent("np.arange")
    if value is None or isinstance(value, (tuple, list, str, bytes)):
        raise TypeError("arange: scalar arguments expected")
    reject(not isinstance(value, _NUMBERS),
           f"np.arange: an argument of type {type(value).__name__} is not supported")
    return value


def _arange_dtype(start: Any, stop: Any, step: Any) -> np.dtype:
    """NumPy's default: intp promoted with the dtype each argument converts to."""
    dtype = np.dtype(np.intp)
    for value in (start, stop, step):
        dtype = np.promote_types(dtype, _literal_dtype(value))
    return dtype


def _arange_arguments(start=_NOVALUE, stop=_NOVALUE, step=None, dtype=None, *, device=None,
                      like=None):
    return start, stop, step, dtype, device, like


@binds(np.arange, op=ARANGE)
def _bind_arange(*args, **kwargs):
    # np.arange parses (start, stop, step, dtype) positionally or by keyword; `stop` alone
    # (positional or stop=) is the end of [0, stop).
    start, stop, step, dtype, device, like = _arange_arguments(*args, **kwargs)
    if stop is _NOVALUE:
        if not args:
            raise TypeError("arange() requires stop to be specified.")
    elif start is _NOVALUE:
        start, stop = stop, _NOVALUE
    if stop is _NOVALUE or stop is None:
        start, stop = 0, start
    step = 1 if step is None else step
    start, stop, step = (_arange_value(v) for v in (start, stop, step))
    dt = check_dtype_arg(_arange_dtype(start, stop, step) if dtype is None else dtype)
    _check_device(device, "np.arange", lambda: np.arange(0, device=device))
    reject(like is not None, "np.arange: like= is not supported")
    return Bound(ARANGE, (start, stop, step), {"dtype": dt})


# ------------------------------------------------------------------------------ linspace
def _linspace_rule(start: Any, stop: Any, num: int, *, endpoint: bool,
                   dtype: np.dtype | None, axis: int) -> TensorMeta:
    shape = broadcast_shapes(*(m.shape for m in (start, stop) if isinstance(m, TensorMeta)))
    shape = shape[:axis] + (num,) + shape[axis:]
    result = probe(np.linspace, start, stop, 2, endpoint=endpoint, dtype=dtype)
    _check_size(shape, result.dtype)
    return TensorMeta(shape, result.dtype)


# Differentiable with respect to array start/stop.
LINSPACE = _creation_op(
    "linspace", lambda start, stop, num, *, endpoint, dtype, axis: np.linspace(
        start, stop, num, endpoint=endpoint, dtype=dtype, axis=axis),
    _linspace_rule, "np.linspace(start, stop, num, endpoint, dtype, axis): num samples "
                    "along a new axis", differentiable=True)


@binds(np.linspace, op=LINSPACE)
def _bind_linspace(start, stop, num=50, endpoint=True, retstep=False, dtype=None, axis=0, *,
                   device=None):
    reject(isinstance(retstep, Node) or bool(retstep),
           "np.linspace: retstep=True is not supported")
    for value in (start, stop):
        reject(isinstance(value, (list, tuple)),
               "np.linspace: a list/tuple start or stop must be converted with np.asarray "
               "first")
        reject(not isinstance(value, (Node, *_NUMBERS)),
               f"np.linspace: start/stop of type {type(value).__name__} is not supported")
    if isinstance(num, Node):
        raise _data_dependent("np.linspace")
    num = operator.index(num)
    if num < 0:
        raise ValueError(f"Number of samples, {num}, must be non-negative.")
    reject(isinstance(endpoint, Node), "np.linspace: endpoint= must be a literal")
    reject(isinstance(axis, Node), "np.linspace: axis= must be a literal")
    ndim = 1 + len(broadcast_shapes(*(v.meta.shape for v in (start, stop)
                                      if isinstance(v, Node))))
    dt = check_dtype_arg(dtype)
    _check_device(device, "np.linspace", lambda: np.linspace(0, 1, 0, device=device))
    if axis != 0:
        probe(np.moveaxis, TensorMeta((1,) * ndim, _FLOAT64), 0, axis)  # NumPy's own error
        axis = operator.index(axis) % ndim
    return Bound(LINSPACE, (start, stop, num),
                 {"endpoint": bool(endpoint), "dtype": dt, "axis": 0 if axis == 0 else axis})


# ------------------------------------------------------------------------------ eye, identity
def _eye_rule(N: int, M: int, k: int, *, dtype: np.dtype) -> TensorMeta:
    _check_size((N, M), dtype)
    return TensorMeta((N, M), dtype)


EYE = _creation_op("eye", lambda N, M, k, *, dtype: np.eye(N, M, k, dtype=dtype), _eye_rule,
                   "np.eye(N, M, k, dtype): ones on the k-th diagonal (also np.identity)")


@binds(np.eye, op=EYE)
def _bind_eye(N, M=None, k=0, dtype=float, order="C", *, device=None, like=None):
    rows = _size(N, "np.eye")
    cols = rows if M is None else _size(M, "np.eye")
    dt = _dtype_or(dtype, _FLOAT64)
    _check_order(order, ("C",), "np.eye", lambda: np.empty(0, order=order))
    _check_device(device, "np.eye", lambda: np.empty(0, device=device))
    _check_size((rows, cols), dt)
    if isinstance(k, Node):
        raise _data_dependent("np.eye")
    # NumPy returns the zeros before it converts k to an int: a diagonal past the last column
    # may be any number.
    k = cols if k >= cols else operator.index(k)
    reject(like is not None, "np.eye: like= is not supported")
    return Bound(EYE, (rows, cols, k), {"dtype": dt})


@binds(np.identity, op=EYE)
def _bind_identity(n, dtype=None, *, like=None):
    reject(like is not None, "np.identity: like= is not supported")
    return _bind_eye(n, dtype=dtype)


__all__ = ["ARANGE", "EMPTY", "EMPTY_LIKE", "EYE", "FULL", "FULL_LIKE", "LINSPACE", "ONES",
           "ONES_LIKE", "ZEROS", "ZEROS_LIKE"]
