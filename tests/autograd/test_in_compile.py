"""Gradient transforms inside ``@dynajit.compile`` code: traced into the enclosing graph
(a training step is one graph, no break), equal to the standalone transforms; closures and
lambdas made while tracing, vjp and its pullback, transform objects made outside (guarded),
repeated arguments, values from outside the function as constants, and a function that
cannot be captured (a graph break at the call, then the standalone path)."""

from __future__ import annotations

import numpy as np
import pytest

import dynajit
from tests.autograd.conftest import CountingBackend, runnable_backends
from tests.autograd.test_transforms import loss, make


@pytest.mark.parametrize("backend", runnable_backends())
def test_a_training_step_is_one_graph_equal_to_the_standalone_gradients(backend):
    counting = CountingBackend(backend)

    @dynajit.compile(backend=counting, fullgraph=True)
    def step(params, x, y, lr):
        value, grads = dynajit.value_and_grad(loss)(params, x, y)
        for k in params:
            params[k] -= lr * grads[k]
        return value

    params, x, y = make(np.random.default_rng(0))
    reference = {k: v.copy() for k, v in params.items()}
    for _ in range(3):
        with dynajit.config.patch(raise_on_compile_error=True):  # no silent eager fallback
            value = step(params, x, y, 0.1)
        expected, grads = dynajit.value_and_grad(loss, backend="eager")(reference, x, y)
        for k in reference:
            reference[k] -= 0.1 * grads[k]
        assert value == pytest.approx(expected, rel=1e-12)
        for k in params:
            np.testing.assert_allclose(params[k], reference[k], rtol=1e-12, atol=1e-15)
    assert len(counting.graphs) == 1
    ops = counting.op_names(0)
    # One forward matmul, one for the weight gradient (x is not differentiated: no dx).
    assert "tanh" in ops and ops.count("matmul") == 2


def test_lambdas_closures_and_vjp_made_inside_the_trace():
    counting = CountingBackend()

    @dynajit.compile(backend=counting, fullgraph=True)
    def f(w, x):
        scale = np.sum(x)
        g = dynajit.grad(lambda v: np.sum(np.sin(v * scale)))(w)
        out, pullback = dynajit.vjp(lambda a, b: a * b, w, x)
        da, db = pullback(np.ones_like(out))
        return g, da, db

    w, x = np.array([0.1, 0.2]), np.array([1.0, 3.0])
    g, da, db = f(w, x)
    np.testing.assert_allclose(g, 4.0 * np.cos(4.0 * w))
    np.testing.assert_array_equal(da, x)
    np.testing.assert_array_equal(db, w)
    assert len(counting.graphs) == 1


GRAD_OF_SQUARES = dynajit.grad(lambda x: np.sum(x * x))


def test_a_transform_made_outside_is_traced_and_guarded():
    global GRAD_OF_SQUARES
    counting = CountingBackend()

    @dynajit.compile(backend=counting, fullgraph=True)
    def f(x):
        return GRAD_OF_SQUARES(x) + 1.0

    x = np.array([1.0, 2.0])
    np.testing.assert_array_equal(f(x), 2 * x + 1)
    saved = GRAD_OF_SQUARES
    try:
        GRAD_OF_SQUARES = dynajit.grad(lambda x: np.sum(x * x * x))
        np.testing.assert_array_equal(f(x), 3 * x * x + 1)
    finally:
        GRAD_OF_SQUARES = saved
    assert len(counting.graphs) == 2


def test_an_array_passed_twice_gets_a_gradient_per_argument():
    @dynajit.compile(backend="eager", fullgraph=True)
    def f(x):
        return dynajit.grad(lambda a, b: np.sum(a * b * b), argnums=(0, 1))(x, x)

    x = np.array([1.0, 2.0])
    da, db = f(x)
    np.testing.assert_array_equal(da, x * x)
    np.testing.assert_array_equal(db, 2 * x * x)


def test_values_computed_before_the_call_are_constants():
    @dynajit.compile(backend="eager", fullgraph=True)
    def f(w):
        h = w * 3.0  # depends on w, but from outside the differentiated function
        return dynajit.grad(lambda v: np.sum(v * h))(w)

    w = np.array([1.0, 2.0])
    np.testing.assert_array_equal(f(w), 3.0 * w)


def test_a_function_that_cannot_be_captured_breaks_the_graph_at_the_call():
    def picky(x):
        if np.sum(x) > 0:  # data-dependent
            return np.sum(x * x)
        return np.sum(x)

    counting = CountingBackend()

    @dynajit.compile(backend=counting)
    def f(x):
        y = x + 1.0
        return dynajit.grad(picky)(y) * 2.0

    x = np.array([1.0, 2.0])
    with pytest.raises(dynajit.Unsupported, match="needs .*picky as one graph"):
        f(x)  # the break runs the call eagerly: the standalone grad raises the error


def test_np_copyto_is_a_functional_write_returning_none():
    @dynajit.compile(backend="eager", fullgraph=True)
    def f(a, b):
        result = np.copyto(a, b * 2.0)
        np.copyto(b, 1, casting="unsafe")
        return result, a + 1.0

    a, b = np.zeros(3), np.arange(3.0)
    result, a1 = f(a, b)
    assert result is None
    np.testing.assert_array_equal(a, [0.0, 2.0, 4.0])
    np.testing.assert_array_equal(b, [1.0, 1.0, 1.0])
    np.testing.assert_array_equal(a1, [1.0, 3.0, 5.0])

    def loss(x, buf):
        np.copyto(buf, x * x)
        return np.sum(buf * x)

    buf = np.zeros(2)
    value, dx = dynajit.value_and_grad(loss)(np.array([1.0, 2.0]), buf)
    assert value == 9.0
    np.testing.assert_array_equal(dx, [3.0, 12.0])
    np.testing.assert_array_equal(buf, [1.0, 4.0])


def test_gradients_of_gradients():
    second = dynajit.grad(dynajit.grad(lambda x: x ** 3))
    assert second(np.float64(2.0)) == 12.0
    x = np.array([0.3, 0.5])
    inner = dynajit.grad(lambda y: np.sum(np.sin(y) * y))
    outer = dynajit.grad(lambda x: np.sum(inner(x)))
    np.testing.assert_allclose(outer(x), 2.0 * np.cos(x) - x * np.sin(x), rtol=1e-14)
