"""From a frame to a compiled entry: trace the function with the frame's arguments, build
guards and output code, compile the graph with the chosen backend, and keep the entries per
code object (at most ``config.cache_size_limit``, then the code runs eagerly)."""

from __future__ import annotations

import dataclasses
import threading
import time
import types
import warnings
import weakref
from typing import Any

from dynajit.backends import lookup_backend
from dynajit.capture.context import TraceContext
from dynajit.capture.output import OutputCode
from dynajit.capture.tracer import InstructionTracer
from dynajit.capture.values import CellVT
from dynajit.config import config
from dynajit.errors import CompileError, Unsupported
from dynajit.graph.codegen import GraphModule
from dynajit.graph.passes import eliminate_common_subexpressions, eliminate_dead_code
from dynajit.guards import ClosureSource, LocalSource, flat_arg_names


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


def trace(fn: types.FunctionType, flat_args: tuple, backend: Any) -> CacheEntry:
    """Trace ``fn`` for these arguments and compile it. Raises Unsupported (with the user's
    file:line) when the frame cannot be captured as one graph."""
    from dynajit.capture.guard_builder import build_guards

    started = time.perf_counter()
    code = fn.__code__
    names = flat_arg_names(code)
    ctx = TraceContext(fn, config)
    locals_ = {name: ctx.wrap(value, LocalSource(name)) for name, value in zip(names, flat_args)}
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
    result = InstructionTracer(ctx, code, fn.__globals__, locals_, cells).run()
    ctx.check_written_inputs_disjoint()
    out = OutputCode(ctx, fn, names)
    effects, returned = out.prepare(result)
    ctx.graph.output(tuple(out.outputs))
    eliminate_common_subexpressions(ctx.graph)
    eliminate_dead_code(ctx.graph)
    ctx.graph.verify()
    gm = GraphModule(ctx.graph, name=code.co_name)
    example_inputs = list(ctx.input_values)
    try:
        compiled = lookup_backend(backend)(gm, example_inputs)
    except Exception as e:
        raise CompileError(f"backend {backend!r} failed on {code.co_name}: "
                           f"{type(e).__name__}: {e}") from e
    entry, entry_source = out.assemble(effects, returned, compiled, gm)
    guards = build_guards(ctx, fn)
    return CacheEntry(guards.compile(), entry, guards, gm, entry_source,
                      time.perf_counter() - started)


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
    if cache.entries:
        mine = [e for e in cache.entries if e.guards.same_scope(fn)]
        reasons = [r for e in mine for r in e.guards.explain(*flat_args)]
        if len(mine) < len(cache.entries):
            reasons.append(f"{fn.__qualname__} is another function object (closure) with "
                           "this code")
        cache.recompile_reasons.append(reasons)
        if len(cache.entries) >= config.cache_size_limit:
            cache.failure = (f"cache_size_limit ({config.cache_size_limit}) reached; last "
                             f"guard failures: {'; '.join(reasons[:4])}")
            warnings.warn(f"dynajit: {fn.__qualname__} recompiled {len(cache.entries)} times "
                          f"and now runs eagerly: {cache.failure}", stacklevel=3)
            return None
    try:
        entry = trace(fn, flat_args, backend)
    except Unsupported as e:
        if fullgraph:
            raise
        if getattr(e, "input_dependent", False):
            cache.input_failures.append(str(e))
        else:
            cache.failure = str(e)
        return None
    except Exception as e:  # noqa: BLE001 - a compiler bug must not become the user's error
        if config.raise_on_compile_error:
            raise
        cache.failure = f"compiler error: {type(e).__name__}: {e}"
        warnings.warn(f"dynajit: compiling {fn.__qualname__} failed ({cache.failure}); "
                      "running it eagerly (set config.raise_on_compile_error to debug)",
                      stacklevel=3)
        return None
    cache.entries.append(entry)
    return entry
