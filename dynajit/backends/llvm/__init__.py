"""The LLVM CPU backend: the loop IR's kernels compiled by llvmlite (O3, vectorized,
polynomial math), launched by a small C launcher from a generated Python wrapper, with
parallel outer loops and a persistent kernel cache. Ops without a loop form on this target
run as extern NumPy calls (BLAS matmul among them)."""

from __future__ import annotations

import platform
from typing import Any

import numpy as np

from dynajit.backends import register_backend
from dynajit.backends.loopir.handlers import REDUCTION_KINDS
from dynajit.backends.loopir.lowering import loop_dtype
from dynajit.backends.loopir.scheduler import Target, describe, schedule
from dynajit.trace import structured


class LLVMTarget(Target):
    blocks_rows = True
    scans = True
    stage_reuse = True
    shares_loops = True
    copies_complement = True
    # non-temporal vector stores are x86's (the code generator emits x86's sfence after them)
    streams_stores = platform.machine().lower() in ("x86_64", "amd64")

    def supports(self, name: str, dtype: np.dtype) -> bool:
        from dynajit.backends.llvm import scalar_ops

        if name == "load_at":  # gathers
            return True
        return loop_dtype(dtype) and scalar_ops.supports(name, dtype)

    def supports_reduction(self, kind: str, dtype: np.dtype) -> bool:
        return kind in REDUCTION_KINDS and loop_dtype(dtype)


@register_backend("llvm")
def llvm_backend(graph_module: Any, example_inputs: list) -> Any:
    """Compile a graph to fused native kernels (see the module docstring)."""
    from dynajit.backends.llvm.runtime import CompiledGraph

    sched = schedule(graph_module.graph, example_inputs, LLVMTarget())
    structured.artifact("dynajit_schedule", lambda: describe(sched))
    structured.record("dynajit_schedule_decisions", payload=lambda: sched.decisions)
    compiled = CompiledGraph(sched, getattr(graph_module, "filename", "graph"),
                             fallback=graph_module.forward)
    return compiled.run
