"""Gathers as loops: ``np.take`` (every mode, axis None or an axis) and NumPy's advanced
indexing with integer arrays. Each element of the result loads its indices, maps them into
range and reads the source through the handler's ``load_at`` (a data-dependent address that
the scheduler's analyses see as ``DATA_INDEX``). Indices out of bounds raise NumPy's
IndexError from a check step the wrapper runs before the kernel."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from dynajit.backends.loopir.ir import Ix, LoopValue, Pointwise, ops
from dynajit.backends.loopir.lowering import (
    broadcast_loader,
    expand_ellipsis,
    in_memory,
    loop_dtype,
)

_INT64 = np.dtype(np.int64)


def _bounds_check(size: int, axis: int) -> Callable[[Any], None]:
    """NumPy's IndexError for the first index outside [-size, size) (a kernel cannot raise:
    this wrapper step runs before it)."""

    def check(indices: Any) -> None:
        idx = np.asarray(indices)
        bad = (idx < -size) | (idx >= size) if idx.dtype.kind == "i" else idx >= size
        if bad.any():
            i = int(idx.reshape(-1)[int(np.argmax(bad.reshape(-1)))])
            raise IndexError(f"index {i} is out of bounds for axis {axis} with size {size}")

    return check


def _in_range(i: Any, src_dtype: np.dtype, size: int, mode: str) -> Any:
    """Index ``i`` (of ``src_dtype``) as an int64 in [0, size): wrap takes it modulo size,
    clip clamps it, raise wraps negative indices and then clamps, a safety net (the check
    step has raised for any index out of bounds, so the clamp never changes a value)."""
    o = ops()
    i = i if src_dtype == _INT64 else o.cast(i, src_dtype, _INT64)
    n = o.constant(size, _INT64)
    if mode == "wrap":
        return o.remainder(i, n, dtype=_INT64)
    zero = o.constant(0, _INT64)
    if mode == "raise":
        i = o.where(o.less(i, zero, dtype=_INT64), o.add(i, n, dtype=_INT64), i, _INT64)
    top = o.constant(max(size - 1, 0), _INT64)
    return o.minimum(o.maximum(i, zero, dtype=_INT64), top, dtype=_INT64)


def lower_take(node: Any, args: tuple, kwargs: dict, ctx: Any) -> LoopValue | None:
    """``np.take(a, indices, axis, mode)`` as a pointwise value over the result: each element
    loads its index, maps it into range and loads ``a`` at the computed address."""
    a, indices = args
    axis, mode = kwargs.get("axis"), kwargs.get("mode", "raise")
    dtype = np.dtype(node.meta.dtype)
    if (not isinstance(a, LoopValue) or not isinstance(indices, LoopValue)
            or not loop_dtype(dtype) or indices.dtype.kind not in "iu"
            or not loop_dtype(indices.dtype) or dtype != a.dtype
            or not ctx.supports("load_at", _INT64) or (axis is not None and not a.shape)):
        return None
    src = in_memory(a, axis, ctx)
    along = 0 if axis is None else axis
    size = src.shape[along]
    rank = len(indices.shape)
    # np.take checks only the indices it visits: none when the dims before the axis are empty
    if mode == "raise" and indices.size and math.prod(src.shape[:along]):
        ctx.check(_bounds_check(size, along), "index bounds", node.args[1])
    load_index = indices.loader()
    stride = src.strides[along]

    def body(idx: tuple) -> Any:
        o = ops()
        i = _in_range(load_index(idx[along:along + rank]), indices.dtype, size, mode)
        static = src.index(idx[:along] + (Ix(0),) + idx[along + rank:])
        offset = o.multiply(i, o.constant(stride, _INT64), dtype=_INT64)
        return o.load_at(src.name, static, offset, dtype)

    return Pointwise(tuple(node.meta.shape), dtype, body)


def lower_gather(node: Any, args: tuple, kwargs: dict, ctx: Any) -> LoopValue | None:
    """``x[index]`` with integer arrays among the entries (NumPy's advanced indexing) as a
    pointwise value over the result. The arrays and any integer entries broadcast to the
    shape B, which takes the place of the first of them when they are adjacent and goes
    first otherwise; slices and None keep their dims. Each element loads its index from
    every array (negative ones wrapped; a check step per array raises NumPy's IndexError
    before the kernel runs) and reads ``x`` at the static address of its slice and integer
    entries plus the computed offsets. Index lists and boolean arrays stay NumPy externs."""
    x, entries = args
    dtype = np.dtype(node.meta.dtype)
    if (not isinstance(x, LoopValue) or not isinstance(entries, tuple) or not loop_dtype(dtype)
            or dtype != x.dtype or not ctx.supports("load_at", _INT64)):
        return None
    entries = expand_ellipsis(entries, len(x.shape))
    if entries is None:
        return None
    arrays = [e for e in entries if isinstance(e, LoopValue)]
    if not arrays or any(
            not (e is None or isinstance(e, (slice, int, LoopValue))) for e in entries) or any(
            a.dtype.kind not in "iu" or not loop_dtype(a.dtype) for a in arrays):
        return None
    b_shape = tuple(np.broadcast_shapes(*(a.shape for a in arrays)))
    advanced = [k for k, e in enumerate(entries) if isinstance(e, (int, LoopValue))]
    adjacent = advanced == list(range(advanced[0], advanced[-1] + 1))
    # output dims, in order: "B" (the broadcast dims) or the entry position of a slice / None
    order: list[Any] = [] if adjacent else ["B"]
    for k, e in enumerate(entries):
        if k == advanced[0] and adjacent:
            order.append("B")
        elif e is None or isinstance(e, slice):
            order.append(k)
    src = in_memory(x, 0, ctx)
    axis_of, dim = {}, 0  # entry position -> axis of x
    for k, e in enumerate(entries):
        if e is not None:
            axis_of[k] = dim
            dim += 1
    shape = tuple(d for o in order for d in (b_shape if o == "B" else (
        (1,) if entries[o] is None else (_slice_length(entries[o], x.shape[axis_of[o]]),))))
    if shape != tuple(node.meta.shape):
        return None
    array_nodes = iter(e for e in node.args[1] if _is_node(e))
    loads = []
    for k, e in enumerate(entries):
        if isinstance(e, LoopValue):
            axis = axis_of[k]
            if math.prod(b_shape):
                ctx.check(_bounds_check(x.shape[axis], axis), "index bounds", next(array_nodes))
            loads.append((axis, broadcast_loader(e, b_shape, e.dtype), e.dtype))
    b_at = order.index("B")

    def body(idx: tuple) -> Any:
        o = ops()
        at = dict(zip(order[:b_at] + order[b_at + 1:], idx[:b_at] + idx[b_at + len(b_shape):],
                      strict=True))
        b_idx = idx[b_at:b_at + len(b_shape)]
        per_axis = [Ix(0)] * len(src.shape)
        for k, e in enumerate(entries):
            if isinstance(e, slice):
                per_axis[axis_of[k]] = at[k] * e.step + e.start
            elif isinstance(e, int):
                per_axis[axis_of[k]] = Ix(e)
        offset = None
        for axis, load, idx_dtype in loads:
            i = _in_range(load(b_idx), idx_dtype, src.shape[axis], "raise")
            term = o.multiply(i, o.constant(src.strides[axis], _INT64), dtype=_INT64)
            offset = term if offset is None else o.add(offset, term, dtype=_INT64)
        return o.load_at(src.name, src.index(tuple(per_axis)), offset, dtype)

    return Pointwise(shape, dtype, body)


def _slice_length(s: slice, size: int) -> int:
    return len(range(*s.indices(size)))


def _is_node(value: Any) -> bool:
    from dynajit.graph.graph import Node

    return isinstance(value, Node)
