"""``DeviceArray``: an n-d view of GPU memory (shape, dtype, byte strides, device pointer)
that owns its allocation or borrows someone else's, and speaks ``__cuda_array_interface__``
v3 both ways. ``as_device`` is how any input becomes one."""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np

from dynajit.cuda.driver import STREAM_LEGACY, Driver, get_driver
from dynajit.cuda.errors import ArrayInterfaceError
from dynajit.cuda.stream import Stream, stream_handle

# Bool, signed and unsigned integers, floats, complex: what kernels compute on. Structured,
# object, string and datetime dtypes have no meaning on the GPU side here.
_SUPPORTED_KINDS = "biufc"


class _Allocation:
    """A block of the driver's caching pool (``Driver.pool_alloc``), returned to the pool
    when the last array using it is collected (``cuda.empty_cache()`` frees pooled
    blocks)."""

    def __init__(self, driver: Driver, nbytes: int):
        self.nbytes = nbytes
        block = driver.pool_alloc(nbytes)
        self.ptr = block[0]
        self._finalizer = driver.finalizer(self, "pool_free", block)


class DeviceArray:
    """An array in GPU memory.

    ``ptr`` is the device address of element ``(0, ..., 0)``; ``strides`` are in bytes and
    may be negative or zero, as NumPy's. The array keeps ``owner`` alive: an allocation it
    made (``empty``, ``from_host``) or the foreign object it borrows from (``as_device``).
    There is no implicit conversion to NumPy: ``to_host()`` copies.

    >>> d = DeviceArray.from_host(np.arange(4, dtype=np.float32))
    >>> d.shape, d.dtype, d.to_host()
    ((4,), dtype('float32'), array([0., 1., 2., 3.], dtype=float32))
    """

    def __init__(self, shape: tuple[int, ...], dtype: Any, ptr: int,
                 strides: tuple[int, ...] | None = None, *, owner: object = None,
                 readonly: bool = False, stream: Stream | int | None = None):
        self.shape = tuple(int(n) for n in shape)
        if any(n < 0 for n in self.shape):
            raise ArrayInterfaceError(f"negative dimension in shape {self.shape}")
        self.dtype = _checked_dtype(dtype)
        if strides is None:
            self.strides = c_strides(self.shape, self.dtype.itemsize)
        else:
            self.strides = tuple(int(s) for s in strides)
            if len(self.strides) != len(self.shape):
                raise ArrayInterfaceError(
                    f"strides {self.strides} do not match shape {self.shape}")
        self.ptr = int(ptr)
        if self.ptr == 0 and self.size > 0:
            raise ArrayInterfaceError(
                f"a null device pointer for an array of {self.size} elements")
        self.readonly = bool(readonly)
        # The stream the data was last written on; consumers synchronize with it.
        self.stream = stream
        self._owner = owner

    # shape facts

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    @property
    def itemsize(self) -> int:
        return self.dtype.itemsize

    @property
    def nbytes(self) -> int:
        return self.size * self.dtype.itemsize

    @functools.cached_property
    def is_c_contiguous(self) -> bool:
        """Whether the elements are dense in row-major order (dimensions of length one may
        have any stride, as in NumPy). Shape and strides never change: computed once."""
        if self.size == 0:
            return True
        return all(stride == expected
                   for n, stride, expected in zip(self.shape, self.strides,
                                                  c_strides(self.shape, self.itemsize))
                   if n != 1)

    @functools.cached_property
    def cuda_layout(self) -> tuple[str, tuple[int, ...], tuple[int, ...] | None]:
        """``(typestr, shape, strides or None)`` of the interface, computed once: what a
        DEVICE guard compares on every call (``dynajit.guards.runtime.device_layout``)."""
        return (self.dtype.str, self.shape, None if self.is_c_contiguous else self.strides)

    @property
    def owns_memory(self) -> bool:
        """True for arrays that allocated their memory, False for borrowed memory."""
        return isinstance(self._owner, _Allocation)

    def __len__(self) -> int:
        if not self.shape:
            raise TypeError("len() of a 0-d DeviceArray")
        return self.shape[0]

    def __repr__(self) -> str:
        kind = "owned" if self.owns_memory else "borrowed"
        return (f"DeviceArray(shape={self.shape}, dtype={self.dtype}, strides={self.strides}, "
                f"ptr={self.ptr:#x}, {kind})")

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        # Without this NumPy would silently build an object array around the DeviceArray.
        raise ArrayInterfaceError(
            "a DeviceArray does not convert to a NumPy array implicitly; call .to_host()")

    # interoperability

    @property
    def __cuda_array_interface__(self) -> dict[str, Any]:
        """The CUDA Array Interface, version 3 (numba.readthedocs.io, "CUDA Array
        Interface"): ``strides`` is None for C-contiguous arrays, ``data`` is
        ``(ptr, readonly)`` with ptr 0 for empty arrays, and ``stream`` is the stream the
        data was last written on (1, the legacy default stream, when none was given)."""
        stream = stream_handle(self.stream)
        return {
            "version": 3,
            "shape": self.shape,
            "typestr": self.dtype.str,
            "descr": [("", self.dtype.str)],
            "data": (self.ptr if self.size else 0, self.readonly),
            "strides": None if self.is_c_contiguous else self.strides,
            "mask": None,
            "stream": STREAM_LEGACY if stream is None else stream,
        }

    # construction

    @classmethod
    def empty(cls, shape: int | tuple[int, ...], dtype: Any = np.float64) -> DeviceArray:
        """A new C-contiguous array with uninitialized contents.

        >>> DeviceArray.empty((2, 3), np.float32).strides
        (12, 4)
        """
        shape = (shape,) if isinstance(shape, int) else tuple(shape)
        dtype = _checked_dtype(dtype)
        nbytes = math.prod(shape) * dtype.itemsize
        if nbytes == 0:
            return cls(shape, dtype, 0)
        allocation = _Allocation(get_driver(), nbytes)
        return cls(shape, dtype, allocation.ptr, owner=allocation)

    @classmethod
    def from_host(cls, array: Any, stream: Stream | int | None = None) -> DeviceArray:
        """Copy a NumPy array (or anything ``np.asarray`` accepts) to a new C-contiguous
        device array. With a stream the copy is queued on it."""
        host = np.asarray(array)
        _checked_dtype(host.dtype)
        if not host.flags.c_contiguous:
            host = host.copy(order="C")
        result = cls.empty(host.shape, host.dtype)
        if result.nbytes:
            get_driver().memcpy_htod(result.ptr, host.ctypes.data, result.nbytes,
                                     stream_handle(stream))
        result.stream = stream
        return result

    # copies

    def copy_to_host(self, out: np.ndarray | None = None,
                     stream: Stream | int | None = None) -> np.ndarray:
        """Copy to a NumPy array (a new C-contiguous one, or ``out``), waiting for the copy.
        The copy is queued on ``stream``, by default the stream the data was written on.
        Strided arrays copy the smallest byte range holding all their elements, then
        gather on the host."""
        if out is None:
            out = np.empty(self.shape, self.dtype)
        elif out.shape != self.shape or out.dtype != self.dtype:
            raise ArrayInterfaceError(
                f"copy_to_host: out has shape {out.shape} and dtype {out.dtype}, the device "
                f"array {self.shape} and {self.dtype}")
        elif not out.flags.writeable:
            raise ArrayInterfaceError("copy_to_host: out is read-only")
        if self.size == 0:
            return out
        driver = get_driver()
        handle = stream_handle(self.stream if stream is None else stream)
        staging = None
        if self.is_c_contiguous and out.flags.c_contiguous:
            driver.memcpy_dtoh(out.ctypes.data, self.ptr, self.nbytes, handle)
        else:
            low, high = self.extent()
            staging = np.empty(high - low, np.uint8)
            driver.memcpy_dtoh(staging.ctypes.data, self.ptr + low, high - low, handle)
        if handle is not None:
            driver.stream_synchronize(handle)
        if staging is not None:
            out[...] = np.ndarray(self.shape, self.dtype, buffer=staging, offset=-low,
                                  strides=self.strides)
        return out

    to_host = copy_to_host

    def copy_from_host(self, array: Any, stream: Stream | int | None = None) -> None:
        """Overwrite this (C-contiguous, writable) array with a host array of the same shape,
        on ``stream`` (by default the array's); values are cast as NumPy's ``same_kind``
        rule allows."""
        if self.readonly:
            raise ArrayInterfaceError("copy_from_host: the device array is read-only")
        if not self.is_c_contiguous:
            raise ArrayInterfaceError(
                "copy_from_host needs a C-contiguous device array: writing the byte range of "
                "a strided one would overwrite the bytes between its elements")
        host = np.asarray(array)
        if host.shape != self.shape:
            raise ArrayInterfaceError(
                f"copy_from_host: host shape {host.shape} differs from {self.shape}")
        host = np.ascontiguousarray(host.astype(self.dtype, casting="same_kind", copy=False))
        stream = self.stream if stream is None else stream
        if self.nbytes:
            get_driver().memcpy_htod(self.ptr, host.ctypes.data, self.nbytes,
                                     stream_handle(stream))
        self.stream = stream

    def copy(self, stream: Stream | int | None = None) -> DeviceArray:
        """A new device array with the same contents (a device-to-device copy on
        ``stream``, by default the array's)."""
        if not self.is_c_contiguous:
            raise ArrayInterfaceError(
                "DeviceArray.copy of a strided array needs a gather kernel; use "
                "DeviceArray.from_host(a.to_host()) meanwhile")
        result = DeviceArray.empty(self.shape, self.dtype)
        stream = self.stream if stream is None else stream
        if self.nbytes:
            get_driver().memcpy_dtod(result.ptr, self.ptr, self.nbytes, stream_handle(stream))
        result.stream = stream
        return result

    def extent(self) -> tuple[int, int]:
        """Byte offsets ``(low, high)`` relative to ``ptr`` of the smallest range holding
        every element (``low`` is negative when some stride is)."""
        if self.size == 0:
            return 0, 0
        low = sum(s * (n - 1) for n, s in zip(self.shape, self.strides) if s < 0)
        high = sum(s * (n - 1) for n, s in zip(self.shape, self.strides) if s > 0)
        return low, high + self.itemsize


def c_strides(shape: tuple[int, ...], itemsize: int) -> tuple[int, ...]:
    """Row-major byte strides for ``shape``."""
    strides = []
    step = itemsize
    for n in reversed(shape):
        strides.append(step)
        step *= max(n, 1)
    return tuple(reversed(strides))


def as_device(obj: Any, stream: Stream | int | None = None) -> DeviceArray:
    """A ``DeviceArray`` for ``obj``:

    - a ``DeviceArray`` is returned as is;
    - anything with ``__cuda_array_interface__`` (CuPy arrays, PyTorch CUDA tensors, Numba
      device arrays) is used **in place**, zero-copy, with its strides; the result borrows
      its memory and keeps ``obj`` alive. If the interface names a stream other than the
      legacy default stream, that stream is synchronized first, as the interface's
      version 3 asks of consumers. The memory must
      belong to device 0's primary context (the one CuPy and PyTorch use by default);
    - a NumPy array or scalar is **copied** to a new device array (``stream`` orders that
      copy); results computed from it live on the device until ``to_host()``.

    >>> import cupy as cp
    >>> x = cp.arange(10.0)[::2]
    >>> as_device(x).strides     # the same memory, with CuPy's strides
    (16,)
    """
    if isinstance(obj, DeviceArray):
        return obj
    interface = getattr(obj, "__cuda_array_interface__", None)
    if interface is not None:
        return _from_interface(obj, interface)
    if isinstance(obj, (np.ndarray, np.generic)):
        return DeviceArray.from_host(obj, stream)
    raise ArrayInterfaceError(
        f"cannot use a {type(obj).__module__}.{type(obj).__qualname__} as a device array: "
        "expected a DeviceArray, an object exposing __cuda_array_interface__ (CuPy, PyTorch "
        "CUDA tensors) or a NumPy array (copied in)")


def _from_interface(obj: Any, interface: dict[str, Any]) -> DeviceArray:
    what = f"the __cuda_array_interface__ of a {type(obj).__name__}"
    if not isinstance(interface, dict):
        raise ArrayInterfaceError(f"{what} is a {type(interface).__name__}, not a dict")
    try:
        shape = tuple(interface["shape"])
        typestr = interface["typestr"]
        ptr, readonly = interface["data"]
    except (KeyError, TypeError, ValueError) as exc:
        raise ArrayInterfaceError(f"{what} lacks a valid shape, typestr or data: {exc!r}") \
            from None
    if interface.get("mask") is not None:
        raise ArrayInterfaceError(f"{what} has a mask; masked device arrays are not supported")
    strides = interface.get("strides")
    stream = interface.get("stream")
    if stream == 0:
        raise ArrayInterfaceError(f"{what} names stream 0, which the interface forbids as "
                                  "ambiguous")
    # Work on the legacy default stream is ordered before anything dynajit queues later (on
    # that stream or on its blocking streams), so only other streams need a wait.
    if stream is not None and stream != STREAM_LEGACY:
        get_driver().stream_synchronize(stream)
    try:
        dtype = np.dtype(typestr)
    except TypeError:
        raise ArrayInterfaceError(f"{what} has typestr {typestr!r}, which NumPy does not "
                                  "know") from None
    return DeviceArray(shape, dtype, ptr or 0, None if strides is None else tuple(strides),
                       owner=obj, readonly=readonly)


def _checked_dtype(dtype: Any) -> np.dtype:
    dtype = np.dtype(dtype)
    if dtype.kind not in _SUPPORTED_KINDS:
        raise ArrayInterfaceError(
            f"dtype {dtype} is not supported on the GPU (bool, integer, float and complex are)")
    if not dtype.isnative:
        raise ArrayInterfaceError(
            f"dtype {dtype.str} is not in the machine's byte order; convert it with "
            "astype(dtype.newbyteorder('='))")
    return dtype
