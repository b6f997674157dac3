"""dynajit's CUDA runtime: the driver API through ctypes (``driver``), device arrays that
speak ``__cuda_array_interface__`` (``array``), streams and events (``stream``), and PTX
modules with kernel launches (``module``). Importing it loads nothing: the driver library is
opened on first use, and ``CudaUnavailable`` says why when there is none.

>>> from dynajit import cuda
>>> x = cuda.from_host(np.arange(8, dtype=np.float32))
>>> fn = cuda.load_module(ptx).function("saxpy")
>>> cuda.launch(fn, grid=1, block=128, args=(8, 2.0, x, x, x))
>>> x.to_host()
"""

from dynajit.cuda.array import DeviceArray, as_device
from dynajit.cuda.driver import DeviceInfo, get_driver, is_available
from dynajit.cuda.errors import ArrayInterfaceError, CudaError, CudaUnavailable, DriverError
from dynajit.cuda.module import Function, Module, clear_module_cache, launch, load_module
from dynajit.cuda.stream import Event, Stream

empty = DeviceArray.empty
from_host = DeviceArray.from_host


def device_info(ordinal: int = 0) -> DeviceInfo:
    """Name, compute capability, SM count and limits of a GPU (``info.arch`` is
    ``"sm_90"`` on an H100)."""
    return get_driver().device_info(ordinal)


def empty_cache() -> int:
    """Free the device memory that dropped arrays left in dynajit's caching pool; returns
    the bytes freed."""
    return get_driver().empty_cache()


def synchronize() -> None:
    """Wait for all queued GPU work in dynajit's context."""
    get_driver().synchronize()


__all__ = [
    "ArrayInterfaceError",
    "CudaError",
    "CudaUnavailable",
    "DeviceArray",
    "DeviceInfo",
    "DriverError",
    "Event",
    "Function",
    "Module",
    "Stream",
    "as_device",
    "clear_module_cache",
    "device_info",
    "empty",
    "empty_cache",
    "from_host",
    "is_available",
    "launch",
    "load_module",
    "synchronize",
]
