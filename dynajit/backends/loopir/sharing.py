"""Loop sharing: a reduction stage joins the inner loop of the stages before it in its
kernel when it walks the same index space and reads what they store only at the element
they store. Softmax's row sum then adds each exponential right after storing it (the value
is still in a register) instead of reading the row again in a loop of its own.

Why it is exact: a reduction writes only after its loop. Inside the shared loop, at element
``i``, the earlier stages have stored their element ``i`` before the reduction reads it; the
reduction reads nothing else they write, so it sees the values it saw when it ran after
them; and they never read the reduction's output (it did not exist when they ran)."""

from __future__ import annotations

from typing import Any

from dynajit.backends.loopir.ir import Reduction, Scan, loop_vars
from dynajit.backends.loopir.scheduler import KernelStep, Stage, stage_loads


def share_loops(steps: list[Any], decisions: list[dict]) -> None:
    """Mark each stage that may run in the inner loop of the stages before it
    (``Stage.shares_loop``) and record the decision."""
    for step in steps:
        if not isinstance(step, KernelStep):
            continue
        kernel = step.kernel
        group: list[Stage] = []
        for stage in kernel.stages:
            if group and _joins(group, stage, kernel.outer):
                stage.shares_loop = True
                decisions.append({"share_loop": stage.out.name, "with": group[-1].out.name,
                                  "kernel": kernel.name})
                group.append(stage)
            else:
                group = [] if isinstance(stage.value, Scan) or not stage.inner else [stage]


def _joins(group: list[Stage], stage: Stage, outer: tuple[int, ...]) -> bool:
    if not isinstance(stage.value, Reduction) or stage.inner != group[0].inner:
        return False
    idx = loop_vars("x", len(outer))
    ridx = loop_vars("r", len(stage.inner))
    stored = {}
    for member in group:
        if isinstance(member.value, Reduction):
            stored[member.out.name] = None  # complete only after the loop: never readable
        else:
            stored[member.out.name] = member.out.index(idx + ridx)
    for name, index in stage_loads(stage, outer):
        if name in stored and index != stored[name]:
            return False
    return stage.out.name not in stored
