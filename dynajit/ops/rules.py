"""Shared pieces of meta rules and binders: broadcasting, axis normalization, and the dtype
probe that asks NumPy itself which dtype an op produces."""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import numpy as np
from numpy.exceptions import AxisError

from dynajit.errors import Unsupported
from dynajit.graph.graph import Node, iter_nodes
from dynajit.graph.meta import TensorMeta

PY_SCALARS = (bool, int, float, complex)


def is_array(value: Any) -> bool:
    """Arrays in a binder's arguments are graph nodes; metas stand for them in rules."""
    return isinstance(value, (Node, TensorMeta))


def meta(value: Any) -> TensorMeta:
    return value.meta if isinstance(value, Node) else value


def has_array(*values: Any) -> bool:
    return any(True for _ in iter_nodes(values))


def broadcast_shapes(*shapes: tuple) -> tuple:
    """NumPy broadcasting of shapes, with NumPy's error for incompatible ones."""
    ndim = max((len(s) for s in shapes), default=0)
    out: list[Any] = [1] * ndim
    for shape in shapes:
        for i, size in enumerate(shape, start=ndim - len(shape)):
            if size == 1:
                continue
            if out[i] == 1:
                out[i] = size
            elif out[i] != size:
                shown = " ".join(str(tuple(s)) for s in shapes)
                raise ValueError("shape mismatch: objects cannot be broadcast to a single "
                                 f"shape.  Mismatch is between shapes {shown}")
    return tuple(out)


def normalize_axis(axis: Any, ndim: int, argname: str = "axis") -> int:
    if isinstance(axis, (bool, np.bool_)) or not isinstance(axis, (int, np.integer)):
        raise TypeError(f"'{type(axis).__name__}' object cannot be interpreted as an integer")
    axis = int(axis)
    if not -ndim <= axis < ndim:
        raise AxisError(axis, ndim)
    return axis % ndim if ndim else 0


def normalize_axes(axis: Any, ndim: int) -> tuple[int, ...]:
    """``axis`` as a sorted tuple of non-negative ints (None = every axis)."""
    if axis is None:
        return tuple(range(ndim))
    if not isinstance(axis, (tuple, list)):
        axis = (axis,)
    axes = [normalize_axis(a, ndim) for a in axis]
    if len(set(axes)) != len(axes):
        raise ValueError("duplicate value in 'axis'")
    return tuple(sorted(axes))


def dummy(m: TensorMeta, size: int = 1) -> np.ndarray | np.generic:
    """A stand-in with the meta's dtype, rank and scalar-ness: one element (of value 1), or
    none (``size=0``, for ranks >= 1)."""
    if m.scalar:
        return m.dtype.type(1)
    if m.ndim == 0:
        return np.ones((), dtype=m.dtype)
    return np.ones((size,) * m.ndim, dtype=m.dtype)


def _to_dummies(value: Any, size: int = 1) -> Any:
    if isinstance(value, TensorMeta):
        return dummy(value, size)
    if isinstance(value, tuple):
        return tuple(_to_dummies(v, size) for v in value)
    if isinstance(value, list):
        return [_to_dummies(v, size) for v in value]
    return value


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """NumPy's floating-point errors and every warning silenced, for stand-in computations.
    Unlike ``warnings.catch_warnings`` this leaves the warnings filter version alone, which
    would reset every module's "already warned" registry (so the user's ``default``-filter
    warnings would show again after dynajit compiled something)."""
    saved = warnings.filters[:]
    warnings.filters.insert(0, ("ignore", None, Warning, None, 0))
    try:
        with np.errstate(all="ignore"):
            yield
    finally:
        warnings.filters[:] = saved


def probe(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run ``fn`` on one-element stand-ins of the metas in ``args`` and return the result.
    Its dtype, rank and scalar-ness are NumPy's own answer (NumPy 2 has no value-based
    casting for arrays), and it raises NumPy's own error for unsupported dtype combinations
    or out-of-range Python integers."""
    with quiet():
        try:
            return fn(*_to_dummies(args), **{k: _to_dummies(v) for k, v in kwargs.items()})
        except ValueError:
            # A value check (an integer to a negative power) fails on the stand-in's
            # element; NumPy raises it only when elements exist, i.e. when the graph runs.
            # Empty stand-ins tell whether the call itself is valid.
            if not any(isinstance(m, TensorMeta) and m.ndim for m in _flatten(
                    (args, tuple(kwargs.values())))):
                raise
            return fn(*_to_dummies(args, 0),
                      **{k: _to_dummies(v, 0) for k, v in kwargs.items()})


def meta_like(result: Any, shape: tuple) -> TensorMeta:
    """The meta of a probe result, with the real ``shape``."""
    if isinstance(result, np.generic):
        return TensorMeta((), result.dtype, scalar=True)
    return TensorMeta(shape, result.dtype)


def check_dtype_arg(dtype: Any) -> np.dtype | None:
    """Normalize a ``dtype=`` argument to np.dtype (None stays None)."""
    if dtype is None:
        return None
    dt = np.dtype(dtype)
    if dt.kind not in "biufc":
        raise Unsupported(f"dtype {dt} is not supported (numeric and bool dtypes only)")
    return dt


def reject(condition: bool, reason: str) -> None:
    """Raise Unsupported(reason) when ``condition`` holds."""
    if condition:
        raise Unsupported(reason)


def check_literal(value: Any, what: str) -> None:
    """Non-array arguments must be Python literals dynajit can guard on."""
    for v in _flatten(value):
        if isinstance(v, np.ndarray):
            raise Unsupported(f"{what}: a concrete ndarray must be a graph input or constant")


def _flatten(value: Any) -> Iterable[Any]:
    if isinstance(value, (tuple, list)):
        for v in value:
            yield from _flatten(v)
    else:
        yield value
