"""Loop sharing: which reductions join the loop of the stages before them (softmax's sum),
which may not (a reduction reading another element of what that loop stores, or an earlier
reduction's result), and shared loops equal to NumPy on random row programs."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import dynajit
from dynajit.backends.loopir.ir import ops
from dynajit.backends.loopir.scheduler import Stage, stage_loads
from dynajit.backends.loopir.sharing import share_loops
from tests.backends.loopir.test_scheduler import kernels, schedule_of

pytestmark = pytest.mark.backends


def shared(sched):
    return [d["share_loop"] for d in sched.decisions if "share_loop" in d]


def softmax(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def layernorm(x):
    mu = x.mean(axis=-1, keepdims=True)
    xc = x - mu
    return xc / np.sqrt((xc * xc).mean(axis=-1, keepdims=True) + 1e-5)


def test_softmax_row_sum_shares_the_exponential_loop():
    x = np.random.default_rng(0).standard_normal((6, 300)).astype(np.float32)
    sched = schedule_of(softmax, x)
    (kernel,) = kernels(sched)
    flags = [st.shares_loop for st in kernel.stages]
    assert flags == [False, False, True, False]  # max | exp, sum | divide
    assert len(shared(sched)) == 1
    np.testing.assert_allclose(dynajit.compile(softmax)(x), softmax(x), rtol=1e-6)


def test_reduction_reading_another_element_of_the_loop_does_not_share():
    """Softmax's row sum rewritten to read the stored exponentials back to front: element i
    of the shared loop would read element n-1-i before the loop stored it."""
    n = 300
    x = np.random.default_rng(0).standard_normal((6, n)).astype(np.float32)
    sched = schedule_of(softmax, x)
    (kernel,) = kernels(sched)
    exp_stage, sum_stage = kernel.stages[1], kernel.stages[2]
    stored = exp_stage.out
    value = sum_stage.value

    def backwards(idx, ridx):
        index = stored.index((idx[0], ridx[0] * -1 + (n - 1)))
        return ops().load(stored.name, index, stored.dtype)

    reversed_sum = Stage(dataclasses.replace(value, body=backwards), sum_stage.out,
                         sum_stage.inner)
    for stage in kernel.stages:
        stage.shares_loop = False
    kernel.stages[2] = reversed_sum
    share_loops(sched.steps, decisions := [])
    assert decisions == [] and not reversed_sum.shares_loop
    kernel.stages[2] = sum_stage  # the original reads element i: it shares
    share_loops(sched.steps, decisions := [])
    assert sum_stage.shares_loop and len(decisions) == 1


def test_reduction_reading_an_earlier_reduction_does_not_share_its_loop():
    x = np.random.default_rng(2).standard_normal((5, 40))
    sched = schedule_of(layernorm, x)
    for kernel in kernels(sched):
        for before, stage in zip(kernel.stages, kernel.stages[1:], strict=False):
            assert not (stage.shares_loop and before.out.name in {
                name for name, _ in stage_loads(stage, kernel.outer)})
    np.testing.assert_allclose(dynajit.compile(layernorm)(x), layernorm(x), rtol=1e-12)


def _program(kind, x, y):
    a = np.exp(x * 0.5) if kind & 1 else x * y
    b = (a * a).sum(axis=-1, keepdims=True) + 1.0  # no cancellation: a / b stays tame
    c = (a * y).max(axis=-1, keepdims=True) if kind & 2 else a.min(axis=-1, keepdims=True)
    d = np.argmax(a, axis=-1)[:, None] if kind & 4 else (a * a).sum(axis=-1, keepdims=True)
    return a / b + c - d


@settings(max_examples=25, deadline=None)
@given(kind=st.integers(0, 7), rows=st.integers(1, 9), cols=st.integers(1, 70),
       dtype=st.sampled_from([np.float32, np.float64]), seed=st.integers(0, 2**16))
def test_shared_loops_equal_numpy(kind, rows, cols, dtype, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((rows, cols)).astype(dtype)
    y = rng.standard_normal((rows, cols)).astype(dtype)
    if rows * cols > 3:
        x.flat[seed % x.size] = np.nan if seed % 5 == 0 else x.flat[seed % x.size]

    def fn(x, y):
        return _program(kind, x, y)

    dynajit.reset()
    got = dynajit.compile(fn)(x, y)
    tol = (1e-5 if dtype == np.float32 else 1e-12) * cols  # sums of up to cols terms
    np.testing.assert_allclose(got, fn(x, y), rtol=tol, atol=tol)
