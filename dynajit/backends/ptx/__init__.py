"""The PTX backend for NVIDIA GPUs: NVPTX code generation from the loop IR (to come) and the
``ptxas`` checks of what it emits (``ptxas``). The runtime that loads and launches the PTX
is ``dynajit.cuda``."""

from dynajit.backends.ptx.ptxas import (
    Diagnostic,
    FunctionUsage,
    PtxasError,
    PtxasNotFound,
    PtxasReport,
    find_ptxas,
    run_ptxas,
)

__all__ = [
    "Diagnostic",
    "FunctionUsage",
    "PtxasError",
    "PtxasNotFound",
    "PtxasReport",
    "find_ptxas",
    "run_ptxas",
]
