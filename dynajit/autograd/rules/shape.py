"""VJP rules of the shape ops: each is linear, and its transpose is another shape op
(reshape back, the inverse permutation, a sum for broadcast/tile/repeat, slices for
concatenate/stack/pad, a concatenation or padded sum for split)."""

from __future__ import annotations

import math

import numpy as np

from dynajit.autograd.rules import vjp_rule


@vjp_rule("reshape")
def _reshape(e, node, g):
    a = node.args[0]
    yield a, lambda: e.reshape(g, a.meta.shape)


@vjp_rule("transpose")
def _transpose(e, node, g):
    a, perm = node.args
    yield a, lambda: e.transpose(g, np.argsort(perm).tolist())


@vjp_rule("broadcast_to")
def _broadcast_to(e, node, g):
    yield node.args[0], lambda: g  # the walker sums over the broadcast dimensions


@vjp_rule("flip")
def _flip(e, node, g):
    a, axes = node.args
    yield a, lambda: e.flip(g, axes) if axes else g


def _full(shape: tuple) -> list:
    return [slice(0, s, 1) for s in shape]


@vjp_rule("concatenate")
def _concatenate(e, node, g):
    arrays, axis = node.args
    offset = 0
    for a in arrays:
        if axis is None:
            start, offset = offset, offset + a.meta.size
            yield a, lambda a=a, start=start: e.reshape(
                e.getitem(g, (slice(start, start + a.meta.size, 1),)), a.meta.shape)
        else:
            start, offset = offset, offset + a.meta.shape[axis]
            index = _full(g.meta.shape)
            index[axis] = slice(start, offset, 1)
            yield a, lambda index=tuple(index): e.getitem(g, index)


@vjp_rule("stack")
def _stack(e, node, g):
    arrays, axis = node.args
    for i, a in enumerate(arrays):
        index = tuple(_full(g.meta.shape[:axis])) + (i,)
        yield a, lambda index=index: e.getitem(g, index)


@vjp_rule("split")
def _split(e, node, g):
    """The pieces' cotangents (zeros for pieces nobody read) joined back along the axis: a
    concatenation when the pieces tile the axis in order, else each piece padded to the
    full axis and summed (np.split with unsorted indices gives overlapping pieces)."""
    a, bounds, axis = node.args

    def d_a():
        n = a.meta.shape[axis]
        parts = [g_i if g_i is not None else e.zeros(m.shape, m.dtype)
                 for g_i, m in zip(g, node.meta)]
        stops = [0] + [stop for _, stop in bounds]
        if all(start == stop for (start, _), stop in zip(bounds, stops)) and stops[-1] == n:
            return e.call("concatenate", tuple(parts), axis)
        total = None
        for part, (start, stop) in zip(parts, bounds):
            widths = tuple((start, n - stop) if d == axis else (0, 0)
                           for d in range(a.meta.ndim))
            padded = e.call("pad", part, widths)
            total = padded if total is None else e.add(total, padded)
        return total if total is not None else e.zeros(a.meta.shape, a.meta.dtype)

    yield a, d_a


@vjp_rule("tile")
def _tile(e, node, g):
    """Output axis i holds reps[i] copies of input axis i: view it as (reps[i], size[i])
    pairs and sum the copies."""
    A, reps = node.args

    def d_a():
        sizes = (1,) * (len(reps) - A.meta.ndim) + tuple(A.meta.shape)
        pairs = tuple(d for r, s in zip(reps, sizes) for d in (r, s))
        summed = e.sum(e.reshape(g, pairs), tuple(range(0, len(pairs), 2)))
        return e.reshape(summed, A.meta.shape)

    if A.meta.size and math.prod(g.meta.shape):
        yield A, d_a


@vjp_rule("repeat")
def _repeat(e, node, g):
    a, repeats, axis = node.args

    def d_a():
        shape = (a.meta.size,) if axis is None else (a.meta.shape or (1,))
        along = 0 if axis is None else axis
        n = shape[along]
        if isinstance(repeats, int):
            grouped = shape[:along] + (n, repeats) + shape[along + 1:]
            summed = e.sum(e.reshape(g, grouped), (along + 1,))
        else:
            # Element k owns a run of repeats[k] output places: a 0/1 (n, total) matrix.
            owner = np.zeros((n, sum(repeats)), dtype=g.meta.dtype)
            starts = np.cumsum((0,) + tuple(repeats))
            for k in range(n):
                owner[k, starts[k]:starts[k + 1]] = 1
            moved = e.call("tensordot", g, e.constant(owner), axes=((along,), (1,)))
            summed = e.move_axis(moved, moved.meta.ndim - 1, along)
        return e.reshape(summed, a.meta.shape)

    if a.meta.size and math.prod(g.meta.shape):
        yield a, d_a


@vjp_rule("pad")
def _pad(e, node, g):
    array, widths = node.args
    index = tuple(slice(before, before + s, 1)
                  for (before, _), s in zip(widths, array.meta.shape))
    yield array, lambda: e.getitem(g, index)
