"""The runtime on a real NVIDIA GPU: the llvmlite saxpy PTX loaded and launched against
NumPy, device array round trips, events, and zero-copy interop with CuPy and PyTorch when
they are installed. Every test skips with the reason when there is no GPU."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dynajit import cuda
from dynajit.cuda.array import DeviceArray
from tests.backends.ptx.saxpy_kernel import saxpy_ptx

pytestmark = pytest.mark.gpu


@pytest.fixture
def saxpy(gpu):
    info = cuda.device_info()
    return cuda.load_module(saxpy_ptx(info.arch)).function("saxpy")


def _grid(n: int, block: int = 256) -> int:
    # a grid smaller than n / block exercises the grid-stride loop
    return max(1, min(-(-n // block), 64))


def test_device_info_describes_the_gpu(gpu):
    info = cuda.device_info()
    assert info.compute_capability >= (7, 0) and info.arch.startswith("sm_")
    assert info.warp_size == 32 and info.multiprocessors > 0
    assert info.max_threads_per_block >= 1024 and info.total_memory > 1 << 30


@pytest.mark.parametrize("n", [1, 255, 1000, 1 << 20])
def test_llvmlite_saxpy_matches_numpy(saxpy, n):
    rng = np.random.default_rng(n)
    x, y = rng.standard_normal((2, n), dtype=np.float32)
    out = cuda.empty(n, np.float32)
    cuda.launch(saxpy, _grid(n), 256, (n, np.float32(2.5), cuda.from_host(x),
                                      cuda.from_host(y), out))
    expected = np.float32(2.5) * x + y
    np.testing.assert_allclose(out.to_host(), expected, rtol=1e-6, atol=1e-6)


def test_saxpy_on_a_stream_with_event_timing(saxpy):
    n = 1 << 22
    x = cuda.from_host(np.ones(n, np.float32))
    out = cuda.empty(n, np.float32)
    stream, start, end = cuda.Stream(), cuda.Event(), cuda.Event()
    start.record(stream)
    cuda.launch(saxpy, 528, 256, (n, 3.0, x, x, out), stream=stream)
    end.record(stream)
    end.synchronize()
    assert start.elapsed_ms(end) > 0
    assert np.all(out.copy_to_host(stream=stream) == 4.0)


@given(st.sampled_from(["?", "i1", "u2", "i4", "i8", "f2", "f4", "f8", "c8", "c16"]),
       st.lists(st.integers(0, 7), max_size=3))
@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])  # `gpu` is stateless
def test_device_round_trips(gpu, dtype, shape):
    host = (np.arange(int(np.prod(shape)), dtype=np.int64) * 5 - 7).astype(dtype).reshape(shape)
    d = cuda.from_host(host)
    np.testing.assert_array_equal(d.to_host(), host)
    np.testing.assert_array_equal(d.copy().to_host(), host)


def test_strided_device_view_copies_to_host(gpu):
    host = np.arange(24, dtype=np.float64).reshape(4, 6)
    d = cuda.from_host(host)
    view = host[::-2, 1::2]
    offset = (view.ctypes.data - host.ctypes.data)
    dv = DeviceArray(view.shape, view.dtype, d.ptr + offset, strides=view.strides, owner=d)
    np.testing.assert_array_equal(dv.to_host(), view)


def test_memory_is_returned_when_arrays_are_collected(gpu):
    # Allocate twice the card's memory in turns: without frees an allocation fails. (Free
    # memory counts are not compared: other processes share the GPU under pytest-xdist.)
    import gc

    free, total = gpu.mem_get_info()
    chunk = max(free // 4, 1 << 28)
    for _ in range(2 * total // chunk + 1):
        a = cuda.empty(chunk, np.uint8)
        del a
        gc.collect()


def test_cupy_arrays_are_used_in_place(saxpy):
    cp = pytest.importorskip("cupy", reason="CuPy is not installed")
    n = 10_000
    x = cp.arange(2 * n, dtype=cp.float32)[::2]  # strided: only the pointer is passed
    y = cp.ones(n, dtype=cp.float32)
    out = cp.empty(n, dtype=cp.float32)
    assert cuda.as_device(x).ptr == x.data.ptr and cuda.as_device(x).strides == (8,)
    xc = cp.ascontiguousarray(x)
    cuda.launch(saxpy, _grid(n), 256, (n, 2.0, xc, y, out))
    cp.testing.assert_allclose(out, 2 * xc + 1)
    # and the other way: CuPy reads a DeviceArray without a copy
    d = cuda.from_host(np.arange(6, dtype=np.int32).reshape(2, 3))
    view = cp.asarray(d)
    assert view.data.ptr == d.ptr
    np.testing.assert_array_equal(cp.asnumpy(view), np.arange(6).reshape(2, 3))


def test_torch_cuda_tensors_are_used_in_place(saxpy):
    torch = pytest.importorskip("torch", reason="PyTorch is not installed")
    if not torch.cuda.is_available():
        pytest.skip("PyTorch has no CUDA device")
    n = 4096
    x = torch.arange(n, dtype=torch.float32, device="cuda")
    y = torch.full((n,), 0.5, device="cuda")
    out = torch.empty(n, device="cuda")
    t = torch.arange(12, device="cuda").reshape(3, 4).t()
    dt = cuda.as_device(t)
    assert dt.ptr == t.data_ptr() and dt.strides == (8, 32) and dt.shape == (4, 3)
    np.testing.assert_array_equal(dt.to_host(), t.cpu().numpy())
    cuda.launch(saxpy, _grid(n), 256, (n, -1.0, x, y, out))
    torch.cuda.synchronize()
    assert torch.equal(out, -x + 0.5)
    d = cuda.from_host(np.arange(5, dtype=np.float64))
    back = torch.as_tensor(d, device="cuda")
    assert back.data_ptr() == d.ptr and back.tolist() == [0.0, 1.0, 2.0, 3.0, 4.0]
