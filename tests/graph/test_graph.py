"""Graph IR: building, text form, verify() errors that name the node, mutation checks,
structural hash."""

from __future__ import annotations

import numpy as np
import pytest

from dynajit.errors import GraphError
from dynajit.graph import Graph, TensorMeta
from dynajit.ops import OPS
from dynajit.ops.elementwise import ufunc_op
from dynajit.ops.registry import OpDef

F32_4x8 = TensorMeta((4, 8), np.float32)
F32_8 = TensorMeta((8,), np.float32)


def small_graph() -> Graph:
    g = Graph()
    x = g.placeholder("x", F32_4x8)
    y = g.placeholder("y", F32_8)
    a = g.call(ufunc_op(np.add), (x, y))
    b = g.call(ufunc_op(np.tanh), (a,))
    c = g.call(ufunc_op(np.multiply), (b, 2))
    g.output((c, a))
    return g


def test_text_form_is_stable_and_shows_metas():
    assert str(small_graph()) == (
        "graph(x: f32[4, 8], y: f32[8]):\n"
        "  %add = add(%x, %y) : f32[4, 8]\n"
        "  %tanh = tanh(%add) : f32[4, 8]\n"
        "  %multiply = multiply(%tanh, 2) : f32[4, 8]\n"
        "  return (%multiply, %add)"
    )


def test_call_meta_comes_from_the_op_rule():
    g = Graph()
    x = g.placeholder("x", TensorMeta((3, 1), np.int8))
    y = g.placeholder("y", TensorMeta((5,), np.float32))
    assert g.call(ufunc_op(np.add), (x, y)).meta == TensorMeta((3, 5), np.float32)
    z = g.placeholder("z", TensorMeta((), np.uint8))
    # NEP 50: a Python int is weak, a 0-d result of a ufunc is a NumPy scalar
    assert g.call(ufunc_op(np.add), (z, 3)).meta == TensorMeta((), np.uint8, scalar=True)


def test_verify_accepts_a_well_formed_graph():
    small_graph().verify()


def test_verify_names_node_for_shape_rule_violation():
    g = small_graph()
    tanh = next(n for n in g.nodes if n.name == "tanh")
    tanh.meta = TensorMeta((4, 9), np.float32)
    with pytest.raises(GraphError, match=r"node 'tanh' \(call tanh\).*f32\[4, 9\].*f32\[4, 8\]"):
        g.verify()


def test_verify_names_node_for_wrong_arity():
    g = Graph()
    x = g.placeholder("x", F32_8)
    bad = g.call(ufunc_op(np.add), (x,), meta=F32_8)
    g.output(bad)
    with pytest.raises(GraphError, match=r"node 'add'.*wrong arguments"):
        g.verify()


def test_verify_names_node_for_unknown_op():
    rogue = OpDef("rogue", "test", impl=lambda x: x, meta_rule=lambda x: x)
    g = Graph()
    x = g.placeholder("x", F32_8)
    g.output(g.call(rogue, (x,)))
    with pytest.raises(GraphError, match=r"node 'rogue'.*not a registered op"):
        g.verify()


def test_verify_names_node_for_cycle():
    g = small_graph()
    add = next(n for n in g.nodes if n.name == "add")
    mul = next(n for n in g.nodes if n.name == "multiply")
    add._set_args((mul, add.args[1]), {})  # add now reads a later node: a cycle
    with pytest.raises(GraphError, match=r"node 'add'.*uses 'multiply' before it is defined"):
        g.verify()


def test_verify_names_node_for_use_after_erase():
    g = small_graph()
    tanh = next(n for n in g.nodes if n.name == "tanh")
    mul = next(n for n in g.nodes if n.name == "multiply")
    mul.replace_all_uses_with(tanh)
    g.erase_node(mul)
    out = g.output_node
    out._set_args(((mul, out.args[0][1]),), {})  # force a dangling reference
    with pytest.raises(GraphError, match=r"node 'output'.*uses erased node 'multiply'"):
        g.verify()


def test_verify_requires_an_output():
    g = Graph()
    g.placeholder("x", F32_8)
    with pytest.raises(GraphError, match="no output"):
        g.verify()


def test_erase_refuses_a_node_with_users():
    g = small_graph()
    add = next(n for n in g.nodes if n.name == "add")
    with pytest.raises(GraphError, match=r"cannot erase node 'add'.*used by 'tanh', 'output'"):
        g.erase_node(add)


def test_replace_all_uses_and_insertion_points():
    g = small_graph()
    tanh = next(n for n in g.nodes if n.name == "tanh")
    with g.inserting_after(tanh):
        neg = g.call(ufunc_op(np.negative), (tanh,))
    for user in list(tanh.users):
        if user is not neg:
            user._set_args(tuple(neg if a is tanh else a for a in user.args), user.kwargs)
    assert [n.name for n in g.nodes] == ["x", "y", "add", "tanh", "negative", "multiply",
                                         "output"]
    g.verify()
    assert set(tanh.users) == {neg}
    x = g.placeholders[0]
    with g.inserting_before(g.nodes[2]):
        early = g.call(ufunc_op(np.abs), (x,))
    assert g.nodes[2] is early
    changed = early.replace_all_uses_with(x)
    assert changed == []


def test_node_names_are_unique_and_never_shadow_generated_names():
    g = Graph()
    x = g.placeholder("dtype", F32_8)
    y = g.placeholder("x", F32_8)
    z = g.placeholder("x", F32_8)
    assert x.name != "dtype" and y.name == "x" and z.name == "x_1"


def test_structural_hash_ignores_names_but_not_structure():
    a, b = small_graph(), small_graph()
    b.placeholders[0].name = "renamed"
    assert a.structural_hash() == b.structural_hash()
    c = Graph()
    x = c.placeholder("x", F32_4x8)
    y = c.placeholder("y", F32_8)
    s = c.call(ufunc_op(np.add), (x, y))
    t = c.call(ufunc_op(np.tanh), (s,))
    m = c.call(ufunc_op(np.multiply), (t, 2.0))  # 2.0 instead of 2: a different program
    c.output((m, s))
    assert a.structural_hash() != c.structural_hash()
    d = small_graph()
    d.placeholders[1].meta = TensorMeta((8,), np.float64)
    assert a.structural_hash() != d.structural_hash()


def test_structural_hash_covers_constant_bytes():
    def with_const(values):
        g = Graph()
        x = g.placeholder("x", F32_8)
        k = g.constant(np.asarray(values, np.float32))
        g.output(g.call(ufunc_op(np.add), (x, k)))
        return g.structural_hash()

    assert with_const([1] * 8) == with_const([1] * 8)
    assert with_const([1] * 8) != with_const([2] * 8)


def test_every_registered_op_is_an_opdef_with_an_implementation():
    for name, op in OPS.items():
        assert isinstance(op, OpDef) and op.name == name
        assert callable(op.impl) and callable(op.meta_rule)
