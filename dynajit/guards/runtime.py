"""Predicates that guards are defined by and that generated guard code calls on its slow
paths: the strides class of an array, dtype identity, memory overlap, exact constant
equality. Each is the single definition both the fast generated check and ``explain`` use."""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np

# The array is C-contiguous (NumPy's flag, which ignores the strides of size-1 dimensions)
# and aligned: a backend may treat it as a dense row-major buffer of its dtype.
C_CONTIGUOUS = "C"
# Not aligned, or a stride is not a whole number of elements: no element-strided view
# describes it; a backend must not specialize on its layout.
UNALIGNED = "unaligned"

# NumPy's C-API flag bits (NPY_ARRAY_*), part of its stable ABI. ``ndarray.flags.num`` holds
# them all in one int, so one attribute read answers contiguity, alignment and writeability.
FLAG_C_CONTIGUOUS = 0x0001
FLAG_OWNDATA = 0x0004
FLAG_ALIGNED = 0x0100
FLAG_WRITEABLE = 0x0400

StridesClass = str | tuple[int, ...]

_may_share_memory = np.may_share_memory  # bounds only: max_work defaults to MAY_SHARE_BOUNDS


def is_device_array(value: Any) -> bool:
    """A GPU array from another library or dynajit's own: anything but an ndarray that
    exposes ``__cuda_array_interface__`` (CuPy arrays, PyTorch CUDA tensors,
    ``dynajit.cuda.DeviceArray``)."""
    # hasattr on the value: PyTorch's CPU tensors raise AttributeError for it
    return type(value) is not np.ndarray and hasattr(value, "__cuda_array_interface__")


def device_layout(value: Any) -> tuple[str, tuple[int, ...], tuple[int, ...] | None]:
    """What a guard fixes of a device array: ``(typestr, shape, strides)`` read off its
    ``__cuda_array_interface__`` (strides None when C-contiguous, as the interface says);
    ``dynajit.cuda.DeviceArray`` keeps it precomputed as ``cuda_layout``."""
    layout = getattr(value, "cuda_layout", None)
    if layout is not None:
        return layout
    iface = value.__cuda_array_interface__
    strides = iface.get("strides")
    return (iface["typestr"], tuple(iface["shape"]),
            None if strides is None else tuple(strides))


def strides_class(array: np.ndarray) -> StridesClass:
    """The layout class a guard fixes for ``array`` (whose shape and dtype it also fixes):

    - ``"C"``: C-contiguous and aligned;
    - a tuple of strides in elements (0 for broadcast dimensions, negative for reversed
      ones): aligned, not C-contiguous, every byte stride a multiple of the item size;
    - ``"unaligned"``: anything else.

    >>> strides_class(np.zeros((4, 8), np.float32)[:, ::2])
    (8, 2)
    """
    flags = array.flags.num
    if flags & (FLAG_C_CONTIGUOUS | FLAG_ALIGNED) == FLAG_C_CONTIGUOUS | FLAG_ALIGNED:
        return C_CONTIGUOUS
    itemsize = array.dtype.itemsize
    if not flags & FLAG_ALIGNED or itemsize == 0 or any(s % itemsize for s in array.strides):
        return UNALIGNED
    return tuple(s // itemsize for s in array.strides)


def describe_strides_class(cls: StridesClass) -> str:
    if cls == C_CONTIGUOUS:
        return "C-contiguous"
    if cls == UNALIGNED:
        return "unaligned"
    return f"element strides {cls}"


def check_strides_class(cls: StridesClass) -> StridesClass:
    """``cls`` if it is a valid strides class, else ValueError."""
    if cls in (C_CONTIGUOUS, UNALIGNED):
        return cls
    if isinstance(cls, tuple) and all(type(s) is int for s in cls):
        return cls
    raise ValueError(f"not a strides class: {cls!r} (expected 'C', 'unaligned' or a tuple of "
                     "element strides)")


def dtype_matches(got: np.dtype, expected: np.dtype) -> bool:
    """Same dtype for the compiled code's purposes: NumPy-equal (byte order, fields, units)
    *and* the same scalar type, since ``int64`` and ``longlong`` compare equal but make
    different scalar types."""
    return got == expected and got.type is expected.type


def canonical_dtype(dtype: Any) -> np.dtype:
    """The shared instance NumPy gives arrays of this dtype where there is one, so the
    generated check's ``is`` fast path hits (unpickled arrays carry private dtype copies)."""
    dtype = np.dtype(dtype)
    shared = np.dtype(dtype.char)
    return shared if dtype_matches(shared, dtype) and shared.metadata == dtype.metadata else dtype


def arrays_disjoint(*arrays: np.ndarray) -> bool:
    """True when no two of ``arrays`` can share memory: distinct objects whose byte extents
    (lowest to highest element address) do not overlap. Conservative: interleaved views of
    one buffer (``a[::2]``, ``a[1::2]``) count as overlapping. Arrays that each own their
    data are disjoint by construction; that is the fast path generated code inlines."""
    for a, b in itertools.combinations(arrays, 2):
        if a is b or _may_share_memory(a, b):
            return False
    return True


def exact_equal(a: Any, b: Any) -> bool:
    """Equality that also requires identical types, recursively, so ``1``, ``1.0``, ``True``
    and ``np.float64(1)`` all differ, ``0.0`` differs from ``-0.0``, and NaN equals NaN."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return _same_float(a, b)
    if isinstance(a, complex):
        return _same_float(a.real, b.real) and _same_float(a.imag, b.imag)
    if isinstance(a, np.generic):
        return a.dtype == b.dtype and a.tobytes() == b.tobytes()
    if isinstance(a, tuple):
        return len(a) == len(b) and all(exact_equal(x, y) for x, y in zip(a, b))
    if isinstance(a, frozenset):
        return len(a) == len(b) and all(any(exact_equal(x, y) for y in b) for x in a)
    if isinstance(a, slice):
        return exact_equal((a.start, a.stop, a.step), (b.start, b.stop, b.step))
    return bool(a == b)


def _same_float(a: float, b: float) -> bool:
    if a != a:
        return b != b
    return a == b and math.copysign(1.0, a) == math.copysign(1.0, b)
