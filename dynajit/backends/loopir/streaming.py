"""Streaming stores: a stage whose stores are too large to stay in cache may write them past
the cache (non-temporal stores on x86). An ordinary store first reads the line it writes
(three bytes of memory traffic per byte stored, against NumPy's ``copyto``'s two), and the
lines it fills only push out data that is still wanted.

What is marked here is only what is safe and worth it; the code generator decides how (it
streams a marked stage only where its store walks the innermost loop contiguously). A marked
stage's stores may reach memory later than the loads of its own loop: so nothing else in
the kernel may read or write its buffer after it, and it reads its buffer only at the
element it stores (in place), as every stage of a fused element loop does."""

from __future__ import annotations

import os
from typing import Any

from dynajit.backends.loopir.ir import Pointwise, loop_vars
from dynajit.backends.loopir.scheduler import (
    Kernel,
    KernelStep,
    Stage,
    calls_transcendental,
    stage_accesses,
    stage_loads,
)


def _last_level_cache() -> int:
    try:
        size = os.sysconf("SC_LEVEL3_CACHE_SIZE")
    except (ValueError, OSError, AttributeError):
        size = 0
    return size if size > 0 else 32 << 20


# A kernel streams when the stages it may stream store at least this much: half the last-level
# cache (the loads of the same kernel fill the other half).
STREAM_BYTES = _last_level_cache() // 2


def stream_stores(steps: list[Any], decisions: list[dict]) -> None:
    """Mark (``Stage.streams``) the stages of each kernel step whose stores may bypass the
    cache, when together they store at least ``STREAM_BYTES``; record the decision. Kernels
    inside row-blocked runs are not seen here: blocking keeps rows in cache for the next
    kernel, which streaming would defeat."""
    for step in steps:
        if not isinstance(step, KernelStep):
            continue
        kernel = step.kernel
        marked = [st for k, st in enumerate(kernel.stages) if _may_stream(kernel, k)]
        stored = sum(_stored_bytes(kernel, st) for st in marked)
        if not marked or stored < STREAM_BYTES:
            continue
        for st in marked:
            st.streams = True
        decisions.append({"stream_stores": [st.out.name for st in marked],
                          "kernel": kernel.name, "bytes": stored})


def _stored_bytes(kernel: Kernel, stage: Stage) -> int:
    n = stage.out.dtype.itemsize
    for size in (*kernel.outer, *stage.inner):
        n *= size
    return n


def _may_stream(kernel: Kernel, k: int) -> bool:
    stage = kernel.stages[k]
    # A stage calling a transcendental is bound by compute, and the block copy measured
    # slower there (not only through registers: a copy kept out of line, a call per block,
    # was slower still; the cause is not pinned down). Measured at 1e7 float32 on two
    # threads, ms ordinary -> streamed (blocks half a page from the output): x + 1
    # 2.1-2.2 -> 1.0-1.7, layernorm 2.8-3.1 -> 1.9-2.0; but tanh 1.9-2.0 -> 2.1-2.2, GELU
    # 2.4-2.6 -> 2.7-2.8 and the sin/cos expression 5.8-5.9 -> 6.2-6.3.
    if type(stage.value) is not Pointwise or calls_transcendental(stage, kernel.outer):
        return False
    # A stencil (a buffer read at more than two indices) measured slower streamed (the diffusion
    # step: 2.8-3.0 -> 2.9-3.1 ms; reading two shifted rows gains, 2.5-2.7 -> 1.8-2.1), for
    # reasons not found.
    reads: dict[str, set] = {}
    for n, ix in stage_loads(stage, kernel.outer):
        reads.setdefault(n, set()).add(ix)
    if any(len(ixs) > 2 for ixs in reads.values()):
        return False
    pointwise = all(not st.inner for st in kernel.stages)
    if stage.inner == () and not pointwise:
        return False  # a per-row value: its loop is the rows', not an inner loop
    name = stage.out.name
    store = stage.out.index(loop_vars("x", len(kernel.outer)) + loop_vars("r", len(stage.inner)))
    for j, other in enumerate(kernel.stages):
        # an earlier stage of a row kernel stored the buffer: its lines are in cache, where
        # a non-temporal store costs more than it saves (softmax's in-place division: 2.3-2.5
        # ms ordinary, 3.2-3.6 streamed at 1e7)
        if j < k and not pointwise and other.out.name == name:
            return False
        if j > k and (other.out.name == name
                      or any(n == name for n, _ in stage_loads(other, kernel.outer))):
            return False
        # in one element loop (or in this stage) a read or an earlier store of the buffer
        # must be at the element this stage stores: the read runs before this stage stores
        # the element, the earlier store before it overwrites the element
        if j == k or (j < k and pointwise):
            if any(n == name and ix != store for n, ix in stage_accesses(other, kernel.outer)):
                return False
    return True
