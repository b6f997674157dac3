"""Shape and view ops: reshape, transposes, squeeze/expand, broadcast, concatenate/stack/
split, flip, tile, repeat, pad, and ``copy_into`` (the functional form of writing into an
existing array: ``out=``, in-place operators, slice assignment). Binders reduce every NumPy
spelling to one canonical call: explicit shapes, full permutations, sorted axes."""

from __future__ import annotations

import operator
from typing import Any

import numpy as np
from numpy.exceptions import AxisError

from dynajit.errors import Unsupported
from dynajit.graph.graph import Node
from dynajit.graph.meta import TensorMeta
from dynajit.ops.registry import Bound, OpDef, attribute, binds, register
from dynajit.ops.rules import (
    broadcast_shapes,
    check_dtype_arg,
    has_array,
    meta,
    meta_like,
    normalize_axes,
    normalize_axis,
    probe,
    reject,
)


def _copy_into_rule(dst: TensorMeta, src: TensorMeta, *, casting: str) -> TensorMeta:
    if dst.scalar:
        raise TypeError("return arrays must be of ArrayType")
    src_shape = src.shape if isinstance(src, TensorMeta) else ()
    if broadcast_shapes(dst.shape, src_shape) != dst.shape:
        raise ValueError(f"non-broadcastable output operand with shape {dst.shape} doesn't "
                         f"match the broadcast shape {broadcast_shapes(dst.shape, src_shape)}")
    probe(np.copyto, dst, src, casting=casting)
    return TensorMeta(dst.shape, dst.dtype)


def _copy_into(dst: np.ndarray, src: object, *, casting: str) -> np.ndarray:
    result = dst.copy()
    np.copyto(result, src, casting=casting)
    return result


COPY_INTO = register(OpDef(
    "copy_into", "shape", impl=_copy_into, meta_rule=_copy_into_rule, recomputable=True,
    doc="the new value of `dst` after writing `src` into it (broadcast, cast with `casting`)",
))


def _tuple_item_rule(value: tuple, index: int) -> TensorMeta:
    if not isinstance(value, tuple):
        raise TypeError("tuple_item reads a multi-output value")
    return value[index]


TUPLE_ITEM = register(OpDef(
    "tuple_item", "shape", impl=lambda value, index: value[index], meta_rule=_tuple_item_rule,
    view=True, recomputable=True, differentiable=True,
    doc="one result of a multi-output op (divmod, frexp, modf, split)",
))


# ------------------------------------------------------------------------------ arguments
_INTP_MAX = int(np.iinfo(np.intp).max)
_ORDERS = ("C", "F", "A", "K")


def _unique(*callables: Any) -> list[Any]:
    """The callables that exist in this NumPy, without aliases (np.permute_dims is
    np.transpose, np.concat is np.concatenate)."""
    out: list[Any] = []
    for fn in callables:
        if fn is not None and all(fn is not seen for seen in out):
            out.append(fn)
    return out


def _reject_data(value: Any, what: str) -> None:
    reject(has_array(value), f"{what} computed from array data is not supported "
                             "(data-dependent shape)")


def _dim(value: Any, what: str) -> int:
    """One entry of a shape argument, read as NumPy's shape converter reads it (no bools)."""
    _reject_data(value, what)
    if isinstance(value, (bool, np.bool_)):
        raise TypeError("an integer is required")
    size = operator.index(value)
    if not -_INTP_MAX - 1 <= size <= _INTP_MAX:
        raise ValueError("Maximum allowed dimension exceeded")
    return size


def _dims(shape: Any, what: str) -> tuple[int, ...]:
    """A shape argument (an int or a sequence of ints) as a tuple of ints."""
    _reject_data(shape, what)
    if isinstance(shape, (tuple, list, range)):
        return tuple(_dim(s, what) for s in shape)
    return (_dim(shape, what),)


def _axis_index(axis: Any, ndim: int, argname: str | None = None) -> int:
    """NumPy's ``normalize_axis_index`` (accepts anything with ``__index__``, bools too)."""
    ax = operator.index(axis)
    if not -ndim <= ax < ndim:
        raise AxisError(ax, ndim, argname)
    return ax % ndim


def _axis_tuple(axis: Any, ndim: int, argname: str | None = None) -> tuple[int, ...]:
    """NumPy's ``normalize_axis_tuple``: an int or a sequence, order kept, no repeats."""
    if type(axis) not in (tuple, list):
        try:
            axis = [operator.index(axis)]
        except TypeError:
            pass
    axes = tuple(_axis_index(ax, ndim, argname) for ax in axis)
    if len(set(axes)) != len(axes):
        raise ValueError(f"repeated axis in `{argname}` argument" if argname else
                         "repeated axis")
    return axes


def _check_order(order: Any, what: str) -> None:
    """NumPy's errors for a bad ``order``; anything but C order is refused (the result of
    'F', 'A' and 'K' depends on the memory layout or reads in another order)."""
    if order is None:
        return
    if not isinstance(order, str):
        raise TypeError(f"order must be str, not {type(order).__name__}")
    if order.upper() not in _ORDERS:
        raise ValueError(f"order must be one of 'C', 'F', 'A', or 'K' (got {order!r})")
    reject(order.upper() != "C", f"{what}: order={order!r} is not supported (C order only)")


# ------------------------------------------------------------------------------ reshape
def _resolve_shape(size: Any, dims: tuple[int, ...]) -> tuple[int, ...]:
    """``dims`` with its one negative entry (any negative is "unknown") inferred; NumPy's
    ValueError when the sizes do not match."""
    shown = "(" + ",".join("newaxis" if d < 0 else str(d) for d in dims) + ")"
    mismatch = ValueError(f"cannot reshape array of size {size} into shape {shown}")
    unknown = None
    known = 1
    for i, d in enumerate(dims):
        if d < 0:
            if unknown is not None:
                raise ValueError("can only specify one unknown dimension")
            unknown = i
            continue
        known = known * d
        if known > _INTP_MAX:
            raise mismatch
    if unknown is None:
        if known != size:
            raise mismatch
        return dims
    if known == 0 or (size // known) * known != size:
        raise mismatch
    return dims[:unknown] + (size // known,) + dims[unknown + 1:]


def _reshape_rule(a: TensorMeta, shape: tuple, *, copy: bool | None = None) -> TensorMeta:
    if any(s < 0 for s in shape):
        raise ValueError(f"reshape needs an explicit shape, got {shape}")
    _resolve_shape(a.size, shape)
    return meta_like(probe(np.reshape, a, (1,) * len(shape)), shape)


def _reshape(a: Any, shape: tuple, *, copy: bool | None = None) -> Any:
    return np.reshape(a, shape, copy=copy)


RESHAPE = register(OpDef(
    "reshape", "shape", impl=_reshape, meta_rule=_reshape_rule, view=True, recomputable=True,
    cost=0,
    doc="`a` with the explicit C-order `shape` (no -1), a view like NumPy's. Also ravel, "
        "expand_dims and squeeze. `copy=True` (ndarray.flatten, reshape(copy=True)) returns "
        "a copy: in a functional graph the same value, it only drops the alias.",
))


def _copy_flag(copy: Any, what: str) -> bool | None:
    if isinstance(copy, str):
        raise ValueError("strings are not allowed for 'copy' keyword. Use True/False/None "
                         "instead.")
    if copy is None:
        return None
    reject(not copy, f"{what}: copy=False raises or not depending on the memory layout, "
                     "which dynajit does not track")
    return True


def _bind_reshape_to(a: Node, shape: Any, order: Any, copy: Any, what: str) -> Bound:
    dims = a.meta.shape if shape is None else _dims(shape, f"{what}: shape")
    _check_order(order, what)
    copied = _copy_flag(copy, what)
    resolved = _resolve_shape(a.meta.size, tuple(dims))
    return Bound(RESHAPE, (a, resolved), {} if copied is None else {"copy": True})


@binds(np.reshape, op=RESHAPE)
def _bind_reshape(a, /, shape, order="C", *, copy=None):
    if not isinstance(a, Node):
        return None
    return _bind_reshape_to(a, shape, order, copy, "np.reshape")


@binds(np.ndarray.reshape, op=RESHAPE)
def _bind_reshape_method(self, *shape, order="C", copy=None):
    if not shape:
        raise TypeError("reshape() takes exactly 1 argument (0 given)")
    return _bind_reshape_to(self, shape[0] if len(shape) == 1 else shape, order, copy,
                            "ndarray.reshape")


@binds(np.ravel, op=RESHAPE)
def _bind_ravel(a, order="C"):
    if not isinstance(a, Node):
        return None
    _check_order(order, "np.ravel")
    return Bound(RESHAPE, (a, (a.meta.size,)), {})


@binds(np.ndarray.ravel, op=RESHAPE)
def _bind_ravel_method(self, order="C"):
    _check_order(order, "ndarray.ravel")
    return Bound(RESHAPE, (self, (self.meta.size,)), {})


@binds(np.ndarray.flatten, op=RESHAPE)
def _bind_flatten(self, order="C"):
    _check_order(order, "ndarray.flatten")
    return Bound(RESHAPE, (self, (self.meta.size,)), {"copy": True})


@binds(np.expand_dims, op=RESHAPE)
def _bind_expand_dims(a, axis):
    if not isinstance(a, Node):
        return None
    _reject_data(axis, "np.expand_dims: axis")
    if not isinstance(axis, (tuple, list)):
        axis = (axis,)
    out_ndim = len(axis) + a.meta.ndim
    axes = _axis_tuple(axis, out_ndim)
    sizes = iter(a.meta.shape)
    shape = tuple(1 if ax in axes else next(sizes) for ax in range(out_ndim))
    return Bound(RESHAPE, (a, shape), {})


def _bind_squeeze_to(a: Node, axis: Any) -> Bound:
    shape = a.meta.shape
    if axis is None:
        axes = tuple(i for i, s in enumerate(shape) if s == 1)
    else:
        _reject_data(axis, "squeeze: axis")
        if isinstance(axis, list):  # NumPy takes an int or a tuple only
            raise TypeError("'list' object cannot be interpreted as an integer")
        axes = normalize_axes(axis, len(shape))
        if any(shape[ax] != 1 for ax in axes):
            raise ValueError("cannot select an axis to squeeze out which has size not equal "
                             "to one")
    return Bound(RESHAPE, (a, tuple(s for i, s in enumerate(shape) if i not in axes)), {})


@binds(np.squeeze, op=RESHAPE)
def _bind_squeeze(a, axis=None):
    if not isinstance(a, Node):
        return None
    return _bind_squeeze_to(a, axis)


@binds(np.ndarray.squeeze, op=RESHAPE)
def _bind_squeeze_method(self, axis=None):
    return _bind_squeeze_to(self, axis)


# ------------------------------------------------------------------------------ transpose
def _transpose_rule(a: TensorMeta, axes: tuple) -> TensorMeta:
    if sorted(axes) != list(range(a.ndim)):
        raise ValueError("axes don't match array")
    shape = tuple(a.shape[ax] for ax in axes)
    return meta_like(probe(np.transpose, a, axes), shape)


TRANSPOSE = register(OpDef(
    "transpose", "shape", impl=lambda a, axes: np.transpose(a, axes),
    meta_rule=_transpose_rule, view=True, recomputable=True, cost=0,
    doc="`a` with its axes permuted by the full permutation `axes` (a view). Also .T, "
        "swapaxes and moveaxis.",
))


def _permutation(axes: Any, ndim: int, what: str) -> tuple[int, ...]:
    if axes is None:
        return tuple(range(ndim))[::-1]
    dims = _dims(axes, f"{what}: axes")
    if len(dims) != ndim:
        raise ValueError("axes don't match array")
    perm = tuple(normalize_axis(ax, ndim) for ax in dims)
    if len(set(perm)) != ndim:
        raise ValueError("repeated axis in transpose")
    return perm


@binds(*_unique(np.transpose, getattr(np, "permute_dims", None)), op=TRANSPOSE)
def _bind_transpose(a, axes=None):
    if not isinstance(a, Node):
        return None
    return Bound(TRANSPOSE, (a, _permutation(axes, a.meta.ndim, "np.transpose")), {})


@binds(np.ndarray.transpose, op=TRANSPOSE)
def _bind_transpose_method(self, *axes):
    if not axes:
        axes = None
    elif len(axes) == 1 and (axes[0] is None or isinstance(axes[0], (tuple, list))):
        axes = axes[0]
    return Bound(TRANSPOSE, (self, _permutation(axes, self.meta.ndim, "ndarray.transpose")),
                 {})


@binds(attribute("T"), op=TRANSPOSE)
def _bind_T(self):
    return Bound(TRANSPOSE, (self, tuple(range(self.meta.ndim))[::-1]), {})


def _bind_swapaxes_to(a: Node, axis1: Any, axis2: Any) -> Bound:
    ndim = a.meta.ndim
    ax1 = _axis_index(axis1, ndim, "axis1")
    ax2 = _axis_index(axis2, ndim, "axis2")
    perm = list(range(ndim))
    perm[ax1], perm[ax2] = ax2, ax1
    return Bound(TRANSPOSE, (a, tuple(perm)), {})


@binds(np.swapaxes, op=TRANSPOSE)
def _bind_swapaxes(a, axis1, axis2):
    if not isinstance(a, Node):
        return None
    return _bind_swapaxes_to(a, axis1, axis2)


@binds(np.ndarray.swapaxes, op=TRANSPOSE)
def _bind_swapaxes_method(self, axis1, axis2):
    return _bind_swapaxes_to(self, axis1, axis2)


@binds(np.moveaxis, op=TRANSPOSE)
def _bind_moveaxis(a, source, destination):
    if not isinstance(a, Node):
        return None
    _reject_data((source, destination), "np.moveaxis: axes")
    ndim = a.meta.ndim
    source = _axis_tuple(source, ndim, "source")
    destination = _axis_tuple(destination, ndim, "destination")
    if len(source) != len(destination):
        raise ValueError("`source` and `destination` arguments must have the same number of "
                         "elements")
    order = [n for n in range(ndim) if n not in source]
    for dest, src in sorted(zip(destination, source)):
        order.insert(dest, src)
    return Bound(TRANSPOSE, (a, tuple(order)), {})


# ------------------------------------------------------------------------------ broadcast_to
def _broadcast_to_rule(a: TensorMeta, shape: tuple) -> TensorMeta:
    if any(s < 0 for s in shape):
        raise ValueError("all elements of broadcast shape must be non-negative")
    if a.ndim > len(shape):
        raise ValueError("input operand has more dimensions than allowed by the axis "
                         "remapping")
    for have, want in zip(a.shape, shape[len(shape) - a.ndim:]):
        if have != 1 and have != want:
            raise ValueError("operands could not be broadcast together with remapped shapes "
                             f"[original->remapped]: {a.shape} and requested shape {shape}")
    return meta_like(probe(np.broadcast_to, a, (1,) * len(shape)), shape)


BROADCAST_TO = register(OpDef(
    "broadcast_to", "shape", impl=lambda a, shape: np.broadcast_to(a, shape),
    meta_rule=_broadcast_to_rule, view=True, recomputable=True, cost=0,
    doc="`a` broadcast to `shape`: a read-only view (size-1 and new axes have stride 0)",
))


@binds(np.broadcast_to, op=BROADCAST_TO)
def _bind_broadcast_to(array, shape, subok=False):
    if not isinstance(array, Node):
        return None
    dims = _dims(shape, "np.broadcast_to: shape")
    if any(s < 0 for s in dims):
        raise ValueError("all elements of broadcast shape must be non-negative")
    return Bound(BROADCAST_TO, (array, dims), {})


# ------------------------------------------------------------------------------ flip
def _flip_rule(a: TensorMeta, axes: tuple) -> TensorMeta:
    if any(not 0 <= ax < a.ndim for ax in axes) or len(set(axes)) != len(axes):
        raise ValueError(f"flip axes {axes} do not fit an array of dimension {a.ndim}")
    return meta_like(probe(np.flip, a, axes), a.shape)


FLIP = register(OpDef(
    "flip", "shape", impl=lambda a, axes: np.flip(a, axes), meta_rule=_flip_rule, view=True,
    recomputable=True, cost=0,
    doc="`a` reversed along the sorted `axes` (a view; a 0-d input gives a NumPy scalar, as "
        "np.flip does). Also fliplr and flipud.",
))


@binds(np.flip, op=FLIP)
def _bind_flip(m, axis=None):
    if not isinstance(m, Node):
        return None
    if axis is None:
        return Bound(FLIP, (m, tuple(range(m.meta.ndim))), {})
    _reject_data(axis, "np.flip: axis")
    return Bound(FLIP, (m, tuple(sorted(_axis_tuple(axis, m.meta.ndim)))), {})


@binds(np.fliplr, op=FLIP)
def _bind_fliplr(m):
    if not isinstance(m, Node):
        return None
    if m.meta.ndim < 2:
        raise ValueError("Input must be >= 2-d.")
    return Bound(FLIP, (m, (1,)), {})


@binds(np.flipud, op=FLIP)
def _bind_flipud(m):
    if not isinstance(m, Node):
        return None
    if m.meta.ndim < 1:
        raise ValueError("Input must be >= 1-d.")
    return Bound(FLIP, (m, (0,)), {})


# ------------------------------------------------------------------------------ concatenate, stack
def _array_sequence(arrays: Any, what: str) -> tuple | None:
    """The arrays of a concatenate/stack call as a tuple of nodes; None when none of them is
    an array (NumPy runs the call)."""
    reject(isinstance(arrays, Node), f"{what}: one ndarray as the sequence of arrays is not "
                                     "supported (pass a list of arrays)")
    if not isinstance(arrays, (list, tuple)) or not has_array(arrays):
        return None
    for a in arrays:
        reject(not isinstance(a, Node), f"{what}: every element must be an array (convert "
                                        "lists and Python scalars with np.asarray first)")
    return tuple(arrays)


def _join_options(out: Any, dtype: Any, casting: Any, what: str) -> dict:
    reject(out is not None, f"{what}: out= is not supported")
    reject(casting != "same_kind", f"{what}: casting={casting!r} is not supported")
    dt = check_dtype_arg(dtype)
    return {} if dt is None else {"dtype": dt}


def _concatenate_axis(arrays: Any, axis: Any) -> int | None:
    """NumPy's checks on the arrays and the axis, in NumPy's order; the axis normalized."""
    if not arrays:
        raise ValueError("need at least one array to concatenate")
    if axis is None:
        return None
    ndim = meta(arrays[0]).ndim
    if ndim == 0:
        raise ValueError("zero-dimensional arrays cannot be concatenated")
    return normalize_axis(axis, ndim)


def _concatenate_rule(arrays: tuple, axis: int | None, *,
                      dtype: np.dtype | None = None) -> TensorMeta:
    axis = _concatenate_axis(arrays, axis)
    if axis is None:
        shape: tuple = (sum(m.size for m in arrays),)
    else:
        first = arrays[0]
        total = 0
        for i, m in enumerate(arrays):
            if m.ndim != first.ndim:
                raise ValueError("all the input arrays must have same number of dimensions, but "
                                 f"the array at index 0 has {first.ndim} dimension(s) and the "
                                 f"array at index {i} has {m.ndim} dimension(s)")
            for d in range(first.ndim):
                if d != axis and m.shape[d] != first.shape[d]:
                    raise ValueError(
                        "all the input array dimensions except for the concatenation axis must "
                        f"match exactly, but along dimension {d}, the array at index 0 has size "
                        f"{first.shape[d]} and the array at index {i} has size {m.shape[d]}")
            total = total + m.shape[axis]
        shape = first.shape[:axis] + (total,) + first.shape[axis + 1:]
    result = probe(np.concatenate, list(arrays), axis=axis, dtype=dtype)
    return TensorMeta(shape, result.dtype)


CONCATENATE = register(OpDef(
    "concatenate", "shape",
    impl=lambda arrays, axis, *, dtype=None: np.concatenate(arrays, axis=axis, dtype=dtype),
    meta_rule=_concatenate_rule, recomputable=True,
    doc="np.concatenate(arrays, axis, dtype=) (axis=None joins the flattened arrays); dtype "
        "by NumPy's promotion, a new array",
))


@binds(*_unique(np.concatenate, getattr(np, "concat", None)), op=CONCATENATE)
def _bind_concatenate(arrays, /, axis=0, out=None, *, dtype=None, casting="same_kind"):
    seq = _array_sequence(arrays, "np.concatenate")
    if seq is None:
        return None
    kwargs = _join_options(out, dtype, casting, "np.concatenate")
    return Bound(CONCATENATE, (seq, _concatenate_axis(seq, axis)), kwargs)


def _stack_rule(arrays: tuple, axis: int, *, dtype: np.dtype | None = None) -> TensorMeta:
    if not arrays:
        raise ValueError("need at least one array to stack")
    if len({m.shape for m in arrays}) != 1:
        raise ValueError("all input arrays must have the same shape")
    shape = arrays[0].shape
    axis = _axis_index(axis, len(shape) + 1)
    result = probe(np.stack, list(arrays), axis=axis, dtype=dtype)
    return TensorMeta(shape[:axis] + (len(arrays),) + shape[axis:], result.dtype)


STACK = register(OpDef(
    "stack", "shape",
    impl=lambda arrays, axis, *, dtype=None: np.stack(arrays, axis=axis, dtype=dtype),
    meta_rule=_stack_rule, recomputable=True,
    doc="np.stack(arrays, axis, dtype=): equal-shaped arrays joined along a new axis",
))


@binds(np.stack, op=STACK)
def _bind_stack(arrays, axis=0, out=None, *, dtype=None, casting="same_kind"):
    seq = _array_sequence(arrays, "np.stack")
    if seq is None:
        return None
    kwargs = _join_options(out, dtype, casting, "np.stack")
    if len({a.meta.shape for a in seq}) != 1:  # NumPy checks the shapes before the axis
        raise ValueError("all input arrays must have the same shape")
    return Bound(STACK, (seq, _axis_index(axis, seq[0].meta.ndim + 1)), kwargs)


# ------------------------------------------------------------------------------ split
def _split_rule(a: TensorMeta, bounds: tuple, axis: int) -> tuple:
    n = a.shape[axis]
    metas = []
    for start, stop in bounds:
        if not 0 <= start <= stop <= n:
            raise ValueError(f"split bounds {bounds} do not fit an axis of size {n}")
        metas.append(TensorMeta(a.shape[:axis] + (stop - start,) + a.shape[axis + 1:],
                                a.dtype))
    return tuple(metas)


def _split(a: np.ndarray, bounds: tuple, axis: int) -> list:
    lead = (slice(None),) * axis
    return [a[lead + (slice(start, stop),)] for start, stop in bounds]


SPLIT = register(OpDef(
    "split", "shape", impl=_split, meta_rule=_split_rule, view=True, recomputable=True, cost=0,
    doc="the list of views a[..., start:stop, ...] along `axis` for each (start, stop) in "
        "`bounds` (non-negative, start <= stop): np.split and np.array_split",
))


def _bind_split_to(a: Node, indices_or_sections: Any, axis: Any, equal: bool,
                   what: str) -> Bound:
    """NumPy's split points (``array_split``'s logic, with ``split``'s equal-division check)
    as clipped (start, stop) pairs."""
    _reject_data((indices_or_sections, axis), f"{what}: indices_or_sections or axis")
    shape = a.meta.shape
    n = shape[axis]  # NumPy reads ary.shape[axis] first: IndexError/TypeError as it does
    try:
        len(indices_or_sections)
    except TypeError:
        sections = indices_or_sections
        if equal and n % sections:
            raise ValueError("array split does not result in an equal division") from None
        count = int(sections)
        if count <= 0:
            raise ValueError("number sections must be larger than 0.") from None
        each, extras = divmod(n, count)
        points = [0]
        for i in range(count):
            points.append(points[-1] + each + (1 if i < extras else 0))
    else:
        points = [0] + [operator.index(i) for i in indices_or_sections] + [n]
    bounds = []
    for start, stop in zip(points[:-1], points[1:]):
        start, stop, _ = slice(start, stop).indices(n)
        bounds.append((start, max(start, stop)))
    return Bound(SPLIT, (a, tuple(bounds), _axis_index(axis, len(shape))), {})


@binds(np.split, op=SPLIT)
def _bind_split(ary, indices_or_sections, axis=0):
    if not isinstance(ary, Node):
        return None
    return _bind_split_to(ary, indices_or_sections, axis, True, "np.split")


@binds(np.array_split, op=SPLIT)
def _bind_array_split(ary, indices_or_sections, axis=0):
    if not isinstance(ary, Node):
        return None
    return _bind_split_to(ary, indices_or_sections, axis, False, "np.array_split")


# ------------------------------------------------------------------------------ tile
def _tile_rule(A: TensorMeta, reps: tuple) -> TensorMeta:
    if len(reps) < A.ndim:
        raise ValueError(f"tile needs one repetition count per axis, got {reps}")
    shape = tuple(s * t for s, t in zip((1,) * (len(reps) - A.ndim) + A.shape, reps))
    if any(s < 0 for s in shape):
        raise ValueError("negative dimensions are not allowed")
    return TensorMeta(shape, A.dtype)


TILE = register(OpDef(
    "tile", "shape", impl=lambda A, reps: np.tile(A, reps), meta_rule=_tile_rule,
    recomputable=True,
    doc="np.tile(A, reps) with one count per output axis (len(reps) >= A.ndim): a new array",
))


@binds(np.tile, op=TILE)
def _bind_tile(A, reps):
    if not isinstance(A, Node):
        return None
    _reject_data(reps, "np.tile: reps")
    try:
        tup = tuple(reps)
    except TypeError:
        tup = (reps,)
    if all(x == 1 for x in tup) and not A.meta.scalar:
        tup = (1,) * len(tup)  # NumPy copies without reading the counts (1.0 works)
    else:
        tup = tuple(operator.index(x) for x in tup)
    return Bound(TILE, (A, (1,) * (A.meta.ndim - len(tup)) + tup), {})


# ------------------------------------------------------------------------------ repeat
def _repeat_rule(a: TensorMeta, repeats: int | tuple, axis: int | None) -> TensorMeta:
    shape = a.shape if a.ndim else (1,)  # NumPy repeats a 0-d array as a 1-d one
    n = a.size if axis is None else shape[axis]
    if isinstance(repeats, tuple):
        if len(repeats) != n:
            raise ValueError(f"operands could not be broadcast together with shape ({n},) "
                             f"({len(repeats)},)")
        if any(r < 0 for r in repeats):
            raise ValueError("repeats may not contain negative values.")
        total = sum(repeats)
    else:
        total = repeats * n
        if total < 0:
            raise ValueError("negative dimensions are not allowed")
    out = (total,) if axis is None else shape[:axis] + (total,) + shape[axis + 1:]
    return TensorMeta(out, a.dtype)


REPEAT = register(OpDef(
    "repeat", "shape", impl=lambda a, repeats, axis: np.repeat(a, repeats, axis),
    meta_rule=_repeat_rule, recomputable=True,
    doc="np.repeat(a, repeats, axis): `repeats` an int or a tuple of one int per element "
        "along `axis` (axis=None: the flattened array); a new array",
))


def _repeat_count(value: Any, what: str) -> int:
    if isinstance(value, (list, tuple)):
        raise ValueError("setting an array element with a sequence. The requested array "
                         "would exceed the maximum number of dimension of 1.")
    try:
        count = operator.index(value)
    except TypeError:
        raise Unsupported(f"{what}: repeats must be integers (NumPy would cast "
                          f"{type(value).__name__} counts)") from None
    if not -_INTP_MAX - 1 <= count <= _INTP_MAX:
        raise OverflowError("Python int too large to convert to C long")
    return count


def _bind_repeat_to(a: Node, repeats: Any, axis: Any, what: str) -> Bound:
    _reject_data(repeats, f"{what}: repeats")
    if axis is not None:
        axis = normalize_axis(axis, max(a.meta.ndim, 1))
    if isinstance(repeats, (list, tuple)):
        counts: int | tuple = tuple(_repeat_count(r, what) for r in repeats)
        if len(counts) == 1:
            counts = counts[0]  # one count applies to every element
    else:
        counts = _repeat_count(repeats, what)
    return Bound(REPEAT, (a, counts, axis), {})


@binds(np.repeat, op=REPEAT)
def _bind_repeat(a, repeats, axis=None):
    if not isinstance(a, Node):
        return None
    return _bind_repeat_to(a, repeats, axis, "np.repeat")


@binds(np.ndarray.repeat, op=REPEAT)
def _bind_repeat_method(self, repeats, axis=None):
    return _bind_repeat_to(self, repeats, axis, "ndarray.repeat")


# ------------------------------------------------------------------------------ pad
_PAD_MODES = ("constant", "edge", "empty", "linear_ramp", "maximum", "mean", "median",
              "minimum", "reflect", "symmetric", "wrap")


def _as_pairs(x: Any, ndim: int, as_index: bool = False) -> tuple:
    """NumPy's ``np.pad`` helper: ``x`` broadcast to ``ndim`` (before, after) pairs, with
    NumPy's errors."""
    if x is None:
        return ((None, None),) * ndim
    x = np.array(x)
    if as_index:
        x = np.round(x).astype(np.intp, copy=False)
    if x.ndim < 3:
        if x.size == 1:
            x = x.ravel()
            if as_index and x < 0:
                raise ValueError("index can't contain negative values")
            return ((x[0], x[0]),) * ndim
        if x.size == 2 and x.shape != (2, 1):
            x = x.ravel()
            if as_index and (x[0] < 0 or x[1] < 0):
                raise ValueError("index can't contain negative values")
            return ((x[0], x[1]),) * ndim
    if as_index and x.min() < 0:
        raise ValueError("index can't contain negative values")
    return tuple(tuple(pair) for pair in np.broadcast_to(x, (ndim, 2)).tolist())


def _pad_widths(pad_width: Any, ndim: int) -> tuple:
    """np.pad's reading of ``pad_width`` (an int, a pair, per-axis pairs, or a dict of
    axis -> width) as ``ndim`` pairs of Python ints."""
    if isinstance(pad_width, dict):
        seq: list = [(0, 0)] * ndim
        for axis, width in pad_width.items():
            if isinstance(width, int):
                seq[axis] = width, width
            elif (isinstance(width, tuple) and len(width) == 2
                  and all(isinstance(w, int) for w in width)):
                seq[axis] = width
            else:
                raise AssertionError(f"Expected code to be unreachable, but got: {width!r}")
        pad_width = seq
    if np.asarray(pad_width).dtype.kind != "i":
        raise TypeError("`pad_width` must be of integral type.")
    return tuple((int(before), int(after))
                 for before, after in _as_pairs(pad_width, ndim, as_index=True))


def _pad_rule(array: TensorMeta, pad_width: tuple, *, constant_values: Any = 0) -> TensorMeta:
    if len(pad_width) != array.ndim or any(b < 0 or a < 0 for b, a in pad_width):
        raise ValueError(f"pad widths {pad_width} do not fit an array of dimension "
                         f"{array.ndim}")
    _as_pairs(constant_values, array.ndim)
    return TensorMeta(tuple(s + b + a for s, (b, a) in zip(array.shape, pad_width)),
                      array.dtype)


def _pad(array: Any, pad_width: tuple, *, constant_values: Any = 0) -> np.ndarray:
    # A 0-d array has no pairs; np.pad wants an integer width for it.
    return np.pad(array, pad_width or 0, mode="constant", constant_values=constant_values)


def _freeze(value: Any) -> Any:
    """Nested lists as tuples (graph literals are immutable)."""
    return tuple(_freeze(v) for v in value) if isinstance(value, (list, tuple)) else value


PAD = register(OpDef(
    "pad", "shape", impl=_pad, meta_rule=_pad_rule, recomputable=True,
    doc="np.pad(array, pad_width, mode='constant'): `pad_width` as (before, after) per axis; "
        "`constant_values` as written (its form decides NumPy's cast: a scalar or one pair is "
        "read as NumPy scalars, per-axis pairs as Python numbers); a new array",
))


@binds(np.pad, op=PAD)
def _bind_pad(array, pad_width, mode="constant", **kwargs):
    if not isinstance(array, Node):
        return None
    _reject_data(pad_width, "np.pad: pad_width")
    ndim = array.meta.ndim
    widths = _pad_widths(pad_width, ndim)
    reject(callable(mode), "np.pad: a callable mode is not supported")
    if mode not in _PAD_MODES:
        raise ValueError(f"mode '{mode}' is not supported")
    reject(mode != "constant", f"np.pad: mode={mode!r} is not supported (only 'constant')")
    unsupported = set(kwargs) - {"constant_values"}
    if unsupported:
        raise ValueError(f"unsupported keyword arguments for mode 'constant': {unsupported}")
    if "constant_values" not in kwargs:
        return Bound(PAD, (array, widths), {})
    values = kwargs["constant_values"]
    reject(has_array(values), "np.pad: constant_values given as arrays are not supported "
                              "(pass Python scalars)")
    _as_pairs(values, ndim)  # NumPy's errors for values that do not fit the axes
    return Bound(PAD, (array, widths), {"constant_values": _freeze(values)})
