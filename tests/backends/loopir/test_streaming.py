"""Streaming stores: which stages may store past the cache (large, memory-bound, nothing in
the kernel reads their buffer afterwards), the x86 code they get (aligned non-temporal
stores, a fence), and results equal to NumPy when every eligible stage streams, on random
shapes, dtypes, offsets and strides (the copy-out's partial lines at both ends)."""

from __future__ import annotations

import platform
import re

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

import dynajit
from dynajit.backends.llvm.codegen import build_kernel
from dynajit.backends.llvm.jit import get_jit
from dynajit.backends.loopir import streaming
from tests.backends.loopir.test_scheduler import kernels, schedule_of
from tests.backends.loopir.test_sharing import layernorm, softmax

pytestmark = pytest.mark.backends
x86 = pytest.mark.skipif(platform.machine().lower() not in ("x86_64", "amd64"),
                         reason="non-temporal stores are emitted on x86 only")


@pytest.fixture
def stream_everything(monkeypatch):
    """Every eligible stage streams, whatever its size; kernels are compiled afresh."""
    monkeypatch.setattr(streaming, "STREAM_BYTES", 0)
    with dynajit.config.patch(cache_dir=""):
        dynajit.reset()
        yield
        dynajit.reset()


def streams(fn, *args):
    return [[s.streams for s in k.stages] for k in kernels(schedule_of(fn, *args))]


def stencil(u):
    return u[1:-1, 1:-1] + u[:-2, 1:-1] + u[2:, 1:-1] + u[1:-1, :-2] + u[1:-1, 2:]


def test_small_kernels_do_not_stream():
    x = np.ones(1000, np.float32)
    assert streams(lambda a: a * 2 + 1, x) == [[False]]


def test_which_stages_stream(stream_everything):
    x = np.ones((8, 256), np.float32)
    assert streams(lambda a: a * 2 + 1, x) == [[True]]
    # compute-bound: a transcendental
    assert streams(lambda a: np.tanh(a) + 1, x) == [[False]]
    # layernorm's last stage streams, its reductions do not
    assert streams(layernorm, x) == [[False, False, True]]
    # softmax: the sum reads the exponentials' buffer after they are stored, and the division
    # writes in place over a row an earlier stage stored (its lines are in cache)
    assert streams(softmax, x) == [[False, False, False, False]]
    # a stencil (one buffer read at five places) measured slower streamed
    assert streams(stencil, x) == [[False]]


def test_decision_is_recorded(stream_everything):
    sched = schedule_of(lambda a: a * 2 + 1, np.ones(64, np.float32))
    (decision,) = [d for d in sched.decisions if "stream_stores" in d]
    assert decision["bytes"] == 64 * 4


@x86
def test_streamed_kernel_uses_aligned_nontemporal_stores_and_a_fence(stream_everything):
    (kernel,) = kernels(schedule_of(lambda a: a * 2 + 1, np.ones(4096, np.float32)))
    jit = get_jit()
    source = build_kernel(kernel, jit.triple, str(jit.target_machine.target_data))
    asm = jit.assembly(source.ir_text)
    assert re.search(r"vmovntps|vmovntdq|movntps|movntdq", asm)
    assert "sfence" in asm
    # no call in the kernel: a call would clobber the loop's vector registers
    assert not re.search(r"\bcall", asm)


def test_stack_block_sits_half_a_page_from_the_output(stream_everything):
    """A block at the output's page offset (address bits 0-11) makes every load of an input
    at that offset wait for the block's stores (4K aliasing): the block's address is the
    output element's plus half a page, modulo a page, from a stack area a page larger."""
    (kernel,) = kernels(schedule_of(lambda a: a * 2 + 1, np.ones(4096, np.float32)))
    jit = get_jit()
    text = build_kernel(kernel, jit.triple, str(jit.target_machine.target_data)).ir_text
    assert re.search(r"alloca float, i64 2048, align 64", text)  # 1024 + a page of floats
    assert re.search(r"add i64 %\S+, 2048\n", text)
    assert re.search(r"and i64 %\S+, 4095\n", text)


@settings(max_examples=40, deadline=None)
@given(rows=st.integers(1, 5), cols=st.integers(1, 700), lo=st.integers(0, 5),
       step=st.sampled_from([1, 1, 2, -1]),
       dtype=st.sampled_from(["float32", "float64", "int8", "int16", "int64", "bool"]),
       transpose=st.booleans())
@example(rows=3, cols=700, lo=1, step=1, dtype="float32", transpose=False)
def test_streamed_results_equal_numpy(rows, cols, lo, step, dtype, transpose):
    """Strides, offsets and lengths that put the copy-out's ends anywhere in a cache line;
    two outputs of one loop; outputs that are not contiguous (those do not stream)."""
    rng = np.random.default_rng(rows * 1000 + cols)
    x = (rng.standard_normal((rows, cols + lo)) * 50).astype(dtype)
    y = (rng.standard_normal((rows, cols + lo)) * 50).astype(dtype)

    def f(a, b):
        a = a[:, lo:][:, ::step]
        b = b[:, lo:][:, ::step]
        if transpose:
            a = a.T
        s = a + (b.T if transpose else b)
        return s, s * s

    old = streaming.STREAM_BYTES
    streaming.STREAM_BYTES = 0
    try:
        with dynajit.config.patch(cache_dir=""):
            dynajit.reset()
            got = dynajit.compile(f, backend="llvm")(x, y)
    finally:
        streaming.STREAM_BYTES = old
        dynajit.reset()
    with np.errstate(all="ignore"):
        want = f(x, y)
    for g, w in zip(got, want, strict=True):
        assert g.dtype == w.dtype and g.shape == w.shape
        np.testing.assert_array_equal(g, w)
