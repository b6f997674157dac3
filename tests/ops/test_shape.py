"""Shape ops beyond the registry-wide property test: each spelling on its own, the ``.T``
attribute, split results read through ``tuple_item``, canonical forms, flags and refusals."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dynajit.errors import Unsupported
from dynajit.graph import Graph, GraphModule, TensorMeta
from dynajit.ops import bind, emit
from dynajit.ops.registry import attribute
from dynajit.ops.shape import (
    BROADCAST_TO,
    CONCATENATE,
    FLIP,
    PAD,
    REPEAT,
    RESHAPE,
    SPLIT,
    STACK,
    TILE,
    TRANSPOSE,
    TUPLE_ITEM,
)
from tests.ops.harness import assert_same, check_call
from tests.ops.samplers.shape import FORMS
from tests.ops.strategies import arrays, numpy_scalars


@pytest.mark.parametrize("form", sorted(FORMS))
@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_each_spelling_matches_numpy(form, data):
    check_call(data.draw(FORMS[form], label="call"))


def _run(fn, *values, **kwargs):
    """Bind ``fn`` over placeholders for ``values``; return (bound, graph result)."""
    graph = Graph()
    nodes = [graph.placeholder(f"a{i}", TensorMeta.of(v)) for i, v in enumerate(values)]
    bound = bind(fn, tuple(nodes), kwargs)
    graph.output(emit(graph, bound))
    graph.verify()
    return bound, GraphModule(graph)(*values)


@settings(max_examples=60, deadline=None)
@given(x=st.one_of(arrays(), numpy_scalars()))
def test_T_attribute_matches_numpy(x):
    bound, got = _run(attribute("T"), x)
    assert bound.op is TRANSPOSE
    assert bound.args[1] == tuple(range(np.ndim(x)))[::-1]
    assert_same(got, x.T)


def test_split_results_through_tuple_item():
    x = np.arange(24.0).reshape(4, 6)
    graph = Graph()
    a = graph.placeholder("a", TensorMeta.of(x))
    parts = emit(graph, bind(np.array_split, (a, 4), {"axis": 1}))
    items = tuple(graph.call(TUPLE_ITEM, (parts, i)) for i in range(4))
    assert [item.meta.shape for item in items] == [(4, 2), (4, 2), (4, 1), (4, 1)]
    graph.output(items)
    graph.verify()
    got = GraphModule(graph)(x)
    assert_same(list(got), np.array_split(x, 4, axis=1))


@pytest.mark.parametrize(("fn", "args", "kwargs", "op", "canonical"), [
    (np.swapaxes, (0, 2), {}, TRANSPOSE, ((2, 1, 0),)),
    (np.moveaxis, ((0, 1), (-1, 0)), {}, TRANSPOSE, ((1, 2, 0),)),
    (np.ndarray.transpose, (1, 0, 2), {}, TRANSPOSE, ((1, 0, 2),)),
    (np.transpose, ((-1, 0, 1),), {}, TRANSPOSE, ((2, 0, 1),)),
    (np.ravel, (), {}, RESHAPE, ((24,),)),
    (np.ndarray.reshape, (-1, 4), {}, RESHAPE, ((6, 4),)),
    (np.expand_dims, ((0, -1),), {}, RESHAPE, ((1, 2, 3, 4, 1),)),
    (np.flip, ([2, -3],), {}, FLIP, ((0, 2),)),
    (np.fliplr, (), {}, FLIP, ((1,),)),
    (np.broadcast_to, ([5, 2, 3, 4],), {}, BROADCAST_TO, ((5, 2, 3, 4),)),
    (np.tile, (2,), {}, TILE, ((1, 1, 2),)),
    (np.repeat, ([3],), {"axis": -1}, REPEAT, (3, 2)),
    (np.pad, (((1, 2),),), {}, PAD, (((1, 2), (1, 2), (1, 2)),)),
    (np.split, (2,), {"axis": -3}, SPLIT, (((0, 1), (1, 2)), 0)),
])
def test_spellings_reduce_to_one_canonical_call(fn, args, kwargs, op, canonical):
    x = np.zeros((2, 3, 4))
    graph = Graph()
    a = graph.placeholder("a", TensorMeta.of(x))
    bound = bind(fn, (a, *args), kwargs)
    assert bound.op is op
    assert bound.args[1:] == canonical


def test_flatten_copies_and_reshape_keeps_the_view():
    x = np.arange(6.0).reshape(2, 3)
    bound, flat = _run(np.ndarray.flatten, x)
    assert bound.kwargs == {"copy": True}
    assert not np.shares_memory(flat, x)
    _, view = _run(np.reshape, x, shape=(3, 2))
    assert np.shares_memory(view, x)


def test_flags():
    for op in (RESHAPE, TRANSPOSE, BROADCAST_TO, FLIP, SPLIT):
        assert op.view and op.recomputable and op.cost == 0, op
    for op in (CONCATENATE, STACK, TILE, REPEAT, PAD):
        assert not op.view and op.recomputable, op
    assert attribute("T") in TRANSPOSE.captures
    for fn in (np.reshape, np.ndarray.reshape, np.ravel, np.ndarray.ravel,
               np.ndarray.flatten, np.expand_dims, np.squeeze, np.ndarray.squeeze):
        assert fn in RESHAPE.captures
    for fn in (np.transpose, np.ndarray.transpose, np.swapaxes, np.ndarray.swapaxes,
               np.moveaxis):
        assert fn in TRANSPOSE.captures
    assert np.array_split in SPLIT.captures and np.ndarray.repeat in REPEAT.captures


@pytest.mark.parametrize(("fn", "args", "kwargs", "reason"), [
    (np.reshape, (6,), {"order": "F"}, "order='F'"),
    (np.reshape, (6,), {"copy": False}, "copy=False"),
    (np.ndarray.ravel, ("K",), {}, "order='K'"),
    (np.pad, (1, "reflect"), {}, "mode='reflect'"),
    (np.pad, (1, lambda *a: None), {}, "callable mode"),
    (np.repeat, (2.0,), {}, "integers"),
    (np.concatenate, (), {"casting": "unsafe"}, "casting"),
])
def test_refusals_say_why(fn, args, kwargs, reason):
    x = np.zeros((2, 3))
    graph = Graph()
    a = graph.placeholder("a", TensorMeta.of(x))
    first = [a, a] if fn is np.concatenate else a
    with pytest.raises(Unsupported, match=reason.replace("(", r"\(")):
        bind(fn, (first, *args), kwargs)


def test_data_dependent_arguments_are_refused():
    graph = Graph()
    a = graph.placeholder("a", TensorMeta((2, 3), np.float64))
    n = graph.placeholder("n", TensorMeta((1,), np.int64))
    for fn, args in [(np.repeat, (a, n)), (np.reshape, (a, (n, 3))), (np.tile, (a, n)),
                     (np.split, (a, n)), (np.pad, (a, n))]:
        with pytest.raises(Unsupported, match="data-dependent shape"):
            bind(fn, args)
    with pytest.raises(Unsupported, match="one ndarray"):
        bind(np.concatenate, (a,))
