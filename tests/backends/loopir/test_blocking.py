"""Row blocking: which runs of steps are blocked (GEMM chains, stencils writing their own
rows), which are not (a step reading another row of a buffer the run makes), and blocked
results equal to NumPy on random shapes, row shifts and block sizes."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import dynajit
from dynajit.backends.loopir import blocking
from dynajit.backends.loopir.blocking import RowBlocks, _row_offset
from dynajit.backends.loopir.ir import Ix
from tests.backends.loopir.test_scheduler import schedule_of

pytestmark = pytest.mark.backends


@pytest.fixture
def small_blocks(monkeypatch):
    """Block small arrays too: any shared size, blocks of about 8 rows."""
    monkeypatch.setattr(blocking, "SHARED_BYTES", 0)
    monkeypatch.setattr(blocking, "BLOCK_BYTES", 1)
    monkeypatch.setattr(blocking, "GEMM_ROWS", 8)


def blocks_in(sched):
    return [s for s in sched.steps if isinstance(s, RowBlocks)]


def mlp(x, w1, b1, w2, b2):
    h = np.maximum(x @ w1 + b1, 0.0)
    return np.tanh(h @ w2 + b2) * 2


def stencil(u):
    out = u.copy()
    out[1:-1, 1:-1] = u[1:-1, 1:-1] + 0.1 * (u[:-2, 1:-1] + u[2:, 1:-1] - 2 * u[1:-1, 1:-1])
    return out


def test_row_offset_of_flat_indices():
    x0, x1 = Ix.var("x0"), Ix.var("x1")
    extents = {"x0": 10, "x1": 8}
    assert _row_offset(x0 * 10 + x1, 10, extents) == 0
    assert _row_offset(x0 * 10 + x1 + 11, 10, extents) == 1  # out[1:, 1:]
    assert _row_offset(x0 * 10 + x1 + 3, 10, extents) is None  # spills into the next row
    assert _row_offset(x0 * 20 + x1, 10, extents) is None  # every other row
    assert _row_offset(x1, 10, extents) is None  # no row variable


def test_gemm_chain_and_stencil_are_blocked(small_blocks):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 16))
    args = (x, rng.standard_normal((16, 16)), rng.standard_normal(16),
            rng.standard_normal((16, 16)), rng.standard_normal(16))
    (blocks,) = blocks_in(schedule_of(mlp, *args))
    assert blocks.rows == 64 and len(blocks.steps) == 4
    (blocks,) = blocks_in(schedule_of(stencil, rng.standard_normal((40, 30))))
    # the border copies (top row, bottom row, left and right columns), then the interior
    assert [s.row_offset for s in blocks.steps] == [0, 39, 1, 1, 1]


def test_steps_sharing_only_a_border_are_not_blocked():
    """The stencil's border copies touch one row or column of what the interior writes:
    the second-largest toucher of each buffer decides, and that is a few KiB."""
    u = np.random.default_rng(4).standard_normal((3000, 1500))
    assert not blocks_in(schedule_of(stencil, u))
    assert blocks_in(schedule_of(lambda a: stencil(a) * np.exp(stencil(a)), u))


def test_reading_another_row_of_a_produced_buffer_is_not_blocked(small_blocks):
    def f(x):
        y = np.exp(x) * 2
        return y[1:] + y[:-1]

    assert not blocks_in(schedule_of(f, np.ones((64, 16))))


def test_large_gemm_chain_is_blocked_with_default_sizes():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((8192, 256)).astype(np.float32)
    args = (x, rng.standard_normal((256, 256)).astype(np.float32), np.ones(256, np.float32),
            rng.standard_normal((256, 256)).astype(np.float32), np.ones(256, np.float32))
    (blocks,) = blocks_in(schedule_of(mlp, *args))
    assert blocks.block == blocking.GEMM_ROWS
    assert not blocks_in(schedule_of(mlp, *(a[:1024] if a.ndim == 2 and a.shape[0] == 8192
                                            else a for a in args)))


@settings(max_examples=30, deadline=None)
@given(rows=st.integers(3, 70), cols=st.integers(1, 40), shift=st.sampled_from([-1, 0, 1]),
       block_bytes=st.integers(1, 4096), dtype=st.sampled_from([np.float32, np.float64]))
def test_blocked_results_equal_numpy(rows, cols, shift, block_bytes, dtype):
    rng = np.random.default_rng(rows * 100 + cols)
    x = rng.standard_normal((rows, cols)).astype(dtype)
    w = rng.standard_normal((cols, cols)).astype(dtype)

    def f(x, w):
        h = np.sin(x @ w) + 1
        g = h * x  # same row of a produced buffer
        if shift:  # another row of a produced buffer: must not be blocked across
            g = np.concatenate([g[-shift:], g[:-shift]])
        out = g.copy()
        out[1:-1] = g[1:-1] * 0.5 + x[1:-1]
        return out, h.sum(axis=1)

    saved = blocking.SHARED_BYTES, blocking.BLOCK_BYTES, blocking.GEMM_ROWS
    blocking.SHARED_BYTES, blocking.BLOCK_BYTES, blocking.GEMM_ROWS = 0, block_bytes, 1
    try:
        dynajit.reset()
        with dynajit.config.patch(raise_on_compile_error=True):
            got = dynajit.compile(f, backend="llvm")(x, w)
    finally:
        blocking.SHARED_BYTES, blocking.BLOCK_BYTES, blocking.GEMM_ROWS = saved
    expected = f(x, w)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    for g, e in zip(got, expected, strict=True):
        np.testing.assert_allclose(g, e, rtol=tol, atol=tol * cols)


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_stencil_blocked_over_threads_equals_numpy(monkeypatch, threads):
    """Blocks of the default size over a 1100x1000 float64 stencil (forced: its border copies
    share too little with the interior for the default rule); each thread walks its own
    rows."""
    monkeypatch.setattr(blocking, "SHARED_BYTES", 0)
    u = np.random.default_rng(2).standard_normal((1100, 1000))
    (blocks,) = blocks_in(schedule_of(stencil, u))
    with dynajit.config.patch(threads=threads):
        dynajit.reset()
        got = dynajit.compile(stencil, backend="llvm")(u)
    np.testing.assert_allclose(got, stencil(u), rtol=1e-15, atol=1e-15)


@pytest.mark.parametrize("threads", [1, 2])
def test_in_place_alias_read_at_other_rows_stops_the_blocked_run(small_blocks, threads):
    """Softmax-like rows written in place, then read reversed: the reversed reader must see
    every row done (review finding: blocking ignored the in-place alias)."""
    def f(x):
        e = np.exp(x - x.max(axis=1, keepdims=True))
        # costly enough to be stored (then written over e in place), no sin/cos/tan
        y = np.tanh(np.exp(np.log1p(np.expm1(e / e.sum(axis=1, keepdims=True)))))
        return y, y[::-1] * 2.0 + x

    x = np.random.default_rng(7).standard_normal((64, 16)).astype(np.float32)
    sched = schedule_of(f, x)
    assert any(d.get("in_place") for d in sched.decisions)
    with dynajit.config.patch(threads=threads):
        dynajit.reset()
        got = dynajit.compile(f, backend="llvm")(x)
    for g, e in zip(got, f(x), strict=True):
        np.testing.assert_allclose(g, e, rtol=1e-5, atol=1e-6)
