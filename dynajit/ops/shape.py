"""Shape and view ops: reshape, transposes, squeeze/expand, broadcast, concatenate/stack/
split, flip, tile, repeat, pad, and ``copy_into`` (the functional form of writing into an
existing array: ``out=``, in-place operators, slice assignment)."""

from __future__ import annotations

import numpy as np

from dynajit.graph.meta import TensorMeta
from dynajit.ops.registry import OpDef, register
from dynajit.ops.rules import broadcast_shapes, probe


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
