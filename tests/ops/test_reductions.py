"""Focused checks of the reduction ops that the registry property test does not state
directly: the canonical form of a bound call, the flags, exact out= semantics, and errors
dynajit must raise without running NumPy (NumPy 2.4 crashes on one of them)."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.exceptions import AxisError

from dynajit.errors import Unsupported
from dynajit.graph import Graph, GraphModule, TensorMeta
from dynajit.ops import OPS, bind, emit
from dynajit.ops.registry import Bound
from tests.ops.harness import Call, check_call

REDUCTIONS = ["sum", "prod", "max", "min", "any", "all", "mean", "var", "std", "argmax",
              "argmin", "cumsum", "cumprod"]


def _bind(fn, *args, **kwargs):
    """Bind ``fn(*args, **kwargs)`` with every ndarray/NumPy scalar as a placeholder."""
    graph = Graph()
    names = iter(f"a{i}" for i in range(100))

    def node(v):
        if isinstance(v, (np.ndarray, np.generic)):
            return graph.placeholder(next(names), TensorMeta.of(v))
        return v

    bound = bind(fn, tuple(node(a) for a in args), {k: node(v) for k, v in kwargs.items()})
    return graph, bound


def test_every_reduction_is_flagged():
    for name in REDUCTIONS:
        op = OPS[name]
        assert op.family == "reductions" and op.reduction and not op.pointwise, name
    assert {n for n in REDUCTIONS if OPS[n].recomputable} == {
        "sum", "mean", "max", "min", "any", "all"}
    assert not OPS["argmax"].differentiable and OPS["sum"].differentiable


@pytest.mark.parametrize("fn, args, kwargs, want", [
    (np.sum, (np.zeros((2, 3, 4)),), {"axis": -1}, {"axis": (2,), "keepdims": False}),
    (np.ndarray.sum, (np.zeros((2, 3, 4)), (2, -3)), {"keepdims": 1},
     {"axis": (0, 2), "keepdims": True}),
    (np.mean, (np.zeros((2, 3)),), {"dtype": "f4"},
     {"axis": (0, 1), "keepdims": False, "dtype": np.dtype("float32")}),
    (np.var, (np.zeros((2, 3)),), {"correction": 1}, {"axis": (0, 1), "keepdims": False,
                                                      "ddof": 1}),
    (np.std, (np.zeros((2, 3)),), {"ddof": 0}, {"axis": (0, 1), "keepdims": False}),
    (np.sum, (np.zeros(()),), {"axis": 0}, {"axis": (), "keepdims": False}),
    (np.argmax, (np.zeros((2, 3)),), {"axis": -1}, {"axis": 1, "keepdims": False}),
    (np.argmin, (np.zeros(()),), {"axis": 0}, {"axis": None, "keepdims": False}),
    (np.cumsum, (np.zeros((2, 3)),), {"axis": -2}, {"axis": 0}),
    (np.amax, (np.zeros((2, 3)),), {"initial": 5}, {"axis": (0, 1), "keepdims": False,
                                                     "initial": 5}),
])
def test_canonical_form(fn, args, kwargs, want):
    _, bound = _bind(fn, *args, **kwargs)
    assert isinstance(bound, Bound)
    assert bound.kwargs == want


def test_out_is_numpys_result_for_outs_dtype():
    # NumPy sums float64 into a float32 out in float64 (16777218), not in float32.
    a, out = np.array([2.0**24, 1.0, 1.0]), np.zeros((), np.float32)
    graph, bound = _bind(np.sum, a, out=out)
    assert bound.kwargs["out_dtype"] == np.dtype(np.float32) and bound.out_casting == "no"
    graph.output(emit(graph, bound))
    expected = np.zeros((), np.float32)
    np.sum(a, out=expected)
    assert GraphModule(graph)(a, out) == expected == np.float32(16777218)


@pytest.mark.parametrize("fn, out", [
    (np.std, np.zeros(3, np.int64)),  # std's sqrt writes into out with same_kind casting
    (np.argmax, np.zeros(3, np.float32)),  # argmax needs an out safely castable to intp
])
def test_out_dtype_errors_come_from_the_rule(fn, out):
    graph, bound = _bind(fn, np.zeros((2, 3)), 0, out=out)
    with pytest.raises(TypeError):
        emit(graph, bound)


def test_scan_out_of_the_wrong_shape_raises_without_running_numpy():
    # np.cumsum(x, out=<0-d array>) crashes NumPy 2.4; NumPy 2.5 raises ValueError.
    with pytest.raises(ValueError):
        _bind(np.cumsum, np.zeros((2, 3)), out=np.zeros(()))


@pytest.mark.parametrize("fn, shape, kwargs", [
    (np.max, (0, 3), {"axis": 0}),
    (np.min, (0, 0), {"axis": 1}),
    (np.sum, (0,), {"initial": None}),
    (np.argmax, (3, 0), {"axis": 1}),
    (np.argmin, (0, 3), {}),
])
def test_zero_size_errors_come_from_the_rule(fn, shape, kwargs):
    graph, bound = _bind(fn, np.zeros(shape), **kwargs)
    with pytest.raises(ValueError):
        emit(graph, bound)


@pytest.mark.parametrize("call", [
    Call(np.max, (np.zeros((0, 3)),), {"axis": 0, "initial": -1.0}),
    Call(np.max, (np.zeros((3, 0, 2)),), {"axis": (0, 2)}),
    Call(np.mean, (np.zeros((0, 3)),), {"axis": 0}),
    Call(np.var, (np.zeros((2, 3)),), {"ddof": 5}),
    Call(np.argmax, (np.array([1.0, np.nan, np.nan, 3.0]),)),
    Call(np.max, (np.array([[1.0, np.nan], [3.0, 2.0]]),), {"axis": 1}),
    Call(np.sum, (np.array([True, True, False]),)),
    Call(np.cumsum, (np.array([[True, True]]),), {"axis": 1}),
    Call(np.mean, (np.zeros(()),), {"axis": 0}),
    Call(np.sum, (np.zeros(()),), {"axis": 0, "keepdims": True}),
    Call(np.ndarray.any, (np.zeros(3), 0, bool)),
    Call(np.ndarray.any, (np.zeros(3), 0, np.zeros((), bool))),
    Call(np.var, (np.zeros(3),), {"ddof": 1, "correction": 1}),
    Call(np.var, (np.zeros((2, 2)),), {"axis": True}),
    Call(np.sum, (np.zeros((2, 2)),), {"axis": [0]}),
    Call(np.argmax, (np.zeros((2, 2)),), {"axis": (0,)}),
])
def test_numpy_edge_cases(call):
    check_call(call)


@pytest.mark.parametrize("fn, kwargs, reason", [
    (np.sum, {"where": np.ones(3, bool)}, "where="),
    (np.var, {"mean": np.zeros(())}, "mean="),
    (np.sum, {"out": np.zeros(())}, "NumPy scalar input"),
])
def test_refused(fn, kwargs, reason):
    a = np.float64(2.0) if "out" in kwargs else np.zeros(3)
    with pytest.raises(Unsupported, match=reason):
        _bind(fn, a, **kwargs)


def test_mean_of_0d_with_int_axis_is_numpys_axis_error():
    with pytest.raises(AxisError):
        _bind(np.mean, np.zeros(()), axis=0)
