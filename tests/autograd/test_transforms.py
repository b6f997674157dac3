"""``dynajit.grad``, ``value_and_grad`` and ``vjp`` called from plain Python: values and
gradients against hand-written derivatives, argnums, has_aux, pytrees, methods and keyword
arguments, the compile cache (no re-trace for the same signature, a new compile for a new
one), functionalization (the caller sees in-place writes), the clear errors, the trace
records and explain(), over every runnable backend."""

from __future__ import annotations

import numpy as np
import pytest

import dynajit
from dynajit import trace
from tests.autograd.conftest import CountingBackend, runnable_backends

BACKENDS = runnable_backends()


def loss(params, x, y):
    h = np.tanh(x @ params["w"] + params["b"])
    return np.mean((h - y) ** 2)


def loss_grads(params, x, y):
    """Hand-written backward of ``loss``."""
    h = np.tanh(x @ params["w"] + params["b"])
    dh = 2.0 * (h - y) / h.size
    dz = dh * (1.0 - h * h)
    return {"w": x.T @ dz, "b": dz.sum(axis=0)}


def make(rng, dtype=np.float64):
    params = {"w": rng.standard_normal((5, 3)).astype(dtype), "b": np.zeros(3, dtype)}
    return params, rng.standard_normal((7, 5)).astype(dtype), rng.standard_normal(
        (7, 3)).astype(dtype)


@pytest.mark.parametrize("backend", BACKENDS)
def test_value_and_grad_of_a_params_dict(backend):
    params, x, y = make(np.random.default_rng(0))
    value, grads = dynajit.value_and_grad(loss, backend=backend)(params, x, y)
    assert value == pytest.approx(loss(params, x, y), rel=1e-12)
    expected = loss_grads(params, x, y)
    assert list(grads) == ["w", "b"]
    for k in expected:
        np.testing.assert_allclose(grads[k], expected[k], rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("backend", BACKENDS)
def test_float32_gradients_stay_float32(backend):
    params, x, y = make(np.random.default_rng(1), np.float32)
    grads = dynajit.grad(loss, backend=backend)(params, x, y)
    expected = loss_grads(params, x, y)
    for k in expected:
        assert grads[k].dtype == np.float32
        np.testing.assert_allclose(grads[k], expected[k], rtol=1e-5, atol=1e-6)


def test_argnums_tuple_has_aux_and_nested_pytrees():
    def f(layers, scale, bias):
        total = 0.0
        for w in layers[0]:
            total = total + np.sum(w * w)
        out = total * scale["s"] + np.sum(bias)
        return out, {"total": total}

    layers = ([np.arange(3.0), np.ones((2, 2))], np.zeros(1))
    scale = {"s": np.float64(2.0)}
    bias = np.array([1.0, 2.0])
    (g_layers, g_bias), aux = dynajit.grad(f, argnums=(0, 2), has_aux=True)(layers, scale,
                                                                              bias)
    assert isinstance(g_layers, tuple) and isinstance(g_layers[0], list)
    np.testing.assert_array_equal(g_layers[0][0], 4.0 * np.arange(3.0))
    np.testing.assert_array_equal(g_layers[0][1], 4.0 * np.ones((2, 2)))
    np.testing.assert_array_equal(g_layers[1], [0.0])
    np.testing.assert_array_equal(g_bias, [1.0, 1.0])
    assert aux["total"] == pytest.approx(9.0)
    (value, aux2), g_scale = dynajit.value_and_grad(f, argnums=1, has_aux=True)(
        layers, scale, bias)
    assert value == pytest.approx(21.0) and aux2["total"] == pytest.approx(9.0)
    assert isinstance(g_scale["s"], np.float64) and g_scale["s"] == pytest.approx(9.0)


def test_methods_keywords_and_other_callables():
    class Model:
        def __init__(self):
            self.k = 3.0

        def energy(self, x, *, power=2):
            return np.sum(self.k * x ** power)

    x = np.array([1.0, 2.0])
    m = Model()
    np.testing.assert_array_equal(dynajit.grad(m.energy)(x), 6.0 * x)
    np.testing.assert_array_equal(dynajit.grad(m.energy)(x, power=3), 9.0 * x ** 2)
    compiled = dynajit.compile(lambda x: np.sum(np.exp(x)))
    np.testing.assert_allclose(dynajit.grad(compiled)(x), np.exp(x))
    backend = CountingBackend()
    for _ in range(2):  # NumPy's functions cannot be weakly referenced: cached all the same
        np.testing.assert_allclose(dynajit.grad(np.sum, backend=backend)(x), [1.0, 1.0])
    assert len(backend.graphs) == 2


def test_vjp_of_a_pytree_valued_function():
    def f(a, b):
        return {"p": a * b, "q": np.sin(a)}

    a, b = np.array([0.5, 1.0]), np.array([2.0, 3.0])
    out, pullback = dynajit.vjp(f, a, b)
    np.testing.assert_array_equal(out["p"], a * b)
    da, db = pullback({"p": np.ones(2), "q": np.full(2, 2.0)})
    np.testing.assert_allclose(da, b + 2.0 * np.cos(a))
    np.testing.assert_allclose(db, a)
    da2, _ = pullback({"p": np.zeros(2), "q": np.ones(2)})  # the pullback runs again
    np.testing.assert_allclose(da2, np.cos(a))
    with pytest.raises(ValueError, match="structure"):
        pullback(np.ones(2))
    out, pullback, aux = dynajit.vjp(lambda a: (a * 2.0, "tag"), a, has_aux=True)
    assert aux == "tag" and np.array_equal(pullback(np.ones(2))[0], [2.0, 2.0])


def test_the_same_signature_reuses_the_compiled_pair_and_a_new_one_compiles():
    backend = CountingBackend()
    g = dynajit.grad(loss, backend=backend)
    params, x, y = make(np.random.default_rng(2))
    for _ in range(3):
        g(params, x, y)
    assert len(backend.graphs) == 2  # one forward, one backward
    dynajit.grad(loss, backend=backend)(params, x, y)  # a new transform object: cached too
    assert len(backend.graphs) == 2
    g(params, x[:4], y[:4])
    assert len(backend.graphs) == 4
    g({"w": params["w"], "b": params["b"], "extra": params["b"]}, x, y)  # new structure
    assert len(backend.graphs) == 6


def test_in_place_writes_inside_the_function_reach_the_caller():
    def f(x, out):
        x *= 2.0  # an in-place operator on the differentiated input
        np.multiply(x, x, out=out)  # out= into another input
        out[1:] = 3.0 * x[:2]  # slice assignment
        return np.sum(out * x)

    x, out = np.array([1.0, 2.0, 3.0]), np.zeros(3)
    x_eager, out_eager = x.copy(), out.copy()
    expected = f(x_eager, out_eager)
    value, dx = dynajit.value_and_grad(f)(x, out)
    assert value == expected
    np.testing.assert_array_equal(x, x_eager)
    np.testing.assert_array_equal(out, out_eager)
    # value = 8 x0^3 + 12 x0 x1 + 12 x1 x2 in the values x had when f was called
    np.testing.assert_array_equal(dx, [24.0 + 24.0, 12.0 + 36.0, 24.0])
    value, dx = dynajit.value_and_grad(f)(x, out)  # again, from the written values
    np.testing.assert_array_equal(dx, [96.0 + 48.0, 24.0 + 72.0, 48.0])


def test_a_graph_break_is_an_error_naming_its_site():
    def f(x):
        if x.sum() > 0:  # a data-dependent branch
            return np.sum(x * 2.0)
        return np.sum(x)

    with pytest.raises(dynajit.Unsupported) as info:
        dynajit.grad(f)(np.ones(3))
    message = str(info.value)
    assert "dynajit.grad needs" in message and "branching on an array value" in message
    assert f"{__file__}:{f.__code__.co_firstlineno + 1}" in message


def test_non_scalar_outputs_and_integer_arguments_are_errors():
    with pytest.raises(dynajit.Unsupported, match=r"must return a scalar.*shape \(3,\)"):
        dynajit.grad(lambda x: x * 2.0)(np.ones(3))
    with pytest.raises(dynajit.Unsupported, match="dtype int64.*only floating-point"):
        dynajit.grad(lambda x, n: np.sum(x * n), argnums=1)(np.ones(3), np.arange(3))
    with pytest.raises(dynajit.Unsupported, match="Python float"):
        dynajit.grad(lambda x: x * 2.0)(1.5)
    with pytest.raises(dynajit.Unsupported, match="argnums=2"):
        dynajit.grad(lambda x: np.sum(x), argnums=2)(np.ones(3))
    with pytest.raises(TypeError, match="argnums"):
        dynajit.grad(np.sum, argnums="0")


def test_partition_records_and_explain():
    params, x, y = make(np.random.default_rng(3))
    records = []
    with trace.listen(records.append):
        dynajit.grad(loss, partitioner="save_all")(params, x, y)
    names = [r.name for r in records]
    for name in ("aot_joint_graph", "aot_forward_graph", "aot_backward_graph",
                 "dynajit_partition", "dynamo_guards", "compilation_metrics"):
        assert name in names
    record = next(r for r in records if r.name == "dynajit_partition").payload
    assert record["partitioner"] == "save_all" and record["saved_bytes"] > 0
    report = dynajit.explain(dynajit.grad(loss))(params, x, y)
    assert len(report.graphs) == 2 and len(report.partitions) == 1
    _, function, decision = report.partitions[0]
    assert function == "loss" and decision["partitioner"] == "min_cut"
    assert decision["saved_bytes"] <= record["saved_bytes"]
    text = str(report)
    assert "min_cut saves" in text and "recomputed in the backward" in text


def test_reset_forgets_compiled_gradients():
    backend = CountingBackend()
    params, x, y = make(np.random.default_rng(4))
    dynajit.grad(loss, backend=backend)(params, x, y)
    dynajit.reset()
    dynajit.grad(loss, backend=backend)(params, x, y)
    assert len(backend.graphs) == 4


def test_identity_functions_and_unused_arguments():
    assert dynajit.grad(lambda x: x)(np.float64(2.0)) == 1.0
    value, g = dynajit.value_and_grad(lambda x, y: np.sum(y))(np.ones(2), np.ones(3))
    assert value == 3.0
    np.testing.assert_array_equal(g, [0.0, 0.0])
    _, pullback = dynajit.vjp(lambda x: x, np.ones(2))
    np.testing.assert_array_equal(pullback(np.full(2, 3.0))[0], [3.0, 3.0])
    np.testing.assert_array_equal(dynajit.grad(lambda x: np.sum(x[[0, 0, 1]]))(
        np.array([1.0, 2.0])), [2.0, 1.0])  # a repeated index accumulates
