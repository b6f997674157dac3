"""Row blocking: a run of steps that each touch intermediate buffers only row by row (a GEMM
``A @ W`` with the batch in A's rows, kernels over the same rows, a stencil writing rows of
its output) runs block of rows by block of rows, so that what one step writes is still in
the cache when the next reads it. Unblocked, a 3-layer MLP at 39062x256 writes and rereads
six 40 MB intermediates; blocked by 1024 rows they stay in L3.

The rule that keeps it exact: every access a step makes to a buffer produced inside the run
(a store, or a load of an earlier step's result) is at row ``x0 + c`` of that buffer for the
step's own row variable ``x0`` and one constant ``c`` per step. Block ``[s, e)`` then runs
each step over its rows ``[s - c, e - c)``: every step touches produced rows ``[s, e)`` only,
in the original step order, so each row sees the same writes and reads in the same order as
without blocking. Inputs and buffers finished before the run may be read at any row."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np

from dynajit.backends.loopir.ir import Ix
from dynajit.backends.loopir.scheduler import (
    AllocStep,
    CallStep,
    KernelStep,
    Var,
    kernel_buffers,
    stage_accesses,
)

# A block's rows are sized so that the buffers it touches take about this many bytes: a run of
# kernels only is one launch in which each thread walks its own rows block by block (stencil
# 3162x3162, best of 3 on a noisy machine: 128 KiB 2.7, 256 KiB 2.7-2.9, 1 MiB 3.2-3.4,
# 4 MiB 3.9 ms). A run with a GEMM takes at least GEMM_ROWS rows per block, below which the
# GEMM loses more than the cache gains (MLP 39062x256: 128 rows 111 ms, 512 rows 94 ms, 1024
# rows 91 ms).
BLOCK_BYTES = 256 << 10
GEMM_ROWS = 1024
# Blocking pays only when what two or more steps share outgrows the caches: per buffer, the
# bytes its second-largest toucher touches (a stencil's border copies touch one row or one
# column of the output the interior writes: nothing to keep in cache for them).
SHARED_BYTES = 16 << 20


@dataclasses.dataclass(eq=False)
class BlockedKernel:
    """A kernel run over its rows ``[s - row_offset, e - row_offset)`` of each block."""

    step: KernelStep
    row_offset: int
    rows: int


@dataclasses.dataclass(eq=False)
class BlockedMatmul:
    """``out[s:e] = a[s:e] @ w`` per block."""

    out: str
    fn: Callable[..., Any]
    a: str
    w: str


@dataclasses.dataclass(eq=False)
class RowBlocks:
    """Run ``steps`` for each block of ``block`` rows of ``rows``."""

    rows: int
    block: int
    steps: list[Any]

    def blocked_buffers(self) -> tuple[set[str], set[str]]:
        """(buffers the kernels touch, arrays the GEMMs take or make): all live through
        the whole loop."""
        kernels: set[str] = set()
        externs: set[str] = set()
        for step in self.steps:
            if isinstance(step, BlockedKernel):
                kernels |= kernel_buffers(step.step.kernel)
            else:
                externs |= {step.out, step.a, step.w}
        return kernels, externs

    def describe(self) -> list[str]:
        lines = [f"for rows in blocks of {self.block} of {self.rows}:"]
        for step in self.steps:
            if isinstance(step, BlockedKernel):
                k = step.step.kernel
                lines.append(f"  {k.name}: loops {k.outer}, row offset {step.row_offset}")
            else:
                lines.append(f"  {step.out}[rows] = matmul({step.a}[rows], {step.w})")
        return lines


def _ranges(ix: Ix, extents: dict[str, int]) -> tuple[int, int]:
    lo = hi = ix.const
    for var, coef in ix.terms:
        span = coef * (extents[var] - 1)
        lo, hi = lo + min(span, 0), hi + max(span, 0)
    return lo, hi


def _row_offset(ix: Ix, row_stride: int, extents: dict[str, int]) -> int | None:
    """c when flat index ``ix`` is always in row ``x0 + c`` of a buffer with rows of
    ``row_stride`` elements, else None."""
    coef = dict(ix.terms).get("x0", 0)
    if coef != row_stride or row_stride <= 0:
        return None
    rest = Ix(ix.const, tuple((v, k) for v, k in ix.terms if v != "x0"))
    lo, hi = _ranges(rest, extents)
    c = lo // row_stride
    return c if hi < (c + 1) * row_stride else None


class _Run:
    """The analysis of one candidate run of steps."""

    def __init__(self, shapes: dict[str, tuple[tuple[int, ...], np.dtype]]):
        self.shapes = shapes  # storage shape and dtype of every known variable
        self.alias: dict[str, str] = {}
        self.produced: set[str] = set()
        self.rows: int | None = None
        self.touched: dict[str, list[int]] = {}  # name -> bytes each step touching it touches
        self.steps: list[Any] = []
        self.hoisted: list[Any] = []
        self.has_gemm = False

    def name(self, n: str) -> str:
        return self.alias.get(n, n)

    def _rows_of(self, name: str) -> bool:
        shape = self.shapes.get(name, ((),))[0]
        if not shape:
            return False
        if self.rows is None:
            self.rows = shape[0]
        return shape[0] == self.rows

    def add_kernel(self, step: KernelStep) -> bool:
        kernel = step.kernel
        if not kernel.outer:
            return False
        offsets: set[int] = set()
        names: dict[str, int] = {}  # name -> elements this kernel's accesses visit
        for st in kernel.stages:
            extents = {f"x{k}": n for k, n in enumerate(kernel.outer)}
            extents.update({f"r{k}": n for k, n in enumerate(st.inner)})
            if st.out.name in self.touched and st.out.name not in self.produced:
                return False  # an earlier step of the run read it at any row
            self.produced.add(st.out.name)
            visits = int(np.prod(kernel.outer)) * int(np.prod(st.inner))
            for raw, ix in stage_accesses(st, kernel.outer):
                n = self.name(raw)
                names[n] = max(names.get(n, 0), visits)
                if n not in self.produced:
                    continue
                if n not in self.shapes or not self._rows_of(n):
                    return False
                c = _row_offset(ix, int(np.prod(self.shapes[n][0][1:])), extents)
                if c is None:
                    return False
                offsets.add(c)
        if len(offsets) != 1:
            return False
        (c,) = offsets
        if c < 0 or c + kernel.outer[0] > self.rows:
            return False
        self._touch(names)
        self.steps.append(BlockedKernel(step, c, kernel.outer[0]))
        return True

    def add_matmul(self, step: CallStep) -> bool:
        a, w = (self.name(v.name) for v in step.args)
        if w in self.produced or len(self.shapes.get(w, ((),))[0]) != 2:
            return False
        if a not in self.shapes or len(self.shapes[a][0]) != 2 or not self._rows_of(a):
            return False
        self.produced.add(step.var)
        self.has_gemm = True
        self._touch({n: None for n in (a, w, step.var)})  # a GEMM reads and writes them whole
        # the op's impl is np.matmul(a, w, dtype=None); blocks write into the result's rows
        self.steps.append(BlockedMatmul(step.var, np.matmul, a, w))
        self.hoisted.append(AllocStep(step.var, *self.shapes[step.var]))
        return True

    def _touch(self, names: dict[str, int | None]) -> None:
        """Record the bytes one step touches of each name (elements visited, None: all),
        at most the buffer's size."""
        for n, elements in names.items():
            meta = self.shapes.get(n)
            size = _nbytes(meta) if meta is not None else 0
            touched = size if elements is None or meta is None else min(
                size, elements * np.dtype(meta[1]).itemsize)
            self.touched.setdefault(n, []).append(touched)

    def blocked(self) -> RowBlocks | None:
        if self.rows is None or len(self.steps) < 2:
            return None
        shared = sum(sorted(v)[-2] for v in self.touched.values() if len(v) >= 2)
        if shared < SHARED_BYTES:
            return None
        row_bytes = sum(_nbytes(self.shapes[n]) // self.rows for n in self.touched
                        if n in self.shapes and self.shapes[n][0][:1] == (self.rows,))
        block = max(BLOCK_BYTES // max(row_bytes, 1), GEMM_ROWS if self.has_gemm else 8)
        if 2 * block > self.rows:
            return None
        return RowBlocks(self.rows, block, self.steps)


def _nbytes(meta: tuple[tuple[int, ...], np.dtype]) -> int:
    return int(np.prod(meta[0])) * np.dtype(meta[1]).itemsize


def _is_matmul(step: Any) -> bool:
    return (isinstance(step, CallStep) and step.label == "matmul" and not step.kwargs
            and len(step.args) == 2 and all(isinstance(a, Var) for a in step.args)
            and step.meta is not None and len(step.meta[0]) == 2)


def block_rows(steps: list[Any], shapes: dict[str, tuple[tuple[int, ...], np.dtype]],
               decisions: list[dict]) -> list[Any]:
    """Replace each maximal run of blockable steps that pays for it with a ``RowBlocks``
    step (allocations and constants of the run move before it). ``shapes`` gives the
    storage shape and dtype of the schedule's inputs; the rest come from the steps."""
    shapes = dict(shapes)
    for step in steps:
        if isinstance(step, AllocStep):
            shapes[step.var] = (step.shape, np.dtype(step.dtype))
        elif isinstance(step, CallStep) and step.meta is not None:
            shapes[step.var] = step.meta
    out: list[Any] = []
    run: _Run | None = None
    pending: list[Any] = []  # the run's steps as they were, in case it is not blocked

    def close() -> None:
        nonlocal run
        blocks = run.blocked() if run is not None else None
        if blocks is None:
            out.extend(pending)
        else:
            out.extend(run.hoisted)
            out.append(blocks)
            decisions.append({"row_blocks": blocks.rows, "block": blocks.block,
                              "steps": len(blocks.steps)})
        pending.clear()
        run = None

    for step in steps:
        if run is None:
            run = _Run(shapes)
        if isinstance(step, AllocStep) or (isinstance(step, CallStep) and step.label ==
                                           "constant"):
            if isinstance(step, AllocStep) and step.reuse:
                run.alias[step.var] = run.name(step.reuse)  # an in-place store's alias
            run.hoisted.append(step)
            pending.append(step)
            continue
        if (isinstance(step, CallStep) and step.label == "contiguous"
                and isinstance(step.args[0], Var) and step.args[0].name in run.produced):
            # a GEMM result made here is C-contiguous already: the same array
            run.alias[step.var] = run.name(step.args[0].name)
            run.hoisted.append(CallStep(step.var, _same, "alias", step.args, {}))
            pending.append(step)
            continue
        ok = (isinstance(step, KernelStep) and run.add_kernel(step)) or \
            (_is_matmul(step) and run.add_matmul(step))
        if ok:
            pending.append(step)
            continue
        close()
        out.append(step)
    close()
    return out


def _same(x: Any) -> Any:
    return x
