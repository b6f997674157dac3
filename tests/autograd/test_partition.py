"""The partitioners, on their own: forward + backward recombined give the joint graph's
results; min_cut never saves more bytes than save_all (random graphs); what is recomputed
and what never is; inputs and forward outputs are free saves, inputs written in place are
not; the decision as a JSON record."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dynajit.autograd import build_joint, partition
from dynajit.autograd.partition import PARTITIONERS
from dynajit.errors import DynajitError
from dynajit.graph import Graph, GraphModule, TensorMeta
from dynajit.ops import OPS
from tests.autograd.test_joint import forward

_UNARY = ["exp", "tanh", "sin", "square", "negative", "sqrt"]
_BINARY = ["add", "multiply", "subtract", "maximum"]


@st.composite
def random_programs(draw):
    """A forward graph over float64 (4, 3) inputs and a (3, 3) weight: random unary and
    binary elementwise ops, row sums broadcast back, matmuls, maxima; returns the graph
    without its output node, the scalar loss and the inputs."""
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    graph = Graph()
    count = draw(st.integers(1, 3))
    values = [graph.placeholder(f"x{i}", TensorMeta((4, 3), np.float64)) for i in range(count)]
    weight = graph.placeholder("w", TensorMeta((3, 3), np.float64))
    inputs = [rng.uniform(0.5, 1.5, (4, 3)) for _ in range(count)] + [rng.uniform(-1, 1, (3, 3))]
    for _ in range(draw(st.integers(1, 12))):
        kind = draw(st.sampled_from(["unary", "binary", "binary", "rowsum", "matmul", "max"]))
        a = draw(st.sampled_from(values))
        if kind == "unary":
            values.append(graph.call(OPS[draw(st.sampled_from(_UNARY))], (a,)))
        elif kind == "binary":
            b = draw(st.sampled_from(values))
            values.append(graph.call(OPS[draw(st.sampled_from(_BINARY))], (a, b)))
        elif kind == "rowsum":
            s = graph.call(OPS["sum"], (a,), {"axis": (1,), "keepdims": True})
            values.append(graph.call(OPS["multiply"], (a, s)))
        elif kind == "matmul":
            values.append(graph.call(OPS["matmul"], (a, weight)))
        else:
            m = graph.call(OPS["max"], (a,), {"axis": (0,), "keepdims": True})
            values.append(graph.call(OPS["subtract"], (a, m)))
    used = draw(st.lists(st.sampled_from(values), min_size=1, max_size=3))
    total = used[0]
    for v in used[1:]:
        total = graph.call(OPS["add"], (total, v))
    loss = graph.call(OPS["sum"], (graph.call(OPS["tanh"], (total,)),),
                      {"axis": (0, 1), "keepdims": False})
    extra = [values[-1]] if draw(st.booleans()) else []  # a non-scalar forward output
    return graph, [loss, *extra], loss, inputs


def _joint(graph, outputs, loss):
    return build_joint(graph, outputs, [loss], graph.placeholders)


def _run_split(p, inputs, seed):
    fw = GraphModule(p.forward)(*inputs)
    n = p.forward_output_count
    grads = GraphModule(p.backward)(*fw[n:], seed)
    return list(fw[:n]) + list(grads)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(program=random_programs())
def test_forward_and_backward_recombined_equal_the_joint_graph(program):
    graph, outputs, loss, inputs = program
    joint = _joint(graph, outputs, loss)
    seed = np.float64(1.0)
    with np.errstate(all="ignore"):  # sqrt of negatives: NaN on both sides
        expected = GraphModule(joint.graph)(*inputs, seed)
    saved = {}
    for method in PARTITIONERS:
        p = partition(joint, method)
        p.forward.verify()
        p.backward.verify()
        with np.errstate(all="ignore"):
            got = _run_split(p, inputs, seed)
        assert len(got) == len(expected)
        for g, e in zip(got, expected):
            np.testing.assert_array_equal(g, e, err_msg=f"{method}:\n{joint.graph}")
        saved[method] = p.saved_bytes
        for name in p.recomputed:
            assert OPS[name].recomputable, f"{method} recomputed {name}"
    assert saved["min_cut"] <= saved["save_all"]


def _chain():
    graph, (y,) = forward(lambda x: np.sum(np.cos(np.sin(x))), np.ones((8, 8)))
    return _joint(graph, [y], y)


def test_min_cut_recomputes_a_pointwise_chain_from_the_free_input():
    joint = _chain()
    save_all, min_cut = partition(joint, "save_all"), partition(joint, "min_cut")
    assert [s.name for s in min_cut.saved] == ["x0"] and min_cut.saved[0].kind == "input"
    assert min_cut.saved_bytes == 0 and min_cut.recomputed == ["sin"]
    assert save_all.saved_bytes == 8 * 8 * 8 and save_all.recomputed == []


def test_matmuls_and_large_reductions_are_never_recomputed():
    x, w = np.ones((16, 8)), np.ones((8, 8))
    graph, (y,) = forward(lambda x, w: np.sum(np.tanh(x @ w) * np.max(x, axis=1,
                                                                     keepdims=True)), x, w)
    p = partition(_joint(graph, [y], y), "min_cut")
    assert "matmul" not in p.recomputed and "max" not in p.recomputed
    saved = {s.name for s in p.saved}
    assert {"matmul", "max"} <= saved or {"tanh", "max"} <= saved


def test_inputs_written_in_place_are_not_free_saves():
    joint = _chain()
    x = joint.primals[0]
    p = partition(joint, "min_cut", mutated=[x])
    assert all(s.kind != "input" for s in p.saved)
    assert p.saved_bytes == 8 * 8 * 8  # the cheapest cut now costs one (8, 8) float64


def test_forward_outputs_are_free_saves():
    graph, (y,) = forward(lambda x: np.sum(np.exp(x)), np.ones(5))
    exp = next(n for n in graph.call_nodes() if n.target.name == "exp")
    p = partition(_joint(graph, [y, exp], y), "save_all")
    assert {s.name: s.kind for s in p.saved} == {"exp": "output"} and p.saved_bytes == 0


def test_unknown_partitioner_is_an_error():
    with pytest.raises(DynajitError, match="unknown partitioner 'fancy'"):
        partition(_chain(), "fancy")


def test_the_decision_record_is_json_with_saved_values_and_recomputed_ops():
    record = json.loads(json.dumps(partition(_chain(), "min_cut").as_record()))
    assert record["partitioner"] == "min_cut" and record["recomputed"] == ["sin"]
    assert record["saved"] == [{"name": "x0", "meta": "f64[8, 8]", "nbytes": 512,
                                "kind": "input"}]
    assert record["saved_bytes"] == 0 and record["free_saved_bytes"] == 512
