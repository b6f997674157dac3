"""The target-neutral loop IR (``ir``), op lowerings (``lowering``), the scheduler that fuses
lowered values into kernels (``scheduler``) and the handlers every target shares
(``handlers``). The ``loopir`` backend runs a schedule with the NumPy handler: slow, but the
reference meaning of every kernel the compiled backends generate."""

from __future__ import annotations

from typing import Any

import numpy as np

from dynajit.backends import register_backend
from dynajit.backends.loopir import lowering as _lowering  # noqa: F401  (fills op.lowering)
from dynajit.backends.loopir.handlers import HANDLER_OPS, REDUCTION_KINDS, run_kernel_numpy
from dynajit.backends.loopir.scheduler import (
    AllocStep,
    CallStep,
    KernelStep,
    Schedule,
    Target,
    Var,
    schedule,
)


class NumpyTarget(Target):
    scans = True
    stage_reuse = True
    copies_complement = True

    def supports(self, name: str, dtype: np.dtype) -> bool:
        return name in HANDLER_OPS

    def supports_reduction(self, kind: str, dtype: np.dtype) -> bool:
        return kind in REDUCTION_KINDS


def resolve(value: Any, env: dict[str, Any]) -> Any:
    if isinstance(value, Var):
        return env[value.name]
    if isinstance(value, tuple):
        return tuple(resolve(v, env) for v in value)
    if isinstance(value, list):
        return [resolve(v, env) for v in value]
    if isinstance(value, dict):
        return {k: resolve(v, env) for k, v in value.items()}
    return value


def run_schedule(sched: Schedule, inputs: tuple, run_kernel: Any = run_kernel_numpy) -> tuple:
    """Interpret a schedule step by step (the reference; compiled targets generate code)."""
    env: dict[str, Any] = dict(zip(sched.inputs, inputs, strict=True))
    for step in sched.steps:
        if isinstance(step, AllocStep):
            env[step.var] = env[step.reuse] if step.reuse else np.empty(step.shape, step.dtype)
        elif isinstance(step, CallStep):
            env[step.var] = step.fn(*resolve(step.args, env), **resolve(step.kwargs, env))
        else:
            assert isinstance(step, KernelStep)
            run_kernel(step.kernel, env)
    outputs = resolve(sched.outputs, env)
    return _scalars(sched, outputs)


def _scalars(sched: Schedule, outputs: Any) -> Any:
    def fix(v: Any, var: Any) -> Any:
        return v[()] if isinstance(var, Var) and var.name in sched.scalar_outputs else v

    if isinstance(sched.outputs, tuple):
        return tuple(fix(v, var) for v, var in zip(outputs, sched.outputs, strict=True))
    return fix(outputs, sched.outputs)


@register_backend("loopir")
def loopir_backend(graph_module: Any, example_inputs: list) -> Any:
    sched = schedule(graph_module.graph, example_inputs, NumpyTarget())
    return lambda *inputs: run_schedule(sched, inputs)
