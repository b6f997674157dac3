"""From a frame to a compiled entry: trace the function with the frame's arguments, build
guards and output code, compile the graph with the chosen backend, and keep the entries per
code object (at most ``config.cache_size_limit``, then the code runs eagerly)."""

from __future__ import annotations

import dataclasses
import dis
import threading
import time
import traceback
import types
import warnings
import weakref
from typing import Any

from dynajit.backends import lookup_backend, takes_gpu_arrays
from dynajit.capture.context import GraphBreak, TraceContext
from dynajit.capture.output import OutputCode
from dynajit.capture.tracer import InstructionTracer
from dynajit.capture.values import CellVT
from dynajit.config import config
from dynajit.errors import CompileError, Unsupported
from dynajit.graph.codegen import GraphModule
from dynajit.graph.passes import eliminate_common_subexpressions, eliminate_dead_code
from dynajit.guards import ClosureSource, LocalSource, flat_arg_names
from dynajit.guards.runtime import is_device_array
from dynajit.trace import logs, structured
from dynajit.trace.metrics import CompileMetrics


@dataclasses.dataclass
class CacheEntry:
    guard: Any  # guard(*flat_args) -> bool
    entry: Any  # entry(*flat_args) -> the frame's result
    guards: Any  # the GuardSet (explain(), str())
    graph_module: GraphModule
    entry_source: str
    compile_seconds: float


@dataclasses.dataclass
class CodeCache:
    """What dynajit knows about one code object."""

    entries: list[CacheEntry] = dataclasses.field(default_factory=list)
    recompile_reasons: list[list[str]] = dataclasses.field(default_factory=list)
    failure: str | None = None  # why the code runs eagerly from now on
    input_failures: list[str] = dataclasses.field(default_factory=list)  # ran eagerly once
    hits: int = 0
    misses: int = 0


_CACHES: weakref.WeakKeyDictionary[types.CodeType, CodeCache] = weakref.WeakKeyDictionary()


def cache_of(code: types.CodeType) -> CodeCache:
    cache = _CACHES.get(code)
    if cache is None:
        cache = _CACHES[code] = CodeCache()
    return cache


def reset() -> None:
    _CACHES.clear()
    logs.reset()
    structured.reset_compile_ids()


def trace(fn: types.FunctionType, flat_args: tuple, backend: Any,
          metrics: CompileMetrics | None = None, allow_breaks: bool = True) -> CacheEntry:
    """Trace ``fn`` for these arguments and compile it. Raises Unsupported (with the user's
    file:line) when the frame cannot be captured as one graph. ``metrics`` collects phase
    times and counts; the trace and the logs get the graph, guards and code as they come."""
    from dynajit.capture.guard_builder import build_guards

    metrics = metrics or CompileMetrics(fn.__code__, backend)
    started = time.perf_counter()
    code = fn.__code__
    names = flat_arg_names(code)
    metrics.start_phase("trace")
    ctx, locals_, cells = begin_trace(fn, flat_args)
    ctx.allow_breaks = allow_breaks
    try:
        result = InstructionTracer(ctx, code, fn.__globals__, locals_, cells).run()
        graph_break = None
    except GraphBreak as gb:
        result, graph_break = None, gb
    ctx.check_written_inputs_disjoint()
    metrics.end_phase()
    metrics.start_phase("output_code")
    out = OutputCode(ctx, fn, names)
    if graph_break is None:
        effects, tail = out.prepare(result)
    else:
        effects, tail = out.prepare_break(graph_break)
        _record_break(code, metrics, graph_break, out.resume_names)
    metrics.end_phase()
    metrics.start_phase("passes")
    ctx.graph.output(tuple(out.outputs))
    eliminate_common_subexpressions(ctx.graph)
    eliminate_dead_code(ctx.graph)
    ctx.graph.verify()
    gm = GraphModule(ctx.graph, name=code.co_name)
    metrics.end_phase()
    metrics.graph = gm.graph
    structured.record("dynamo_output_graph", payload=lambda: str(gm.graph))
    logs.log("graph", lambda: f"graph of {_where(code)}:\n{gm.graph}")
    structured.artifact("dynajit_graph_code", lambda: gm.code)
    logs.log("graph_code", lambda: f"graph code of {_where(code)}:\n{gm.code}")
    example_inputs = list(ctx.input_values)
    on_gpu = [str(source) for (source, _), value in zip(ctx.inputs, example_inputs)
              if is_device_array(value)]
    if on_gpu and not takes_gpu_arrays(backend):
        raise CompileError(f"{_where(code)}: {', '.join(on_gpu)} "
                           f"{'is a GPU array' if len(on_gpu) == 1 else 'are GPU arrays'} "
                           f"and backend {backend!r} runs on the CPU; compile with "
                           "backend='ptx', or pass NumPy arrays")
    metrics.start_phase("backend")
    try:
        # A graph with no op (e.g. a frame that breaks at its first line) is not compiled:
        # the entry does not call it.
        compiled = lookup_backend(backend)(gm, example_inputs) if out.outputs else None
    except Exception as e:
        raise CompileError(f"backend {backend!r} failed on {code.co_name}: "
                           f"{type(e).__name__}: {e}") from e
    finally:
        metrics.end_phase()
    metrics.start_phase("output_code")
    entry, entry_source = out.assemble(effects, tail, compiled, gm)
    metrics.end_phase()
    metrics.start_phase("guards")
    guards = build_guards(ctx, fn)
    check = guards.compile()
    metrics.end_phase()
    metrics.guard_count = len(guards)
    structured.record("dynamo_guards", payload=lambda: [{"code": str(g)} for g in guards])
    logs.log("guards", lambda: f"guards of {_where(code)}:\n{guards}")
    structured.artifact("dynajit_bytecode_after", entry_source)
    logs.log("output_code", lambda: f"entry code of {_where(code)}:\n{entry_source}")
    logs.log("bytecode", lambda: f"bytecode of the entry of {_where(code)}:\n"
             f"{dis.Bytecode(entry.__code__).dis()}")
    return CacheEntry(check, entry, guards, gm, entry_source, time.perf_counter() - started)


def begin_trace(fn: types.FunctionType, flat_args: tuple
                ) -> tuple[TraceContext, dict[str, Any], dict[str, CellVT]]:
    """A fresh trace of ``fn``: its context, the trackers of its argument slots (guarded,
    read from ``L[name]``) and of its closure cells (``C[name]``)."""
    code = fn.__code__
    ctx = TraceContext(fn, config)
    locals_ = {name: ctx.wrap(value, LocalSource(name))
               for name, value in zip(flat_arg_names(code), flat_args)}
    cells: dict[str, CellVT] = {}
    for i, name in enumerate(code.co_freevars):
        cell = fn.__closure__[i]
        try:
            contents = cell.cell_contents
        except ValueError:
            cells[name] = CellVT(None)
            continue
        source = ClosureSource(name, i)
        cells[name] = CellVT(ctx.wrap(contents, source))
        cells[name].source = source
    return ctx, locals_, cells


def _where(code: types.CodeType) -> str:
    return f"{code.co_qualname} ({code.co_filename}:{code.co_firstlineno})"


def lookup(fn: types.FunctionType, flat_args: tuple) -> CacheEntry | None:
    """The entry whose guards pass for ``fn`` called with ``flat_args``. Entries read their
    function's globals and closure cells directly, so only entries built for a function
    with the same scope qualify (two closures made by one ``def`` share a code object)."""
    cache = _CACHES.get(fn.__code__)
    if cache is None:
        return None
    for entry in cache.entries:
        if entry.guards.same_scope(fn) and entry.guard(*flat_args):
            cache.hits += 1
            return entry
    return None


_COMPILE_LOCK = threading.RLock()
# warnings.warn stacklevel of the user line that called the frame being compiled: this
# module's three frames, then api._Callback's two (the hook calls it from C).
_USER_CALLER = 6


def compile_frame(fn: types.FunctionType, flat_args: tuple, backend: Any,
                  fullgraph: bool) -> CacheEntry | None:
    """The miss path: a new entry for these arguments, or None to run the frame eagerly
    (``cache_of(code).failure`` then says why, unless the reason only concerns these
    inputs). One thread compiles at a time; a thread that waited reuses what the other
    compiled when its guards pass."""
    with _COMPILE_LOCK:
        entry = lookup(fn, flat_args)
        if entry is not None:
            return entry
        return _compile_frame(fn, flat_args, backend, fullgraph)


def _compile_frame(fn: types.FunctionType, flat_args: tuple, backend: Any,
                   fullgraph: bool) -> CacheEntry | None:
    cache = cache_of(fn.__code__)
    if cache.failure is not None:
        return None
    cache.misses += 1
    code = fn.__code__
    with structured.compile_context(structured.new_compile_id(code)):
        metrics = CompileMetrics(code, backend)
        reasons = None
        if cache.entries:
            mine = [e for e in cache.entries if e.guards.same_scope(fn)]
            reasons = [r for e in mine for r in e.guards.explain(*flat_args)]
            if len(mine) < len(cache.entries):
                reasons.append(f"{fn.__qualname__} is another function object (closure) "
                               "with this code")
            cache.recompile_reasons.append(reasons)
            structured.artifact("recompile_reasons", reasons, encoding="json")
            logs.log("recompiles", lambda: f"recompiling {_where(code)} (cache size "
                     f"{len(cache.entries)}), guards failed:\n"
                     + "\n".join(f"    - {r}" for r in reasons))
        structured.record("dynamo_start", lambda: {"stack": structured.user_stack(code)})
        structured.artifact("dynajit_bytecode_before", lambda: dis.Bytecode(code).dis())
        logs.log("bytecode", lambda: f"bytecode of {_where(code)}:\n"
                 f"{dis.Bytecode(code).dis()}")
        try:
            entry = _compile_or_explain(fn, flat_args, backend, fullgraph, cache, reasons,
                                        metrics)
        except BaseException as e:  # raised to the user (or an interrupt): still recorded
            if metrics.fail_type is None:
                metrics.fail("error", type(e).__name__, str(e))
            raise
        finally:
            metrics.cache_size = len(cache.entries)
            structured.record("compilation_metrics", metrics.as_record)
    return entry


def _compile_or_explain(fn: types.FunctionType, flat_args: tuple, backend: Any,
                        fullgraph: bool, cache: CodeCache, reasons: list[str] | None,
                        metrics: CompileMetrics) -> CacheEntry | None:
    """The compile itself, inside its compile context; every way out of it is recorded
    in ``metrics`` (and, for fallbacks and crashes, in the trace and the logs)."""
    if reasons is not None and len(cache.entries) >= config.cache_size_limit:
        cache.failure = (f"cache_size_limit ({config.cache_size_limit}) reached; last "
                         f"guard failures: {'; '.join(reasons[:4])}")
        _record_fallback(fn.__code__, metrics, "CacheLimitExceeded", cache.failure, None,
                         "the function runs eagerly from now on")
        warnings.warn(f"dynajit: {fn.__qualname__} recompiled {len(cache.entries)} times "
                      f"and now runs eagerly: {cache.failure}", stacklevel=_USER_CALLER)
        return None
    try:
        entry = trace(fn, flat_args, backend, metrics, allow_breaks=not fullgraph)
    except Unsupported as e:
        input_dependent = getattr(e, "input_dependent", False)
        action = ("fullgraph=True: raised to the caller" if fullgraph else
                  "the frame runs eagerly for these inputs" if input_dependent else
                  "the frame runs eagerly from now on")
        _record_fallback(fn.__code__, metrics, type(e).__name__, str(e),
                         getattr(e, "user_location", None), action, e)
        if fullgraph:
            raise
        if input_dependent:
            cache.input_failures.append(str(e))
        else:
            cache.failure = str(e)
        return None
    except Exception as e:  # noqa: BLE001 - a compiler bug must not become the user's error
        metrics.fail("error", type(e).__name__, str(e))
        structured.artifact("dynamo_error",
                            lambda err=e: "".join(traceback.format_exception(err)))
        if config.raise_on_compile_error:
            raise
        cache.failure = f"compiler error: {type(e).__name__}: {e}"
        where = structured.trace_file()
        hint = (f"traceback in the trace {where}" if where else
                "set config.raise_on_compile_error to debug")
        warnings.warn(f"dynajit: compiling {fn.__qualname__} failed ({cache.failure}); "
                      f"running it eagerly ({hint})", stacklevel=_USER_CALLER)
        return None
    cache.entries.append(entry)
    return entry


def _record_fallback(code: types.CodeType, metrics: CompileMetrics, fail_type: str,
                     reason: str, user_location: str | None, action: str,
                     error: Any = None) -> None:
    """The break-reason artifact, the metrics' failure fields and the graph_breaks log of a
    frame that does not get a compiled entry, named at the user's file:line."""
    site = _site(user_location) or (code.co_filename, code.co_firstlineno)
    metrics.fail("fallback", fail_type, reason, site)
    reason = reason.removesuffix(f" ({site[0]}:{site[1]})")  # the site is said separately
    instruction = getattr(error, "instruction", None)
    structured.artifact("dynamo_graph_break_reason", lambda: (
        f"Graph break in user code at {site[0]}:{site[1]}\n"
        f"Graph Break Reason: {reason}\n"
        + (f"Instruction: {instruction}\n" if instruction else "")
        + f"Action: {action}\n"
        "User code traceback:\n"
        + _traceback_text(error, code, site)))
    logs.graph_break(site, code.co_qualname, reason, action)


def _record_break(code: types.CodeType, metrics: CompileMetrics, gb: Any,
                  resume_names: list[str]) -> None:
    """A graph break: the frame's entry runs the graph so far, the instruction, and a
    resume function. Recorded like PyTorch's (break-reason artifact, restart reason)."""
    reason = str(gb.reason)
    location = getattr(gb.reason, "user_location", None)
    site = _site(location) or (code.co_filename, code.co_firstlineno)
    metrics.restart_reasons.append(reason)
    reason = reason.removesuffix(f" ({site[0]}:{site[1]})")  # the site is said separately
    frames = _traceback_text(gb.reason, code, site)
    action = (f"graph break: {gb.inst.opname} runs eagerly, then "
              f"{' or '.join(dict.fromkeys(resume_names))} continues")
    structured.artifact("dynamo_graph_break_reason", lambda: (
        f"Graph break in user code at {site[0]}:{site[1]}\n"
        f"Graph Break Reason: {reason}\n"
        f"Instruction: {gb.inst.opname} {gb.inst.argrepr}".rstrip() + "\n"
        f"Action: {action}\n"
        "User code traceback:\n" + frames))
    logs.graph_break(site, code.co_qualname, reason, action)


def _traceback_text(error: Any, code: types.CodeType, site: tuple[str, int]) -> str:
    """The user frames of a break, outermost first, as Python prints a traceback."""
    frames = getattr(error, "user_frames", None) or [(site[0], site[1], code.co_name)]
    text = ""
    for filename, line, name in frames:
        text += f'  File "{filename}", line {line}, in {name}\n'
        source = logs.source_line(filename, line)
        if source:
            text += f"    {source}\n"
    return text


def _site(location: str | None) -> tuple[str, int] | None:
    """("file", line) from a "file:line" location."""
    if not location:
        return None
    filename, _, line = location.rpartition(":")
    return (filename, int(line)) if filename and line.isdigit() else None
