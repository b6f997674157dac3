"""NVPTX code for one loop-IR kernel. ``PTXKernelBuilder`` subclasses the CPU builder, so every
handler call (loads, casts, ufuncs with NumPy's scalar semantics, reductions' accumulators)
emits the same IR; only the loop skeleton is replaced by one of three launch shapes:

- ``"flat"``: a grid-stride loop over the flattened outer space, each thread running every
  stage serially (pointwise kernels, whose contiguous dimensions are collapsed first; and row
  kernels whose rows are too short to share between threads);
- ``"rows"``: one block per row (grid-stride over rows), threads striding over each stage's
  inner space; reductions combine per thread, then across the warp with butterfly shuffles,
  then across warps through shared memory, and every thread ends with the row's result (so
  later stages read it from a register, thread 0 stores it);
- ``"full"``: a reduction over everything (outer ``()``) in two launches of the same entry:
  phase 0 writes one partial per block to a scratch buffer, phase 1 (one block) combines them.

Kernel ABI: ``dynajit_kernel(buffers..., int64 *params[, scratch, phase])`` with the
parameter array in device memory (shape-dependent integers and body constants, as on the
CPU). Math never uses ``llvm.<math>`` intrinsics (they abort the process on NVPTX): only
``mathlib`` routines and the intrinsics it allows; see ``supports``."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
from llvmlite import ir

from dynajit.backends.llvm import mathlib, scalar_ops
from dynajit.backends.llvm.codegen import LLVMKernelBuilder
from dynajit.backends.loopir.ir import loop_vars, use_handler
from dynajit.backends.loopir.scheduler import Kernel, Reduction, Stage

TRIPLE = "nvptx64-nvidia-cuda"
DATA_LAYOUT = "e-p6:32:32-i64:64-i128:128-i256:256-v16:16-v32:32-n16:32:64"
ENTRY = "dynajit_kernel"
BLOCK = 256  # threads per block in every launch shape
# Bodies per trip of the grid-stride loops over one-dimensional spaces (independent loads in
# flight per warp). Chosen on an H100 with `benchmarks/gpu.py --tune` at 1e8 float32 elements
# (device time, share of copy bandwidth): flat kernels lose with unrolling (GELU 67% at 1,
# 52% at 2 and 4; the 4-array expression 81/78-81/77%: occupancy falls with registers); row
# kernels gain at 2 (softmax 45% -> 59-61%, layernorm 55% -> 50%).
UNROLL_FLAT = 1
UNROLL_ROWS = 2
# Rows up to this long are reduced by one warp each (shuffles only: no barrier, no shared
# memory), eight rows per block; longer rows take a whole block each. A block per 1024-long
# softmax row spent its time in the two block-wide combines (39% of copy bandwidth on an H100).
WARP_ROW_MAX = 8192
WARPS = BLOCK // 32
# Rows shorter than this (largest stage) are run one row per thread instead of per block.
ROW_BLOCK_MIN = 32

I1 = ir.IntType(1)
I32 = ir.IntType(32)
I64 = ir.IntType(64)
PTR = ir.PointerType()

# frem lowers on NVPTX as x - trunc(x / y) * y, which is not fmod's exact result.
_INEXACT_FLOAT = frozenset({"fmod", "remainder", "floor_divide"})


def supports(name: str, dtype: Any) -> bool:
    """Whether an ufunc can run in a PTX kernel on ``dtype``: the CPU handler has it, and
    it needs no C library (which does not exist on the GPU) and no inexact ``frem``.

    >>> supports("exp", np.float32), supports("hypot", np.float64), supports("fmod", np.int8)
    (True, False, True)
    """
    dtype = np.dtype(dtype)
    if not scalar_ops.supports(name, dtype):
        return False
    if dtype.kind == "f" and name in _INEXACT_FLOAT:
        return False
    if name in scalar_ops.LIBM:
        return mathlib.supports("power" if name == "float_power" else name, dtype)
    if name in ("logaddexp", "logaddexp2"):
        return mathlib.supports("log1p", dtype) and mathlib.supports("exp2", dtype)
    return True


@dataclasses.dataclass
class PTXKernelSource:
    """The LLVM IR of one kernel, its launch shape and what its launch needs: ``params``
    (the int64 parameter array), ``buffers`` (argument order), ``total`` (iterations of the
    grid-stride loop: elements, rows, or reduced elements for ``"full"``)."""

    ir_text: str
    shape: str
    params: list[int]
    buffers: list[str]
    total: int
    blocks: int = 1  # phase 0's grid for "full" (the partials' count)
    # sin/cos/tan may meet an argument past their range: then the kernel sets the int64
    # after ``params`` to nonzero and the result must be recomputed exactly (on the host)
    range_checked: bool = False
    rows_per_block: int = 1  # "rows": a warp per row (WARPS per block) or a block per row


class PTXKernelBuilder(LLVMKernelBuilder):
    """Builds one kernel's NVPTX module (see the module docstring for the launch shapes)."""

    # No C library on the GPU: a sin/cos/tan argument past the polynomials' reduction range
    # sets a flag word (after the parameters) and the runtime recomputes the call on the host.
    EXACT_MATH_FALLBACK = False
    INTERLEAVE = 0  # no loop vectorizer on NVPTX

    def __init__(self, kernel: Kernel, full_blocks: int = 1):
        super().__init__(kernel, TRIPLE, DATA_LAYOUT)
        self.full_blocks = max(int(full_blocks), 1)
        has_inner = any(st.inner for st in kernel.stages)
        if not kernel.outer and has_inner:
            self.shape = "full"
        elif has_inner and max(_prod(st.inner) for st in kernel.stages) >= ROW_BLOCK_MIN:
            self.shape = "rows"
        else:
            self.shape = "flat"
        self.forward: dict[str, ir.Value] = {}  # reduction results held in registers
        self._specials: dict[str, ir.Value] = {}
        self.warp_rows = self.shape == "rows" and max(
            _prod(st.inner) for st in kernel.stages) <= WARP_ROW_MAX

    # ---------------------------------------------------------------------------- build
    def build(self) -> PTXKernelSource:  # type: ignore[override]
        args = [PTR] * (len(self.buffers) + 1)
        if self.shape == "full":
            args += [PTR, I64]
        fn = ir.Function(self.module, ir.FunctionType(ir.VoidType(), args), ENTRY)
        fn.calling_convention = "ptx_kernel"
        fn.attributes.add("nounwind")
        # Unaliased (buffers are distinct or only read): LLVM infers which are read-only
        # and loads those through the non-coherent cache (ld.global.nc).
        for arg in fn.args[:len(self.buffers) + 1]:
            arg.add_attribute("noalias")
        self.function = fn
        self.ptrs = dict(zip(self.buffers, fn.args, strict=False))
        self.param_ptr = fn.args[len(self.buffers)]
        self.entry = fn.append_basic_block("entry")
        self.entry_builder = ir.IRBuilder(self.entry)
        first = fn.append_basic_block("body")
        self.builder = ir.IRBuilder(first)
        # An i32 OR over this thread's elements (as on the CPU), published once at the end.
        self.range_flag = self.entry_builder.alloca(I32)
        self.entry_builder.store(ir.Constant(I32, 0), self.range_flag)
        if self.shape == "flat":
            total = _prod(self.outer)
            # spaces of several dimensions are not unrolled: their index division and
            # 64-bit addresses per copy cost too many registers (stencil: 40 -> 128 at 2)
            self._grid_stride(self._global_thread(), self._grid_threads(), total, "i",
                              lambda i: self._flat_body(i),
                              unroll=self._unroll(UNROLL_FLAT) if len(self.outer) == 1
                              and not any(st.inner for st in self.kernel.stages) else 1)
        elif self.shape == "rows":
            total = _prod(self.kernel.outer)
            eb = self.entry_builder
            if self.warp_rows:
                lo = eb.add(eb.mul(self._special("ctaid.x"), ir.Constant(I64, WARPS)),
                            eb.lshr(self._special("tid.x"), ir.Constant(I64, 5)))
                step = eb.mul(self._special("nctaid.x"), ir.Constant(I64, WARPS))
            else:
                lo, step = self._special("ctaid.x"), self._special("nctaid.x")
            self._grid_stride(lo, step, total, "row", self._row_body, unroll=1)
        else:
            total = _prod(self.kernel.stages[0].inner)
            self._full_reduction(fn.args[-2], fn.args[-1])
        if self.range_flag_used:
            b = self.builder
            with b.if_then(b.icmp_unsigned("!=", b.load(self.range_flag, typ=I32),
                                           ir.Constant(I32, 0)), likely=False):
                slot = b.gep(self.param_ptr, [ir.Constant(I64, len(self.params))],
                             inbounds=True, source_etype=I64)
                b.atomic_rmw("or", slot, ir.Constant(I64, 1), "monotonic")
        self.builder.ret_void()
        self.entry_builder.branch(first)
        return PTXKernelSource(str(self.module), self.shape, self.params, self.buffers, total,
                               self.full_blocks, self.range_flag_used,
                               WARPS if self.warp_rows else 1)

    # ---------------------------------------------------------------------------- threads
    def _special(self, name: str) -> ir.Value:
        """A PTX special register (tid.x, ntid.x, ctaid.x, nctaid.x) as i64, read once."""
        if name not in self._specials:
            m = self.module
            full = f"llvm.nvvm.read.ptx.sreg.{name}"
            fn = m.globals.get(full) or ir.Function(m, ir.FunctionType(I32, []), full)
            self._specials[name] = self.entry_builder.zext(self.entry_builder.call(fn, []), I64)
        return self._specials[name]

    def _global_thread(self) -> ir.Value:
        eb = self.entry_builder
        return eb.add(eb.mul(self._special("ctaid.x"), self._special("ntid.x")),
                      self._special("tid.x"))

    def _grid_threads(self) -> ir.Value:
        return self.entry_builder.mul(self._special("ntid.x"), self._special("nctaid.x"))

    def _grid_stride(self, lo: ir.Value, step: ir.Value, total: int, var: str,
                     body: Any, unroll: int = 1) -> None:
        """``for i in range(lo, total, step): body(i)``; ``total`` is a parameter. The
        main loop runs ``unroll`` bodies per trip (all in range), a tail loop the rest:
        a warp then has ``unroll`` independent loads in flight instead of one, which
        memory-bound kernels need to approach the device's bandwidth."""
        hi = self.param(total)
        if unroll > 1:
            b = self.entry_builder
            span = b.mul(step, ir.Constant(I64, unroll - 1))
            last = b.sub(hi, span)  # i + span < hi <=> i < hi - span (signed; may be < 0)
            wide = b.mul(step, ir.Constant(I64, unroll))

            def unrolled() -> None:
                i = self.vars[var]
                for k in range(unroll):
                    body(i if k == 0 else self.builder.add(
                        i, self.entry_builder.mul(step, ir.Constant(I64, k))))

            self._loop(lo, last, var, unrolled, step=wide)
            lo = self.vars[var]  # where the main loop stopped (the header's phi)
        self._loop(lo, hi, var, lambda: body(self.vars[var]), step=step)

    def _unroll(self, base: int) -> int:
        """No unrolling when the kernel computes in 64-bit values: twice the registers per
        value (ptxas: float64 GELU 40 -> 66 registers at 2) and compute-bound anyway."""
        wide = any(np.dtype(st.out.dtype).itemsize > 4 for st in self.kernel.stages)
        return 1 if wide else base

    def _unflatten(self, flat: ir.Value, sizes: tuple[int, ...], prefix: str) -> None:
        """Set ``prefix0..`` to the C-order coordinates of ``flat`` in ``sizes``. Division
        is 32-bit when the space fits (64-bit division is a long software sequence)."""
        b = self.builder
        narrow = _prod(sizes) < 2 ** 31
        rest = b.trunc(flat, I32) if narrow else flat
        for k in reversed(range(len(sizes))):
            if k == 0:
                coord = rest
            else:
                size = self.param(sizes[k])
                size = self.entry_builder.trunc(size, I32) if narrow else size
                coord = b.urem(rest, size)
                rest = b.udiv(rest, size)
            self.vars[f"{prefix}{k}"] = b.zext(coord, I64) if narrow else coord

    # ---------------------------------------------------------------------------- flat
    def _flat_body(self, i: ir.Value) -> None:
        self._unflatten(i, self.outer, "x")
        for stage in self.kernel.stages:
            self._stage(stage)

    # ---------------------------------------------------------------------------- rows
    def _row_body(self, row: ir.Value) -> None:
        self._unflatten(row, self.kernel.outer, "x")
        self.forward = {}
        for k, stage in enumerate(self.kernel.stages):
            if isinstance(stage.value, Reduction):
                self._block_reduction(stage)
            else:
                self._block_pointwise(stage)
                if k + 1 < len(self.kernel.stages):
                    self._row_sync()  # later stages may read what other threads stored

    def _row_thread(self) -> tuple[ir.Value, ir.Value]:
        """(first index, stride) of this thread within its row: its lane and 32 when a warp
        takes a row, its thread index and the block size when a block does."""
        if self.warp_rows:
            lane = self.entry_builder.and_(self._special("tid.x"), ir.Constant(I64, 31))
            return lane, ir.Constant(I64, 32)
        return self._special("tid.x"), self._special("ntid.x")

    def _block_pointwise(self, stage: Stage) -> None:
        idx = loop_vars("x", len(self.kernel.outer))
        ridx = loop_vars("r", len(stage.inner))

        def body(j: ir.Value) -> None:
            self._unflatten(j, stage.inner, "r")
            with use_handler(self):
                v = stage.value.body(idx + ridx)
            self._store(stage.out.name, stage.out.index(idx + ridx), v, stage.out.dtype)

        self._grid_stride(*self._row_thread(), _prod(stage.inner), "j", body,
                          unroll=self._unroll(UNROLL_ROWS) if len(stage.inner) == 1 else 1)

    def _block_reduction(self, stage: Stage) -> None:
        value = stage.value
        acc = self._thread_partial(stage, *self._row_thread(), self._unroll(UNROLL_ROWS))
        parts = self._block_combine(value.kind, value.dtype, value.src_dtype, acc)
        result = parts[1] if value.kind in ("argmax", "argmin") else parts[0]
        idx = loop_vars("x", len(self.kernel.outer))
        self._store_by_thread0(stage, stage.out.index(idx), result)
        self.forward[stage.out.name] = result

    def _thread_partial(self, stage: Stage, lo: ir.Value, step: ir.Value,
                        unroll: int) -> dict:
        value = stage.value
        acc = self.scalar.reduction_start(value.kind, value.dtype, value.src_dtype)
        idx = loop_vars("x", len(self.kernel.outer))
        ridx = loop_vars("r", len(stage.inner))

        def body(j: ir.Value) -> None:
            self._unflatten(j, stage.inner, "r")
            with use_handler(self):
                v = value.body(idx, ridx)
            self.scalar.reduction_step(acc, v, j)

        self._grid_stride(lo, step, _prod(stage.inner), "j", body,
                          unroll=unroll if len(stage.inner) == 1 else 1)
        return acc

    def _store_by_thread0(self, stage: Stage, index: Any, result: ir.Value) -> None:
        b = self.builder
        with b.if_then(b.icmp_unsigned("==", self._row_thread()[0], ir.Constant(I64, 0))):
            self._store(stage.out.name, index, result, stage.out.dtype)

    def load(self, name: str, index: Any, dtype: Any) -> ir.Value:
        """Reads of a row's reduction result come from the register every thread holds."""
        if name in self.forward:
            return self.forward[name]
        return super().load(name, index, dtype)

    # ---------------------------------------------------------------------------- combine
    def _block_combine(self, kind: str, dtype: np.dtype, src: np.dtype,
                       acc: dict) -> list[ir.Value]:
        """Every thread's partial combined; all threads return the block's result. Warps
        combine with butterfly shuffles, warp leaders write shared memory, and after a
        barrier every thread folds the warps' values in the same order (so all agree)."""
        b = self.builder
        parts = self._acc_parts(kind, acc)
        for offset in (16, 8, 4, 2, 1):
            other = [self._shuffle(p, offset) for p in parts]
            parts = self._combine(kind, dtype, src, parts, other)
        if self.warp_rows:
            return parts  # the butterfly left the warp's result in every lane
        smem = [self._shared(k) for k in range(len(parts))]
        lane = b.and_(self._special("tid.x"), ir.Constant(I64, 31))
        warp = b.lshr(self._special("tid.x"), ir.Constant(I64, 5))
        with b.if_then(b.icmp_unsigned("==", lane, ir.Constant(I64, 0))):
            for mem, p in zip(smem, parts, strict=True):
                b.store(_to_i64(b, p), self._shared_slot(mem, warp), align=8)
        self._barrier()
        nwarps = b.lshr(b.add(self._special("ntid.x"), ir.Constant(I64, 31)),
                        ir.Constant(I64, 5))
        zero = ir.Constant(I64, 0)
        result = [b.load(self._shared_slot(mem, zero), typ=I64, align=8) for mem in smem]
        result = [_from_i64(b, r, p.type) for r, p in zip(result, parts, strict=True)]
        slots = [self.entry_builder.alloca(p.type) for p in parts]
        for slot, r in zip(slots, result, strict=True):
            b.store(r, slot)

        def fold(w: ir.Value) -> None:
            cur = [b.load(s) for s in slots]
            new = [_from_i64(b, b.load(self._shared_slot(mem, w), typ=I64, align=8), p.type)
                   for mem, p in zip(smem, parts, strict=True)]
            for slot, r in zip(slots, self._combine(kind, dtype, src, cur, new), strict=True):
                b.store(r, slot)

        self._counted_loop(ir.Constant(I64, 1), nwarps, fold)
        out = [b.load(s) for s in slots]
        self._barrier()  # shared memory is reused by the next reduction
        return out

    def _counted_loop(self, lo: ir.Value, hi: ir.Value, body: Any) -> None:
        b = self.builder
        pre = b.block
        header = self.function.append_basic_block("w.head")
        inner = self.function.append_basic_block("w.body")
        done = self.function.append_basic_block("w.done")
        b.branch(header)
        b.position_at_end(header)
        w = b.phi(I64)
        w.add_incoming(lo, pre)
        b.cbranch(b.icmp_signed("<", w, hi), inner, done)
        b.position_at_end(inner)
        body(w)
        w.add_incoming(b.add(w, ir.Constant(I64, 1)), b.block)
        b.branch(header)
        b.position_at_end(done)

    def _acc_parts(self, kind: str, acc: dict) -> list[ir.Value]:
        b = self.builder
        if kind in ("argmax", "argmin"):
            return [b.load(acc["best"]), b.load(acc["index"]), b.zext(b.load(acc["has"]), I32)]
        # the thread's value as the CPU kernel finishes it: a float max/min keeps "a nan was
        # seen" apart from its running value (scalar_ops), so the partial must carry the nan
        return [self.scalar.reduction_result(acc)]

    def _combine(self, kind: str, dtype: np.dtype, src: np.dtype, a: list[ir.Value],
                 c: list[ir.Value]) -> list[ir.Value]:
        """Two partials of a reduction as one (associative and commutative, so any order of
        combination gives NumPy's result up to floating-point summation order)."""
        b = self.builder
        s = self.scalar
        if kind in ("argmax", "argmin"):
            (va, ia, ha), (vc, ic, hc) = a, c
            ha1 = b.icmp_unsigned("!=", ha, ir.Constant(I32, 0))
            hc1 = b.icmp_unsigned("!=", hc, ir.Constant(I32, 0))
            earlier = b.icmp_signed("<", ic, ia)
            if src.kind == "f":
                op = ">" if kind == "argmax" else "<"
                nan_a = b.fcmp_unordered("uno", va, va)
                nan_c = b.fcmp_unordered("uno", vc, vc)
                better = b.fcmp_ordered(op, vc, va)
                tie = b.fcmp_ordered("==", vc, va)
                take = b.select(nan_a, b.and_(nan_c, earlier),
                                b.or_(nan_c, b.or_(better, b.and_(tie, earlier))))
            else:
                cmp = b.icmp_signed if src.kind == "i" else b.icmp_unsigned
                better = cmp(">" if kind == "argmax" else "<", vc, va)
                tie = b.icmp_unsigned("==", vc, va)
                take = b.or_(better, b.and_(tie, earlier))
            take = b.and_(hc1, b.or_(b.not_(ha1), take))
            return [b.select(take, vc, va), b.select(take, ic, ia),
                    b.zext(b.or_(ha1, hc1), I32)]
        x, y = a[0], c[0]
        if kind == "sum":
            r = b.fadd(x, y) if dtype.kind == "f" else (
                b.or_(x, y) if dtype.kind == "b" else b.add(x, y))
        elif kind == "prod":
            r = b.fmul(x, y) if dtype.kind == "f" else (
                b.and_(x, y) if dtype.kind == "b" else b.mul(x, y))
        elif kind == "any":
            r = b.or_(x, y)
        elif kind == "all":
            r = b.and_(x, y)
        elif dtype.kind == "f":
            r = s.intrinsic("llvm.maximum" if kind == "max" else "llvm.minimum", [x, y])
        else:
            r = s._int_minmax(kind == "max", x, y, dtype)
        return [r]

    def _shuffle(self, v: ir.Value, offset: int) -> ir.Value:
        """``v`` from the lane ``lane ^ offset`` (32-bit shuffles; wider values in halves)."""
        b = self.builder
        m = self.module
        name = "llvm.nvvm.shfl.sync.bfly.i32"
        fn = m.globals.get(name) or ir.Function(m, ir.FunctionType(I32, [I32] * 4), name)

        def shfl(x: ir.Value) -> ir.Value:
            return b.call(fn, [ir.Constant(I32, -1), x, ir.Constant(I32, offset),
                               ir.Constant(I32, 31)])

        bits = _to_i64(b, v)
        if _width(v.type) <= 32:
            return _from_i64(b, b.zext(shfl(b.trunc(bits, I32)), I64), v.type)
        lo = shfl(b.trunc(bits, I32))
        hi = shfl(b.trunc(b.lshr(bits, ir.Constant(I64, 32)), I32))
        joined = b.or_(b.zext(lo, I64), b.shl(b.zext(hi, I64), ir.Constant(I64, 32)))
        return _from_i64(b, joined, v.type)

    def _shared(self, k: int) -> ir.GlobalVariable:
        name = f"dynajit_smem{k}"
        gv = self.module.globals.get(name)
        if gv is None:
            ty = ir.ArrayType(I64, 32)
            gv = ir.GlobalVariable(self.module, ty, name, addrspace=3)
            gv.linkage = "internal"
            gv.initializer = ir.Constant(ty, ir.Undefined)
            gv.align = 8
        return gv

    def _shared_slot(self, gv: ir.GlobalVariable, k: ir.Value) -> ir.Value:
        return self.builder.gep(gv, [ir.Constant(I64, 0), k], inbounds=True)

    def _row_sync(self) -> None:
        """Make the row's threads' stores visible to each other: a warp barrier when a warp
        takes the row, a block barrier when a block does."""
        if not self.warp_rows:
            self._barrier()
            return
        m = self.module
        fn = m.globals.get("llvm.nvvm.bar.warp.sync") or ir.Function(
            m, ir.FunctionType(ir.VoidType(), [I32]), "llvm.nvvm.bar.warp.sync")
        self.builder.call(fn, [ir.Constant(I32, -1)])

    def _barrier(self) -> None:
        m = self.module
        fn = m.globals.get("llvm.nvvm.barrier0") or ir.Function(
            m, ir.FunctionType(ir.VoidType(), []), "llvm.nvvm.barrier0")
        self.builder.call(fn, [])

    # ---------------------------------------------------------------------------- full
    def _full_reduction(self, scratch: ir.Value, phase: ir.Value) -> None:
        """Phase 0: each block's partial to ``scratch[block]`` (value bits, then index and
        has-value flag for argmax/argmin, in consecutive slices of ``blocks`` int64s).
        Phase 1, one block: the partials combined and the result stored."""
        b = self.builder
        stage = self.kernel.stages[0]
        value = stage.value
        kind = value.kind
        blocks = self.param(self.full_blocks)
        first = b.icmp_unsigned("==", phase, ir.Constant(I64, 0))
        with b.if_else(first) as (then, otherwise):
            with then:
                acc = self._thread_partial(stage, self._global_thread(), self._grid_threads(),
                                           self._unroll(UNROLL_FLAT))
                parts = self._block_combine(kind, value.dtype, value.src_dtype, acc)
                with b.if_then(b.icmp_unsigned("==", self._special("tid.x"),
                                               ir.Constant(I64, 0))):
                    for k, p in enumerate(parts):
                        slot = b.add(b.mul(blocks, ir.Constant(I64, k)), self._special("ctaid.x"))
                        b.store(_to_i64(b, p), b.gep(scratch, [slot], source_etype=I64), align=8)
            with otherwise:
                acc = self.scalar.reduction_start(kind, value.dtype, value.src_dtype)
                types = [p.type for p in self._acc_parts(kind, acc)]
                slots = [self.entry_builder.alloca(t) for t in types]
                for slot, p in zip(slots, self._acc_parts(kind, acc), strict=True):
                    b.store(p, slot)

                def fold(w: ir.Value) -> None:
                    new = []
                    for k, t in enumerate(types):
                        at = b.add(b.mul(blocks, ir.Constant(I64, k)), w)
                        raw = b.load(b.gep(scratch, [at], source_etype=I64), typ=I64, align=8)
                        new.append(_from_i64(b, raw, t))
                    cur = [b.load(s) for s in slots]
                    for s, r in zip(slots, self._combine(kind, value.dtype, value.src_dtype,
                                                         cur, new), strict=True):
                        b.store(r, s)

                self._grid_stride(self._special("tid.x"), self._special("ntid.x"),
                                  self.full_blocks, "w", fold)
                acc_parts = [b.load(s) for s in slots]
                if kind in ("argmax", "argmin"):
                    b.store(acc_parts[0], acc["best"])
                    b.store(acc_parts[1], acc["index"])
                    b.store(b.trunc(acc_parts[2], I1), acc["has"])
                else:
                    b.store(acc_parts[0], acc["slot"])
                parts = self._block_combine(kind, value.dtype, value.src_dtype, acc)
                result = parts[1] if kind in ("argmax", "argmin") else parts[0]
                self._store_by_thread0(stage, stage.out.index(()), result)


def _prod(shape: tuple[int, ...]) -> int:
    n = 1
    for s in shape:
        n *= s
    return n


def _width(ty: ir.Type) -> int:
    if isinstance(ty, ir.FloatType):
        return 32
    if isinstance(ty, ir.DoubleType):
        return 64
    return ty.width


def _to_i64(b: ir.IRBuilder, v: ir.Value) -> ir.Value:
    w = _width(v.type)
    if not isinstance(v.type, ir.IntType):
        v = b.bitcast(v, ir.IntType(w))
    return v if w == 64 else b.zext(v, I64)


def _from_i64(b: ir.IRBuilder, v: ir.Value, ty: ir.Type) -> ir.Value:
    w = _width(ty)
    if w < 64:
        v = b.trunc(v, ir.IntType(w))
    return v if isinstance(ty, ir.IntType) else b.bitcast(v, ty)


def build_kernel(kernel: Kernel, full_blocks: int = 1) -> PTXKernelSource:
    """The NVPTX module of ``kernel`` as LLVM IR text (``compile_ptx`` makes PTX of it);
    ``full_blocks`` is the partial count of a full reduction (phase 0's grid)."""
    return PTXKernelBuilder(kernel, full_blocks).build()


def compile_ptx(ir_text: str, arch: str = "sm_90") -> str:
    """PTX for ``arch`` from a kernel's LLVM IR, optimized at O3. An NVPTX lowering failure
    aborts the process (an LLVM fatal error): only IR from ``build_kernel`` (whose math is
    checked by ``supports``) belongs here; tests generate PTX in a child process."""
    import llvmlite.binding as llvm

    llvm.initialize_all_targets()
    llvm.initialize_all_asmprinters()
    module = llvm.parse_assembly(ir_text)
    module.verify()
    machine = llvm.Target.from_triple(TRIPLE).create_target_machine(cpu=arch, opt=3)
    pto = llvm.create_pipeline_tuning_options(speed_level=3)
    passes = llvm.create_pass_builder(machine, pto)
    passes.getModulePassManager().run(module, passes)
    return machine.emit_assembly(module)
