"""The reverse-mode walk (``differentiate``/``gradients_for``) and the joint graph, on small
graphs: broadcasting sums, dtypes kept, integer and bool values without gradients, the
region a walk may cross, the subgradient conventions, scalar vs 0-d results, and the error
for an op without a rule."""

from __future__ import annotations

import numpy as np
import pytest

from dynajit.autograd import build_joint, differentiate, gradients_for
from dynajit.capture import symbolic_trace
from dynajit.errors import Unsupported
from dynajit.graph import GraphModule, TensorMeta
from dynajit.ops import OPS


def forward(fn, *inputs):
    """``fn`` traced into a graph without its output node: (graph, output nodes)."""
    result = symbolic_trace(fn, *inputs)
    graph = result.graph
    structure = result.output_structure
    outputs = structure if isinstance(structure, tuple) else (structure,)
    graph.erase_node(graph.output_node)
    return graph, list(outputs)


def grads_of(fn, *inputs, cotangent=None):
    """Gradients of sum(cotangent * fn(*inputs)) for every input, as NumPy values."""
    graph, (out,) = forward(fn, *inputs)
    tangent = graph.placeholder("ct", TensorMeta(out.meta.shape, out.meta.dtype))
    grads = gradients_for(graph, [out], [tangent], graph.placeholders[:len(inputs)])
    graph.output(tuple(grads))
    graph.verify()
    ct = np.ones(out.meta.shape, out.meta.dtype) if cotangent is None else cotangent
    return GraphModule(graph)(*inputs, ct)


def test_broadcast_operands_get_gradients_summed_over_the_broadcast():
    a = np.arange(3.0).reshape(3, 1)
    b = np.arange(4.0) + 1
    da, db = grads_of(lambda a, b: a * b, a, b)
    np.testing.assert_array_equal(da, np.broadcast_to(b.sum(), (3, 1)))
    np.testing.assert_array_equal(db, np.broadcast_to(a.sum(), (4,)))
    assert da.shape == (3, 1) and db.shape == (4,)


def test_gradients_keep_each_inputs_dtype():
    x32 = np.linspace(0.1, 1, 6, dtype=np.float32)
    w64 = np.linspace(1, 2, 6)
    dx, dw = grads_of(lambda x, w: np.sum(np.exp(x) * w), x32, w64)
    assert dx.dtype == np.float32 and dw.dtype == np.float64
    np.testing.assert_allclose(dx, np.exp(x32) * w64, rtol=1e-6)


def test_integer_and_bool_values_carry_no_gradient():
    x = np.array([1.0, -2.0, 3.0])
    n = np.array([1, 2, 3])
    mask = np.array([True, False, True])
    dx, dn, dmask = grads_of(lambda x, n, m: np.sum(np.where(m, x * n, 0.0)), x, n, mask)
    np.testing.assert_array_equal(dx, [1.0, 0.0, 3.0])
    # gradients_for gives zeros of the input's own dtype where no gradient flows.
    np.testing.assert_array_equal(dn, [0, 0, 0])
    assert dn.dtype == n.dtype and dmask.dtype == bool and not dmask.any()
    graph, (out,) = forward(lambda x, n: np.sum(x * n), x, n)
    ct = graph.placeholder("ct", TensorMeta((), out.meta.dtype))
    assert differentiate(graph, [out], [ct], graph.placeholders[:2])[1] is None


def test_a_cast_to_integers_stops_the_gradient():
    x = np.array([1.5, 2.5])
    (dx,) = grads_of(lambda x: np.sum(x.astype(np.int64) * x), x)
    np.testing.assert_array_equal(dx, [1.0, 2.0])  # only the float factor contributes


def test_values_outside_the_region_are_constants():
    x = np.array([2.0, 3.0])
    graph, (y,) = forward(lambda x: np.sum(np.square(x) * x), x)
    square = next(n for n in graph.call_nodes() if n.target.name == "square")
    region = set(graph.nodes_after(square))  # the square is computed before the region
    ct = graph.placeholder("ct", TensorMeta((), y.meta.dtype))
    (dx,) = gradients_for(graph, [y], [ct], [graph.placeholders[0]], region)
    graph.output((dx,))
    np.testing.assert_array_equal(GraphModule(graph)(x, np.float64(1.0))[0], x * x)


def test_multi_output_ops_pass_each_outputs_cotangent():
    x = np.array([7.5, -3.25])
    y = np.array([2.0, 1.5])
    dx, dy = grads_of(lambda x, y: np.sum(np.divmod(x, y)[1]), x, y)
    np.testing.assert_array_equal(dx, [1.0, 1.0])
    np.testing.assert_array_equal(dy, -np.floor_divide(x, y))
    (dm,) = grads_of(lambda x: np.sum(np.frexp(x)[0]), x)
    np.testing.assert_array_equal(dm, 2.0 ** -np.frexp(x)[1])


def test_subgradient_conventions():
    # abs at 0 -> 0; maximum/minimum ties split evenly; clip passes on [lo, hi].
    (d,) = grads_of(lambda x: np.sum(np.abs(x)), np.array([-1.0, 0.0, 2.0]))
    np.testing.assert_array_equal(d, [-1.0, 0.0, 1.0])
    da, db = grads_of(np.maximum, np.array([1.0, 2.0, 3.0]), np.array([3.0, 2.0, 1.0]))
    np.testing.assert_array_equal(da, [0.0, 0.5, 1.0])
    np.testing.assert_array_equal(db, [1.0, 0.5, 0.0])
    (d,) = grads_of(lambda x: np.clip(x, 0.0, 1.0), np.array([-0.5, 0.0, 0.5, 1.0, 1.5]))
    np.testing.assert_array_equal(d, [0.0, 1.0, 1.0, 1.0, 0.0])
    (d,) = grads_of(lambda x: np.max(x), np.array([1.0, 3.0, 3.0, 2.0]))
    np.testing.assert_array_equal(d, [0.0, 0.5, 0.5, 0.0])
    (d,) = grads_of(lambda x: np.sum(np.where(x > 0, x, 2 * x)), np.array([-1.0, 0.0, 1.0]))
    np.testing.assert_array_equal(d, [2.0, 2.0, 1.0])


def test_gradients_are_scalars_for_scalars_and_arrays_for_0d_arrays():
    s = np.float64(2.0)
    a = np.array(3.0)
    ds, da = grads_of(lambda s, a: s * a * 1.0, s, a)
    assert isinstance(ds, np.float64) and type(da) is np.ndarray and da.shape == ()


def test_an_op_without_a_rule_is_an_error_naming_it(monkeypatch):
    monkeypatch.setattr(OPS["sin"], "vjp", None)
    with pytest.raises(Unsupported, match="op 'sin'.*has no VJP rule"):
        grads_of(lambda x: np.sum(np.sin(x)), np.ones(3))


def test_build_joint_outputs_forward_values_then_gradients():
    x = np.array([0.5, 1.0])
    graph, (y,) = forward(lambda x: np.sum(np.sin(x)), x)
    joint = build_joint(graph, [y], [y], graph.placeholders)
    assert [p.name for p in joint.graph.placeholders] == ["x0", "tangent_0"]
    value, dx = GraphModule(joint.graph)(x, np.float64(2.0))
    assert value == np.sum(np.sin(x))
    np.testing.assert_allclose(dx, 2.0 * np.cos(x))
