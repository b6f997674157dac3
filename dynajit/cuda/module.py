"""Kernels: PTX modules loaded through the driver (cached by the PTX's hash), their entry
functions with parameter lists read from the PTX, and ``launch``, which packs Python
arguments into the bytes each parameter declares."""

from __future__ import annotations

import ctypes
import dataclasses
import hashlib
import operator
import re
import threading
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from dynajit.cuda.array import DeviceArray, as_device
from dynajit.cuda.driver import Driver, get_driver
from dynajit.cuda.errors import ArrayInterfaceError, CudaError
from dynajit.cuda.stream import Stream, stream_handle

_COMMENTS = re.compile(r"//[^\n]*|/\*.*?\*/", re.S)
# `.entry name (params)`; the parameter list is optional in PTX.
_ENTRY = re.compile(r"\.entry\s+([A-Za-z_$%][\w$%]*)\s*(?:\(([^)]*)\))?")
_PARAM = re.compile(r"\.param\s+(.*?)\s*([A-Za-z_$%][\w$%]*)\s*(?:\[\s*(\d+)\s*\])?\s*$", re.S)
_SCALAR = re.compile(r"\.([usbf])(8|16|32|64)\b")


@dataclasses.dataclass(frozen=True)
class Param:
    """One kernel parameter as the PTX declares it: ``kind`` is ``"s"``, ``"u"`` or ``"b"``
    (integers; ``launch`` accepts either signedness for all three), ``"f"`` (float) or
    ``"bytes"`` (a ``.b8 x[N]`` aggregate); ``size`` is in bytes; ``pointer`` marks
    ``.ptr`` parameters."""

    name: str
    kind: str
    size: int
    pointer: bool = False

    def __str__(self) -> str:
        if self.kind == "bytes":
            return f".b8 {self.name}[{self.size}]"
        return f".{self.kind}{8 * self.size}{' .ptr' if self.pointer else ''} {self.name}"


def parse_entries(ptx: str) -> dict[str, tuple[Param, ...]]:
    """The ``.entry`` functions of a PTX text and their parameters, in order.

    >>> parse_entries(".visible .entry k(.param .u64 k_p0, .param .f32 k_p1) { ret; }")
    {'k': (Param(name='k_p0', kind='u', size=8, pointer=False), Param(name='k_p1', ...))}
    """
    entries: dict[str, tuple[Param, ...]] = {}
    for match in _ENTRY.finditer(_COMMENTS.sub(" ", ptx)):
        name, params = match.group(1), match.group(2) or ""
        entries[name] = tuple(_parse_param(name, text) for text in params.split(",")
                              if text.strip())
    return entries


def _parse_param(entry: str, text: str) -> Param:
    match = _PARAM.match(text.strip())
    if match is None:
        raise CudaError(f"cannot read parameter {text.strip()!r} of kernel {entry!r}")
    qualifiers, name, count = match.groups()
    scalar = _SCALAR.search(qualifiers)
    if scalar is None:
        raise CudaError(f"parameter {name!r} of kernel {entry!r} has no scalar type "
                        f"({text.strip()!r})")
    kind, bits = scalar.group(1), int(scalar.group(2))
    if count is not None:
        return Param(name, "bytes", bits // 8 * int(count))
    return Param(name, kind, bits // 8, pointer=".ptr" in qualifiers.split())


class Module:
    """A loaded PTX module. ``info_log`` is the driver JIT's log (registers per kernel);
    ``entries`` maps each kernel to its parameters. Unloaded when collected."""

    def __init__(self, driver: Driver, ptx: str):
        self.driver = driver
        self.entries = parse_entries(ptx)
        self.handle, self.info_log = driver.module_load(ptx.encode() + b"\0")
        self._finalizer = driver.finalizer(self, "module_unload", self.handle)
        self._functions: dict[str, Function] = {}

    def function(self, name: str) -> Function:
        """The kernel ``name`` (an ``.entry`` of the PTX)."""
        fn = self._functions.get(name)
        if fn is None:
            if name not in self.entries:
                raise CudaError(f"no kernel {name!r} in this module; its entries are "
                                f"{sorted(self.entries) or 'none'}")
            fn = Function(self, name, self.driver.module_get_function(self.handle, name),
                          self.entries[name])
            self._functions[name] = fn
        return fn

    def __repr__(self) -> str:
        return f"<dynajit.cuda.Module {self.handle:#x} entries={sorted(self.entries)}>"


class Function:
    """One kernel of a ``Module``; launch it with ``launch(fn, grid, block, args)``."""

    def __init__(self, module: Module, name: str, handle: int, params: tuple[Param, ...]):
        self.module = module  # keeps the module loaded while the function is in use
        self.name = name
        self.handle = handle
        self.params = params
        self._packers = tuple(_packer(name, p) for p in params)

    def pack(self, args: Sequence[Any]) -> tuple[ctypes.Array | None, list]:
        """The ``void*[]`` cuLaunchKernel takes, and the objects it points into (keep them
        alive until the launch returns)."""
        if len(args) != len(self.params):
            raise ArrayInterfaceError(
                f"kernel {self.name!r} takes {len(self.params)} arguments "
                f"({', '.join(map(str, self.params))}), got {len(args)}")
        values = [pack(arg) for pack, arg in zip(self._packers, args)]
        if not values:
            return None, values
        pointers = (ctypes.c_void_p * len(values))(*(ctypes.addressof(v) for v in values))
        return pointers, values

    def __repr__(self) -> str:
        return f"<dynajit.cuda.Function {self.name}({', '.join(map(str, self.params))})>"


def launch(fn: Function, grid: int | Sequence[int], block: int | Sequence[int],
           args: Sequence[Any], shared: int = 0, stream: Stream | int | None = None) -> None:
    """Queue ``fn`` on ``stream`` (default: the legacy default stream) over ``grid`` blocks
    of ``block`` threads (an int or up to three dimensions each), with ``shared`` bytes of
    dynamic shared memory.

    Arguments are packed as the PTX declares each parameter: device arrays
    (``DeviceArray`` or anything with ``__cuda_array_interface__``) as their device pointer
    into 64-bit parameters; Python and NumPy integers range-checked into integer parameters
    of their width; floats into ``.f32``/``.f64``; ``bytes`` into ``.b8 x[N]`` aggregates.
    NumPy arrays are refused: copy them with ``DeviceArray.from_host`` first.

    >>> fn = load_module(ptx).function("saxpy")
    >>> launch(fn, grid=264, block=256, args=(n, np.float32(2.0), x, y, out))
    """
    grid3, block3 = _dims("grid", grid), _dims("block", block)
    if shared < 0:
        raise CudaError(f"shared memory must be >= 0 bytes, got {shared}")
    pointers, keep_alive = fn.pack(args)
    fn.module.driver.launch_kernel(fn.handle, grid3, block3, shared, stream_handle(stream),
                                   pointers, fn.name)
    del keep_alive


class PreparedLaunch:
    """A kernel launch whose arguments are all 64-bit integers or device pointers (what
    dynajit's generated kernels take), with its argument block built once: each call
    stores the values and calls ``cuLaunchKernel`` on the legacy default stream, with no
    per-argument packing. ``launch`` is the general form.

    >>> run = PreparedLaunch(fn, grid=264, block=256)
    >>> run([x.ptr, y.ptr, n])
    """

    def __init__(self, fn: Function, grid: int | Sequence[int], block: int | Sequence[int],
                 shared: int = 0):
        wrong = [p for p in fn.params if p.kind == "f" or p.size != 8]
        if wrong:
            raise CudaError(f"PreparedLaunch needs 64-bit integer or pointer parameters; "
                            f"kernel {fn.name!r} has {', '.join(map(str, wrong))}")
        self.fn = fn
        self.grid, self.block, self.shared = _dims("grid", grid), _dims("block", block), shared
        n = len(fn.params)
        self.values = (ctypes.c_uint64 * max(n, 1))()
        base = ctypes.addressof(self.values)
        self.pointers = (ctypes.c_void_p * max(n, 1))(*(base + 8 * i for i in range(n)))
        self.count = n
        self.lock = threading.Lock()  # one argument block: launches from threads take turns

    def __call__(self, values: Sequence[int]) -> None:
        if len(values) != self.count:
            raise ArrayInterfaceError(f"kernel {self.fn.name!r} takes {self.count} "
                                      f"arguments, got {len(values)}")
        driver = self.fn.module.driver
        with self.lock:
            for i, v in enumerate(values):
                self.values[i] = v & 0xFFFF_FFFF_FFFF_FFFF
            driver.launch_kernel(self.fn.handle, self.grid, self.block, self.shared, None,
                                 self.pointers, self.fn.name)


def _dims(what: str, value: int | Sequence[int]) -> tuple[int, int, int]:
    if type(value) is int and 0 < value < 2**31:  # the common case, checked cheaply
        return (value, 1, 1)
    try:
        dims = tuple(operator.index(d) for d in value) if isinstance(value, (tuple, list)) \
            else (operator.index(value),)
    except TypeError:
        dims = ()
    if not 1 <= len(dims) <= 3 or any(d < 1 or d >= 2**31 for d in dims):
        raise CudaError(f"{what} must be one to three positive sizes below 2**31, got {value!r}")
    return dims + (1,) * (3 - len(dims))


_UNSIGNED = {1: ctypes.c_uint8, 2: ctypes.c_uint16, 4: ctypes.c_uint32, 8: ctypes.c_uint64}


def _packer(kernel: str, param: Param) -> Callable[[Any], ctypes._SimpleCData | ctypes.Array]:
    where = f"parameter {param} of kernel {kernel!r}"
    if param.kind == "bytes":
        def pack_bytes(value: Any) -> ctypes.Array:
            data = bytes(memoryview(value)) if not isinstance(value, bytes) else value
            if len(data) != param.size:
                raise ArrayInterfaceError(f"{where} takes {param.size} bytes, got {len(data)}")
            return (ctypes.c_char * param.size).from_buffer_copy(data)
        return pack_bytes
    if param.kind == "f":
        if param.size == 2:
            return lambda value: ctypes.c_uint16(
                int(np.float16(_float(where, value)).view(np.uint16)))
        float_type = ctypes.c_float if param.size == 4 else ctypes.c_double
        return lambda value: float_type(_float(where, value))
    bits = 8 * param.size
    # PTX's integer types say little about signedness (LLVM declares every integer parameter
    # `.u`), so any value that fits the width in either reading is stored, two's complement.
    low, high, mask = -(1 << (bits - 1)), (1 << bits) - 1, (1 << bits) - 1
    int_type = _UNSIGNED[param.size]

    def pack_int(value: Any) -> ctypes._SimpleCData:
        if bits == 64 and not isinstance(value, (int, np.integer)):
            return ctypes.c_uint64(_device_pointer(where, value))
        number = _integer(where, value)
        if not low <= number <= high:
            raise ArrayInterfaceError(f"{where}: {number} does not fit in {bits} bits")
        return int_type(number & mask)
    return pack_int


def _device_pointer(where: str, value: Any) -> int:
    if isinstance(value, np.ndarray):
        raise ArrayInterfaceError(
            f"{where}: got a NumPy array; kernels read device memory, so copy it first with "
            "dynajit.cuda.DeviceArray.from_host(array)")
    if isinstance(value, DeviceArray) or hasattr(value, "__cuda_array_interface__"):
        return as_device(value).ptr
    raise ArrayInterfaceError(
        f"{where}: expected a device array or an integer, got {type(value).__name__}")


def _integer(where: str, value: Any) -> int:
    if isinstance(value, (bool, np.bool_, int, np.integer)):
        return int(value)
    raise ArrayInterfaceError(f"{where}: expected an integer, got {type(value).__name__} "
                              f"{value!r}")


def _float(where: str, value: Any) -> float:
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
        return float(value)
    raise ArrayInterfaceError(f"{where}: expected a number, got {type(value).__name__}")


_modules: dict[tuple[Driver, str], Module] = {}
_modules_lock = threading.Lock()


def load_module(ptx: str) -> Module:
    """Load PTX text (the driver JIT-compiles it for the GPU); the same text loads once per
    process: the cache is keyed by its SHA-256. A JIT failure raises ``DriverError``
    carrying the JIT's error log.

    >>> fn = load_module(ptx).function("saxpy")
    """
    if not isinstance(ptx, str):
        raise CudaError(f"load_module takes PTX text (str), got {type(ptx).__name__}")
    driver = get_driver()
    key = (driver, hashlib.sha256(ptx.encode()).hexdigest())
    with _modules_lock:
        module = _modules.get(key)
        if module is None:
            module = Module(driver, ptx)
            _modules[key] = module
    return module


def clear_module_cache() -> None:
    """Forget cached modules; each unloads once no ``Function`` of it is in use."""
    with _modules_lock:
        _modules.clear()
