"""Indexing ops: ``x[key]`` (basic indexing is the view op ``getitem``, integer-array indexing
the copy op ``gather``), slice assignment ``x[key] = value`` as the functional op ``setitem``
written back with ``out=x``, and ``np.take`` / ``np.take_along_axis``. Boolean indices are
refused: the shape of a masked result depends on the data."""

from __future__ import annotations

import dataclasses
import operator
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import as_strided

from dynajit.graph.graph import Node, iter_nodes
from dynajit.graph.meta import TensorMeta
from dynajit.ops.registry import Bound, OpDef, binds, register
from dynajit.ops.rules import (
    PY_SCALARS,
    broadcast_shapes,
    has_array,
    is_array,
    meta,
    meta_like,
    normalize_axis,
    probe,
    quiet,
    reject,
)

_INVALID_INDEX = ("only integers, slices (`:`), ellipsis (`...`), numpy.newaxis (`None`) and "
                  "integer or boolean arrays are valid indices")
_BOOLEAN = "boolean indices are not supported (data-dependent shape)"
_ADVANCED = object()  # marks where an integer-array index puts its dims in the result


# ------------------------------------------------------------------------------ index parsing
@dataclasses.dataclass(frozen=True)
class ParsedIndex:
    """``x[key]`` resolved against ``x``'s meta.

    ``entries`` is the canonical index: a tuple of non-negative ints, normalized slices
    (``slice(start, stop, step)`` with ints; ``stop`` is None for a negative step that runs to
    the front), None, at most one Ellipsis (kept: it decides scalar-ness and separates
    integer-array indices), nested lists of non-negative ints (literal integer-array
    indices) and Nodes (integer arrays; an integer NumPy scalar is a run-time integer)."""

    entries: tuple
    shape: tuple
    scalar: bool  # NumPy returns a NumPy scalar (every dim picked by an integer)
    advanced: bool  # integer-array indexing: a copy, not a view


def _classify(entry: Any, where: str) -> tuple[str, Any]:
    """NumPy's kind of one index entry (int, slice, none, ellipsis, array, list), with a
    literal sequence converted to an integer ndarray as NumPy converts it."""
    if is_array(entry):
        m = meta(entry)
        reject(m.dtype.kind == "b", f"{where}: {_BOOLEAN}")
        if m.dtype.kind not in "iu":
            raise IndexError(_INVALID_INDEX if m.scalar else
                             "arrays used as indices must be of integer (or boolean) type")
        return ("int" if m.scalar else "array"), entry
    if entry is None:
        return "none", entry
    if entry is Ellipsis:
        return "ellipsis", entry
    if isinstance(entry, slice):
        return "slice", entry
    reject(isinstance(entry, (bool, np.bool_)), f"{where}: {_BOOLEAN}")
    if isinstance(entry, (list, tuple)):
        arr = _int_list(entry, where)
        if arr.dtype.kind not in "iu":
            raise IndexError(_INVALID_INDEX)
        return "list", arr
    if isinstance(entry, np.ndarray):
        reject(True, f"{where}: a concrete ndarray index must be a graph input or constant")
    try:
        operator.index(entry)
    except TypeError:
        reject(hasattr(entry, "__len__") and not isinstance(entry, (str, bytes, dict)),
               f"{where}: an index of type {type(entry).__name__} is not supported")
        raise IndexError(_INVALID_INDEX) from None
    return "int", entry


def _prod(shape: tuple) -> Any:
    n = 1
    for size in shape:
        n = n * size
    return n


def _check_int(value: Any, size: int, axis: int) -> int:
    i = operator.index(value)
    if not -size <= i < size:
        raise IndexError(f"index {i} is out of bounds for axis {axis} with size {size}")
    return i + size if i < 0 else i


def _int_list(value: Any, where: str) -> np.ndarray:
    """A literal index sequence as NumPy converts it (an empty one is an intp index)."""
    reject(any(True for _ in iter_nodes(value)),
           f"{where}: an index list holding arrays is not supported (index with an array)")
    arr = np.asarray(value)  # ValueError for ragged nesting, like NumPy
    if arr.size == 0 and arr.dtype.kind == "f":
        arr = arr.astype(np.intp)
    reject(arr.dtype.kind == "b", f"{where}: {_BOOLEAN}")
    return arr


def _list_index(arr: np.ndarray, size: int, axis: int) -> list:
    if arr.size:
        for bound in (arr.min(), arr.max()):
            _check_int(int(bound), size, axis)
    return np.where(arr < 0, arr + size, arr).tolist()


def _slice_index(value: slice, size: int, where: str) -> tuple[slice, int]:
    reject(any(is_array(p) for p in (value.start, value.stop, value.step)),
           f"{where}: slice bounds that are arrays give a data-dependent shape")
    start, stop, step = value.indices(size)  # NumPy's TypeError / ValueError (zero step)
    length = len(range(start, stop, step))
    if length == 0:
        return slice(0, 0, 1), 0
    return slice(start, None if stop < 0 else stop, step), length


def parse_index(x: TensorMeta, key: Any, where: str, check_arrays: bool = True) -> ParsedIndex:
    """Resolve ``x[key]`` by NumPy's rules, raising NumPy's errors (IndexError for invalid or
    out-of-bounds literal indices; integer arrays are checked by the implementation when it
    runs). ``check_arrays=False`` leaves out the bounds of literal index lists, which NumPy
    checks last (after the value of an assignment)."""
    raw = key if type(key) is tuple else (key,)
    classified = []
    for entry in raw:
        classified.append(_classify(entry, where))
        if entry is Ellipsis and any(e is Ellipsis for _, e in classified[:-1]):
            raise IndexError("an index can only have a single ellipsis ('...')")
    kinds = [kind for kind, _ in classified]
    raw = tuple(entry for _, entry in classified)
    consumed = sum(k in ("int", "slice", "array", "list") for k in kinds)
    if x.scalar and consumed:
        raise IndexError("invalid index to scalar variable.")
    if consumed > x.ndim:
        raise IndexError(f"too many indices for array: array is {x.ndim}-dimensional, but "
                         f"{consumed} were indexed")
    advanced = "array" in kinds or "list" in kinds
    entries: list[Any] = []
    parts: list[Any] = []  # result dims per entry, _ADVANCED for integer-array entries
    adv_shapes: list[tuple] = []
    adv_positions: list[int] = []
    deferred: list[tuple[int, np.ndarray, int, int]] = []  # NumPy checks lists last
    dim = 0
    for pos, (kind, entry) in enumerate(zip(kinds, raw)):
        if kind == "ellipsis":
            count = x.ndim - consumed
            entries.append(Ellipsis)
            parts.append(x.shape[dim:dim + count])
            dim += count
            continue
        if kind == "none":
            entries.append(None)
            parts.append((1,))
            continue
        size = x.shape[dim]
        if kind == "slice":
            canonical, length = _slice_index(entry, size, where)
            entries.append(canonical)
            parts.append((length,))
        else:
            if kind == "list":
                deferred.append((len(entries), entry, size, dim))
                shape = entry.shape
            elif is_array(entry):
                shape = meta(entry).shape
            else:
                entry = _check_int(entry, size, dim)
                shape = ()
            entries.append(entry)
            if advanced:
                adv_shapes.append(shape)
                adv_positions.append(pos)
                parts.append(_ADVANCED)
        dim += 1
    parts.append(x.shape[dim:])
    if advanced:
        try:
            adv_shape = broadcast_shapes(*adv_shapes)
        except ValueError:
            shown = " ".join(str(tuple(s)).replace(" ", "") for s in adv_shapes)
            raise IndexError("shape mismatch: indexing arrays could not be broadcast together "
                             f"with shapes {shown} ") from None
        # NumPy bounds-checks index arrays while it iterates them: not at all when their
        # broadcast shape is empty.
        for i, arr, size, axis in deferred:
            if check_arrays and _prod(adv_shape) != 0:
                entries[i] = _list_index(arr, size, axis)
            else:
                entries[i] = arr.tolist()
        adjacent = adv_positions == list(range(adv_positions[0], adv_positions[-1] + 1))
        if adjacent:
            first = parts.index(_ADVANCED)
            parts = [p for p in parts[:first] + [adv_shape] + parts[first:]
                     if p is not _ADVANCED]
        else:
            parts = [adv_shape] + [p for p in parts if p is not _ADVANCED]
    shape = tuple(size for part in parts for size in part)
    scalar = shape == () and "ellipsis" not in kinds
    return ParsedIndex(tuple(entries), shape, scalar, advanced)


# ------------------------------------------------------------------------------ getitem, gather
def _getitem(x: Any, index: tuple) -> Any:
    return x[index]


def _index_rule(advanced: bool) -> Any:
    def rule(x: TensorMeta, index: tuple) -> TensorMeta:
        parsed = parse_index(x, index, "x[...]")
        if parsed.advanced != advanced:
            raise ValueError("getitem takes a basic index, gather an integer-array index")
        return TensorMeta(parsed.shape, x.dtype, scalar=parsed.scalar)

    return rule


GETITEM = register(OpDef(
    "getitem", "indexing", impl=_getitem, meta_rule=_index_rule(False), view=True,
    recomputable=True,
    doc="x[index] with a basic index (ints, slices, None, Ellipsis): a view of x",
))
GATHER = register(OpDef(
    "gather", "indexing", impl=_getitem, meta_rule=_index_rule(True), recomputable=True,
    doc="x[index] with integer arrays among the entries (NumPy's advanced indexing): a copy",
))


def _bind_getitem(a: Any, key: Any) -> Bound | None:
    if not isinstance(a, Node):
        return None  # indexing a Python container: not an array operation
    parsed = parse_index(a.meta, key, "x[...]")
    return Bound(GATHER if parsed.advanced else GETITEM, (a, parsed.entries), {})


binds(operator.getitem, op=GETITEM)(_bind_getitem)
binds(np.ndarray.__getitem__, op=GETITEM)(lambda self, key, /: _bind_getitem(self, key))
# Both ops come from the same callables; the index decides which.
GATHER.captures.extend([operator.getitem, np.ndarray.__getitem__])


# ------------------------------------------------------------------------------ setitem
def _setitem(x: np.ndarray, index: tuple, value: Any) -> np.ndarray:
    result = x.copy()
    result[index] = value
    return result


def _value_standin(value: Any) -> Any:
    """A stand-in with the value's dtype and shape that allocates nothing (zero strides)."""
    if not isinstance(value, TensorMeta):
        return value  # a literal: NumPy converts it itself
    zero = np.zeros((), value.dtype)
    return zero[()] if value.scalar else np.broadcast_to(zero, value.shape)


def _check_value(dtype: np.dtype, parsed: ParsedIndex, value: Any) -> None:
    """NumPy's conversion and broadcasting of an assigned value, run on stand-ins that
    allocate one element: one picked element takes only a 0-d value; basic indexing
    broadcasts the value after dropping leading 1s; integer-array indexing reshapes a value
    with extra dims to the trailing ones (same size), then broadcasts."""
    with quiet():
        if parsed.scalar:
            np.zeros(1, dtype)[0] = _value_standin(value)
            return
        shape = parsed.shape
        if parsed.advanced:
            if isinstance(value, TensorMeta):
                value_shape = value.shape
            else:
                value_shape = np.shape(value)
                np.zeros(value_shape, dtype)[...] = value  # NumPy converts it first
            trailing = value_shape[len(value_shape) - len(shape):] if shape else ()
            if len(value_shape) > len(shape) and _prod(value_shape) == _prod(trailing):
                value_shape = trailing
            if len(value_shape) > len(shape) or any(
                    v != 1 and v != s for v, s in zip(value_shape[::-1], shape[::-1])):
                raise ValueError(f"shape mismatch: value array of shape {value_shape} could "
                                 f"not be broadcast to indexing result of shape {shape}")
            return
        target = as_strided(np.zeros(1, dtype), shape, (0,) * len(shape), writeable=True)
        target[...] = _value_standin(value)


def _check_setitem(x: TensorMeta, index: Any, value: Any, where: str) -> ParsedIndex:
    """``x[index] = value`` checked in NumPy's order: the index, then the value, then the
    bounds of index arrays. Returns the parsed index."""
    if x.scalar:
        raise TypeError(f"'numpy.{x.dtype.type.__name__}' object does not support item "
                        "assignment")
    parsed = parse_index(x, index, where, check_arrays=False)
    try:
        _check_value(x.dtype, parsed, value)
    except (ValueError, TypeError, OverflowError):
        # NumPy checks run-time integers (and 0-d index arrays) before the value: when one
        # is out of bounds it raises IndexError, which only the run can tell, so the
        # implementation raises whichever error NumPy gives (never reaching the bounds of
        # literal index lists).
        if not any(is_array(e) and meta(e).ndim == 0 for e in parsed.entries):
            raise
        return parsed
    return parse_index(x, index, where)


def _setitem_rule(x: TensorMeta, index: tuple, value: Any) -> TensorMeta:
    _check_setitem(x, index, value, "x[...] = value")
    return TensorMeta(x.shape, x.dtype)


SETITEM = register(OpDef(
    "setitem", "indexing", impl=_setitem, meta_rule=_setitem_rule, recomputable=True,
    doc="the new value of x after x[index] = value (value broadcast and cast unsafely); "
        "bound with out=x",
))


def _is_value_literal(value: Any) -> bool:
    if isinstance(value, (list, tuple)):
        return all(_is_value_literal(v) for v in value)
    return isinstance(value, PY_SCALARS) or (isinstance(value, np.generic)
                                             and value.dtype.kind in "biufc")


def _bind_setitem(a: Any, key: Any, value: Any) -> Bound | None:
    if not isinstance(a, Node):
        return None  # assignment into a Python container
    reject(not isinstance(value, Node) and not _is_value_literal(value),
           f"x[...] = value: a value of type {type(value).__name__} is not supported (use a "
           "number, a list of numbers or an array)")
    parsed = _check_setitem(a.meta, key, meta(value), "x[...] = value")
    # Assignment casts like ndarray.astype (unsafe); the op's result already has x's dtype.
    return Bound(SETITEM, (a, parsed.entries, value), {}, out=a, out_casting="unsafe")


binds(operator.setitem, op=SETITEM)(_bind_setitem)
binds(np.ndarray.__setitem__, op=SETITEM)(
    lambda self, key, value, /: _bind_setitem(self, key, value))


# ------------------------------------------------------------------------------ take
_TAKE_MODES = ("raise", "wrap", "clip")
_INTP = np.iinfo(np.intp)


def _index_standin(indices: Any) -> Any:
    """Zeros in place of the indices (valid for the one-element stand-ins of ``probe``)."""
    if isinstance(indices, TensorMeta):
        zero = np.zeros((), indices.dtype)
        return zero[()] if indices.scalar else np.zeros((1,) * indices.ndim, indices.dtype)
    return np.zeros(np.shape(indices), np.intp).tolist() if isinstance(indices, list) else 0


def _take_shape(a: TensorMeta, axis: int | None) -> tuple[tuple, int]:
    """The shape ``take`` reads from and the axis it takes along (a 0-d array is 1-d)."""
    if axis is None:
        return (a.size,), 0
    return (a.shape if a.ndim else (1,)), axis


def _take_result_shape(a: TensorMeta, indices: Any, axis: int | None) -> tuple:
    shape, along = _take_shape(a, axis)
    index_shape = indices.shape if isinstance(indices, TensorMeta) else np.shape(indices)
    return shape[:along] + tuple(index_shape) + shape[along + 1:]


def _take_loops(a: TensorMeta, indices: Any, axis: int | None) -> bool:
    """Whether NumPy's take loop visits any index (it bounds-checks only those it visits:
    none when the dims before the axis are empty)."""
    shape, along = _take_shape(a, axis)
    index_size = indices.size if isinstance(indices, TensorMeta) else np.size(indices)
    return _prod(shape[:along]) != 0 and index_size != 0


def _take_rule(a: TensorMeta, indices: Any, *, axis: int | None = None,
               mode: str = "raise") -> TensorMeta:
    result = probe(np.take, a, _index_standin(indices), axis=axis, mode=mode)
    shape, along = _take_shape(a, axis)
    result_shape = _take_result_shape(a, indices, axis)
    if shape[along] == 0 and _prod(result_shape) != 0:
        raise IndexError("cannot do a non-empty take from an empty axes.")
    if (not isinstance(indices, TensorMeta) and mode == "raise"
            and _take_loops(a, indices, axis)):
        arr = np.asarray(indices)
        for bound in (arr.min(), arr.max()):
            _check_int(int(bound), shape[along], along)
    return meta_like(result, result_shape)


def _take(a: Any, indices: Any, *, axis: int | None = None, mode: str = "raise") -> Any:
    return np.take(a, indices, axis=axis, mode=mode)


TAKE = register(OpDef(
    "take", "indexing", impl=_take, meta_rule=_take_rule, recomputable=True,
    doc="np.take(a, indices, axis, mode): elements of `a` along `axis` (flattened when None)",
))


def _take_mode(mode: Any, where: str) -> str:
    if mode is None:
        return "raise"
    if isinstance(mode, str) and mode in _TAKE_MODES:
        return mode
    probe(np.take, np.zeros(1), 0, mode=mode)  # NumPy's ValueError for a bad mode
    reject(True, f"{where}: mode={mode!r} is not supported (use 'raise', 'wrap' or 'clip')")
    return mode


def _literal_take_indices(indices: Any, where: str) -> Any:
    """Literal indices as an int or a nested list of ints, as NumPy converts them."""
    if isinstance(indices, (list, tuple)):
        arr = _int_list(indices, where)
        if arr.dtype.kind == "O" and all(isinstance(v, int) for v in arr.flat):
            raise OverflowError("Python int too large to convert to C long")
        reject(arr.dtype.kind not in "iu",
               f"{where}: literal indices must be integers (or an integer array)")
        if arr.size and (arr.min() < _INTP.min or arr.max() > _INTP.max):
            raise OverflowError("Python int too large to convert to C long")
        return arr.astype(np.intp).tolist()
    try:
        i = operator.index(indices)
    except TypeError:
        reject(True, f"{where}: literal indices must be integers (or an integer array)")
    if not _INTP.min <= i <= _INTP.max:
        raise OverflowError("Python int too large to convert to C long")
    return i


def _resolve_literal(indices: Any, size: int, axis: int, mode: str) -> Any:
    """Literal indices (for an axis of ``size`` > 0) as the in-bounds, non-negative ones
    'raise' mode would use."""
    arr = np.asarray(indices, dtype=np.intp)
    if mode == "wrap":
        arr = arr % size
    elif mode == "clip":
        arr = np.clip(arr, 0, size - 1)
    else:
        for bound in (arr.min(), arr.max()):
            _check_int(int(bound), size, axis)
        arr = np.where(arr < 0, arr + size, arr)
    return arr.tolist() if isinstance(indices, list) else int(arr)


def _bind_take_call(a: Any, indices: Any, axis: Any, out: Any, mode: Any,
                    where: str) -> Bound | None:
    if not has_array(a, indices, out):
        return None
    reject(not isinstance(a, Node), f"{where}: `a` must be an array (use np.asarray first)")
    # NumPy's order of checks: the arguments as parsed (axis type, out type, mode), the axis
    # range, the indices, out's shape and dtype, then the take itself (see _take_rule).
    if axis is not None and (isinstance(axis, (bool, np.bool_)) or
                             not isinstance(axis, (int, np.integer))):
        raise TypeError(f"'{type(axis).__name__}' object cannot be interpreted as an integer")
    if out is not None and (not isinstance(out, Node) or out.meta.scalar):
        raise TypeError("output must be an array")
    mode = _take_mode(mode, where)
    if axis is not None:
        axis = normalize_axis(axis, max(a.meta.ndim, 1))  # a 0-d array takes as a 1-d one
    if isinstance(indices, Node):
        probe(np.take, a.meta, _index_standin(indices.meta), axis=axis)  # dtype errors
    else:
        indices = _literal_take_indices(indices, where)
    index_meta = meta(indices)
    result_shape = _take_result_shape(a.meta, index_meta, axis)
    if out is not None:
        if out.meta.shape != result_shape:
            raise ValueError("output array does not match result of ndarray.take")
        # NumPy 2.4 takes into a buffer of a's dtype made from `out` by a safe cast (2.5
        # casts unsafely); the buffer is written back into `out` unsafely.
        probe(np.take, np.zeros(1, a.meta.dtype), 0, out=np.zeros((), out.meta.dtype))
    shape, along = _take_shape(a.meta, axis)
    loops = _take_loops(a.meta, index_meta, axis)
    # NumPy 2 never returns from a wrapping take along an empty axis when it has indices
    # to visit (and nothing to copy: otherwise it raises IndexError first).
    reject(mode == "wrap" and loops and shape[along] == 0 and _prod(result_shape) == 0,
           f"{where}: mode='wrap' along an empty axis (NumPy does not return)")
    if not isinstance(indices, Node) and loops and shape[along] != 0:
        indices = _resolve_literal(indices, shape[along], along, mode)
        mode = "raise"
    kwargs: dict = {}
    if axis is not None:
        kwargs["axis"] = axis
    if mode != "raise":
        kwargs["mode"] = mode
    return Bound(TAKE, (a, indices), kwargs, out=out, out_casting="unsafe")


@binds(np.take, op=TAKE)
def _bind_take(a, indices, axis=None, out=None, mode="raise"):
    return _bind_take_call(a, indices, axis, out, mode, "np.take")


@binds(np.ndarray.take, op=TAKE)
def _bind_take_method(self, indices, axis=None, out=None, mode="raise"):
    return _bind_take_call(self, indices, axis, out, mode, "ndarray.take")


# ------------------------------------------------------------------------------ take_along_axis
def _take_along_axis_rule(arr: TensorMeta, indices: TensorMeta, *,
                          axis: int | None) -> TensorMeta:
    result = probe(np.take_along_axis, arr, _index_standin(indices), axis=axis)
    if axis is None:
        return meta_like(result, indices.shape)
    other = tuple(1 if d == axis else size for d, size in enumerate(arr.shape))
    try:
        shape = broadcast_shapes(indices.shape, other)
    except ValueError:
        raise IndexError("shape mismatch: indexing arrays could not be broadcast together "
                         f"with shapes {indices.shape} {other}") from None
    return meta_like(result, shape)


TAKE_ALONG_AXIS = register(OpDef(
    "take_along_axis", "indexing",
    impl=lambda arr, indices, *, axis: np.take_along_axis(arr, indices, axis=axis),
    meta_rule=_take_along_axis_rule, recomputable=True,
    doc="np.take_along_axis(arr, indices, axis): pick along `axis` (flattened when None)",
))


@binds(np.take_along_axis, op=TAKE_ALONG_AXIS)
def _bind_take_along_axis(arr, indices, axis=-1):
    if not has_array(arr, indices):
        return None
    reject(not isinstance(arr, Node),
           "np.take_along_axis: `arr` must be an array (use np.asarray first)")
    if not isinstance(indices, Node):
        probe(np.take_along_axis, arr.meta, indices, axis=axis)  # NumPy's error for a list
        reject(True, "np.take_along_axis: `indices` must be an array")
    probe(np.take_along_axis, arr.meta, _index_standin(indices.meta), axis=axis)
    if axis is not None:
        axis = operator.index(axis)
        axis = axis + arr.meta.ndim if axis < 0 else axis
    return Bound(TAKE_ALONG_AXIS, (arr, indices), {"axis": axis})


__all__ = ["GATHER", "GETITEM", "SETITEM", "TAKE", "TAKE_ALONG_AXIS", "ParsedIndex",
           "parse_index"]
