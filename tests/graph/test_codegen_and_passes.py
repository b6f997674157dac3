"""GraphModule codegen (readable source, linecache, round trip against the Interpreter) and
the passes (DCE, CSE, shape propagation), including a property test over random graphs."""

from __future__ import annotations

import linecache
import traceback

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dynajit.graph import (
    Graph,
    GraphModule,
    Interpreter,
    TensorMeta,
    eliminate_common_subexpressions,
    eliminate_dead_code,
    propagate_shapes,
)
from dynajit.ops import OPS
from dynajit.ops.elementwise import ufunc_op
from dynajit.ops.registry import OpDef, register
from tests.ops.harness import assert_same
from tests.ops.strategies import arrays


def test_generated_source_is_readable_python():
    g = Graph()
    x = g.placeholder("x", TensorMeta((4, 8), np.float32))
    y = g.placeholder("y", TensorMeta((), np.float64, scalar=True))
    s = g.call(ufunc_op(np.add), (x, y))
    g.output(s)
    gm = GraphModule(g)
    assert gm.code.splitlines()[0] == 'def forward(self, x: "f32[4, 8]", y: "f64 scalar"):'
    assert "    add = _op_add(x, y)  # f64[4, 8]" in gm.code
    assert gm.code.splitlines()[-1] == "    return add"


def test_literals_round_trip_through_source():
    g = Graph()
    x = g.placeholder("x", TensorMeta((3,), np.float64))
    outs = [g.call(ufunc_op(np.add), (x, v)) for v in (float("inf"), float("nan"), -0.0,
                                                      np.float32(1.5), 1 + 2j, True)]
    g.output(tuple(outs))
    gm = GraphModule(g)
    arg = np.array([1.0, -2.0, 3.0])
    assert_same(gm(arg), Interpreter(g).run(arg))
    assert gm(arg)[3].dtype == np.float64 and gm(arg)[4].dtype == np.complex128


def test_tracebacks_show_generated_lines():
    g = Graph()
    x = g.placeholder("x", TensorMeta((3,), np.int64))
    p = g.call(ufunc_op(np.power), (x, x))
    g.output(p)
    gm = GraphModule(g)
    assert linecache.getline(gm.filename, 2).strip().startswith("power = _op_power(x, x)")
    with pytest.raises(ValueError) as info:
        gm(np.array([1, 2, -1]))
    text = "".join(traceback.format_exception(info.value))
    assert gm.filename in text and "power = _op_power(x, x)" in text


def test_constants_are_module_attributes():
    g = Graph()
    x = g.placeholder("x", TensorMeta((2,), np.float32))
    k = g.constant(np.array([10.0, 20.0], np.float32), name="bias")
    g.output(g.call(ufunc_op(np.add), (x, k)))
    gm = GraphModule(g)
    assert "self.constants['bias']" in gm.code
    assert_same(gm(np.ones(2, np.float32)), np.array([11.0, 21.0], np.float32))


def test_dce_removes_unused_pure_nodes_only():
    g = Graph()
    x = g.placeholder("x", TensorMeta((3,), np.float64))
    used = g.call(ufunc_op(np.exp), (x,))
    dead = g.call(ufunc_op(np.log), (x,))
    g.call(ufunc_op(np.sin), (dead,))
    g.output(used)
    assert eliminate_dead_code(g) == 2
    assert [n.name for n in g.nodes] == ["x", "exp", "output"]
    g.verify()


def test_cse_merges_equal_calls_but_respects_literal_types():
    g = Graph()
    x = g.placeholder("x", TensorMeta((3,), np.int8))
    a = g.call(ufunc_op(np.add), (x, 1))
    b = g.call(ufunc_op(np.add), (x, 1))
    c = g.call(ufunc_op(np.add), (x, 1.0))  # float: a different dtype
    d = g.call(ufunc_op(np.add), (x, True))
    g.output((a, b, c, d))
    assert eliminate_common_subexpressions(g) == 1
    out = g.output_node.args[0]
    assert out[0] is out[1] and out[2] is not out[0] and out[3] is not out[0]
    g.verify()


@pytest.fixture
def nondeterministic_op():
    op = register(OpDef("test_random", "test", impl=lambda x: np.random.random(x.shape),
                        meta_rule=lambda x: TensorMeta(x.shape, np.float64),
                        deterministic=False))
    yield op
    del OPS[op.name]


def test_cse_keeps_nondeterministic_calls_apart(nondeterministic_op):
    g = Graph()
    x = g.placeholder("x", TensorMeta((3,), np.float64))
    a = g.call(nondeterministic_op, (x,))
    b = g.call(nondeterministic_op, (x,))
    g.output((a, b))
    assert eliminate_common_subexpressions(g) == 0


def test_propagate_shapes_respecializes_a_graph():
    g = Graph()
    x = g.placeholder("x", TensorMeta((4, 8), np.float32))
    y = g.placeholder("y", TensorMeta((8,), np.float32))
    g.output(g.call(ufunc_op(np.multiply), (g.call(ufunc_op(np.add), (x, y)), 2)))
    propagate_shapes(g, [TensorMeta((2, 5), np.float64), TensorMeta((1,), np.int32)])
    assert g.output_node.args[0].meta == TensorMeta((2, 5), np.float64)
    g.verify()


UNARY = [np.negative, np.exp, np.tanh, np.abs, np.sqrt, np.square, np.floor]
BINARY = [np.add, np.subtract, np.multiply, np.maximum, np.minimum, np.divide]


@st.composite
def random_programs(draw):
    """A random straight-line program over two inputs, with deliberate duplicates (for
    CSE) and unused values (for DCE)."""
    n = draw(st.integers(1, 12))
    steps = []
    for i in range(n):
        if draw(st.booleans()):
            steps.append(("u", draw(st.sampled_from(UNARY)), draw(st.integers(0, i + 1))))
        else:
            steps.append(("b", draw(st.sampled_from(BINARY)), draw(st.integers(0, i + 1)),
                          draw(st.integers(0, i + 1))))
        if draw(st.integers(0, 3)) == 0:
            steps.append(steps[-1])  # an exact duplicate
    outputs = draw(st.lists(st.integers(0, len(steps) + 1), min_size=1, max_size=3))
    return steps, outputs


@settings(max_examples=60, deadline=None)
@given(program=random_programs(),
       x=arrays(np.float64, (3, 4)), y=arrays(np.float32, (4,)))
def test_passes_and_codegen_preserve_results(program, x, y):
    steps, outputs = program
    g = Graph()
    values = [g.placeholder("x", TensorMeta.of(x)), g.placeholder("y", TensorMeta.of(y))]
    for step in steps:
        if step[0] == "u":
            values.append(g.call(ufunc_op(step[1]), (values[step[2]],)))
        else:
            values.append(g.call(ufunc_op(step[1]), (values[step[2]], values[step[3]])))
    g.output(tuple(values[i] for i in outputs))
    g.verify()
    with np.errstate(all="ignore"):
        expected = Interpreter(g).run(x, y)
        before = g.structural_hash()
        assert_same(GraphModule(g)(x, y), expected)
        eliminate_common_subexpressions(g)
        eliminate_dead_code(g)
        g.verify()
        assert_same(GraphModule(g)(x, y), expected)
        assert_same(Interpreter(g).run(x, y), expected)
    again = Graph()
    assert before != again.structural_hash()
