"""Value metadata carried by every graph value: shape, dtype and whether NumPy returns a
scalar (``np.generic``) or an ``ndarray``. Sizes are ints today; a symbolic size will be an
object supporting ``==``, ``+``, ``*`` and ``hash``, so code here never assumes ``int``
beyond those operations."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

# Short names used in the text form and in generated signatures.
_SHORT = {
    "bool": "b8",
    "int8": "i8",
    "int16": "i16",
    "int32": "i32",
    "int64": "i64",
    "uint8": "u8",
    "uint16": "u16",
    "uint32": "u32",
    "uint64": "u64",
    "float16": "f16",
    "float32": "f32",
    "float64": "f64",
    "complex64": "c64",
    "complex128": "c128",
}


def dtype_short(dtype: np.dtype) -> str:
    return _SHORT.get(np.dtype(dtype).name, np.dtype(dtype).str)


@dataclasses.dataclass(frozen=True)
class TensorMeta:
    """What the compiler knows about an array value without its data.

    ``scalar`` is True when NumPy gives a NumPy scalar (e.g. ``np.float64``) rather than a
    0-d array: ufuncs and reductions do this for 0-d results, and callers can tell.
    """

    shape: tuple[Any, ...]
    dtype: np.dtype
    scalar: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "dtype", np.dtype(self.dtype))
        object.__setattr__(self, "shape", tuple(self.shape))
        if self.scalar and self.shape != ():
            raise ValueError(f"a scalar meta must have shape (), got {self.shape}")

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> Any:
        n = 1
        for s in self.shape:
            n = n * s
        return n

    @property
    def nbytes(self) -> Any:
        return self.size * self.dtype.itemsize

    def __str__(self) -> str:
        if self.scalar:
            return f"{dtype_short(self.dtype)} scalar"
        return f"{dtype_short(self.dtype)}[{', '.join(str(s) for s in self.shape)}]"

    @staticmethod
    def of(value: Any) -> TensorMeta:
        """The meta of a concrete ndarray or NumPy scalar."""
        if isinstance(value, np.ndarray):
            return TensorMeta(value.shape, value.dtype)
        if isinstance(value, np.generic):
            return TensorMeta((), value.dtype, scalar=True)
        iface = getattr(value, "__cuda_array_interface__", None)
        if iface is not None:  # a GPU array (CuPy, PyTorch, dynajit.cuda.DeviceArray)
            return TensorMeta(tuple(iface["shape"]), np.dtype(iface["typestr"]))
        raise TypeError(f"expected an ndarray or NumPy scalar, got {type(value).__name__}")


def meta_str(meta: Any) -> str:
    """Text of a node's meta: one TensorMeta, a tuple of them (multi-output ops), or None."""
    if meta is None:
        return "?"
    if isinstance(meta, tuple):
        return "(" + ", ".join(meta_str(m) for m in meta) + ")"
    return str(meta)


def meta_of_value(value: Any) -> Any:
    """Meta of a concrete result: TensorMeta, or a tuple of metas for tuple/list results."""
    if isinstance(value, (tuple, list)):
        return tuple(meta_of_value(v) for v in value)
    return TensorMeta.of(value)
