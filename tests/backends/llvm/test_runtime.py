"""The llvm backend end to end: vector code in the optimized kernels, one compile per kernel
structure, the on-disk cache (new processes, corrupt entries, concurrent writers), threads,
unusual layouts, aliasing of returned views, and NumPy's error state."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

import dynajit
from dynajit.backends.llvm import LLVMTarget
from dynajit.backends.llvm.codegen import build_kernel
from dynajit.backends.llvm.jit import get_jit
from dynajit.backends.loopir.scheduler import KernelStep, schedule
from tests.ops.harness import assert_same

REPO = Path(__file__).resolve().parents[3]


def kernel_sources(fn, *args):
    captured = []

    def backend(gm, example_inputs):
        sched = schedule(gm.graph, example_inputs, LLVMTarget())
        jit = get_jit()
        captured.extend(build_kernel(s.kernel, jit.triple, str(jit.target_machine.target_data))
                        for s in sched.steps if isinstance(s, KernelStep))
        return gm.forward

    dynajit.reset()
    dynajit.compile(fn, backend=backend)(*args)
    return captured


def vector_ops(ir_text: str) -> bool:
    return any(f"<{w} x float>" in ir_text or f"<{w} x double>" in ir_text
               for w in (4, 8, 16))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_main_kernels_are_vectorized(dtype):
    def axpy_relu(a, x, y):
        return np.maximum(a * x + y, 0)

    def row_sum(x):
        return x.sum(axis=-1)

    def row_max_min(x):  # nan-propagating max/min vectorize too (softmax's first pass)
        return x.max(axis=-1), x.min(axis=-1)

    jit = get_jit()
    for fn, args in ((axpy_relu, (2.0, np.ones(64, dtype), np.ones(64, dtype))),
                     (row_sum, (np.ones((8, 64), dtype),)),
                     (row_max_min, (np.ones((8, 64), dtype),))):
        for source in kernel_sources(fn, *args):
            assert vector_ops(jit.optimized_ir(source.ir_text)), fn.__name__


def test_one_compile_serves_every_shape_and_constant():
    @dynajit.compile(backend="llvm")
    def f(x, y):
        return x * y + 1.5

    jit = get_jit()
    f(np.ones(3), np.ones(3))
    before = jit.stats["compiled"] + jit.stats["disk_hits"]
    for n in (5, 17, 1000):
        out = f(np.arange(n, dtype=np.float64), np.full(n, 2.0))
        assert_same(out, np.arange(n, dtype=np.float64) * 2.0 + 1.5)
    assert jit.stats["compiled"] + jit.stats["disk_hits"] == before


def _run(code: str, cache: Path) -> str:
    env = {**os.environ, "DYNAJIT_CACHE_DIR": str(cache), "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


_PROGRAM = """
    import numpy as np, dynajit
    from dynajit.backends.llvm.jit import get_jit
    @dynajit.compile(backend="llvm")
    def f(x):
        return np.sqrt(np.abs(x * 3.0 - 1.0)).sum(axis=0) + x.max()
    x = np.linspace(-2, 2, 60).reshape(6, 10)
    expected = np.sqrt(np.abs(x * 3.0 - 1.0)).sum(axis=0) + x.max()
    assert np.allclose(f(x), expected)
    s = get_jit().stats
    print(s["compiled"], s["disk_hits"])
"""


def test_a_new_process_loads_kernels_from_the_disk_cache(tmp_path):
    compiled, hits = map(int, _run(_PROGRAM, tmp_path).split())
    assert compiled > 0 and hits == 0
    compiled, hits = map(int, _run(_PROGRAM, tmp_path).split())
    assert compiled == 0 and hits > 0


def test_a_corrupt_cache_entry_is_rebuilt(tmp_path):
    _run(_PROGRAM, tmp_path)
    entries = list(tmp_path.rglob("*.o"))
    assert entries
    for path in entries:
        data = bytearray(path.read_bytes())
        data[-10] ^= 0xFF
        path.write_bytes(bytes(data))
    compiled, hits = map(int, _run(_PROGRAM, tmp_path).split())
    assert compiled == len(entries) and hits == 0
    compiled, hits = map(int, _run(_PROGRAM, tmp_path).split())
    assert compiled == 0


def test_concurrent_processes_share_one_cache(tmp_path):
    env = {**os.environ, "DYNAJIT_CACHE_DIR": str(tmp_path), "PYTHONPATH": str(REPO)}
    procs = [subprocess.Popen([sys.executable, "-c", textwrap.dedent(_PROGRAM)], env=env,
                              cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for _ in range(3)]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err.decode()
    assert not list(tmp_path.rglob(".tmp-*"))  # no half-written entry left behind
    compiled, hits = map(int, _run(_PROGRAM, tmp_path).split())
    assert compiled == 0


def test_threads_split_large_kernels_with_equal_results():
    x = np.random.default_rng(0).standard_normal((1100, 1000))  # above PARALLEL_WORK

    def f(x):
        return np.tanh(x) * 2 + x.T.T, (x * x).sum(axis=1)

    with dynajit.config.patch(threads=2):
        dynajit.reset()
        got = dynajit.compile(f, backend="llvm")(x)
    with dynajit.config.patch(threads=1):
        dynajit.reset()
        one = dynajit.compile(f, backend="llvm")(x)
    expected = f(x)
    np.testing.assert_allclose(got[0], expected[0], rtol=1e-15, atol=1e-15)
    np.testing.assert_allclose(got[1], expected[1], rtol=1e-12)
    np.testing.assert_array_equal(got[0], one[0])


def _parallel_kernel(threads):
    x = np.random.default_rng(1).standard_normal((1100, 1000)).astype(np.float32)

    def f(x):
        return np.sin(x) * 3 - x

    with dynajit.config.patch(threads=threads):
        compiled = dynajit.compile(f, backend="llvm")
        return x, f, compiled


@pytest.mark.parametrize("counts", [(2, 4, 3, 1, 2)])
def test_thread_pool_grows_and_shrinks_between_launches(counts):
    for threads in counts:
        dynajit.reset()
        x, f, compiled = _parallel_kernel(threads)
        with dynajit.config.patch(threads=threads):
            for _ in range(3):
                np.testing.assert_allclose(compiled(x), f(x), rtol=2e-6, atol=2e-6)


def test_python_threads_launching_at_once_each_get_whole_results():
    import threading

    dynajit.reset()
    x, f, compiled = _parallel_kernel(2)
    expected = f(x)
    errors = []

    def worker():
        with dynajit.config.patch(threads=2):
            for _ in range(10):
                if not np.allclose(compiled(x), expected, rtol=2e-6, atol=2e-6):
                    errors.append(1)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_forked_child_runs_parallel_kernels_without_the_parents_workers():
    import warnings

    dynajit.reset()
    x, f, compiled = _parallel_kernel(2)
    with dynajit.config.patch(threads=2):
        compiled(x)  # the parent's pool has its worker now
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # fork with threads alive
            pid = os.fork()
        if pid == 0:  # pragma: no cover - the child's result is its exit status
            ok = np.allclose(compiled(x), f(x), rtol=2e-6, atol=2e-6)
            os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


def test_launch_rows_rejects_malformed_steps_without_running():
    from dynajit.backends.llvm import _launch

    with pytest.raises(TypeError, match="launch_rows"):
        _launch.launch_rows(((1, 2),), 4, 1, 1)
    with pytest.raises(TypeError, match="launch_rows"):
        _launch.launch_rows([], 4, 1, 1)


def test_unaligned_and_scalar_inputs():
    raw = np.zeros(8 * 5 + 1, np.uint8)
    x = raw[1:].view(np.float64)  # unaligned
    x[:] = np.arange(5.0)
    s = np.float32(2.5)

    @dynajit.compile(backend="llvm")
    def f(x, s):
        return x * s + 1

    assert not x.flags.aligned
    assert_same(f(x, s), x * s + 1)


def test_returned_views_alias_their_input_as_in_numpy():
    @dynajit.compile(backend="llvm")
    def f(x):
        return x.T, x[1:, ::2], x + 1

    x = np.ones((3, 4))
    t, s, y = f(x)
    assert np.shares_memory(t, x) and np.shares_memory(s, x) and not np.shares_memory(y, x)
    assert t.strides == x.T.strides


def test_errstate_raise_gives_numpys_floating_point_error():
    @dynajit.compile(backend="llvm")
    def f(x):
        return np.log(x)

    x = np.array([0.0, 1.0])
    assert_same(f(x), np.log(x))
    with np.errstate(divide="raise"), pytest.raises(FloatingPointError):
        f(x)
    assert_same(f(x), np.log(x))


_UNARY = ["negative", "absolute", "exp", "tanh", "sqrt_abs", "square", "sin"]


@settings(max_examples=25, deadline=None)
@given(ops=st.lists(st.sampled_from(_UNARY), min_size=1, max_size=6),
       rows=st.integers(1, 9), cols=st.integers(1, 40), axis=st.sampled_from([None, 0, 1]),
       dtype=st.sampled_from([np.float32, np.float64]), transpose=st.booleans(),
       seed=st.integers(0, 2**16))
@example(ops=["negative", "exp", "exp", "exp", "sin"], rows=1, cols=3, axis=None,
         dtype=np.float32, transpose=False, seed=0)  # sin(5e8) before the clip
def test_random_fused_programs_equal_numpy(ops, rows, cols, axis, dtype, transpose, seed):
    """Random pointwise chains over a (possibly transposed) input, followed by a reduction
    that reads the chain: the fused kernels equal NumPy's op-by-op result. Each step clips to
    [-30, 30]: unclipped, exp(exp(exp(x))) reaches 5e8, where one ulp of an exp (32) makes a
    following sin a different number for NumPy and for us, both within their bounds."""
    def program(x, y):
        v = x.T if transpose else x
        for name in ops:
            v = np.sqrt(np.abs(v)) if name == "sqrt_abs" else getattr(np, name)(v)
            v = np.clip(v, -30.0, 30.0)
            v = v * 0.5 + y[: v.shape[-1]] if v.shape[-1] <= y.shape[0] else v
        return v, v.sum(axis=axis), np.maximum(v, 0.25).max(axis=axis)

    rng = np.random.default_rng(seed)
    x = rng.uniform(-2, 2, (rows, cols)).astype(dtype)
    y = rng.uniform(-1, 1, max(rows, cols)).astype(dtype)
    dynajit.reset()
    got = dynajit.compile(program, backend="llvm")(x, y)
    expected = program(x, y)
    rtol = 2e-5 if dtype == np.float32 else 1e-12
    for g, e in zip(got, expected, strict=True):
        assert type(g) is type(e) and g.dtype == e.dtype and np.shape(g) == np.shape(e)
        np.testing.assert_allclose(g, e, rtol=rtol, atol=rtol * max(rows, cols))


def test_schedule_kernels_and_wrapper_are_trace_records(tmp_path):
    from tests.trace.tracelog import read_trace

    def softmax(x):
        e = np.exp(x - x.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)

    dynajit.reset()
    with dynajit.config.patch(trace_dir=str(tmp_path), cache_dir=""):
        dynajit.compile(softmax, backend="llvm")(np.ones((4, 8), np.float32))
    entries = read_trace(tmp_path)
    artifacts = {e.meta["name"]: e.payload for e in entries if e.kind == "artifact"}
    assert "kernel1: loops (4,)" in artifacts["dynajit_schedule"]
    assert "_launch(_kernel1" in artifacts["dynajit_output_code"]
    decisions = [e for e in entries if e.kind == "dynajit_schedule_decisions"]
    assert decisions and '"fuse"' in decisions[0].payload


def test_a_warm_process_skips_building_ir_for_kernels_it_has_seen(tmp_path):
    program = textwrap.dedent(_PROGRAM) + textwrap.dedent("""
        from dynajit.backends.llvm import codegen
        built = []
        original = codegen.build_kernel
        codegen_build = lambda *a, **k: built.append(1) or original(*a, **k)
        import dynajit.backends.llvm.runtime as rt
        rt.build_kernel = codegen_build
        dynajit.reset()
        @dynajit.compile(backend="llvm")
        def g(x):
            return np.sqrt(np.abs(x * 3.0 - 1.0)).sum(axis=0) + x.max()
        g(x)
        print(len(built))
    """)
    _run(_PROGRAM, tmp_path)
    lines = _run(program, tmp_path).split()
    assert lines[-1] == "0"  # same kernels: no IR built, loaded through their signatures


def test_float32_sin_cos_rerun_past_the_short_reduction_equal_numpy():
    """A float32 sin/cos argument past the short float32 reduction (2**17) reruns the chunk
    with the full reduction; past 2**51 with the C library. Every tier gives NumPy's result
    within the ulp bound, whichever element of the chunk triggered the rerun."""
    rng = np.random.default_rng(5)
    base = rng.uniform(-6, 6, 4096).astype(np.float32)
    cases = [base, np.concatenate([base, [np.float32(3e5)]]),
             np.concatenate([base, [np.float32(1e6), np.float32(-4e4)]]),
             np.concatenate([base, [np.float32(1e20)]])]

    def f(a):
        return np.sin(a) * 2 - np.cos(a)

    dynajit.reset()
    compiled = dynajit.compile(f, backend="llvm")
    for x in cases:
        np.testing.assert_allclose(compiled(x), f(x), rtol=1e-6, atol=3e-7)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sin_cos_tan_of_huge_arguments_equal_numpy(dtype):
    """Past the polynomials' reduction range (2**51) the kernel reruns with the C library."""
    x = np.array([0.5, 1e20, 3.0, 2.5e15, -1e30, np.inf, np.nan, 7e14], dtype)

    def f(a):
        return np.sin(a) + 2 * np.cos(a), np.tan(a)

    dynajit.reset()
    got = dynajit.compile(f, backend="llvm")(x)
    with np.errstate(invalid="ignore"):
        expected = f(x)
    for g, e in zip(got, expected, strict=True):
        np.testing.assert_allclose(g, e, rtol=4 * np.finfo(dtype).eps, equal_nan=True)


def test_wrapper_deletes_temporaries_after_last_use_never_outputs(wrappers):
    made = wrappers

    def f(x, w):
        h = np.tanh(x @ w)
        e = np.exp(h - h.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True), h @ w

    x = np.random.default_rng(0).standard_normal((300, 300))
    dynajit.reset()
    got = dynajit.compile(f, backend="llvm")(x, x)
    source = made[-1].source
    returned = source.rsplit("return", 1)[1]
    deleted = {n.strip() for line in source.splitlines() if line.strip().startswith("del ")
               for n in line.strip()[4:].split(",")}
    assert deleted and not deleted & set(re.findall(r"\w+", returned))
    for g, e in zip(got, f(x, x), strict=True):
        np.testing.assert_allclose(g, e, rtol=1e-12, atol=1e-12)
