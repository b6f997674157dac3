"""VJP rules of the reductions and scans: sum, mean, prod (exclusive products: exact with
zeros), max/min (the cotangent split evenly over the tied extremes), var, std (0 where std
is 0), cumsum and cumprod (exact with zeros, quadratic in the scanned length)."""

from __future__ import annotations

import math

import numpy as np

from dynajit.autograd.rules import vjp_rule
from dynajit.graph.graph import Node


def _axes(node: Node) -> tuple[int, ...]:
    a = node.args[0]
    axis = node.kwargs.get("axis")
    return tuple(range(a.meta.ndim)) if axis is None else tuple(axis)


def _count(shape: tuple, axes: tuple[int, ...]) -> int:
    return math.prod(shape[i] for i in axes)


def _kept(node: Node) -> bool:
    return bool(node.kwargs.get("keepdims", False))


@vjp_rule("sum")
def _sum(e, node, g):
    a = node.args[0]
    yield a, lambda: e.expand_reduced(g, a.meta.shape, _axes(node), _kept(node))


@vjp_rule("mean")
def _mean(e, node, g):
    a = node.args[0]
    axes = _axes(node)
    n = _count(a.meta.shape, axes)
    if n == 0:
        return
    yield a, lambda: e.expand_reduced(e.div(g, float(n)), a.meta.shape, axes, _kept(node))


def _exclusive_scan(e, x: Node, axis: int, reverse: bool) -> Node:
    """The product of the elements before each one along ``axis`` (after it when
    ``reverse``), 1 for the first: a cumprod shifted by one place."""
    if reverse:
        x = e.flip(x, (axis,))
    n = x.meta.shape[axis]
    scan = e.call("cumprod", x, axis=axis)
    index = tuple(slice(0, s, 1) if d != axis else slice(0, n - 1, 1)
                  for d, s in enumerate(x.meta.shape))
    widths = tuple((1, 0) if d == axis else (0, 0) for d in range(x.meta.ndim))
    shifted = e.call("pad", e.getitem(scan, index), widths, constant_values=1)
    return e.flip(shifted, (axis,)) if reverse else shifted


@vjp_rule("prod")
def _prod(e, node, g):
    a = node.args[0]
    axes = _axes(node)
    shape = a.meta.shape

    initial = node.kwargs.get("initial")
    if initial not in (None, np._NoValue):
        g = e.mul(g, initial)  # prod = initial * prod(a)

    def d_a():
        if not axes:
            return g
        kept = [d for d in range(len(shape)) if d not in axes]
        n = _count(shape, axes)
        moved = e.transpose(a, kept + list(axes))
        flat = e.reshape(moved, tuple(shape[d] for d in kept) + (n,))
        last = len(kept)
        others = e.mul(_exclusive_scan(e, flat, last, False),
                       _exclusive_scan(e, flat, last, True))
        g_kept = e.reshape(g, tuple(shape[d] for d in kept) + (1,))
        d_flat = e.reshape(e.mul(others, g_kept), moved.meta.shape)
        return e.transpose(d_flat, np.argsort(kept + list(axes)).tolist())

    if a.meta.size:
        yield a, d_a


def _extreme_rule(name: str) -> None:
    def rule(e, node, g):
        a = node.args[0]
        axes = _axes(node)

        def d_a():
            if "out_dtype" in node.kwargs:  # the node holds the extreme cast into out
                kwargs = {k: v for k, v in node.kwargs.items() if k != "out_dtype"}
                extreme = e.call(name, a, **{**kwargs, "keepdims": True})
            else:
                extreme = e.reshape(node, tuple(1 if i in axes else s
                                                for i, s in enumerate(a.meta.shape)))
            dtype = g.meta.dtype
            hits = e.mask(e.ufunc("equal", a, extreme), dtype)
            # max(count, 1): NaN extremes match nothing, and an `initial` that wins too.
            count = e.ufunc("maximum", e.sum(hits, axes, keepdims=True), 1.0)
            share = e.div(e.expand_reduced(g, a.meta.shape, axes, _kept(node)), count)
            return e.mul(hits, share)

        if a.meta.size:
            yield a, d_a

    rule.__name__ = f"_{name}"
    vjp_rule(name)(rule)


_extreme_rule("max")
_extreme_rule("min")


def _centered(e, node: Node) -> Node:
    a = node.args[0]
    kwargs = {"axis": _axes(node), "keepdims": True}
    if "dtype" in node.kwargs:
        kwargs["dtype"] = node.kwargs["dtype"]
    return e.sub(a, e.call("mean", a, **kwargs))


@vjp_rule("var")
def _var(e, node, g):
    a = node.args[0]
    axes = _axes(node)
    dof = _count(a.meta.shape, axes) - node.kwargs.get("ddof", 0)
    if dof <= 0 or not a.meta.size:
        return  # NaN or inf variance: no gradient
    yield a, lambda: e.mul(e.expand_reduced(e.mul(g, 2.0 / dof), a.meta.shape, axes,
                                            _kept(node)), _centered(e, node))


@vjp_rule("std")
def _std(e, node, g):
    a = node.args[0]
    axes = _axes(node)
    dof = _count(a.meta.shape, axes) - node.kwargs.get("ddof", 0)
    if dof <= 0 or not a.meta.size:
        return

    def d_a():
        # std == 0 means every centered value is 0: divide by 1 there (subgradient 0).
        safe = e.where(e.ufunc("equal", node, 0), 1.0, node)
        scale = e.div(g, e.mul(safe, float(dof)))
        return e.mul(e.expand_reduced(scale, a.meta.shape, axes, _kept(node)),
                     _centered(e, node))

    yield a, d_a


def _scan_input(e, node: Node) -> tuple[Node, int]:
    """The scanned array as cumsum/cumprod see it (flattened for axis=None) and the axis."""
    a = node.args[0]
    axis = node.kwargs.get("axis")
    if axis is None:
        return e.reshape(a, (a.meta.size,)), 0
    return a, axis


@vjp_rule("cumsum")
def _cumsum(e, node, g):
    a = node.args[0]

    def d_a():
        _, axis = _scan_input(e, node)
        rev = e.flip(e.call("cumsum", e.flip(g, (axis,)), axis=axis), (axis,))
        return e.reshape(rev, a.meta.shape)

    yield a, d_a


@vjp_rule("cumprod")
def _cumprod(e, node, g):
    """d out_i / d x_k = prod_{j <= i, j != k} x_j (k <= i): for every k, the cumprod of x
    with x_k replaced by 1, masked to i >= k. Exact with zeros; n^2 values per scanned
    line."""
    a = node.args[0]

    def d_a():
        x, axis = _scan_input(e, node)
        n = x.meta.shape[axis]
        last = x.meta.ndim - 1
        xs = e.move_axis(x, axis, last)
        gs = e.move_axis(e.reshape(g, x.meta.shape), axis, last)
        eye = e.constant(np.eye(n, dtype=bool))
        upper = e.constant(np.triu(np.ones((n, n), dtype=bool)))
        without_k = e.where(eye, 1.0, e.expand_dims(xs, -2))  # [..., k, j]
        partial = e.where(upper, e.call("cumprod", without_k, axis=last + 1), 0.0)
        d = e.sum(e.mul(partial, e.expand_dims(gs, -2)), (last + 1,))
        return e.reshape(e.move_axis(d, last, axis), a.meta.shape)

    if a.meta.size:
        yield a, d_a
