"""VJP rules of the indexing ops. Basic indexing transposes to a write into zeros; every
gather (integer-array indexing, take, take_along_axis) transposes to a scatter-add, built
here as a contraction with a one-hot matrix of the linear indices (the registry has no
scatter op; see docs/autograd.md for the cost). Slice assignment passes the cotangent to
the untouched part of the array and the read-back part to the value."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from dynajit.autograd.rules import vjp_rule
from dynajit.graph.graph import Node
from dynajit.ops.indexing import parse_index
from dynajit.ops.rules import broadcast_shapes

_INTP = np.dtype(np.intp)


def _scatter_add(e, g: Node, index: Any, n: int, batch: int) -> Node:
    """The transpose of ``take(y, index, axis=0)`` for ``y`` of leading size ``n``: ``g``
    has the index's ``batch`` dims first, then y's other dims; the result has shape
    ``(n,) + y's other dims``, with ``g``'s entries summed where indices repeat."""
    places = np.arange(n)
    if isinstance(index, Node):
        hits = e.ufunc("equal", e.expand_dims(index, -1), e.constant(places))
        onehot = e.mask(hits, g.meta.dtype)
    else:
        onehot = e.constant((np.asarray(index)[..., None] == places).astype(g.meta.dtype))
    lead = tuple(range(batch))
    return e.call("tensordot", onehot, g, axes=(lead, lead))


def _wrapped(e, index: Node, n: int, mode: str = "raise") -> Node:
    """Run-time integer indices as the non-negative positions NumPy reads (negative ones
    count from the end; 'wrap' and 'clip' modes of take)."""
    index = e.astype(index, _INTP)
    if mode == "wrap":
        return e.ufunc("remainder", index, n)
    if mode == "clip":
        return e.call("clip", index, 0, max(n - 1, 0))
    return e.where(e.ufunc("less", index, 0), e.add(index, n), index)


# ------------------------------------------------------------------------------ getitem
@vjp_rule("getitem")
def _getitem(e, node, g):
    x, index = node.args

    def d_x():
        zeros = e.zeros(x.meta.shape, g.meta.dtype)
        return e.call("setitem", zeros, index, g)

    yield x, d_x


def _advanced_plan(x_shape: tuple, entries: tuple) -> dict:
    """How NumPy evaluates ``x[entries]`` with integer arrays among the entries, as steps
    whose transposes dynajit has: a basic slice of x keeping every dim (``basic``), the
    advanced dims moved to the front and flattened (``adv_dims``), a take along that
    flattened axis with a linear index built from the index arrays, and a permutation of
    the take's dims into the result's order (``tokens``: ("b", i) for the broadcast index
    dims, ("x", d) for a basic dim of x, "none" for a newaxis)."""
    consumed = sum(1 for v in entries if v is not None and v is not Ellipsis)
    basic: list = []
    adv: list[tuple[int, Any]] = []  # (x dim, index entry)
    tokens: list = []
    positions: list[int] = []
    dim = 0
    for pos, entry in enumerate(entries):
        if entry is Ellipsis:
            for _ in range(len(x_shape) - consumed):
                basic.append(slice(0, x_shape[dim], 1))
                tokens.append(("x", dim))
                dim += 1
        elif entry is None:
            tokens.append("none")
        elif isinstance(entry, slice):
            basic.append(entry)
            tokens.append(("x", dim))
            dim += 1
        else:
            basic.append(slice(0, x_shape[dim], 1))
            adv.append((dim, entry))
            positions.append(pos)
            tokens.append("adv")
            dim += 1
    while dim < len(x_shape):
        basic.append(slice(0, x_shape[dim], 1))
        tokens.append(("x", dim))
        dim += 1
    batch = broadcast_shapes(*(np.shape(v) if not isinstance(v, Node) else v.meta.shape
                               for _, v in adv))
    batch_tokens = [("b", i) for i in range(len(batch))]
    adjacent = positions == list(range(positions[0], positions[-1] + 1))
    if adjacent:
        first = tokens.index("adv")
        tokens = tokens[:first] + batch_tokens + tokens[first:]
    else:
        tokens = batch_tokens + tokens
    return {"basic": tuple(basic), "adv": adv, "batch": batch,
            "tokens": [t for t in tokens if t != "adv"]}


def _linear_index(e, adv: list, sizes: list[int]) -> Any:
    """sum_k index_k * stride_k over the advanced dims (row-major), broadcast: a Node when
    any index is a run-time array, else a literal ndarray."""
    strides = [math.prod(sizes[k + 1:]) for k in range(len(sizes))]
    literal: Any = 0
    total: Node | None = None
    for (_, entry), size, stride in zip(adv, sizes, strides):
        if isinstance(entry, Node):
            term = e.mul(_wrapped(e, entry, size), stride)
            total = term if total is None else e.add(total, term)
        else:
            literal = literal + np.asarray(entry, dtype=_INTP) * stride
    if total is None:
        return np.asarray(literal, dtype=_INTP)
    if isinstance(literal, np.ndarray) and literal.ndim:
        return e.add(total, e.constant(literal))
    return e.add(total, int(literal)) if int(literal) else total


@vjp_rule("gather")
def _gather(e, node, g):
    x, index = node.args

    def d_x():
        plan = _advanced_plan(x.meta.shape, index)
        y_shape = parse_index(x.meta, plan["basic"], "x[...]").shape
        adv_dims = [d for d, _ in plan["adv"]]
        other = [d for d in range(len(y_shape)) if d not in adv_dims]
        sizes = [y_shape[d] for d in adv_dims]
        batch = plan["batch"]
        # g's dims (newaxes dropped) in plan order -> the take's order (batch, then other).
        tokens = plan["tokens"]
        kept = [t for t in tokens if t != "none"]
        size_of = {("b", i): s for i, s in enumerate(batch)}
        size_of.update({("x", d): y_shape[d] for d in other})
        g_kept = e.reshape(g, tuple(size_of[t] for t in kept))
        take_order = [("b", i) for i in range(len(batch))] + [("x", d) for d in other]
        gz = e.transpose(g_kept, [kept.index(t) for t in take_order])
        linear = _linear_index(e, plan["adv"], sizes)
        flat = _scatter_add(e, gz, linear, math.prod(sizes), len(batch))
        moved = e.reshape(flat, tuple(sizes) + tuple(y_shape[d] for d in other))
        dy = e.transpose(moved, np.argsort(adv_dims + other).tolist())
        if all(s == slice(0, n, 1) for s, n in zip(plan["basic"], x.meta.shape)):
            return dy
        return e.call("setitem", e.zeros(x.meta.shape, g.meta.dtype), plan["basic"], dy)

    yield x, d_x


# ------------------------------------------------------------------------------ setitem
def _last_writes(e, x_shape: tuple, index: tuple, dtype: np.dtype) -> Node | None:
    """For ``x[index] = value`` with integer arrays: 1 where an element of the written
    region is the last write to its place (NumPy keeps the last of repeated indices), 0
    where a later one overwrites it, shaped to broadcast against ``x[index]``; None when no
    index repeats. Found the way NumPy resolves it: write each element's own number into
    a scratch array with the same indices, and read back which number stayed."""
    plan = _advanced_plan(x_shape, index)
    sizes = [x_shape[d] for d, _ in plan["adv"]]
    linear = _linear_index(e, plan["adv"], sizes)
    batch = plan["batch"]
    count = math.prod(batch)
    order = np.arange(count, dtype=_INTP).reshape(batch)
    if isinstance(linear, Node):
        if linear.meta.scalar:  # a NumPy scalar index would be a basic one
            linear = e.call("array", linear)
        scratch = e.call("full", (math.prod(sizes),), -1, dtype=_INTP)
        written = e.call("setitem", scratch, (linear,), e.constant(order))
        kept = e.ufunc("equal", e.call("gather", written, (linear,)), e.constant(order))
    else:
        scratch = np.full(math.prod(sizes), -1, dtype=_INTP)
        scratch[linear] = order
        if (scratch[linear] == order).all():
            return None
        kept = e.constant(scratch[linear] == order)
    layout = [batch[t[1]] if isinstance(t, tuple) and t[0] == "b" else 1
              for t in plan["tokens"]]
    return e.reshape(e.mask(kept, dtype), layout)


@vjp_rule("setitem")
def _setitem(e, node, g):
    """The written region of x gets no cotangent; the value gets the cotangent read back
    at each place it was written to (only at the last write of a repeated index)."""
    x, index, value = node.args
    yield x, lambda: e.call("setitem", g, index, 0)

    def d_value():
        if not parse_index(x.meta, index, "x[...]").advanced:
            return e.getitem(g, index)
        read = e.call("gather", g, index)
        kept = _last_writes(e, x.meta.shape, index, g.meta.dtype)
        return read if kept is None else e.mul(read, kept)

    yield value, d_value


# ------------------------------------------------------------------------------ take
@vjp_rule("take")
def _take(e, node, g):
    a, indices = node.args
    axis = node.kwargs.get("axis")
    mode = node.kwargs.get("mode", "raise")

    def d_a():
        shape = (a.meta.size,) if axis is None else (a.meta.shape or (1,))
        along = 0 if axis is None else axis
        n = shape[along]
        index = _wrapped(e, indices, n, mode) if isinstance(indices, Node) else indices
        batch = len(np.shape(indices) if not isinstance(indices, Node)
                    else indices.meta.shape)
        # g is shape[:along] + index dims + shape[along + 1:]: index dims first.
        order = list(range(along, along + batch)) + list(range(along)) + list(
            range(along + batch, g.meta.ndim))
        flat = _scatter_add(e, e.transpose(g, order), index, n, batch)
        return e.reshape(e.move_axis(flat, 0, along), a.meta.shape)

    if a.meta.size:
        yield a, d_a


@vjp_rule("take_along_axis")
def _take_along_axis(e, node, g):
    arr, indices = node.args
    axis = node.kwargs["axis"]

    def d_arr():
        if axis is None:
            n = arr.meta.size
            flat = _scatter_add(e, g, _wrapped(e, indices, n), n, indices.meta.ndim)
            return e.reshape(flat, arr.meta.shape)
        n = arr.meta.shape[axis]
        index = e.broadcast_to(_wrapped(e, indices, n), g.meta.shape)
        hits = e.ufunc("equal", e.expand_dims(index, -1), e.constant(np.arange(n)))
        picked = e.mul(e.mask(hits, g.meta.dtype), e.expand_dims(g, -1))
        summed = e.sum(picked, (axis,))
        return e.move_axis(summed, summed.meta.ndim - 1, axis)

    if arr.meta.size:
        yield arr, d_arr
