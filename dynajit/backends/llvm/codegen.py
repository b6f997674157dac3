"""LLVM IR for one loop-IR kernel: the LLVM handler (each ``ops().*`` call of a body emits IR
with NumPy's semantics for that dtype) and the loop skeleton (outer loops over
``[start, end)`` of the first dimension, then each stage's inner loops, reductions
accumulating in registers). Every shape-dependent integer (sizes, strides, offsets other than
0 and unit strides) is read from the kernel's parameter array, so one compiled kernel serves
every shape with the same structure; the IR text is the cache key.

Kernel ABI: ``void k(void **buffers, int64_t *params, int64_t start, int64_t end)``."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from typing import Any

import numpy as np
from llvmlite import ir

from dynajit.backends.llvm import scalar_ops
from dynajit.backends.llvm.scalar_ops import RANGE_EXACT, RANGE_SHORT
from dynajit.backends.loopir.ir import Ix, Scan, loop_vars, use_handler
from dynajit.backends.loopir.scheduler import DATA_INDEX, Kernel, Reduction, Stage, stage_loads

I32 = ir.IntType(32)
I64 = ir.IntType(64)
PTR = ir.PointerType()

# A streamed stage (``Stage.streams``) stores into a block of this many bytes on the stack (it
# stays in L1), and each full block goes to memory by aligned 64-byte non-temporal stores.
# Storing past the cache straight from the loop would need aligned vector stores, which LLVM's
# vectorizer only emits for stores declared aligned, and a scalar loop's stores are not.
STREAM_BLOCK_BYTES = 4096
# A load is first compared with pending stores by its address bits 0-11, and waits for a store
# that matches there (4K aliasing). Large arrays start at one page offset, so a stack block at
# the output's page offset would make every load of the inputs wait for the block's stores:
# blocks sit half a page away. Measured at 1e7 float32, tanh: 4.0 ms with the block at the
# output's page offset, 2.1-2.2 half a page away (2.2 ms at 1, 2 or 3 KB away; 1.9 not
# streamed); x + 1: 3.0 -> 1.0-1.7 ms (2.1-2.2 not streamed).
PAGE = 4096
BIG_LOOP_BODY = 100  # IR instructions (see LLVMKernelBuilder.INTERLEAVE)


def llvm_type(dtype: np.dtype) -> ir.Type:
    dtype = np.dtype(dtype)
    if dtype.kind == "f":
        return ir.FloatType() if dtype.itemsize == 4 else ir.DoubleType()
    return ir.IntType(8 * dtype.itemsize)  # bool is i8 holding 0 or 1


class KernelSource:
    """The IR text of a kernel (with ``@__kernel__`` as its name), its parameter values and
    the buffers it reads and writes, in argument order."""

    def __init__(self, ir_text: str, params: list[int], buffers: list[str],
                 outer: tuple[int, ...]):
        self.ir_text = ir_text
        self.params = params
        self.buffers = buffers
        self.outer = outer  # loop sizes after collapsing; [start, end) ranges over outer[0]


def collapse(kernel: Kernel) -> tuple[tuple[int, ...], dict[str, tuple[str, bool]]]:
    """Merge adjacent dimensions of a pointwise kernel that every access walks contiguously
    (and drop size-1 dimensions), so contiguous data becomes one long vectorizable loop.
    Returns the new loop sizes and, per original variable, (new variable, keeps its term)."""
    stage = kernel.stages[0]
    n = len(kernel.outer)
    idx = loop_vars("x", n)
    accesses = [ix for _, ix in stage_loads(stage, kernel.outer)]
    accesses.append(stage.out.index(idx))
    coefs = [dict(ix.terms) for ix in accesses]
    # a gather's address depends on data: its dimensions stay apart
    gather = any(ix == DATA_INDEX for ix in accesses)
    sizes = list(kernel.outer)
    groups: list[list[int]] = []
    for k in reversed(range(n)):
        if sizes[k] == 1:
            continue
        if groups:
            group = groups[-1]
            inner = group[0]
            span = 1
            for j in group:
                span *= sizes[j]
            last = group[-1]
            if not gather and inner == k + 1 and all(
                    c.get(f"x{k}", 0) == c.get(f"x{last}", 0) * span for c in coefs):
                group.insert(0, k)
                continue
        groups.append([k])
    groups.reverse()
    new_sizes = []
    mapping: dict[str, tuple[str, bool]] = {f"x{k}": ("", False) for k in range(n)}
    for g, group in enumerate(groups):
        size = 1
        for j in group:
            size *= sizes[j]
        new_sizes.append(size)
        for j in group:
            mapping[f"x{j}"] = (f"x{g}", j == group[-1])
    return tuple(new_sizes), mapping


class LLVMKernelBuilder:
    """Builds one kernel's module. The handler methods are the ``ops()`` calls of bodies."""

    # Rerun a stage with the C library's sin/cos/tan when an argument is past the polynomials'
    # range (targets without a C library, such as NVPTX, turn this off).
    EXACT_MATH_FALLBACK = True
    range_flag = None
    range_flag_used = 0  # the RANGE_* bits some sin/cos/tan of the kernel may set
    # Which sin/cos/tan the handler emits: SHORT (float32 sin/cos reduced in float32, for
    # small arguments), FULL (the polynomials' whole range) or EXACT (the C library).
    math_tier = "full"
    # Innermost loops without a reduction ask the vectorizer for this many vectors per
    # iteration (``llvm.loop.interleave.count``; 0: its own choice). With the constants of a
    # long body held in registers it picks one, and the body's dependency chain then bounds
    # the loop. Measured at 1e6 float32 on one thread, ms, 1 -> 4 (8): GELU 0.55 -> 0.48
    # (0.47), exp 0.26 -> 0.23 (0.23), tanh 0.36 -> 0.35 (0.37), sin 0.53 -> 0.52 (0.57).
    # Loops with a reduction keep the vectorizer's choice (interleaving reorders a sum).
    # Bodies of more than BIG_LOOP_BODY IR instructions get half, for compile time: the 50-op
    # compile-time probe (7 kernels of 133-216 instructions) at 1e6 on one thread runs 15.6 /
    # 13.0 / 11.3 ms with 1 / 2 / 4 and takes 197 / 233 / 295 ms to compile. GELU's body has
    # 63, softmax's exponential 49, the sin/cos expression 137.
    INTERLEAVE = 4

    def __init__(self, kernel: Kernel, triple: str = "", data_layout: str = ""):
        self.kernel = kernel
        self.module = ir.Module(name="dynajit")
        self.module.triple = triple
        self.module.data_layout = data_layout
        self.params: list[int] = []
        self.outer = tuple(kernel.outer)
        self.rename: dict[str, tuple[str, bool]] | None = None
        if len(kernel.stages) == 1 and not kernel.stages[0].inner and self.outer:
            self.outer, self.rename = collapse(kernel)
        self.buffers = self._buffer_names()
        self.vars: dict[str, ir.Value] = {}
        self.scalar = scalar_ops.ScalarOps(self)
        self.loops_made = 0
        self.interleave_counts: set[int] = set()  # the counts some loop asks for
        self.interleave_ok = True  # off while a reduction's or a scan's loop is emitted
        # buffer -> (block on the stack, first element of the block, loop variable) while
        # the innermost loop of a streamed stage is being emitted
        self.stream_blocks: dict[str, tuple[ir.Value, ir.Value, str]] = {}
        self.streamed = False

    def _buffer_names(self) -> list[str]:
        names: dict[str, None] = {}
        for stage in self.kernel.stages:
            for name, _ in stage_loads(stage, self.kernel.outer):
                names[name] = None
            names[stage.out.name] = None
        return list(names)

    # ---------------------------------------------------------------------------- build
    def build(self) -> KernelSource:
        """The module: ``impl`` (inlined into the entry) runs every stage with the fastest
        math and returns which sin/cos/tan arguments were past its accurate range
        (``RANGE_*`` bits); only then the entry reruns the same range with ``impl_full``
        (past float32's short reduction) or ``impl_exact`` (past the polynomials' range: the
        C library's functions), both not inlined. Stages overwrite their outputs and read
        only inputs and earlier stages, so a rerun gives the exact result."""
        entry_ty = ir.FunctionType(ir.VoidType(), [PTR, PTR, I64, I64])
        impl = self._impl("impl", "short")
        used = self.range_flag_used
        reruns = [(RANGE_EXACT, self._impl("impl_exact", "exact"))] if used & RANGE_EXACT else []
        if used & RANGE_SHORT:
            reruns.append((RANGE_SHORT, self._impl("impl_full", "full")))

        entry = ir.Function(self.module, entry_ty, "__kernel__")
        b = ir.IRBuilder(entry.append_basic_block("entry"))
        bufs, params, s, e = entry.args
        loaded = []
        for k in range(len(self.buffers)):
            slot = b.gep(bufs, [ir.Constant(I64, k)], inbounds=True, source_etype=PTR)
            loaded.append(b.load(slot, typ=PTR))
        flag = b.call(impl, loaded + [params, s, e])
        if reruns:
            done = entry.append_basic_block("done")
            for bit, rerun in reruns:  # the exact rerun first: it covers both cases
                slow = entry.append_basic_block(rerun.name)
                after = entry.append_basic_block(f"not_{rerun.name}")
                hit = b.and_(flag, ir.Constant(I32, bit))
                b.cbranch(b.icmp_unsigned("!=", hit, ir.Constant(I32, 0)), slow, after)
                b.position_at_end(slow)
                b.call(rerun, loaded + [params, s, e])
                b.branch(done)
                b.position_at_end(after)
            b.branch(done)
            b.position_at_end(done)
        b.ret_void()
        return KernelSource(self._ir_text(), self.params, self.buffers, self.outer)

    def _ir_text(self) -> str:
        """The module's text, each innermost loop's placeholder metadata made a loop ID (a
        distinct node naming itself, which llvmlite cannot write)."""
        if not self.interleave_counts:
            return str(self.module)
        nodes = {c: self.module.add_metadata([
            ir.MetaDataString(self.module, "llvm.loop.interleave.count"), ir.Constant(I32, c)])
            for c in self.interleave_counts}
        return re.sub(r'^(![0-9]+) = !\{ *!"dynajit\.loop\.[0-9]+\.([0-9]+)" *\}$',
                      lambda m: f"{m.group(1)} = distinct !{{{m.group(1)}, "
                                f"{nodes[int(m.group(2))].get_reference()}}}",
                      str(self.module), flags=re.M)

    def _impl(self, name: str, tier: str) -> ir.Function:
        impl_ty = ir.FunctionType(I32, [PTR] * (len(self.buffers) + 1) + [I64, I64])
        impl = ir.Function(self.module, impl_ty, name)
        impl.linkage = "internal"
        impl.attributes.add("alwaysinline" if tier == "short" else "noinline")
        impl.attributes.add("nounwind")
        for arg in impl.args[:len(self.buffers) + 1]:
            arg.add_attribute("noalias")
        self.ptrs = dict(zip(self.buffers, impl.args, strict=False))
        self.param_ptr = impl.args[len(self.buffers)]
        start, end = impl.args[-2], impl.args[-1]
        self.entry = impl.append_basic_block("entry")
        self.entry_builder = ir.IRBuilder(self.entry)
        first = impl.append_basic_block("body")
        self.builder = ir.IRBuilder(first)
        self.math_tier = tier
        # An i32 OR-reduction over every element (an i1 one keeps loops from vectorizing).
        self.range_flag = None if tier != "short" or not self.EXACT_MATH_FALLBACK else \
            self.entry_builder.alloca(I32)
        if self.range_flag is not None:
            self.entry_builder.store(ir.Constant(I32, 0), self.range_flag)
        self.streamed = False
        self._outer_loops(0, start, end)
        if self.streamed:  # non-temporal stores are weakly ordered: complete them here
            self.builder.call(self._declare("llvm.x86.sse.sfence", ir.VoidType(), []), [])
        result = self.builder.load(self.range_flag) if self.range_flag is not None \
            else ir.Constant(I32, 0)
        self.builder.ret(result)
        self.entry_builder.branch(first)
        return impl

    def param(self, value: int) -> ir.Value:
        """A run-time integer: the value goes into the parameter array, the IR reads it."""
        self.params.append(int(value))
        b = self.entry_builder
        slot = b.gep(self.param_ptr, [ir.Constant(I64, len(self.params) - 1)], inbounds=True,
                     source_etype=I64)
        return b.load(slot, typ=I64)

    def _loop(self, lo: ir.Value, hi: ir.Value, var: str, body: Any,
              step: ir.Value | None = None) -> None:
        """``for var in range(lo, hi, step): body()`` (step 1 by default; the GPU builder
        strides by the grid)."""
        self._loop_with(self.builder, lo, hi, var, body, step)

    def _loop_with(self, b: ir.IRBuilder, lo: ir.Value, hi: ir.Value, var: str, body: Any,
                   step: ir.Value | None = None) -> None:
        pre = b.block
        fn = pre.function
        header = fn.append_basic_block(f"{var}.head")
        inner = fn.append_basic_block(f"{var}.body")
        done = fn.append_basic_block(f"{var}.done")
        b.branch(header)
        b.position_at_end(header)
        i = b.phi(I64, name=var)
        i.add_incoming(lo, pre)
        b.cbranch(b.icmp_signed("<", i, hi), inner, done)
        b.position_at_end(inner)
        self.vars[var] = i
        made = self.loops_made = self.loops_made + 1
        body()
        nxt = b.add(i, step if step is not None else ir.Constant(I64, 1), name=f"{var}.next")
        i.add_incoming(nxt, b.block)
        latch = b.branch(header)
        if self.INTERLEAVE and self.interleave_ok and self.loops_made == made:
            blocks = fn.blocks[fn.blocks.index(inner):]
            size = sum(len(block.instructions) for block in blocks)
            count = self.INTERLEAVE if size <= BIG_LOOP_BODY else max(self.INTERLEAVE // 2, 1)
            self.interleave_counts.add(count)
            latch.set_metadata("llvm.loop", self.module.add_metadata(
                [ir.MetaDataString(self.module, f"dynajit.loop.{made}.{count}")]))
        b.position_at_end(done)

    def _outer_loops(self, k: int, start: ir.Value, end: ir.Value) -> None:
        if k == len(self.outer):
            groups: list[list[Stage]] = []
            for stage in self.kernel.stages:
                if stage.shares_loop and groups:
                    groups[-1].append(stage)
                else:
                    groups.append([stage])
            for group in groups:
                if len(group) == 1:
                    self._stage(group[0])
                else:
                    self._shared_loop(group)
            return
        if k == 0:
            lo, hi = start, end
        else:
            lo, hi = ir.Constant(I64, 0), self.param(self.outer[k])

        def inner() -> None:
            self._outer_loops(k + 1, start, end)

        if k == len(self.outer) - 1 and all(not st.inner for st in self.kernel.stages):
            # a pointwise kernel: this is every stage's innermost loop
            self._innermost_loop(lo, hi, f"x{k}", inner, self.kernel.stages, ())
        else:
            self._loop(lo, hi, f"x{k}", inner)

    def _inner_loops(self, sizes: tuple[int, ...], k: int, body: Any,
                     group: list[Stage] | None = None) -> None:
        if k == len(sizes):
            body()
            return
        lo, hi = ir.Constant(I64, 0), self.param(sizes[k])

        def inner() -> None:
            self._inner_loops(sizes, k + 1, body, group)

        if group and k == len(sizes) - 1:
            self._innermost_loop(lo, hi, f"r{k}", inner, group, loop_vars("r", len(sizes)))
        else:
            self._loop(lo, hi, f"r{k}", inner)

    def _innermost_loop(self, lo: ir.Value, hi: ir.Value, var: str, body: Any,
                        stages: list[Stage], ridx: tuple) -> None:
        """The loop over ``var`` for ``stages``; the streamed ones among them whose store walks
        ``var`` contiguously store into blocks on the stack, each block copied out past the
        cache after its part of the loop (``stream_copy``). Blocks start where the first
        streamed buffer's cache lines start, so only a row's two ends are partial lines."""
        idx = loop_vars("x", len(self.kernel.outer)) + ridx
        streamed = [st for st in stages if st.streams
                    and dict(self._terms(st.out.index(idx))).get(var) == 1]
        if not streamed:
            self._loop(lo, hi, var, body)
            return
        self.streamed = True
        b = self.builder
        size = STREAM_BLOCK_BYTES // max(st.out.dtype.itemsize for st in streamed)
        lead = streamed[0].out
        self.vars[var] = lo
        line_offset = b.and_(b.ptrtoint(self._address(lead.name, lead.index(idx), lead.dtype),
                                        I64), ir.Constant(I64, 63))
        skew = b.udiv(line_offset, ir.Constant(I64, lead.dtype.itemsize))
        raws = {}
        for st in streamed:
            room = ir.Constant(I64, size + PAGE // st.out.dtype.itemsize)
            raw = self.entry_builder.alloca(llvm_type(st.out.dtype), size=room)
            raw.align = 64
            raws[st.out.name] = raw

        def place(st: Stage, start: ir.Value, first: ir.Value) -> ir.Value:
            """The block of ``st`` for the elements from ``start``: element k lies half a page
            (in address bits 0-11) from the element it stands for (see PAGE). Placed per
            block: a narrower output than the widest advances less than a page a block."""
            width = ir.Constant(I64, st.out.dtype.itemsize)
            self.vars[var] = first  # start may lie before the row: address first, step back
            origin = b.sub(b.ptrtoint(self._address(st.out.name, st.out.index(idx),
                                                    st.out.dtype), I64),
                           b.mul(b.sub(first, start), width))
            raw = raws[st.out.name]
            offset = b.and_(b.sub(b.add(origin, ir.Constant(I64, PAGE // 2)),
                                  b.ptrtoint(raw, I64)), ir.Constant(I64, PAGE - 1))
            return b.gep(raw, [b.udiv(offset, width)], inbounds=True)

        def one_block() -> None:
            start = self.vars[f"{var}.block"]
            first = b.select(b.icmp_signed("<", start, lo), lo, start)
            full = b.add(start, ir.Constant(I64, size))
            stop = b.select(b.icmp_signed("<", full, hi), full, hi)
            blocks = {st.out.name: place(st, start, first) for st in streamed}
            self.stream_blocks = {name: (block, start, var) for name, block in blocks.items()}
            self._loop(first, stop, var, body)
            self.stream_blocks = {}
            self.vars[var] = first
            for st in streamed:
                size_ = ir.Constant(I64, st.out.dtype.itemsize)
                dst = self._address(st.out.name, st.out.index(idx), st.out.dtype)
                src = b.gep(blocks[st.out.name], [b.sub(first, start)], inbounds=True)
                b.call(self._stream_copy(), [dst, src, b.mul(b.sub(stop, first), size_)])

        self._loop(b.sub(lo, skew), hi, f"{var}.block", one_block,
                   step=ir.Constant(I64, size))

    def _stream_copy(self) -> ir.Function:
        """``stream_copy(dst, src, n)``: n bytes to ``dst``, the cache lines wholly inside it
        by aligned non-temporal 64-byte stores, the partial lines at its ends by masked
        ordinary stores (a line written both ways would be read back from memory). Inlined,
        and free of calls: a call would clobber the vector registers holding the loop's
        constants."""
        fn = self.module.globals.get("stream_copy")
        if fn is not None:
            return fn
        fn = ir.Function(self.module, ir.FunctionType(ir.VoidType(), [PTR, PTR, I64]),
                         "stream_copy")
        fn.linkage = "internal"
        fn.attributes.add("nounwind")
        fn.attributes.add("alwaysinline")
        dst, src, n = fn.args
        i8, i1 = ir.IntType(8), ir.IntType(1)
        vec, bytes64, mask_ty = ir.VectorType(I32, 16), ir.VectorType(i8, 64), \
            ir.VectorType(i1, 64)
        masked_load = self._declare("llvm.masked.load.v64i8.p0", bytes64,
                                    [PTR, I32, mask_ty, bytes64])
        masked_store = self._declare("llvm.masked.store.v64i8.p0", ir.VoidType(),
                                     [bytes64, PTR, I32, mask_ty])
        lanes = ir.Constant(bytes64, list(range(64)))
        b = ir.IRBuilder(fn.append_basic_block("entry"))

        def at(p: ir.Value, off: ir.Value) -> ir.Value:
            return b.gep(p, [off], inbounds=True, source_etype=i8)

        def splat(v: ir.Value) -> ir.Value:
            one = b.insert_element(ir.Constant(bytes64, None), b.trunc(v, i8),
                                   ir.Constant(I32, 0))
            return b.shuffle_vector(one, one, ir.Constant(ir.VectorType(I32, 64), [0] * 64))

        def copy_part(off: ir.Value, count: ir.Value) -> None:
            """Bytes [off, off + count) with count < 64, by one masked load and store."""
            mask = b.icmp_unsigned("<", lanes, splat(count))
            v = b.call(masked_load, [at(src, off), ir.Constant(I32, 1), mask,
                                     ir.Constant(bytes64, None)])
            b.call(masked_store, [v, at(dst, off), ir.Constant(I32, 1), mask])

        zero, line = ir.Constant(I64, 0), ir.Constant(I64, 64)
        to_line = b.and_(b.sub(zero, b.ptrtoint(dst, I64)), ir.Constant(I64, 63))
        head = b.select(b.icmp_signed("<", to_line, n), to_line, n)
        copy_part(zero, head)
        lines = b.add(head, b.and_(b.sub(n, head), ir.Constant(I64, -64)))
        nontemporal = self.module.add_metadata([ir.Constant(I32, 1)])

        def one_line() -> None:
            off = self.vars["line"]
            v = b.load(at(src, off), typ=vec, align=1)
            b.store(v, at(dst, off), align=64).set_metadata("nontemporal", nontemporal)

        self._loop_with(b, head, lines, "line", one_line, step=line)
        copy_part(lines, b.sub(n, lines))
        b.ret_void()
        return fn

    def _declare(self, name: str, ret: ir.Type, args: list[ir.Type]) -> ir.Function:
        fn = self.module.globals.get(name)
        return fn if fn is not None else ir.Function(self.module, ir.FunctionType(ret, args),
                                                     name)

    def _stage(self, stage: Stage) -> None:
        if isinstance(stage.value, Scan):
            idx = loop_vars("x", len(self.kernel.outer))
            self._scan(stage, stage.value, idx + loop_vars("r", len(stage.inner)))
            return
        self._shared_loop([stage])

    def _shared_loop(self, group: list[Stage]) -> None:
        """Stages that run in one inner loop (one stage, or a stage and the reductions that
        share its loop): at each element, each stage in order stores its value or adds it to
        its accumulator; reductions store their results after the loop."""
        idx = loop_vars("x", len(self.kernel.outer))
        ridx = loop_vars("r", len(group[0].inner))
        accs = {k: self.scalar.reduction_start(st.value.kind, st.value.dtype,
                                               st.value.src_dtype)
                for k, st in enumerate(group) if isinstance(st.value, Reduction)}

        def element() -> None:
            # one address cache for the whole element: a reduction's load of what a stage
            # before it just stored is then the same address, and LLVM forwards the value
            with use_handler(self), self._same_addresses():
                for k, stage in enumerate(group):
                    if k in accs:
                        v = stage.value.body(idx, ridx)
                        flat = self._flat_rindex(stage.inner)
                        self.scalar.reduction_step(accs[k], v, flat)
                    else:
                        v = stage.value.body(idx + ridx)
                        self._store(stage.out.name, stage.out.index(idx + ridx), v,
                                    stage.out.dtype)

        self.interleave_ok = not accs
        self._inner_loops(group[0].inner, 0, element, group)
        self.interleave_ok = True
        for k, acc in accs.items():
            out = group[k].out
            self._store(out.name, out.index(idx), self.scalar.reduction_result(acc), out.dtype)

    def _scan(self, stage: Stage, value: Scan, index: tuple) -> None:
        """A running sum or product along the inner loop, stored at every step (the order is
        NumPy's: sequential, so float results are equal bit for bit)."""
        ty = llvm_type(value.dtype)
        acc = self.entry_builder.alloca(ty)
        one = value.kind == "prod"
        self.builder.store(ir.Constant(ty, (1.0 if one else 0.0) if value.dtype.kind == "f"
                                       else int(one)), acc)
        op = "multiply" if one else "add"

        def step() -> None:
            with use_handler(self), self._same_addresses():
                v = value.body(index)
                new = getattr(self, op)(self.builder.load(acc, typ=ty), v, dtype=value.dtype)
                self.builder.store(new, acc)
                self._store(stage.out.name, stage.out.index(index), new, stage.out.dtype)

        self.interleave_ok = False
        self._inner_loops(stage.inner, 0, step)
        self.interleave_ok = True

    def _flat_rindex(self, sizes: tuple[int, ...]) -> ir.Value:
        """The C-order flat position in the reduced dimensions (argmax/argmin results)."""
        flat: ir.Value = ir.Constant(I64, 0)
        for k, size in enumerate(sizes):
            if k:
                flat = self.builder.mul(flat, self.param(size))
            flat = self.builder.add(flat, self.vars[f"r{k}"])
        return flat

    # ---------------------------------------------------------------------------- indices
    _ix_cache: dict[Ix, ir.Value] | None = None

    @contextlib.contextmanager
    def _same_addresses(self) -> Iterator[None]:
        """Within one element's straight-line code, equal indices give one IR value: a
        stage that writes an element it read (in place) then has provably equal addresses
        (each coefficient is its own run-time parameter, so recomputing would not be)."""
        self._ix_cache = {}
        try:
            yield
        finally:
            self._ix_cache = None

    def index(self, ix: Ix) -> ir.Value:
        cache = self._ix_cache
        if cache is not None:
            if ix not in cache:
                cache[ix] = self._index(ix)
            return cache[ix]
        return self._index(ix)

    def _terms(self, ix: Ix) -> tuple[tuple[str, int], ...]:
        """The index's terms in this kernel's loop variables (after ``collapse``)."""
        if self.rename is None:
            return ix.terms
        merged = []
        for var, coef in ix.terms:
            new, keep = self.rename.get(var, (var, True))
            if keep:
                merged.append((new, coef))
        return tuple(merged)

    def _index(self, ix: Ix) -> ir.Value:
        b = self.builder
        total: ir.Value | None = None
        for var, coef in self._terms(ix):
            v = self.vars[var]
            term = v if coef == 1 else b.mul(v, self.param(coef))
            total = term if total is None else b.add(total, term)
        if ix.const:
            c = self.param(ix.const)
            total = c if total is None else b.add(total, c)
        return total if total is not None else ir.Constant(I64, 0)

    def _address(self, name: str, ix: Ix, dtype: np.dtype) -> ir.Value:
        return self.builder.gep(self.ptrs[name], [self.index(ix)], inbounds=True,
                                source_etype=llvm_type(dtype))

    def _store(self, name: str, ix: Ix, value: ir.Value, dtype: np.dtype) -> None:
        block = self.stream_blocks.get(name)
        if block is None:
            ptr = self._address(name, ix, dtype)
        else:  # a streamed stage: into its block, at the element's place in the block
            b = self.builder
            buf, first, var = block
            ptr = b.gep(buf, [b.sub(self.vars[var], first)], inbounds=True)
        self.builder.store(value, ptr, align=np.dtype(dtype).itemsize)

    # ---------------------------------------------------------------------------- handler
    def load(self, name: str, index: Ix, dtype: Any) -> ir.Value:
        ptr = self._address(name, index, dtype)
        return self.builder.load(ptr, typ=llvm_type(dtype), align=np.dtype(dtype).itemsize)

    def load_at(self, name: str, index: Ix, offset: ir.Value, dtype: Any) -> ir.Value:
        """A gather: element ``index + offset``, ``offset`` an int64 computed in the body."""
        b = self.builder
        ptr = b.gep(self.ptrs[name], [b.add(self.index(index), offset)], inbounds=True,
                    source_etype=llvm_type(dtype))
        return b.load(ptr, typ=llvm_type(dtype), align=np.dtype(dtype).itemsize)

    def constant(self, value: Any, dtype: Any) -> ir.Value:
        """Constants of a body are parameters too (their bits in the int64 slot), so
        ``x * 0.5`` and ``x * 0.25`` share one compiled kernel."""
        dtype = np.dtype(dtype)
        b = self.builder
        if dtype.kind == "f":
            ity = ir.IntType(8 * dtype.itemsize)
            bits = int(np.asarray(value, dtype).view(f"i{dtype.itemsize}"))
            raw = self.param(bits)
            raw = raw if ity.width == 64 else b.trunc(raw, ity)
            return b.bitcast(raw, llvm_type(dtype))
        v = int(value)
        if v >= 1 << 63:
            v -= 1 << 64
        raw = self.param(v)
        width = 8 * dtype.itemsize
        return raw if width == 64 else b.trunc(raw, ir.IntType(width))

    def cast(self, x: ir.Value, src: Any, dst: Any) -> ir.Value:
        return self.scalar.cast(x, np.dtype(src), np.dtype(dst))

    def where(self, c: ir.Value, a: ir.Value, b: ir.Value, dtype: Any) -> ir.Value:
        return self.scalar.where(c, a, b)

    def __getattr__(self, name: str) -> Any:
        emit = scalar_ops.UFUNCS.get(name)
        if emit is None:
            raise AttributeError(name)
        return lambda *args, dtype: emit(self.scalar, args, np.dtype(dtype))


def build_kernel(kernel: Kernel, triple: str = "", data_layout: str = "") -> KernelSource:
    return LLVMKernelBuilder(kernel, triple, data_layout).build()


class _SignatureHandler:
    """Writes a body as text with every number, name and dtype in it: two kernels with the
    same signature get the same IR text and parameters from this code generator."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def _emit(self, text: str) -> str:
        self.lines.append(text)
        return f"t{len(self.lines) - 1}"

    def load(self, name: str, index: Ix, dtype: Any) -> str:
        return self._emit(f"load {name} {index!r} {np.dtype(dtype).str}")

    def load_at(self, name: str, index: Ix, offset: str, dtype: Any) -> str:
        return self._emit(f"load_at {name} {index!r} {offset} {np.dtype(dtype).str}")

    def constant(self, value: Any, dtype: Any) -> str:
        return self._emit(f"const {value!r} {np.dtype(dtype).str}")

    def cast(self, x: str, src: Any, dst: Any) -> str:
        return self._emit(f"cast {x} {np.dtype(src).str} {np.dtype(dst).str}")

    def where(self, c: str, a: str, b: str, dtype: Any) -> str:
        return self._emit(f"where {c} {a} {b} {np.dtype(dtype).str}")

    def __getattr__(self, name: str) -> Any:
        if name not in scalar_ops.UFUNCS:
            raise AttributeError(name)
        return lambda *args, dtype: self._emit(f"{name} {' '.join(args)} "
                                               f"{np.dtype(dtype).str}")


def kernel_signature(kernel: Kernel) -> str:
    """Everything the generated IR and its parameters depend on, as text (cheap: no IR)."""
    h = _SignatureHandler()
    h.lines.append(f"outer {kernel.outer}")
    idx = loop_vars("x", len(kernel.outer))
    for stage in kernel.stages:
        out = stage.out
        h.lines.append(f"stage {stage.inner} -> {out.name} {out.shape} {out.offset} "
                       f"{out.strides} {out.dtype.str}{' streamed' if stage.streams else ''}")
        ridx = loop_vars("r", len(stage.inner))
        with use_handler(h):
            if isinstance(stage.value, Reduction):
                v = stage.value
                h.lines.append(f"reduce {v.kind} {v.dtype.str} {v.src_dtype.str}")
                v.body(idx, ridx)
            else:
                if isinstance(stage.value, Scan):
                    h.lines.append(f"scan {stage.value.kind} {stage.value.dtype.str}")
                stage.value.body(idx + ridx)
    return "\n".join(h.lines)
