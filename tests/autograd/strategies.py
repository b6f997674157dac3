"""Sample calls aimed at the differentiable paths the op samplers reach rarely: integer-
array indexing of float arrays, and full/full_like with an array fill value."""

from __future__ import annotations

import operator
from typing import Any

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from tests.ops.harness import Call
from tests.ops.strategies import arrays, shapes


@st.composite
def advanced_getitem_calls(draw: Any) -> Call:
    """``x[key]`` for a float array, the key mixing integer arrays (negative indices and
    repeats included), literal lists, ints, slices, an Ellipsis and newaxes."""
    x = draw(arrays(np.float64, shapes(1, 4, 1, 4)))
    ndim = x.ndim
    count = draw(st.integers(1, ndim))
    head = draw(st.integers(0, count))
    dims = list(range(head)) + list(range(ndim - (count - head), ndim))
    batch = draw(shapes(0, 2, 1, 3))
    kinds = [draw(st.sampled_from(["array", "array", "list", "int", "slice"])) for _ in dims]
    if not any(k in ("array", "list") for k in kinds):
        kinds[draw(st.integers(0, len(kinds) - 1))] = "array"
    entries: list[Any] = []
    for d, kind in zip(dims, kinds):
        n = x.shape[d]
        index = st.integers(-n, n - 1)
        if kind == "array":
            entries.append(draw(hnp.arrays(np.int64, batch, elements=index)))
        elif kind == "list":
            entries.append(draw(st.lists(index, min_size=batch[-1] if batch else 1,
                                         max_size=batch[-1] if batch else 1)))
        elif kind == "int":
            entries.append(draw(index))
        else:
            start, stop = sorted(draw(st.lists(st.integers(0, n), min_size=2, max_size=2)))
            entries.append(slice(start, stop, draw(st.sampled_from([1, 2]))))
    if head < count or draw(st.booleans()):
        entries.insert(head, Ellipsis)
    for _ in range(draw(st.integers(0, 2))):
        entries.insert(draw(st.integers(0, len(entries))), None)
    return Call(operator.getitem, (x, tuple(entries)))


@st.composite
def fill_calls(draw: Any) -> Call:
    """np.full(shape, fill) / np.full_like(a, fill) with a float array fill value that
    broadcasts to the result (sometimes with extra leading size-1 dims)."""
    shapes_ = draw(hnp.mutually_broadcastable_shapes(num_shapes=1, max_dims=3, min_side=1,
                                                     max_side=3))
    result = shapes_.result_shape
    fill_shape = shapes_.input_shapes[0]
    if draw(st.booleans()):
        fill_shape = (1,) + fill_shape
    fill = draw(arrays(np.float64, fill_shape))
    if draw(st.booleans()):
        return Call(np.full, (result, fill))
    return Call(np.full_like, (draw(arrays(np.float64, result)), fill))
