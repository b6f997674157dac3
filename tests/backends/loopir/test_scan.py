"""Cumulative sums and products as loops (a ``Scan`` stage carrying the running value):
equal to NumPy bit for bit (both accumulate first to last) on random shapes, axes and dtypes,
fused with what produces their input, and never an extern on the llvm target."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import dynajit
from dynajit.backends.loopir.scheduler import CallStep, KernelStep
from tests.backends.loopir.test_scheduler import schedule_of

pytestmark = pytest.mark.backends


@st.composite
def scan_cases(draw):
    ndim = draw(st.integers(1, 3))
    shape = tuple(draw(st.lists(st.integers(0, 6), min_size=ndim, max_size=ndim)))
    axis = draw(st.sampled_from([None, *range(-ndim, ndim)]))
    dtype = draw(st.sampled_from([np.float32, np.float64, np.int8, np.int32, np.int64,
                                  np.uint16, np.bool_]))
    acc = draw(st.sampled_from([None, np.float64, np.int64, np.float32]))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    x = (rng.standard_normal(shape) * 4).astype(dtype)
    name = draw(st.sampled_from(["cumsum", "cumprod"]))
    return x, axis, acc, name


@pytest.mark.parametrize("backend", ["llvm", "loopir"])
@settings(max_examples=50, deadline=None)
@given(case=scan_cases())
def test_scan_equals_numpy_bit_for_bit(backend, case):
    x, axis, acc, name = case
    fn = getattr(np, name)

    def f(x):
        return fn(x * 1, axis=axis, dtype=acc)

    dynajit.reset()
    got = dynajit.compile(f, backend=backend)(x)
    with np.errstate(all="ignore"):
        expected = f(x)
    assert got.dtype == expected.dtype and got.shape == expected.shape
    np.testing.assert_array_equal(got, expected)


def test_scan_reads_its_producer_inline_and_is_no_extern():
    x = np.linspace(-1, 1, 40).reshape(4, 10)

    def f(x):
        return np.cumsum(np.exp(x) * 2, axis=1) + x

    sched = schedule_of(f, x)
    assert not [s for s in sched.steps if isinstance(s, CallStep)]
    assert sum(isinstance(s, KernelStep) for s in sched.steps) == 2  # the scan, the sum
    dynajit.reset()
    # exp differs from NumPy's in the last bit for some inputs; the sums follow
    np.testing.assert_allclose(dynajit.compile(f, backend="llvm")(x), f(x), rtol=1e-14)


def test_large_scan_along_rows_runs_threads_with_equal_results():
    x = np.random.default_rng(4).standard_normal((2000, 700))
    with dynajit.config.patch(threads=2):
        dynajit.reset()
        got = dynajit.compile(lambda x: np.cumsum(x * 3, axis=1), backend="llvm")(x)
    np.testing.assert_array_equal(got, np.cumsum(x * 3, axis=1))
