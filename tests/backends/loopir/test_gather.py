"""Gathers as loops: ``np.take`` (every mode, axis None or an axis) and NumPy's advanced
indexing (integer arrays mixed with integers, slices, None and Ellipsis) become kernels that
load at computed addresses; results equal NumPy's on random shapes, index layouts, dtypes and
signs; out-of-bounds indices raise NumPy's IndexError and leave the compiled function usable;
a gather is never taken as row-local."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import dynajit
from dynajit.backends.loopir import blocking
from dynajit.backends.loopir.scheduler import CallStep, KernelStep
from tests.backends.loopir.test_scheduler import schedule_of

pytestmark = pytest.mark.backends

BACKENDS = ["llvm", "loopir"]


def externs(sched):
    return [s.label for s in sched.steps if isinstance(s, CallStep)]


@st.composite
def take_cases(draw):
    ndim = draw(st.integers(1, 3))
    shape = tuple(draw(st.lists(st.integers(1, 5), min_size=ndim, max_size=ndim)))
    axis = draw(st.sampled_from([None, *range(ndim)]))
    size = int(np.prod(shape)) if axis is None else shape[axis]
    mode = draw(st.sampled_from(["raise", "wrap", "clip"]))
    ishape = tuple(draw(st.lists(st.integers(0, 4), min_size=0, max_size=2)))
    idtype = draw(st.sampled_from([np.int64, np.int32, np.int16, np.uint8]))
    lo, hi = (-size, size - 1) if mode == "raise" else (-3 * size, 3 * size)
    if np.dtype(idtype).kind == "u":
        lo = 0
    lo, hi = max(lo, np.iinfo(idtype).min), min(hi, np.iinfo(idtype).max)
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    idx = rng.integers(lo, hi, size=ishape, endpoint=True).astype(idtype)
    dtype = draw(st.sampled_from([np.float32, np.float64, np.int32, np.bool_]))
    x = (rng.standard_normal(shape) * 10).astype(dtype)
    return x, idx, axis, mode


@pytest.mark.parametrize("backend", BACKENDS)
@settings(max_examples=40, deadline=None)
@given(case=take_cases())
def test_take_equals_numpy(backend, case):
    x, idx, axis, mode = case

    def f(x, i):
        return np.take(x, i, axis=axis, mode=mode)

    dynajit.reset()
    got = dynajit.compile(f, backend=backend)(x, idx)
    expected = f(x, idx)
    assert got.dtype == expected.dtype and got.shape == expected.shape
    np.testing.assert_array_equal(got, expected)


def test_take_and_arithmetic_fuse_into_one_kernel_without_extern():
    x = np.arange(30.0).reshape(5, 6)
    idx = np.array([4, -1, 0])

    def f(x, i):
        return np.take(x, i, axis=0) * 2 + 1

    sched = schedule_of(f, x, idx)
    assert "take" not in externs(sched) and "index bounds" in externs(sched)
    assert sum(isinstance(s, KernelStep) for s in sched.steps) == 1


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("index", ["x[i]", "x[:, i]", "x[..., i]", "x[i, ...]"])
def test_single_array_index_equals_numpy(backend, index):
    x = np.random.default_rng(1).standard_normal((5, 4, 3))
    i = np.array([[2, -1], [0, 1]])
    f = eval(f"lambda x, i: {index} * 3")  # noqa: S307 - a fixed list of index forms
    dynajit.reset()
    got = dynajit.compile(f, backend=backend)(x, i)
    np.testing.assert_array_equal(got, f(x, i))
    assert "gather" not in externs(schedule_of(f, x, i))


@st.composite
def advanced_index_cases(draw):
    """x, the index as source text over arguments a0.., and those index arrays: every dim
    gets a slice (any start, stop, step), an integer or an array (shapes that broadcast to
    one shape); None and Ellipsis appear too; at least one array."""
    ndim = draw(st.integers(1, 4))
    shape = tuple(draw(st.lists(st.integers(1, 5), min_size=ndim, max_size=ndim)))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    b_shape = tuple(draw(st.lists(st.integers(0, 3), min_size=0, max_size=2)))
    kinds = draw(st.lists(st.sampled_from(["slice", "int", "array"]), min_size=ndim,
                          max_size=ndim).filter(lambda k: "array" in k))
    parts, arrays = [], []
    for size, kind in zip(shape, kinds, strict=True):
        if kind == "slice":
            start, stop = draw(st.integers(-size - 1, size)), draw(st.integers(-size - 1, size))
            step = draw(st.sampled_from([1, 1, 2, -1, -2]))
            parts.append(f"{start}:{stop}:{step}")
        elif kind == "int":
            parts.append(str(draw(st.integers(-size, size - 1))))
        else:
            ashape = tuple(d if draw(st.booleans()) else 1 for d in b_shape)
            ashape = ashape[draw(st.integers(0, len(ashape))):]
            dtype = draw(st.sampled_from([np.int64, np.int32, np.uint8]))
            lo = 0 if np.dtype(dtype).kind == "u" else -size
            arrays.append(rng.integers(lo, size, size=ashape).astype(dtype))
            parts.append(f"a{len(arrays) - 1}")
    if draw(st.booleans()):
        parts.insert(draw(st.integers(0, len(parts))), "None")
    if draw(st.booleans()) and parts[-1].count(":") == 2:
        parts[-1] = "..."  # the last dim as the Ellipsis's (a full slice)
    x = (rng.standard_normal(shape) * 10).astype(draw(st.sampled_from([np.float64, np.int32])))
    return x, ", ".join(parts), arrays


@pytest.mark.parametrize("backend", BACKENDS)
@settings(max_examples=60, deadline=None)
@given(case=advanced_index_cases())
def test_advanced_index_equals_numpy(backend, case):
    x, index, arrays = case
    names = ", ".join(f"a{k}" for k in range(len(arrays)))
    f = eval(f"lambda x, {names}: x[{index}] * 2")  # noqa: S307 - generated index text
    want = f(x, *arrays)
    dynajit.reset()
    got = dynajit.compile(f, backend=backend)(x, *arrays)
    assert got.shape == want.shape and got.dtype == want.dtype, index
    np.testing.assert_array_equal(got, want)
    assert "gather" not in externs(schedule_of(f, x, *arrays)), index


@pytest.mark.parametrize("call", ["x[i, j]", "x[j, 1:, i]", "x[2, j]"])
def test_out_of_bounds_in_any_index_array_raises_numpys_error(call):
    f = eval(f"lambda x, i, j: {call} - 1")  # noqa: S307 - a fixed list of calls
    x = np.arange(60.0).reshape(3, 4, 5)
    good_i, good_j = np.array([0, -1]), np.array([[1], [-2]])
    dynajit.reset()
    compiled = dynajit.compile(f, backend="llvm")
    raised = 0
    for i, j in ((np.array([0, 7]), good_j), (good_i, np.array([[1], [-9]]))):
        try:
            want = f(x, i, j)
        except IndexError as theirs:
            raised += 1
            with pytest.raises(IndexError) as ours:
                compiled(x, i, j)
            assert str(ours.value).splitlines()[0] == str(theirs)
        else:  # the bad array is not in this index
            np.testing.assert_array_equal(compiled(x, i, j), want)
    assert raised
    np.testing.assert_array_equal(compiled(x, good_i, good_j), f(x, good_i, good_j))


@pytest.mark.parametrize("call", ["np.take(x, i, axis=1)", "x[:, i]", "np.take(x, i)"])
def test_out_of_bounds_raises_numpys_error_and_next_call_works(call):
    f = eval(f"lambda x, i: {call} + 1")  # noqa: S307 - a fixed list of calls
    x = np.arange(12.0).reshape(3, 4)
    good = np.array([0, -2, 3])
    dynajit.reset()
    compiled = dynajit.compile(f, backend="llvm")
    np.testing.assert_array_equal(compiled(x, good), f(x, good))
    bad = np.array([0, 99, -99])
    with pytest.raises(IndexError) as ours:
        compiled(x, bad)
    with pytest.raises(IndexError) as theirs:
        f(x, bad)
    assert str(ours.value).splitlines()[0] == str(theirs.value)
    np.testing.assert_array_equal(compiled(x, good), f(x, good))


def test_index_array_checked_even_when_the_result_is_empty():
    """Advanced indexing checks every index (np.take only those it visits)."""
    f = lambda x, i: x[:, i]  # noqa: E731
    x, i = np.zeros((0, 3)), np.array([5])
    dynajit.reset()
    with pytest.raises(IndexError, match="index 5 is out of bounds for axis 1 with size 3"):
        dynajit.compile(f, backend="llvm")(x, i)
    np.testing.assert_array_equal(
        dynajit.compile(lambda x, i: np.take(x, i, axis=1), backend="llvm")(x, i),
        np.take(x, i, axis=1))


@pytest.mark.parametrize("rows", [8, 40])
def test_gather_from_a_produced_buffer_is_not_row_blocked(monkeypatch, rows):
    monkeypatch.setattr(blocking, "SHARED_BYTES", 0)
    monkeypatch.setattr(blocking, "BLOCK_BYTES", 1)
    x = np.random.default_rng(2).standard_normal((rows, 5))
    perm = np.random.default_rng(3).permutation(rows)

    def f(x, p):
        y = np.exp(x) + x  # stored: the gather reads it at rows chosen by data
        return np.take(y, p, axis=0) * y

    dynajit.reset()
    got = dynajit.compile(f, backend="llvm")(x, perm)
    np.testing.assert_allclose(got, f(x, perm), rtol=1e-14)
