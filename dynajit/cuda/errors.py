"""The CUDA runtime's exception types. All derive from ``dynajit.errors.DynajitError``; they
live here until ``dynajit/errors.py`` takes them over."""

from __future__ import annotations

from dynajit.errors import DynajitError


class CudaError(DynajitError):
    """Base class of every error raised by ``dynajit.cuda``."""


class CudaUnavailable(CudaError):
    """No usable CUDA driver or GPU: the driver library was not found, ``cuInit`` failed, or
    it reports no device. The message says what was looked for and where."""


class DriverError(CudaError):
    """A CUDA driver call returned an error. ``call`` is the driver function's name, ``code``
    the ``CUresult``, ``name``/``description`` CUDA's own words for it (``cuGetErrorName`` and
    ``cuGetErrorString``)."""

    def __init__(self, call: str, code: int, name: str, description: str, detail: str = ""):
        message = f"{call} failed: {name} ({description})"
        if detail:
            message += f"; {detail}"
        super().__init__(message)
        self.call = call
        self.code = code
        self.name = name
        self.description = description


class ArrayInterfaceError(CudaError, TypeError):
    """An object cannot be used as a device array (no ``__cuda_array_interface__``, an
    unsupported dtype, a masked array) or a kernel argument does not fit its parameter."""
