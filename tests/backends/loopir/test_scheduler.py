"""The loop IR and its scheduler: what gets fused, what is stored, what stays a view, what
runs as an extern; the printed form; and every handler implementing what lowerings emit."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import dynajit
from dynajit.backends.llvm import LLVMTarget, scalar_ops
from dynajit.backends.loopir import NumpyTarget
from dynajit.backends.loopir.handlers import (
    HANDLER_OPS,
    LOOP_UFUNCS,
    NumpyHandler,
    PrintHandler,
    kernel_text,
)
from dynajit.backends.loopir.scheduler import CallStep, KernelStep, describe, schedule

# ufuncs the CPU code generator leaves to NumPy, each with the reason.
LLVM_EXTERN_UFUNCS = {
    "spacing": "bit-level float neighbours: rare, NumPy's loop is exact",
    "nextafter": "bit-level float neighbours: rare, NumPy's loop is exact",
    "ldexp": "mixed (float, int) loop",
    "gcd": "integer loops with data-dependent trip counts",
    "lcm": "integer loops with data-dependent trip counts",
    "bitwise_count": "popcount of every integer width: rare",
}


def schedule_of(fn, *args, target=None):
    captured = []

    def backend(gm, example_inputs):
        captured.append(schedule(gm.graph, example_inputs, target or LLVMTarget()))
        return gm.forward

    dynajit.reset()  # entries are cached per code object, whichever backend made them
    dynajit.compile(fn, backend=backend)(*args)
    (sched,) = captured
    return sched


def kernels(sched):
    return [s.kernel for s in sched.steps if isinstance(s, KernelStep)]


def externs(sched):
    return [s.label for s in sched.steps if isinstance(s, CallStep)]


def test_every_handler_implements_every_op_lowerings_emit():
    for name in HANDLER_OPS:
        assert hasattr(PrintHandler(), name), name
        assert name in ("load", "constant", "cast", "where") or hasattr(
            NumpyHandler({}, {}), name), name
    missing = [n for n in LOOP_UFUNCS
               if n not in scalar_ops.UFUNCS and n not in LLVM_EXTERN_UFUNCS]
    assert not missing, f"ufuncs neither compiled nor listed as extern: {missing}"


def test_softmax_is_one_kernel_computing_exp_once_per_element():
    """The exponentials are stored by the row kernel (read by the row sum), the sum reads
    them from the row just written, and the division overwrites them in place."""
    def softmax(x):
        m = x.max(axis=-1, keepdims=True)
        e = np.exp(x - m)
        return e / e.sum(axis=-1, keepdims=True)

    sched = schedule_of(softmax, np.ones((8, 32), np.float32))
    (kernel,) = kernels(sched)
    assert kernel.outer == (8,)
    kinds = [getattr(st.value, "kind", "pointwise") for st in kernel.stages]
    assert kinds == ["max", "pointwise", "sum", "pointwise"]
    assert "exp(" in kernel_text(kernel) and kernel_text(kernel).count("exp(") == 1
    assert kernel.stages[1].out.name == kernel.stages[3].out.name  # in place
    assert any(d.get("fuse") for d in sched.decisions)
    assert any(d.get("in_place") for d in sched.decisions)
    assert externs(sched) == []


def test_in_place_store_only_by_the_last_reader():
    def f(x):
        e = np.exp(x - x.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True), e * 2  # e is read after the division

    x = np.random.default_rng(0).standard_normal((6, 16))
    sched = schedule_of(f, x)
    (decision,) = [d for d in sched.decisions if d.get("in_place")]
    assert decision["in_place"] == sched.outputs[1].name  # e * 2, not the division
    for backend in ("llvm", "loopir"):
        dynajit.reset()
        got = dynajit.compile(f, backend=backend)(x)
        for g, e in zip(got, f(x), strict=True):
            np.testing.assert_allclose(g, e, rtol=1e-14)


def _costly(x):
    return np.tanh(np.exp(np.log1p(np.exp(x))))  # stored: 4 transcendentals


def test_no_in_place_store_over_a_buffer_an_earlier_stage_reads_at_another_row():
    def f(x):
        d = _costly(x)
        s = d[::-1].sum(axis=1, keepdims=True)  # row R-1-i of d, read in row i
        return d * 2.0 + s

    x = np.random.default_rng(1).standard_normal((64, 16))
    assert not any(d.get("in_place") for d in schedule_of(f, x).decisions)
    dynajit.reset()
    np.testing.assert_allclose(dynajit.compile(f, backend="llvm")(x), f(x), rtol=1e-12)


def test_no_in_place_store_in_a_kernel_that_may_rerun():
    """sin past its fast range reruns the kernel's range, which reads its inputs again."""
    def f(x):
        d = _costly(x)
        return np.sin(d * np.float32(3e5)), d.sum()

    x = np.random.default_rng(2).standard_normal(1000).astype(np.float32) * 0.1
    assert not any(d.get("in_place") for d in schedule_of(f, x).decisions)
    dynajit.reset()
    got = dynajit.compile(f, backend="llvm")(x)
    d = dynajit.compile(_costly, backend="llvm")(x)  # the same d, so sin's argument agrees
    np.testing.assert_allclose(got[0], np.sin(d * np.float32(3e5)), atol=2e-6)


def test_layernorm_with_weight_and_bias_is_one_kernel():
    def layernorm(x, w, b):
        mu = x.mean(-1, keepdims=True)
        var = ((x - mu) ** 2).mean(-1, keepdims=True)
        return (x - mu) / np.sqrt(var + 1e-5) * w + b

    sched = schedule_of(layernorm, np.ones((4, 64)), np.ones(64), np.zeros(64))
    (kernel,) = kernels(sched)
    assert [getattr(st.value, "kind", "pw") for st in kernel.stages] == ["sum", "sum", "pw"]


def test_pointwise_chain_is_one_kernel_and_contiguous_dims_collapse():
    def gelu(x):
        return 0.5 * x * (1 + np.tanh(0.7978845608 * (x + 0.044715 * x**3)))

    sched = schedule_of(gelu, np.ones((16, 32), np.float32))
    (kernel,) = kernels(sched)
    from dynajit.backends.llvm.codegen import collapse

    sizes, _ = collapse(kernel)
    assert sizes == (512,)
    assert "power" not in kernel_text(kernel)  # x**3 became multiplies


def test_views_of_inputs_are_index_maps_without_copies():
    def f(x):
        return (x.T[::-1, 1:] * 2).sum(axis=0)

    x = np.ones((6, 5))[:, ::2]
    sched = schedule_of(f, x)
    assert externs(sched) == []
    text = kernel_text(kernels(sched)[0])
    assert "load(L_x" in text and "-" in text  # a reversed, strided read of x itself


def test_matmul_is_an_extern_step_and_its_epilogue_one_kernel():
    def mlp(x, w, b):
        return np.maximum(x @ w + b, 0.0)

    sched = schedule_of(mlp, np.ones((4, 8)), np.ones((8, 3)), np.ones(3))
    assert externs(sched) == ["matmul", "contiguous"]
    assert len(kernels(sched)) == 1
    assert any(d.get("extern") == "matmul" for d in sched.decisions)


def test_expensive_value_read_twice_is_stored_once_cheap_one_is_recomputed():
    def f(x):
        e = np.exp(np.sin(np.tanh(np.exp(x)))) * np.exp(np.cos(x)) + np.tanh(np.exp(x))
        return e + 1, e * 2

    sched = schedule_of(f, np.ones(10))
    assert any(d.get("reason", "").startswith("read by 2 ops") for d in sched.decisions)

    def g(x):
        y = x + 1
        return y * 2, y * 3

    assert not any("read by" in d.get("reason", "") for d in schedule_of(g, np.ones(10))
                   .decisions)


def test_printed_kernel_names_loads_stores_and_ops():
    def f(x, y):
        return x * y + 1

    sched = schedule_of(f, np.ones(4, np.float32), np.ones(4, np.float32))
    text = kernel_text(kernels(sched)[0])
    assert text.splitlines()[0].endswith("for x in (4,):")
    assert "multiply(" in text and "add(" in text and "constant(1.0, float32)" in text
    assert "buf" in describe(sched)


@pytest.mark.parametrize("target", [LLVMTarget(), NumpyTarget()], ids=["llvm", "numpy"])
def test_float16_and_complex_run_as_externs(target):
    def f(x):
        return x + x

    for dtype in (np.float16, np.complex64):
        sched = schedule_of(f, np.ones(3, dtype), target=target)
        assert externs(sched) == ["add"] and kernels(sched) == []


def _diffusion(u):
    out = u.copy()
    out[1:-1, 1:-1] = u[1:-1, 1:-1] + 0.1 * (
        u[:-2, 1:-1] + u[2:, 1:-1] + u[1:-1, :-2] + u[1:-1, 2:] - 4 * u[1:-1, 1:-1])
    return out


def test_stencil_setitem_copies_the_border_and_stores_the_interior_view():
    """The interior is written once: the copy of ``u`` covers only the box's complement
    (top and bottom rows, then the left and right columns between them)."""
    sched = schedule_of(_diffusion, np.ones((10, 8)))
    *border, store = kernels(sched)
    assert [k.outer for k in border] == [(1, 8), (1, 8), (8, 1), (8, 1)]
    assert [k.stages[0].out.offset for k in border] == [0, 72, 8, 15]
    assert store.outer == (8, 6)
    assert {k.stages[0].out.name for k in border} == {store.stages[0].out.name}
    assert store.stages[0].out.offset == 9 and store.stages[0].out.strides == (8, 1)
    assert externs(sched) == []


def test_setitem_with_a_strided_index_copies_everything_first():
    def f(u):
        out = u.copy()
        out[::2, 1:] = -u[::2, 1:]
        return out

    copy, store = kernels(schedule_of(f, np.ones((10, 8))))
    assert copy.outer == (10, 8) and store.outer == (5, 7)


@pytest.mark.backends
@settings(max_examples=40, deadline=None)
@given(shape=st.lists(st.integers(1, 5), min_size=1, max_size=3),
       data=st.data())
def test_setitem_into_a_copy_equals_numpy(shape, data):
    """Random basic indexes (unit-step boxes take the complement path, others the full
    copy) on both loop backends."""
    entries = []
    for n in shape:
        kind = data.draw(st.sampled_from(["slice", "int", "step"]))
        if kind == "int":
            entries.append(str(data.draw(st.integers(-n, n - 1))))
        else:
            lo, hi = data.draw(st.integers(-n - 1, n)), data.draw(st.integers(-n - 1, n))
            entries.append(f"{lo}:{hi}:{2 if kind == 'step' else 1}")
    index = ", ".join(entries[:data.draw(st.integers(1, len(entries)))])
    namespace: dict = {}  # the module's globals: dynajit skips functions of unknown modules
    exec(f"def f(u, v):\n    out = u.copy()\n    out[{index}] = v[{index}] * 2\n"  # noqa: S102
         "    return out\n", globals(), namespace)
    f = namespace["f"]
    rng = np.random.default_rng(0)
    u, v = rng.standard_normal(shape), rng.standard_normal(shape)
    for backend in ("llvm", "loopir"):
        dynajit.reset()
        np.testing.assert_array_equal(dynajit.compile(f, backend=backend)(u, v), f(u, v))
    assert "setitem" not in externs(schedule_of(f, u, v))  # kernels, not NumPy's setitem


def test_concatenate_and_pad_store_their_parts_into_one_buffer():
    def f(a, b):
        return np.concatenate([a, b], axis=1), np.pad(a, ((1, 1), (2, 0)))

    sched = schedule_of(f, np.ones((3, 4)), np.ones((3, 2)))
    outs = [k.stages[0].out for k in kernels(sched)]
    assert [o.shape for o in outs] == [(3, 4), (3, 2), (5, 6), (3, 4)]
    assert outs[0].name == outs[1].name and outs[1].offset == 4
    assert outs[2].name == outs[3].name and outs[3].offset == 8
    assert externs(sched) == []


def _heavy(v):
    return np.exp(np.sin(np.tanh(np.exp(v)))) * np.exp(np.cos(v)) + np.tanh(np.exp(v))


def test_a_dead_intermediate_buffer_is_reused_by_a_later_one():
    def f(x):
        a = _heavy(x)  # read twice and costly: stored
        s = a.sum(axis=0) + a.max(axis=0)
        b = _heavy(x + s)  # stored too, after a's last reader
        return b.sum(axis=0) + b.min(axis=0)

    x = np.random.default_rng(0).standard_normal((5, 7))
    sched = schedule_of(f, x)
    reused = [d for d in sched.decisions if "reuse" in d]
    assert reused and "reused" in describe(sched)
    for backend in ("llvm", "loopir"):
        dynajit.reset()
        np.testing.assert_allclose(dynajit.compile(f, backend=backend)(x), f(x), rtol=1e-12)


@pytest.mark.parametrize("backend", ["llvm", "loopir"])
def test_var_deviates_in_the_promoted_dtype_as_numpy(backend):
    """np.std(float64, dtype='f4'): NumPy subtracts the float32 mean from the float64 array in
    float64, so one element with ddof=1 gives inf (0/0 would give nan)."""
    def f(x):
        return np.std(x, dtype="f4", ddof=1), np.var(x, dtype="f4")

    x = np.array([1.2193020314990228])
    dynajit.reset()
    got = dynajit.compile(f, backend=backend)(x)
    with np.errstate(all="ignore"):
        expected = f(x)
    for g, e in zip(got, expected, strict=True):
        assert type(g) is type(e) and g.dtype == e.dtype
        np.testing.assert_array_equal(g, e)


@pytest.mark.parametrize("backend", ["llvm", "loopir"])
@pytest.mark.parametrize("lo, hi", [(np.inf, 2147483648), (-200, 5), (3, 127), (-128, 127),
                                    (np.float32(2.5), 300), (-1000, -np.inf)])
def test_clip_drops_python_int_bounds_an_integer_array_always_meets(backend, lo, hi):
    """NumPy's _clip drops a Python-int min at or below the dtype's minimum (max at or above
    its maximum) before promoting: np.clip(int8 0, inf, 2**31) is inf, not 2**31 (found by
    the op property suite)."""
    x = np.array([-128, 0, 5, 127], np.int8)

    def f(x):
        return np.clip(x, lo, hi)

    dynajit.reset()
    got = dynajit.compile(f, backend=backend)(x)
    expected = f(x)
    assert got.dtype == expected.dtype
    np.testing.assert_array_equal(got, expected)
