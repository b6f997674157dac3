"""The driver bindings without a GPU: what happens when there is no driver or no device,
how driver errors read, and the plumbing (contexts per thread, logs, events) checked against
the fake driver library."""

from __future__ import annotations

import threading

import pytest

from dynajit import cuda
from dynajit.cuda import driver
from dynajit.errors import DynajitError
from tests.cuda.conftest import ALLOCATIONS, EVENTS, MODULES, STREAMS

NO_DEVICE = 100


@pytest.fixture
def no_driver(monkeypatch, tmp_path):
    missing = (str(tmp_path / "nowhere" / "libcuda.so.1"), "libdynajit-no-such-cuda.so.1")
    monkeypatch.setattr(driver, "LIBRARY_CANDIDATES", missing)
    driver.reset()
    yield missing
    driver.reset()


def test_missing_driver_raises_cuda_unavailable_naming_every_place_tried(no_driver):
    with pytest.raises(cuda.CudaUnavailable) as info:
        cuda.empty(4)
    message = str(info.value)
    assert isinstance(info.value, DynajitError)
    for path in no_driver:
        assert path in message
    assert "LD_LIBRARY_PATH" in message
    assert not cuda.is_available()


def test_missing_driver_failure_is_remembered_until_reset(no_driver, fake_library, monkeypatch):
    with pytest.raises(cuda.CudaUnavailable):
        driver.get_driver()
    monkeypatch.setattr(driver, "LIBRARY_CANDIDATES", (fake_library,))
    with pytest.raises(cuda.CudaUnavailable, match="libdynajit-no-such-cuda"):
        driver.get_driver()  # not probed again: same message
    driver.reset()
    assert driver.get_driver().path == fake_library


def test_cuinit_failure_is_unavailable_with_cuda_error_name(fake_cuda):
    fake_cuda.configure(init_result=NO_DEVICE)
    with pytest.raises(cuda.CudaUnavailable) as info:
        driver.get_driver()
    message = str(info.value)
    assert "cuInit failed: CUDA_ERROR_NO_DEVICE (no CUDA-capable device is detected)" in message
    assert fake_cuda.path in message


def test_cuinit_failure_mentions_cuda_visible_devices(fake_cuda, monkeypatch):
    fake_cuda.configure(init_result=NO_DEVICE)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    with pytest.raises(cuda.CudaUnavailable, match="CUDA_VISIBLE_DEVICES=''"):
        driver.get_driver()


def test_zero_devices_is_unavailable(fake_cuda):
    fake_cuda.configure(devices=0)
    with pytest.raises(cuda.CudaUnavailable, match="reports no GPU"):
        driver.get_driver()


def test_failed_call_names_the_call_and_cuda_error(fake_cuda):
    with pytest.raises(cuda.DriverError) as info:
        cuda.empty(1 << 41, "u1")  # the fake refuses more than 1 TiB
    err = info.value
    assert (err.call, err.code, err.name) == ("cuMemAlloc_v2", 2, "CUDA_ERROR_OUT_OF_MEMORY")
    assert str(err) == ("cuMemAlloc_v2 failed: CUDA_ERROR_OUT_OF_MEMORY (out of memory); "
                        f"allocating {1 << 41} bytes")


def test_unknown_error_code_still_reads(fake_cuda):
    drv = driver.get_driver()
    assert drv.error_name(12345) == "CUresult 12345"
    assert "does not know" in drv.error_string(12345)


def test_device_info_reads_attributes(fake_cuda):
    info = cuda.device_info()
    assert info.name == "Fake GPU"
    assert info.compute_capability == (9, 0) and info.arch == "sm_90"
    assert (info.multiprocessors, info.warp_size, info.max_threads_per_block) == (132, 32, 1024)
    assert info.total_memory == 80 << 30 and info.driver_version == 13000
    with pytest.raises(cuda.DriverError, match="cuDeviceGet failed.*device ordinal 3"):
        cuda.device_info(3)


def test_context_is_made_current_on_every_thread(fake_cuda):
    # The fake fails any memory call on a thread where the context is not current.
    results = []

    def work():
        a = cuda.from_host([1.0, 2.0, 3.0])
        results.append(a.to_host().tolist())

    threads = [threading.Thread(target=work) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [[1.0, 2.0, 3.0]] * 3


def test_context_is_restored_when_another_library_changed_it(fake_cuda):
    drv = driver.get_driver()
    cuda.empty(4)
    drv.call("cuCtxSetCurrent", None)  # as another library might
    assert cuda.from_host([5]).to_host().tolist() == [5]


def test_module_load_error_carries_the_jit_log(fake_cuda):
    with pytest.raises(cuda.DriverError) as info:
        cuda.load_module("// not PTX at all")
    assert info.value.call == "cuModuleLoadDataEx"
    assert info.value.name == "CUDA_ERROR_INVALID_PTX"
    assert "JIT error log:\nfake JIT: line 1: no .entry in this image" in str(info.value)


def test_module_load_keeps_the_info_log(fake_cuda):
    mod = cuda.load_module(".visible .entry k() { ret; }")
    assert mod.info_log == "fake JIT: loaded"


def test_streams_events_and_modules_are_released_when_collected(fake_cuda):
    before = [fake_cuda.live(k) for k in (STREAMS, EVENTS, MODULES, ALLOCATIONS)]
    stream, start, end = cuda.Stream(), cuda.Event(), cuda.Event()
    start.record(stream)
    mod = cuda.load_module(".visible .entry k() { ret; }")
    end.record(stream)
    end.synchronize()
    stream.synchronize()
    assert start.elapsed_ms(end) >= 0.0  # through the pre-12.8 cuEventElapsedTime name
    assert [fake_cuda.live(k) for k in (STREAMS, EVENTS, MODULES)] == [
        before[0] + 1, before[1] + 2, before[2] + 1]
    del stream, start, end, mod
    cuda.clear_module_cache()
    assert [fake_cuda.live(k) for k in (STREAMS, EVENTS, MODULES, ALLOCATIONS)] == before


def test_stream_argument_must_be_a_stream_or_handle(fake_cuda):
    with pytest.raises(cuda.ArrayInterfaceError, match="raw stream handle"):
        cuda.Event().record("default")


def test_synchronize_and_mem_info(fake_cuda):
    cuda.synchronize()
    free, total = driver.get_driver().mem_get_info()
    assert 0 < free <= total
