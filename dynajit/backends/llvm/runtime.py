"""The run-time wrapper of a compiled graph: generated Python (readable, written to the trace
as ``dynajit_output_code``) that allocates buffers, launches kernels through the C launcher,
calls extern ops and returns the outputs. Per call it builds no ctypes objects: kernel
parameters are one int64 array made at compile time (shapes are guarded), and the launcher
reads array data pointers straight from the ndarray objects."""

from __future__ import annotations

import hashlib
import itertools
import linecache
import os
import re
from pathlib import Path
from typing import Any

import numpy as np

from dynajit.backends.llvm import _launch
from dynajit.backends.llvm.codegen import KernelSource, build_kernel, kernel_signature
from dynajit.backends.llvm.jit import default_cache_dir, get_jit, read_note, write_note
from dynajit.backends.llvm.pool import host_pool, pooled
from dynajit.backends.loopir.blocking import BlockedMatmul, RowBlocks
from dynajit.backends.loopir.scheduler import AllocStep, CallStep, KernelStep, Schedule, Var
from dynajit.trace import structured

_launch.set_ndarray_type(np.ndarray)
_counter = itertools.count()

# Kernels making fewer handler calls than this (Kernel.work) run on one thread. Waking the
# launcher's pooled workers costs a few us (starting threads per launch cost ~30 us). Measured
# at 1e5 float32 with threshold 2^22 -> 2^20: softmax 98x1024 0.077 -> 0.039 ms, GELU 0.074 ->
# 0.038 ms; 2^18 and 2^16 gained nothing more and slowed the MLP (its epilogue kernels
# then compete with BLAS threads that spin after each GEMM).
PARALLEL_WORK = 1 << 20
# After a BLAS call, BLAS's own threads spin on the other cores for a while; a kernel below
# this work then runs faster on the calling thread alone (MLP 391x256, best of 3 alternating
# runs: 0.92-1.02 ms with kernels on one thread, 1.07-1.12 ms with two).
AFTER_BLAS_WORK = 1 << 24
BLAS_OPS = frozenset({"matmul", "dot", "vdot", "inner", "tensordot", "einsum", "vecdot",
                      "matvec", "vecmat"})


def _literal(value: Any, names: dict[int, str], env: dict[str, Any]) -> str:
    if isinstance(value, Var):
        return value.name
    if value is None or type(value) in (bool, int, str):
        return repr(value)
    if type(value) is float and np.isfinite(value):
        return repr(value)
    if isinstance(value, tuple):
        inner = ", ".join(_literal(v, names, env) for v in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    if isinstance(value, list):
        return "[" + ", ".join(_literal(v, names, env) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k!r}: {_literal(v, names, env)}" for k, v in value.items()) \
            + "}"
    key = id(value)
    if key not in names:
        names[key] = f"_lit{len(names)}"
        env[names[key]] = value
    return names[key]


def threads_for(work: int) -> int:
    from dynajit.config import config

    n = config.threads or os.cpu_count() or 1
    return n if work >= PARALLEL_WORK else 1


def cache_dir() -> str | None:
    from dynajit.config import config

    if config.cache_dir == "":
        return None
    return config.cache_dir or default_cache_dir()


def _errstate_probe() -> tuple[Any, Any]:
    """A fast way to see whether NumPy's floating-point error handling is still the
    process default: NumPy 2 keeps it in a context variable whose value is replaced by
    ``np.errstate``/``np.seterr``. Falls back to comparing ``np.geterr()``."""
    try:
        from numpy._core import _ufunc_config

        var = _ufunc_config._extobj_contextvar
        return var.get, var.get()
    except (ImportError, AttributeError):  # pragma: no cover - other NumPy layouts
        default = np.geterr()
        return np.geterr, default


_ERRSTATE, _DEFAULT_ERRSTATE = _errstate_probe()


_SIGNATURES: dict[str, tuple[KernelSource, int]] = {}
_SOURCE_HASH: list[str] = []


def _code_generator_hash() -> str:
    """A hash of the code that turns kernels into IR: a signature note written by another
    version of it is never trusted."""
    if not _SOURCE_HASH:
        root = Path(__file__).resolve().parents[1]
        digest = hashlib.sha256()
        for path in sorted([*root.glob("llvm/*.py"), *root.glob("llvm/mathlib/*.py"),
                            *root.glob("loopir/*.py")]):
            digest.update(path.read_bytes())
        _SOURCE_HASH.append(digest.hexdigest())
    return _SOURCE_HASH[0]


def compiled_kernel(kernel: Any, directory: str | None) -> tuple[KernelSource, int]:
    """The kernel's source description and machine-code address. A kernel seen before (in
    this process, or in the disk cache's signature notes) skips building its LLVM IR: the
    signature (every number, name and dtype of the kernel) names the IR key and parameters."""
    jit = get_jit()
    sig = kernel_signature(kernel)
    key = hashlib.sha256((jit.machine_key + _code_generator_hash() + sig).encode()).hexdigest()
    if key in _SIGNATURES:
        return _SIGNATURES[key]
    note = read_note(directory, key) if directory else None
    if note is not None:
        source = KernelSource("", note["params"], note["buffers"], tuple(note["outer"]))
        addr = jit.address_of_key(note["ir_key"], kernel.name, directory)
        if addr:
            _SIGNATURES[key] = (source, addr)
            return source, addr
    source = build_kernel(kernel, jit.triple, str(jit.target_machine.target_data))
    ir_key = jit.key(source.ir_text)
    addr = jit.address_of_key(ir_key, kernel.name, directory, source.ir_text)
    if directory:
        write_note(directory, key, {"ir_key": ir_key, "params": source.params,
                                    "buffers": source.buffers, "outer": list(source.outer)})
    _SIGNATURES[key] = (source, addr)
    return source, addr


_NAME = re.compile(r"\b(?:buf|t|in|v|chk|const|cs)\d+\b")


def _drop_dead(lines: list[str], inputs: set[str], ret: str) -> list[str]:
    """``del`` each temporary after the last statement that names it (a loop counts as one
    statement): buffers go back to the allocator while the call runs, as NumPy's own
    temporaries do. Holding all of them to the end made the allocator return the memory to
    the system at each return and fault it in again on the next call (MLP at 391x256: six
    400 KB buffers, ~0.6 ms of page faults per call)."""
    groups: list[list[str]] = []
    for line in lines[1:]:
        if line.startswith("     ") and groups:
            groups[-1].append(line)
        else:
            groups.append([line])
    kept = set(_NAME.findall(ret)) | inputs
    last: dict[str, int] = {}
    for k, group in enumerate(groups):
        for n in _NAME.findall("\n".join(group)):
            last[n] = k
    out = [lines[0]]
    for k, group in enumerate(groups):
        out.extend(group)
        dead = sorted(n for n, j in last.items() if j == k and n not in kept)
        if dead:
            out.append(f"    del {', '.join(dead)}")
    return out


def _per_row(kernel: Any, source: KernelSource) -> int:
    """Iterations of the compiled outer loop per row of the kernel's first dimension: codegen
    may merge that dimension with the next ones, or drop it when its size is 1 (a kernel with
    no loop left runs once, whatever its range)."""
    return source.outer[0] // kernel.outer[0] if source.outer else 1


def _pooled_matmul(step: CallStep) -> bool:
    """A matmul of two arrays with a known result (the op's impl is ``np.matmul(a, b)``)
    whose result the host pool would hold."""
    return (step.label == "matmul" and not step.kwargs and step.meta is not None
            and len(step.args) == 2 and all(isinstance(a, Var) for a in step.args)
            and len(step.meta[0]) >= 1 and pooled(step.meta[0], step.meta[1]))


class CompiledGraph:
    """The wrapper function for one schedule plus what it was made from. Kernels do not
    raise NumPy's FloatingPointError or replay its RuntimeWarnings, so under a non-default
    ``np.errstate``/``np.seterr`` the wrapper runs ``fallback`` (the eager graph) instead."""

    def __init__(self, sched: Schedule, name: str = "graph", fallback: Any = None):
        env: dict[str, Any] = {"_launch": _launch.launch, "_launch_rows": _launch.launch_rows,
                               "_empty": host_pool.empty, "_np_empty": np.empty,
                               "_matmul": np.matmul,
                               "_errstate": _ERRSTATE, "_default": _DEFAULT_ERRSTATE,
                               "_fallback": fallback}
        names: dict[int, str] = {}
        lines = [f"def run({', '.join(sched.inputs)}):"]
        if fallback is not None:
            lines.append("    if _errstate() is not _default and _errstate() != _default:")
            lines.append(f"        return _fallback({', '.join(sched.inputs)})")
        self.kernels: list[tuple[str, Any]] = []
        directory = cache_dir()
        after_blas = False
        for step in sched.steps:
            if isinstance(step, AllocStep) and step.reuse:
                lines.append(f"    {step.var} = {step.reuse}  # a dead buffer, reused")
            elif isinstance(step, AllocStep):
                dt = _literal(np.dtype(step.dtype), names, env)
                # below the pool's size the choice is known now: NumPy's allocator directly
                # (the pool's call costs ~0.6 µs more, a quarter of a warm call)
                alloc = "_empty" if pooled(step.shape, step.dtype) else "_np_empty"
                lines.append(f"    {step.var} = {alloc}({step.shape!r}, {dt})")
            elif isinstance(step, CallStep) and _pooled_matmul(step):
                # BLAS writes into a pooled buffer: no page faults on its result
                after_blas = True
                dt = _literal(np.dtype(step.meta[1]), names, env)
                a, b = (_literal(v, names, env) for v in step.args)
                lines.append(f"    {step.var} = _matmul({a}, {b}, out=_empty({step.meta[0]!r}, "
                             f"{dt}))  # matmul")
            elif isinstance(step, CallStep):
                after_blas = after_blas or step.label in BLAS_OPS
                fn = _literal(step.fn, names, env)
                args = [_literal(a, names, env) for a in step.args]
                args += [f"{k}={_literal(v, names, env)}" for k, v in step.kwargs.items()]
                lines.append(f"    {step.var} = {fn}({', '.join(args)})  # {step.label}")
            elif isinstance(step, RowBlocks):
                lines += self._row_blocks(step, env, names, directory)
            else:
                assert isinstance(step, KernelStep)
                source = self._kernel(step.kernel, env, directory)
                end = source.outer[0] if source.outer else 1
                work = step.kernel.work
                threads = threads_for(work) if source.outer else 1
                if after_blas and work < AFTER_BLAS_WORK:
                    threads = 1
                lines.append(self._launch_line(step.kernel, source, "0", str(end), threads))
        self._finish(sched, lines, env, names, name)

    def _kernel(self, kernel: Any, env: dict[str, Any], directory: str | None) -> KernelSource:
        source, addr = compiled_kernel(kernel, directory)
        env[f"_{kernel.name}"] = addr
        env[f"_{kernel.name}_params"] = np.array(source.params + [0], np.int64)
        self.kernels.append((kernel.name, source))
        return source

    @staticmethod
    def _launch_line(kernel: Any, source: KernelSource, lo: str, hi: str, threads: int,
                     indent: str = "    ") -> str:
        arrays = ", ".join(source.buffers) + ("," if len(source.buffers) == 1 else "")
        return (f"{indent}_launch(_{kernel.name}, ({arrays}), _{kernel.name}_params, {lo}, "
                f"{hi}, {threads})")

    def _row_blocks(self, step: RowBlocks, env: dict[str, Any], names: dict[int, str],
                    directory: str | None) -> list[str]:
        """Kernels only: one ``_launch_rows`` call (each thread runs every kernel on the blocks
        of its own rows, no barrier between kernels). With GEMMs: a Python loop over blocks
        (NumPy's matmul per block), each block's launch ranges precomputed."""
        gemm = any(isinstance(inner, BlockedMatmul) for inner in step.steps)
        if not gemm:
            parts, threads = [], 1
            for inner in step.steps:
                kernel = inner.step.kernel
                source = self._kernel(kernel, env, directory)
                arrays = ", ".join(source.buffers) + ("," if len(source.buffers) == 1 else "")
                per_row = _per_row(kernel, source)
                parts.append(f"(_{kernel.name}, ({arrays}), _{kernel.name}_params, "
                             f"{inner.row_offset}, {inner.rows}, {per_row})")
                threads = max(threads, threads_for(kernel.work))
            return [f"    _launch_rows(({', '.join(parts)},), {step.rows}, {step.block}, "
                    f"{threads})  # blocks of {step.block} rows per thread"]
        body: list[str] = []
        bounds: list[list[tuple[int, int]]] = []
        starts = range(0, step.rows, step.block)
        for inner in step.steps:
            if isinstance(inner, BlockedMatmul):
                fn = _literal(inner.fn, names, env)
                body.append(f"        {fn}({inner.a}[_s:_e], {inner.w}, out={inner.out}[_s:_e])"
                            "  # matmul")
                continue
            kernel = inner.step.kernel
            source = self._kernel(kernel, env, directory)
            per_row = _per_row(kernel, source)
            c, n = inner.row_offset, inner.rows
            bounds.append([(min(max(s - c, 0), n) * per_row,
                            min(max(min(s + step.block, step.rows) - c, 0), n) * per_row)
                           for s in starts])
            k = len(bounds) - 1
            # Between GEMMs, BLAS's threads spin on the other cores, and a kernel is faster
            # on the calling thread alone (MLP 39062x256: 92-95 ms against 99-104 ms).
            body.append(self._launch_line(kernel, source, f"_lo{k}", f"_hi{k}", 1,
                                          "        "))
        table = tuple((s, min(s + step.block, step.rows),
                       *(v for b in bounds for v in b[i])) for i, s in enumerate(starts))
        loop_vars = ", ".join(["_s", "_e"] + [f"_lo{k}, _hi{k}" for k in range(len(bounds))])
        blocks = self._table(table, env)
        return [f"    for {loop_vars} in {blocks}:  # blocks of {step.block} rows", *body]

    @staticmethod
    def _table(table: tuple, env: dict[str, Any]) -> str:
        name = f"_blocks{sum(1 for k in env if k.startswith('_blocks'))}"
        env[name] = table
        return name

    def _finish(self, sched: Schedule, lines: list[str], env: dict[str, Any],
                names: dict[int, str], name: str) -> None:
        outs = sched.outputs

        def out_expr(v: Any) -> str:
            if isinstance(v, Var) and v.name in sched.scalar_outputs:
                return f"{v.name}[()]"
            return _literal(v, names, env)

        if isinstance(outs, tuple):
            body = ", ".join(out_expr(v) for v in outs)
            ret = f"    return ({body}{',' if len(outs) == 1 else ''})"
        else:
            ret = f"    return {out_expr(outs)}"
        lines = _drop_dead(lines, set(sched.inputs), ret) + [ret]
        self.source = "\n".join(lines) + "\n"
        filename = f"<dynajit-llvm-{next(_counter)}-{name}>"
        linecache.cache[filename] = (len(self.source), None,
                                     self.source.splitlines(keepends=True), filename)
        exec(compile(self.source, filename, "exec"), env)
        self.run = env["run"]
        structured.artifact("dynajit_output_code", lambda: self.source)
