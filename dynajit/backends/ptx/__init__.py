"""The PTX backend for NVIDIA GPUs: NVPTX code generation from the loop IR (``codegen``),
the run-time wrapper (``runtime``) on the CUDA driver runtime ``dynajit.cuda``, and the
``ptxas`` checks of what it emits (``ptxas``). ``backend="ptx"`` needs a driver and a GPU at
compile time (else ``dynajit.cuda.CudaUnavailable``); see docs/gpu.md."""

from __future__ import annotations

from typing import Any

import numpy as np

from dynajit.backends import register_backend
from dynajit.backends.loopir.handlers import REDUCTION_KINDS
from dynajit.backends.loopir.lowering import loop_dtype
from dynajit.backends.loopir.scheduler import Target, describe, schedule
from dynajit.backends.ptx.ptxas import (
    Diagnostic,
    FunctionUsage,
    PtxasError,
    PtxasNotFound,
    PtxasReport,
    find_ptxas,
    run_ptxas,
)
from dynajit.trace import structured


class PTXTarget(Target):
    """What PTX kernels compute: the CPU handler's ops minus those needing the C library
    or an exact ``frem`` (``codegen.supports``); they run as host externs instead."""

    def supports(self, name: str, dtype: np.dtype) -> bool:
        from dynajit.backends.ptx.codegen import supports

        return loop_dtype(dtype) and supports(name, dtype)

    def supports_reduction(self, kind: str, dtype: np.dtype) -> bool:
        return kind in REDUCTION_KINDS and loop_dtype(dtype)


@register_backend("ptx", gpu=True)
def ptx_backend(graph_module: Any, example_inputs: list) -> Any:
    """Compile a graph to fused GPU kernels (see the module docstring)."""
    from dynajit.backends.ptx.runtime import PTXGraph, stand_in
    from dynajit.cuda import device_info

    device_info()  # CudaUnavailable before any work when there is no GPU
    examples = [stand_in(x) for x in example_inputs]
    sched = schedule(graph_module.graph, examples, PTXTarget())
    structured.artifact("dynajit_schedule", lambda: describe(sched))
    structured.record("dynajit_schedule_decisions", payload=lambda: sched.decisions)
    return PTXGraph(sched, example_inputs, graph_module.forward).run


__all__ = [
    "Diagnostic",
    "FunctionUsage",
    "PTXTarget",
    "PtxasError",
    "PtxasNotFound",
    "PtxasReport",
    "find_ptxas",
    "ptx_backend",
    "run_ptxas",
]
