"""``backend="ptx"`` end to end. Without a GPU: compiling raises ``CudaUnavailable`` before
any work. With one (tests marked ``gpu``, skipped with the reason otherwise): the op property
suite against NumPy, the benchmark workloads, NumPy inputs copied in and out, and device
inputs used in place with device outputs."""

from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import dynajit
import dynajit.backends.ptx  # noqa: F401  (registers "ptx")
from dynajit import cuda
from dynajit.cuda import CudaUnavailable
from tests.ops.harness import check_call, registry_settings
from tests.ops.samplers import SAMPLERS

MAX_EXAMPLES = int(os.environ.get("DYNAJIT_TEST_BACKEND_EXAMPLES", "8"))


def _gpu_reason() -> str | None:
    try:
        cuda.device_info()
    except CudaUnavailable as exc:
        return str(exc)
    return None


@pytest.fixture
def gpu():
    reason = _gpu_reason()
    if reason is not None:
        pytest.skip(f"needs an NVIDIA GPU: {reason}")


def _graph_of(fn, *args):
    captured = {}

    def backend(gm, example_inputs):
        captured["gm"] = gm
        return gm.forward

    dynajit.reset()
    dynajit.compile(fn, backend=backend)(*args)
    return captured["gm"]


def test_compiling_without_a_gpu_raises_cuda_unavailable():
    if _gpu_reason() is None:
        pytest.skip("a GPU is present")
    from dynajit.backends.ptx import ptx_backend

    x = np.ones(4)
    gm = _graph_of(lambda a: np.exp(a) + 1.0, x)
    with pytest.raises(CudaUnavailable):
        ptx_backend(gm, [x])


@pytest.mark.gpu
def test_benchmark_workloads_match_numpy(gpu):
    from benchmarks.workloads import WORKLOADS, check

    for name, w in WORKLOADS.items():
        for dtype in ("float32", "float64"):
            args = w.inputs(1 << 16, dtype)
            dynajit.reset()
            got = dynajit.compile(w.fn, backend="ptx")(*args)
            ok, why = check(got, w.fn(*args))
            assert ok, (name, dtype, why)


@pytest.mark.gpu
def test_device_inputs_are_used_in_place_and_outputs_stay_on_the_device(gpu):
    x = np.linspace(-3, 3, 10_000, dtype=np.float32).reshape(100, 100)
    d = cuda.from_host(x)

    def softmax(a):
        e = np.exp(a - a.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)

    from dynajit.backends.ptx import ptx_backend

    run = ptx_backend(_graph_of(softmax, x), [d])
    out = run(d)
    out = out[0] if isinstance(out, tuple) else out
    assert isinstance(out, cuda.DeviceArray)
    np.testing.assert_allclose(out.to_host(), softmax(x), rtol=2e-6, atol=1e-7)
    host = run(x)
    host = host[0] if isinstance(host, tuple) else host
    assert isinstance(host, np.ndarray)
    np.testing.assert_allclose(host, softmax(x), rtol=2e-6, atol=1e-7)


@pytest.mark.gpu
@pytest.mark.parametrize("op_name", sorted(SAMPLERS))
@registry_settings(MAX_EXAMPLES)
@given(data=st.data())
def test_op_matches_numpy_on_ptx(op_name, data):
    if _gpu_reason() is not None:
        pytest.skip(f"needs an NVIDIA GPU: {_gpu_reason()}")
    call = data.draw(SAMPLERS[op_name], label="call")
    check_call(call, backends=("ptx",))


@pytest.mark.gpu
@pytest.mark.parametrize("library", ["cupy", "torch"])
def test_compiled_functions_take_cupy_and_torch_gpu_arrays_in_place(gpu, library):
    # the tracer treats any __cuda_array_interface__ array as a graph input (DEVICE guard)
    mod = pytest.importorskip(library, reason=f"{library} is not installed")
    x = np.linspace(-3, 3, 4096, dtype=np.float32).reshape(64, 64)
    dev = mod.asarray(x) if library == "cupy" else mod.from_numpy(x).cuda()

    def softmax(a):
        e = np.exp(a - a.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)

    dynajit.reset()
    f = dynajit.compile(softmax, backend="ptx")
    out = f(dev)
    assert isinstance(out, cuda.DeviceArray)
    np.testing.assert_allclose(out.to_host(), softmax(x), rtol=2e-6, atol=1e-7)
    host = f(x)  # NumPy input: another entry, a NumPy result
    assert isinstance(host, np.ndarray)
    np.testing.assert_allclose(host, softmax(x), rtol=2e-6, atol=1e-7)


@pytest.mark.gpu
def test_huge_sin_arguments_are_recomputed_exactly_on_the_host(gpu):
    x = np.array([1e300, 1.0, -7.2e16, 3.0], dtype=np.float64)
    dynajit.reset()
    got = dynajit.compile(lambda a: np.sin(a) * 2.0 + np.cos(a), backend="ptx")(x)
    np.testing.assert_array_equal(got, np.sin(x) * 2.0 + np.cos(x))
