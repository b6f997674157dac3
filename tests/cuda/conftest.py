"""Fixtures for the CUDA runtime tests: ``fake_cuda`` points dynajit.cuda at a stand-in
driver library compiled from ``fake_libcuda.c`` (no GPU needed); ``gpu`` is the real driver,
and skips with the reason when there is none."""

from __future__ import annotations

import contextlib
import ctypes
import gc
import shutil
import subprocess
from pathlib import Path

import pytest

from dynajit.cuda import driver, module
from dynajit.cuda.errors import CudaUnavailable

HERE = Path(__file__).parent

# fake_live() counters
ALLOCATIONS, STREAMS, EVENTS, MODULES = range(4)


class FakeCuda:
    """Controls and counters of the fake driver library."""

    def __init__(self, path: str):
        self.path = path
        self.lib = ctypes.CDLL(path)
        self.lib.fake_live.restype = ctypes.c_long
        self.lib.fake_last_launch.restype = ctypes.c_void_p

    def configure(self, init_result: int = 0, devices: int = 1) -> None:
        self.lib.fake_configure(init_result, devices)

    def live(self, what: int) -> int:
        gc.collect()  # finalizers release handles when their owners are collected
        return self.lib.fake_live(what)

    def last_launch(self) -> tuple[tuple[int, ...], tuple[int, ...], int, int | None]:
        out = (ctypes.c_uint * 7)()
        stream = self.lib.fake_last_launch(out)
        return tuple(out[0:3]), tuple(out[3:6]), out[6], stream


class Foreign:
    """An object exposing only ``__cuda_array_interface__``, as CuPy and PyTorch do."""

    def __init__(self, **interface):
        self.__cuda_array_interface__ = {"version": 3, "strides": None, "descr": None,
                                         "mask": None, **interface}


@contextlib.contextmanager
def using_fake(path: str):
    """dynajit.cuda on the fake driver for a block (hypothesis tests cannot take the
    function-scoped ``fake_cuda``)."""
    saved = driver.LIBRARY_CANDIDATES
    driver.LIBRARY_CANDIDATES = (path,)
    driver.reset()
    try:
        yield
    finally:
        driver.LIBRARY_CANDIDATES = saved
        driver.reset()


@pytest.fixture(scope="session")
def fake_library(tmp_path_factory) -> str:
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        pytest.skip("no C compiler (cc or gcc) to build the fake CUDA driver library")
    out = tmp_path_factory.mktemp("fake_cuda") / "libcuda.so.1"
    done = subprocess.run([compiler, "-shared", "-fPIC", "-O1", "-Wall", "-Werror", "-o",
                           str(out), str(HERE / "fake_libcuda.c")],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return str(out)


@pytest.fixture
def fake_cuda(fake_library, monkeypatch) -> FakeCuda:
    """dynajit.cuda running on the fake driver for one test."""
    fake = FakeCuda(fake_library)
    fake.configure()
    monkeypatch.setattr(driver, "LIBRARY_CANDIDATES", (fake_library,))
    driver.reset()
    module.clear_module_cache()
    yield fake
    module.clear_module_cache()
    driver.reset()


@pytest.fixture
def gpu() -> driver.Driver:
    """The real CUDA driver; skips the test with the reason when there is no GPU."""
    try:
        return driver.get_driver()
    except CudaUnavailable as exc:
        pytest.skip(f"needs an NVIDIA GPU: {exc}")
