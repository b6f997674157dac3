"""The CUDA driver API (``libcuda.so.1``) through ctypes: loaded on first use, one primary
context per process (device 0), and every failing call turned into a ``DriverError`` that
names the call and CUDA's error name and text. No CUDA toolkit or Python CUDA package is
needed: only the NVIDIA driver."""

from __future__ import annotations

import ctypes
import dataclasses
import os
import sys
import threading
import weakref
from ctypes import POINTER, byref, c_char_p, c_float, c_int, c_size_t, c_uint, c_uint64, c_void_p
from typing import Any

from dynajit.cuda.errors import CudaUnavailable, DriverError

# Where the driver library is looked for, in order: the dynamic loader's search (ldconfig
# cache, LD_LIBRARY_PATH), then the places containers and WSL mount it without registering it.
LIBRARY_CANDIDATES: tuple[str, ...] = (
    "libcuda.so.1",
    "/usr/local/nvidia/lib64/libcuda.so.1",
    "/usr/lib/wsl/lib/libcuda.so.1",
)

# Stream handles the driver API reserves (cuda.h: CU_STREAM_LEGACY, CU_STREAM_PER_THREAD);
# ``__cuda_array_interface__`` v3 uses the same numbers for the default streams.
STREAM_LEGACY = 1
STREAM_PER_THREAD = 2

# CUdevice_attribute values (cuda.h) that ``DeviceInfo`` reads.
_ATTR_MAX_THREADS_PER_BLOCK = 1
_ATTR_MAX_SHARED_MEMORY_PER_BLOCK = 8
_ATTR_WARP_SIZE = 10
_ATTR_MULTIPROCESSOR_COUNT = 16
_ATTR_L2_CACHE_SIZE = 38
_ATTR_COMPUTE_CAPABILITY_MAJOR = 75
_ATTR_COMPUTE_CAPABILITY_MINOR = 76
_ATTR_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN = 97

# CUjit_option values (cuda.h) for cuModuleLoadDataEx's log buffers.
_JIT_INFO_LOG_BUFFER = 3
_JIT_INFO_LOG_BUFFER_SIZE_BYTES = 4
_JIT_ERROR_LOG_BUFFER = 5
_JIT_ERROR_LOG_BUFFER_SIZE_BYTES = 6
_JIT_LOG_VERBOSE = 12
_JIT_LOG_BYTES = 16384

_CUptr = c_uint64  # CUdeviceptr_v2 (64-bit builds)
_Handle = c_void_p  # CUcontext, CUmodule, CUfunction, CUstream, CUevent

# Function name -> argument types. A tuple of names means "the first one the library
# exports" (a newer ABI version first). Every call returns CUresult (int).
_PROTOTYPES: dict[str | tuple[str, ...], tuple] = {
    "cuInit": (c_uint,),
    "cuGetErrorName": (c_int, POINTER(c_char_p)),
    "cuGetErrorString": (c_int, POINTER(c_char_p)),
    "cuDriverGetVersion": (POINTER(c_int),),
    "cuDeviceGetCount": (POINTER(c_int),),
    "cuDeviceGet": (POINTER(c_int), c_int),
    "cuDeviceGetAttribute": (POINTER(c_int), c_int, c_int),
    "cuDeviceGetName": (c_char_p, c_int, c_int),
    "cuDeviceTotalMem_v2": (POINTER(c_size_t), c_int),
    "cuDevicePrimaryCtxRetain": (POINTER(_Handle), c_int),
    "cuCtxGetCurrent": (POINTER(_Handle),),
    "cuCtxSetCurrent": (_Handle,),
    "cuCtxSynchronize": (),
    "cuMemGetInfo_v2": (POINTER(c_size_t), POINTER(c_size_t)),
    "cuMemAlloc_v2": (POINTER(_CUptr), c_size_t),
    "cuMemFree_v2": (_CUptr,),
    "cuMemcpyHtoD_v2": (_CUptr, c_void_p, c_size_t),
    "cuMemcpyDtoH_v2": (c_void_p, _CUptr, c_size_t),
    "cuMemcpyDtoD_v2": (_CUptr, _CUptr, c_size_t),
    "cuMemcpyHtoDAsync_v2": (_CUptr, c_void_p, c_size_t, _Handle),
    "cuMemcpyDtoHAsync_v2": (c_void_p, _CUptr, c_size_t, _Handle),
    "cuMemcpyDtoDAsync_v2": (_CUptr, _CUptr, c_size_t, _Handle),
    "cuModuleLoadDataEx": (POINTER(_Handle), c_void_p, c_uint, POINTER(c_int), POINTER(c_void_p)),
    "cuModuleUnload": (_Handle,),
    "cuModuleGetFunction": (POINTER(_Handle), _Handle, c_char_p),
    "cuLaunchKernel": (_Handle, c_uint, c_uint, c_uint, c_uint, c_uint, c_uint, c_uint, _Handle,
                       POINTER(c_void_p), POINTER(c_void_p)),
    "cuStreamCreate": (POINTER(_Handle), c_uint),
    "cuStreamSynchronize": (_Handle,),
    "cuStreamDestroy_v2": (_Handle,),
    "cuEventCreate": (POINTER(_Handle), c_uint),
    "cuEventRecord": (_Handle, _Handle),
    "cuEventSynchronize": (_Handle,),
    ("cuEventElapsedTime_v2", "cuEventElapsedTime"): (POINTER(c_float), _Handle, _Handle),
    "cuEventDestroy_v2": (_Handle,),
}


@dataclasses.dataclass(frozen=True)
class DeviceInfo:
    """What codegen and launch heuristics need to know about one GPU."""

    ordinal: int
    name: str
    compute_capability: tuple[int, int]
    multiprocessors: int
    warp_size: int
    max_threads_per_block: int
    max_shared_memory_per_block: int
    max_shared_memory_per_block_optin: int
    l2_cache_bytes: int
    total_memory: int
    driver_version: int  # CUDA's encoding: 1000 * major + 10 * minor (13000 is 13.0)

    @property
    def arch(self) -> str:
        """The PTX target name, e.g. ``"sm_90"``."""
        major, minor = self.compute_capability
        return f"sm_{major}{minor}"


class Driver:
    """One loaded and initialized driver library. Methods wrap driver calls one to one;
    handles (device pointers, streams, events, modules, functions) are plain ints, and
    ``stream=None`` means the legacy default stream."""

    def __init__(self, lib: ctypes.CDLL, path: str):
        self.path = path
        self._fn: dict[str, ctypes._CFuncPtr] = {}
        for names, argtypes in _PROTOTYPES.items():
            alternatives = (names,) if isinstance(names, str) else names
            for name in alternatives:
                fn = getattr(lib, name, None)
                if fn is not None:
                    break
            else:
                raise CudaUnavailable(
                    f"the CUDA driver at {path} does not export {' or '.join(alternatives)}; "
                    "it is older than dynajit supports (CUDA 12 or newer is needed)")
            fn.argtypes = argtypes
            fn.restype = c_int
            self._fn[alternatives[0]] = fn
        self._lib = lib  # the functions above point into it: keep it loaded
        self._context: int | None = None
        self._context_lock = threading.Lock()
        self._pool: dict[int, list[int]] = {}
        self._pooled = 0
        self._pool_lock = threading.Lock()
        code = self._fn["cuInit"](0)
        if code != 0:
            raise CudaUnavailable(
                f"the CUDA driver at {path} loaded but cuInit failed: {self.error_name(code)} "
                f"({self.error_string(code)}){_visible_devices_note()}")
        if self.device_count() == 0:
            raise CudaUnavailable(
                f"the CUDA driver at {path} reports no GPU{_visible_devices_note()}")

    # errors

    def error_name(self, code: int) -> str:
        """CUDA's name for a ``CUresult`` (``CUDA_ERROR_INVALID_VALUE``)."""
        text = c_char_p()
        if self._fn["cuGetErrorName"](code, byref(text)) != 0 or not text.value:
            return f"CUresult {code}"
        return text.value.decode(errors="replace")

    def error_string(self, code: int) -> str:
        """CUDA's description of a ``CUresult`` (``invalid argument``)."""
        text = c_char_p()
        if self._fn["cuGetErrorString"](code, byref(text)) != 0 or not text.value:
            return "an error code this driver does not know"
        return text.value.decode(errors="replace")

    def call(self, name: str, *args, detail: str = "") -> None:
        """Call the driver function ``name``; raise ``DriverError`` if it fails."""
        code = self._fn[name](*args)
        if code != 0:
            raise DriverError(name, code, self.error_name(code), self.error_string(code), detail)

    # devices

    def version(self) -> int:
        out = c_int()
        self.call("cuDriverGetVersion", byref(out))
        return out.value

    def device_count(self) -> int:
        out = c_int()
        self.call("cuDeviceGetCount", byref(out))
        return out.value

    def device(self, ordinal: int = 0) -> int:
        out = c_int()
        self.call("cuDeviceGet", byref(out), ordinal, detail=f"device ordinal {ordinal}")
        return out.value

    def device_attribute(self, attribute: int, device: int) -> int:
        out = c_int()
        self.call("cuDeviceGetAttribute", byref(out), attribute, device,
                  detail=f"attribute {attribute}")
        return out.value

    def device_info(self, ordinal: int = 0) -> DeviceInfo:
        dev = self.device(ordinal)
        name = ctypes.create_string_buffer(256)
        self.call("cuDeviceGetName", name, len(name), dev)
        total = c_size_t()
        self.call("cuDeviceTotalMem_v2", byref(total), dev)

        def attr(a: int) -> int:
            return self.device_attribute(a, dev)

        return DeviceInfo(
            ordinal=ordinal,
            name=name.value.decode(errors="replace"),
            compute_capability=(attr(_ATTR_COMPUTE_CAPABILITY_MAJOR),
                                attr(_ATTR_COMPUTE_CAPABILITY_MINOR)),
            multiprocessors=attr(_ATTR_MULTIPROCESSOR_COUNT),
            warp_size=attr(_ATTR_WARP_SIZE),
            max_threads_per_block=attr(_ATTR_MAX_THREADS_PER_BLOCK),
            max_shared_memory_per_block=attr(_ATTR_MAX_SHARED_MEMORY_PER_BLOCK),
            max_shared_memory_per_block_optin=attr(_ATTR_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN),
            l2_cache_bytes=attr(_ATTR_L2_CACHE_SIZE),
            total_memory=total.value,
            driver_version=self.version(),
        )

    # context

    def ensure_context(self) -> int:
        """Make device 0's primary context current on the calling thread (the context the
        CUDA runtime, CuPy and PyTorch use, so device pointers are shared with them) and
        return its handle. Retained once per process, never released: it lives as long as
        the process, like the runtime's."""
        if self._context is None:
            with self._context_lock:
                if self._context is None:
                    ctx = _Handle()
                    self.call("cuDevicePrimaryCtxRetain", byref(ctx), self.device(0))
                    self._context = ctx.value
        # Checked every time rather than cached per thread: another library on this thread
        # may have made a different context current since.
        current = _Handle()
        self.call("cuCtxGetCurrent", byref(current))
        if current.value != self._context:
            self.call("cuCtxSetCurrent", self._context)
        return self._context

    def synchronize(self) -> None:
        """Wait for all work on the context."""
        self.ensure_context()
        self.call("cuCtxSynchronize")

    # memory

    def mem_get_info(self) -> tuple[int, int]:
        """``(free, total)`` bytes of device memory."""
        self.ensure_context()
        free, total = c_size_t(), c_size_t()
        self.call("cuMemGetInfo_v2", byref(free), byref(total))
        return free.value, total.value

    def mem_alloc(self, nbytes: int) -> int:
        self.ensure_context()
        ptr = _CUptr()
        self.call("cuMemAlloc_v2", byref(ptr), nbytes, detail=f"allocating {nbytes} bytes")
        return ptr.value

    def mem_free(self, ptr: int) -> None:
        self.ensure_context()
        self.call("cuMemFree_v2", ptr)

    # The caching pool. cuMemFree waits for the whole device and cuMemAlloc costs tens of
    # microseconds, so a compiled call that allocated and freed its outputs would stall on
    # every call (PyTorch and CuPy keep caching allocators for the same reason). Freed blocks
    # are kept by size class and handed out again; every kernel and copy of dynajit is
    # queued on the legacy default stream, so a block reused there is ordered after all
    # earlier work on it. Arrays used on other streams must be synchronized by their user
    # before they are dropped (docs/gpu.md).

    def pool_alloc(self, nbytes: int) -> tuple[int, int]:
        """``(ptr, size)``: a block of ``size >= nbytes`` bytes, from the pool when one of its
        size class is free, else new (emptying the pool and retrying once when the device
        is out of memory)."""
        size = _size_class(nbytes)
        with self._pool_lock:
            free = self._pool.get(size)
            if free:
                self._pooled -= size
                return free.pop(), size
        try:
            return self.mem_alloc(size), size
        except DriverError as e:
            if e.code != _OUT_OF_MEMORY or not self._pooled:
                raise
        self.empty_cache()
        return self.mem_alloc(size), size

    def pool_free(self, block: tuple[int, int]) -> None:
        """Return a ``pool_alloc`` block to the pool."""
        ptr, size = block
        with self._pool_lock:
            self._pool.setdefault(size, []).append(ptr)
            self._pooled += size

    def empty_cache(self) -> int:
        """Free every pooled block (``cuMemFree``); returns the bytes released."""
        with self._pool_lock:
            blocks = [(p, size) for size, ptrs in self._pool.items() for p in ptrs]
            self._pool.clear()
            self._pooled = 0
        for ptr, _ in blocks:
            self.mem_free(ptr)
        return sum(size for _, size in blocks)

    def pooled_bytes(self) -> int:
        """Bytes held in the pool for reuse (allocated on the device, used by no array)."""
        return self._pooled

    def memcpy_htod(self, dst: int, src: int, nbytes: int, stream: int | None = None) -> None:
        """Host address ``src`` to device pointer ``dst``; synchronous unless a stream is
        given (pageable host memory makes even the async form wait for the copy)."""
        self.ensure_context()
        if stream is None:
            self.call("cuMemcpyHtoD_v2", dst, src, nbytes)
        else:
            self.call("cuMemcpyHtoDAsync_v2", dst, src, nbytes, stream)

    def memcpy_dtoh(self, dst: int, src: int, nbytes: int, stream: int | None = None) -> None:
        """Device pointer ``src`` to host address ``dst``."""
        self.ensure_context()
        if stream is None:
            self.call("cuMemcpyDtoH_v2", dst, src, nbytes)
        else:
            self.call("cuMemcpyDtoHAsync_v2", dst, src, nbytes, stream)

    def memcpy_dtod(self, dst: int, src: int, nbytes: int, stream: int | None = None) -> None:
        self.ensure_context()
        if stream is None:
            self.call("cuMemcpyDtoD_v2", dst, src, nbytes)
        else:
            self.call("cuMemcpyDtoDAsync_v2", dst, src, nbytes, stream)

    # streams and events

    def stream_create(self, flags: int = 0) -> int:
        self.ensure_context()
        out = _Handle()
        self.call("cuStreamCreate", byref(out), flags)
        return out.value

    def stream_synchronize(self, stream: int | None) -> None:
        self.ensure_context()
        self.call("cuStreamSynchronize", stream)

    def stream_destroy(self, stream: int) -> None:
        self.ensure_context()
        self.call("cuStreamDestroy_v2", stream)

    def event_create(self, flags: int = 0) -> int:
        self.ensure_context()
        out = _Handle()
        self.call("cuEventCreate", byref(out), flags)
        return out.value

    def event_record(self, event: int, stream: int | None) -> None:
        self.ensure_context()
        self.call("cuEventRecord", event, stream)

    def event_synchronize(self, event: int) -> None:
        self.ensure_context()
        self.call("cuEventSynchronize", event)

    def event_elapsed_ms(self, start: int, end: int) -> float:
        self.ensure_context()
        out = c_float()
        self.call("cuEventElapsedTime_v2", byref(out), start, end)
        return out.value

    def event_destroy(self, event: int) -> None:
        self.ensure_context()
        self.call("cuEventDestroy_v2", event)

    # modules and launches

    def module_load(self, image: bytes) -> tuple[int, str]:
        """Load a PTX (NUL-terminated) or cubin image; return ``(module, info_log)``. A
        failure raises ``DriverError`` whose message carries the JIT's error log."""
        self.ensure_context()
        info = ctypes.create_string_buffer(_JIT_LOG_BYTES)
        error = ctypes.create_string_buffer(_JIT_LOG_BYTES)
        options = (c_int * 5)(_JIT_INFO_LOG_BUFFER, _JIT_INFO_LOG_BUFFER_SIZE_BYTES,
                              _JIT_ERROR_LOG_BUFFER, _JIT_ERROR_LOG_BUFFER_SIZE_BYTES,
                              _JIT_LOG_VERBOSE)
        # Size options are passed by value in the pointer slot (the driver writes back how
        # much of each buffer it used); LOG_VERBOSE=1 puts per-kernel register use in info.
        values = (c_void_p * 5)(ctypes.addressof(info), _JIT_LOG_BYTES,
                                ctypes.addressof(error), _JIT_LOG_BYTES, 1)
        module = _Handle()
        code = self._fn["cuModuleLoadDataEx"](byref(module), image, 5, options, values)
        if code != 0:
            log = error.value.decode(errors="replace").strip()
            raise DriverError("cuModuleLoadDataEx", code, self.error_name(code),
                              self.error_string(code),
                              f"JIT error log:\n{log}" if log else "the JIT left no error log")
        return module.value, info.value.decode(errors="replace").strip()

    def module_unload(self, module: int) -> None:
        self.ensure_context()
        self.call("cuModuleUnload", module)

    def module_get_function(self, module: int, name: str) -> int:
        self.ensure_context()
        out = _Handle()
        self.call("cuModuleGetFunction", byref(out), module, name.encode(),
                  detail=f"kernel {name!r}")
        return out.value

    def launch_kernel(self, function: int, grid: tuple[int, int, int],
                      block: tuple[int, int, int], shared: int, stream: int | None,
                      params: ctypes.Array | None, name: str = "?") -> None:
        """``params`` is a ``void*[n]`` whose entries point at each argument's bytes; the
        driver copies them before returning, so they may be freed afterwards. ``name`` (the
        kernel's) goes into the error message."""
        self.ensure_context()
        code = self._fn["cuLaunchKernel"](function, *grid, *block, shared, stream, params, None)
        if code != 0:
            raise DriverError("cuLaunchKernel", code, self.error_name(code),
                              self.error_string(code), f"kernel {name!r}, grid {grid}, "
                              f"block {block}, {shared} bytes shared")

    def finalizer(self, owner: object, release: str, handle: Any) -> weakref.finalize:
        """Call ``release(handle)`` (a method name of this class) when ``owner`` is
        collected. Errors are swallowed (a finalizer cannot raise), and nothing runs at
        interpreter exit, where the driver may already be tearing the context down."""
        fin = weakref.finalize(owner, _release_quietly, self, release, handle)
        fin.atexit = False
        return fin


_OUT_OF_MEMORY = 2  # CUDA_ERROR_OUT_OF_MEMORY


def _size_class(nbytes: int) -> int:
    """Pool size classes: multiples of 512 bytes up to 1 MiB, of 2 MiB above (at most
    one class's step is wasted per block)."""
    step = 512 if nbytes <= 1 << 20 else 2 << 20
    return max(step, -(-nbytes // step) * step)


def _release_quietly(driver: Driver, release: str, handle: Any) -> None:
    try:
        getattr(driver, release)(handle)
    except Exception:  # noqa: BLE001 -- nowhere to report it from a finalizer
        pass


def _visible_devices_note() -> str:
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    return "" if visible is None else f" (CUDA_VISIBLE_DEVICES={visible!r})"


def open_driver(candidates: tuple[str, ...] | list[str] = LIBRARY_CANDIDATES) -> Driver:
    """Load and initialize the first driver library in ``candidates`` that loads. Raises
    ``CudaUnavailable`` naming everything tried when none does, or when the driver reports
    no GPU."""
    if not sys.platform.startswith("linux"):
        raise CudaUnavailable(f"dynajit's CUDA runtime supports Linux only (this is "
                              f"{sys.platform}); it loads libcuda.so.1")
    tried = []
    for path in candidates:
        try:
            lib = ctypes.CDLL(path)
        except OSError as exc:
            tried.append(str(exc) if path in str(exc) else f"{path}: {exc}")
            continue
        return Driver(lib, path)
    raise CudaUnavailable(
        "no CUDA driver library found; tried " + "; ".join(tried)
        + ". Install the NVIDIA driver, or add the directory holding libcuda.so.1 to "
        "LD_LIBRARY_PATH")


_driver: Driver | None = None
_failure: str | None = None
_lock = threading.Lock()


def get_driver() -> Driver:
    """The process's driver, loaded and initialized on first use from
    ``LIBRARY_CANDIDATES``. A failure is remembered: later calls raise the same
    ``CudaUnavailable`` message without probing again (``reset()`` forgets it)."""
    global _driver, _failure
    if _driver is not None:
        return _driver
    with _lock:
        if _driver is None:
            if _failure is not None:
                raise CudaUnavailable(_failure)
            try:
                _driver = open_driver(LIBRARY_CANDIDATES)
            except CudaUnavailable as exc:
                _failure = str(exc)
                raise
    return _driver


def is_available() -> bool:
    """Whether a CUDA driver and at least one GPU are present (never raises)."""
    try:
        get_driver()
    except CudaUnavailable:
        return False
    return True


def reset() -> None:
    """Forget the loaded driver (or the remembered failure); the next use loads again.
    Objects already holding the old driver keep using it."""
    global _driver, _failure
    with _lock:
        _driver = None
        _failure = None
