"""The emitter VJP rules write with: small helpers that add registry ops to a graph (each
new node gets its meta from the op's own rule), plus ``fit``, which turns a cotangent into
the shape and dtype of the value it belongs to (summing over broadcast dimensions)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from dynajit.graph.graph import Graph, Node
from dynajit.graph.meta import TensorMeta
from dynajit.ops.registry import OPS, OpDef

Value = Node | int | float | bool  # a graph value or a Python literal operand


def is_float(meta: Any) -> bool:
    """Values that carry gradients: real floating-point arrays and scalars."""
    return isinstance(meta, TensorMeta) and meta.dtype.kind == "f"


def carries_gradient(meta: Any) -> bool:
    """A node value (one meta, or a tuple of them for multi-output ops) with at least one
    floating-point part."""
    if isinstance(meta, tuple):
        return any(is_float(m) for m in meta)
    return is_float(meta)


def shape_of(value: Any) -> tuple:
    return value.meta.shape if isinstance(value, Node) else np.shape(value)


class Emitter:
    """Adds ops to ``graph`` (at its current insertion point)."""

    def __init__(self, graph: Graph):
        self.graph = graph
        self._constants: dict[tuple, Node] = {}

    # ------------------------------------------------------------------------- generic
    def call(self, op: OpDef | str, *args: Any, **kwargs: Any) -> Node:
        return self.graph.call(OPS[op] if isinstance(op, str) else op, args, kwargs)

    def ufunc(self, name: str, *args: Value) -> Node:
        return self.graph.call(OPS[name], args, {})

    def constant(self, value: np.ndarray) -> Node:
        """A constant array node (one per distinct value, dtype and shape)."""
        value = np.array(value, order="C")  # ascontiguousarray would make 0-d arrays 1-d
        key = (value.dtype.str, value.shape, value.tobytes())
        node = self._constants.get(key)
        if node is None or node._erased:
            node = self._constants[key] = self.graph.constant(value, name="ad_const")
        return node

    # ------------------------------------------------------------------------- arithmetic
    def add(self, a: Value, b: Value) -> Node:
        return self.ufunc("add", a, b)

    def sub(self, a: Value, b: Value) -> Node:
        return self.ufunc("subtract", a, b)

    def mul(self, a: Value, b: Value) -> Node:
        return self.ufunc("multiply", a, b)

    def div(self, a: Value, b: Value) -> Node:
        return self.ufunc("divide", a, b)

    def neg(self, a: Node) -> Node:
        return self.ufunc("negative", a)

    def square(self, a: Node) -> Node:
        return self.ufunc("square", a)

    def sqrt(self, a: Node) -> Node:
        return self.ufunc("sqrt", a)

    def where(self, cond: Value, x: Value, y: Value) -> Node:
        return self.call("where", cond, x, y)

    def mask(self, cond: Node, dtype: np.dtype) -> Node:
        """A boolean ``cond`` as 0/1 values of ``dtype``."""
        return self.astype(cond, dtype)

    def astype(self, x: Node, dtype: Any) -> Node:
        dtype = np.dtype(dtype)
        if x.meta.dtype == dtype:
            return x
        return self.call("astype", x, dtype=dtype)

    def signbit(self, x: Value) -> Value:
        """np.signbit of a node, or a Python bool for a literal."""
        if isinstance(x, Node):
            return self.ufunc("signbit", x)
        return math.copysign(1.0, float(x)) < 0

    # ------------------------------------------------------------------------- shapes
    def reshape(self, x: Node, shape: Sequence[int]) -> Node:
        shape = tuple(shape)
        if x.meta.shape == shape and not x.meta.scalar:
            return x
        return self.call("reshape", x, shape)

    def transpose(self, x: Node, perm: Sequence[int]) -> Node:
        perm = tuple(perm)
        if perm == tuple(range(len(perm))):
            return x
        return self.call("transpose", x, perm)

    def swap_last(self, x: Node) -> Node:
        """``x`` with its last two axes exchanged."""
        perm = list(range(x.meta.ndim))
        perm[-2], perm[-1] = perm[-1], perm[-2]
        return self.transpose(x, perm)

    def move_axis(self, x: Node, source: int, destination: int) -> Node:
        order = [d for d in range(x.meta.ndim) if d != source]
        order.insert(destination, source)
        return self.transpose(x, order)

    def broadcast_to(self, x: Node, shape: Sequence[int]) -> Node:
        shape = tuple(shape)
        if x.meta.shape == shape:
            return x
        return self.call("broadcast_to", x, shape)

    def expand_dims(self, x: Node, axis: int) -> Node:
        shape = list(x.meta.shape)
        shape.insert(axis if axis >= 0 else len(shape) + 1 + axis, 1)
        return self.reshape(x, shape)

    def flip(self, x: Node, axes: Sequence[int]) -> Node:
        return self.call("flip", x, tuple(sorted(axes)))

    def getitem(self, x: Node, index: tuple) -> Node:
        return self.call("getitem", x, index)

    def zeros(self, shape: Sequence[int], dtype: Any) -> Node:
        return self.call("zeros", tuple(shape), dtype=np.dtype(dtype))

    def zeros_like(self, meta: TensorMeta) -> Node:
        """A zero value with exactly ``meta`` (shape, dtype, scalar or 0-d array)."""
        return self.finalize(self.zeros(meta.shape, meta.dtype), meta)

    # ------------------------------------------------------------------------- reductions
    def sum(self, x: Node, axes: Sequence[int], keepdims: bool = False) -> Node:
        axes = tuple(sorted(a % x.meta.ndim for a in axes)) if x.meta.ndim else ()
        if not axes and not x.meta.scalar:
            return x
        return self.call("sum", x, axis=axes, keepdims=keepdims)

    def expand_reduced(self, g: Node, shape: tuple, axes: Sequence[int],
                       keepdims: bool) -> Node:
        """The cotangent ``g`` of a reduction over ``axes`` of a ``shape`` value, broadcast
        back to ``shape``."""
        if not keepdims:
            g = self.reshape(g, tuple(1 if i in axes else s for i, s in enumerate(shape)))
        return self.broadcast_to(g, shape)

    # ------------------------------------------------------------------------- cotangents
    def fit(self, c: Node, meta: TensorMeta) -> Node:
        """``c`` summed over the dimensions broadcasting added (leading ones, and size-1
        dimensions of ``meta`` that ``c`` has wider), reshaped when only size-1 dimensions
        differ, and cast to ``meta``'s dtype."""
        target = tuple(meta.shape)
        shape = tuple(c.meta.shape)
        if shape != target:
            lead = max(len(shape) - len(target), 0)
            aligned = target[max(len(target) - len(shape), 0):]
            axes = list(range(lead))
            axes += [lead + i for i, (want, have) in enumerate(zip(aligned, shape[lead:]))
                     if want == 1 and have != 1]
            if axes:
                c = self.sum(c, axes, keepdims=True)
            if c.meta.shape != target:
                if math.prod(c.meta.shape) == math.prod(target):
                    c = self.reshape(c, target)
                else:  # c is constant along target dims where it has size 1: spread it
                    padded = (1,) * (len(target) - c.meta.ndim) + tuple(c.meta.shape)
                    c = self.broadcast_to(self.reshape(c, padded), target)
        return self.astype(c, meta.dtype)

    def finalize(self, c: Node, meta: TensorMeta) -> Node:
        """``c`` (already of ``meta``'s shape and dtype) as the same kind of value: a NumPy
        scalar for a scalar, an ndarray for an array."""
        if meta.scalar and not c.meta.scalar:
            return self.getitem(c, ())
        if not meta.scalar and c.meta.scalar:
            return self.call("array", c)
        return c


__all__ = ["Emitter", "carries_gradient", "is_float", "shape_of"]
