"""VJP rules of the creation ops that read array values: full/full_like (the fill value
gets the summed cotangent; full_like's prototype only lends its shape) and linspace (start
and stop get the cotangent weighted by each sample's position)."""

from __future__ import annotations

import numpy as np

from dynajit.autograd.rules import vjp_rule


@vjp_rule("full")
def _full(e, node, g):
    yield node.args[1], lambda: g  # the walker sums over the broadcast


@vjp_rule("full_like")
def _full_like(e, node, g):
    yield node.args[1], lambda: g


@vjp_rule("linspace")
def _linspace(e, node, g):
    """sample_k = start + (stop - start) * t_k with t_k = k / (num - 1) (k / num without the
    endpoint): d/dstart = 1 - t_k, d/dstop = t_k, summed over the samples."""
    start, stop, num = node.args
    axis = node.kwargs["axis"]
    endpoint = node.kwargs["endpoint"]
    div = (num - 1 if endpoint else num) or 1
    shape = [1] * node.meta.ndim
    shape[axis] = num
    t = (np.arange(num, dtype=np.float64) / div).reshape(shape)

    def weighted(weights):
        return e.sum(e.mul(g, e.constant(weights.astype(g.meta.dtype))), (axis,))

    yield start, lambda: weighted(1.0 - t)
    yield stop, lambda: weighted(t)
