"""Indexing ops beyond the registry-driven property test: slice assignment (whose NumPy call
returns None, so the written array is compared instead), the view/copy split between
``getitem`` and ``gather``, and canonical index forms."""

from __future__ import annotations

import copy
import operator

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

from dynajit.errors import Unsupported
from dynajit.graph import Graph, GraphModule, TensorMeta
from dynajit.ops import bind, emit
from dynajit.ops.indexing import GATHER, GETITEM, SETITEM, TAKE
from dynajit.ops.shape import COPY_INTO
from tests.ops.harness import Call, _builtin_base, _quiet, _replace_arrays, assert_same
from tests.ops.samplers.indexing import setitem_calls
from tests.ops.test_registry import MAX_EXAMPLES


def check_setitem(call: Call) -> None:
    """``call.fn(x, key, value)`` writes into ``x``: dynajit's graph (setitem + copy_into)
    must give the array NumPy leaves in ``x``, or raise what NumPy raised. ``key`` and
    ``value`` are not written, so NumPy reads the very arrays the graph reads."""
    # NumPy writes into a C-ordered copy of x, like the implementation: with repeated
    # indices, which write wins follows NumPy's iteration order, which follows the layout.
    x, key, value = call.args
    np_x = x.copy()
    np_args = (np_x, key, np_x if value is x else value)
    with _quiet():
        try:
            call.fn(*np_args)
            expected, expected_exc = np_x, None
        except Exception as e:  # noqa: BLE001 - any NumPy error is a valid outcome
            expected, expected_exc = None, e
    graph = Graph()
    placeholders: dict[int, object] = {}
    inputs: list = []

    def to_node(v):
        if id(v) not in placeholders:
            placeholders[id(v)] = graph.placeholder(f"a{len(inputs)}", TensorMeta.of(v))
            inputs.append(v)
        return placeholders[id(v)]

    with _quiet():
        try:
            node = emit(graph, bind(call.fn, _replace_arrays(call.args, to_node)))
        except Unsupported as e:
            assert call.unsupported is not None, f"{call}: unexpectedly unsupported: {e}"
            assert call.unsupported in str(e), f"{call}: reason {e} lacks {call.unsupported!r}"
            return
        except Exception as e:  # noqa: BLE001
            assert expected_exc is not None, (
                f"{call}: dynajit raised {type(e).__name__}: {e}, NumPy wrote the array")
            assert isinstance(e, _builtin_base(type(expected_exc))), (
                f"{call}: dynajit raised {type(e).__name__}: {e}; NumPy raised "
                f"{type(expected_exc).__name__}: {expected_exc}")
            return
    assert call.unsupported is None, f"{call}: expected Unsupported ({call.unsupported})"
    assert node.target is COPY_INTO and node.args[1].target is SETITEM
    graph.output(node)
    graph.verify()
    gm = GraphModule(graph)
    if expected_exc is not None:  # value-dependent: an index array out of bounds
        with _quiet(), pytest.raises(_builtin_base(type(expected_exc))):
            gm(*inputs)
        return
    assert node.meta == TensorMeta.of(expected), f"{call}: meta {node.meta}"
    before = copy.deepcopy(inputs)
    with _quiet():
        got = gm(*inputs)
    for i, (b, a) in enumerate(zip(before, inputs)):
        assert_same(a, b, f"{call}: input a{i} after the graph ran")
    assert_same(got, expected, f"{call}: written array")


@settings(max_examples=4 * MAX_EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(call=setitem_calls())
def test_setitem_matches_numpy(call):
    check_setitem(call)


@pytest.mark.parametrize("key, value", [
    ((0, 1), 2.5),
    ((slice(None, None, -1), None), np.arange(3.0)),
    (([1, 0, 1], Ellipsis), np.arange(3)),
    ((np.array([2, 2]),), np.array([[1.0, 2.0, 3.0]])),
    ((np.int8(-1), slice(0, 5, 2)), [7, 8]),
    ((Ellipsis,), 1j),
])
def test_setitem_examples(key, value):
    x = np.arange(12.0).reshape(4, 3)
    check_setitem(Call(operator.setitem, (x, key, value)))


def _bound(fn, *args):
    graph = Graph()
    nodes = [graph.placeholder(f"a{i}", TensorMeta.of(a)) if isinstance(a, np.ndarray) else a
             for i, a in enumerate(args)]
    return bind(fn, tuple(nodes))


def test_basic_index_is_a_view_and_canonical():
    x = np.zeros((4, 5, 6))
    bound = _bound(operator.getitem, x, (-1, slice(None, None, -2), None, Ellipsis))
    assert bound.op is GETITEM and GETITEM.view
    assert bound.args[1] == (3, slice(4, None, -2), None, Ellipsis)
    empty = _bound(operator.getitem, x, slice(3, 1))
    assert empty.args[1] == (slice(0, 0, 1),)


def test_integer_array_index_is_a_gather():
    x = np.zeros((4, 5, 6))
    idx = np.array([0, 1])
    bound = _bound(operator.getitem, x, (slice(None), [-1, 0], 2))
    assert bound.op is GATHER and not GATHER.view
    assert bound.args[1] == (slice(0, 4, 1), [4, 0], 2)
    # Non-adjacent integer-array entries put their dims first; adjacent ones in place.
    graph = Graph()
    xn, i = graph.placeholder("x", TensorMeta.of(x)), graph.placeholder("i", TensorMeta.of(idx))
    assert emit(graph, bind(operator.getitem, (xn, (i, slice(None), i)))).meta.shape == (2, 5)
    assert emit(graph, bind(operator.getitem, (xn, (slice(None), i, i)))).meta.shape == (4, 2)
    assert emit(graph, bind(operator.getitem, (xn, (i, None, i)))).meta.shape == (2, 1, 6)


def test_take_literal_indices_are_resolved():
    a = np.zeros((3, 4))
    bound = _bound(np.take, a, [[-1, 5]], 1, None, "wrap")
    assert bound.op is TAKE and bound.args[1] == [[3, 1]] and bound.kwargs == {"axis": 1}
    bound = _bound(np.take, a, -7, None, None, "clip")
    assert bound.args[1] == 0 and bound.kwargs == {}


@pytest.mark.parametrize("key", [np.array([True, False]), True, (0, np.False_)])
def test_boolean_indices_are_unsupported(key):
    with pytest.raises(Unsupported, match="data-dependent shape"):
        _bound(operator.getitem, np.zeros((2, 3)), key)


def test_take_wrap_on_empty_axis_is_unsupported():
    # NumPy 2.4 loops forever here (nothing to copy, indices to wrap into an empty axis).
    with pytest.raises(Unsupported, match="mode='wrap' along an empty axis"):
        _bound(np.take, np.zeros((2, 0, 0)), [0], 1, None, "wrap")
