"""Every dynajit knob, in one dataclass. Read at use, never at import time elsewhere.
Environment variables ``DYNAJIT_<FIELD>`` override the defaults; ``config.patch`` overrides
for a ``with`` block."""

from __future__ import annotations

import contextlib
import dataclasses
import os
from collections.abc import Iterator


@dataclasses.dataclass
class Config:
    # Name of the backend ``compile`` uses when none is given.
    default_backend: str = "llvm"
    # Register generated GraphModule source with linecache (tracebacks show it).
    register_source: bool = True
    # Compiled entries kept per code object; past it the code runs eagerly (logged).
    cache_size_limit: int = 8
    # Raise compiler errors (instead of warning and running the frame eagerly).
    raise_on_compile_error: bool = False
    # Nested calls inlined while tracing, at most this deep.
    inline_depth: int = 32
    # Graph nodes a traced Python loop may unroll into before the frame falls back.
    unroll_limit: int = 5000
    # Bytecode instructions one trace may execute (bounds long Python loops).
    max_trace_instructions: int = 200_000
    # Directory for the structured trace (TORCH_TRACE format, one file per process), or None
    # for no trace. Environment: DYNAJIT_TRACE (documented) or DYNAJIT_TRACE_DIR.
    trace_dir: str | None = None
    # How gradients split into a forward and a backward graph: "min_cut" (save the fewest
    # bytes, recomputing cheap ops in the backward) or "save_all".
    partitioner: str = "min_cut"
    # min_cut never recomputes a reduction whose inputs are this many times its output.
    recompute_reduction_ratio: int = 4
    # Human logs to stderr: a comma list of topics (graph_breaks, recompiles, guards, graph,
    # graph_code, bytecode, output_code, or all); "+topic" for verbose. Env: DYNAJIT_LOGS.
    logs: str = ""
    # Threads for large kernels of the llvm backend (0: one per CPU core).
    threads: int = 0
    # Persistent kernel cache of the llvm backend: a directory, None for the default
    # (~/.cache/dynajit/kernels or $XDG_CACHE_HOME/dynajit/kernels), or "" for none.
    cache_dir: str | None = None
    # Bytes of host memory the llvm backend keeps in reusable blocks for outputs and
    # temporaries of 256 KiB or more (no page faults on reuse); 0 turns the pool off.
    host_pool_bytes: int = 1 << 30

    def patch(self, **changes: object) -> contextlib.AbstractContextManager[Config]:
        """``with dynajit.config.patch(cache_size_limit=2):`` (see the module's patch)."""
        return patch(**changes)


def _from_env(cfg: Config) -> Config:
    for field in dataclasses.fields(cfg):
        raw = os.environ.get(f"DYNAJIT_{field.name.upper()}")
        if raw is None:
            continue
        if field.type in ("bool", bool):
            value: object = raw.strip().lower() in ("1", "true", "yes", "on")
        elif field.type in ("int", int):
            value = int(raw)
        else:
            value = raw
        setattr(cfg, field.name, value)
    trace = os.environ.get("DYNAJIT_TRACE")
    if trace is not None and "DYNAJIT_TRACE_DIR" not in os.environ:
        cfg.trace_dir = trace
    if not cfg.trace_dir:
        cfg.trace_dir = None  # an empty DYNAJIT_TRACE means off
    return cfg


config = _from_env(Config())


@contextlib.contextmanager
def patch(**changes: object) -> Iterator[Config]:
    """Temporarily change config fields: ``with dynajit.config.patch(default_backend="x"):``."""
    unknown = set(changes) - {f.name for f in dataclasses.fields(config)}
    if unknown:
        raise AttributeError(f"unknown dynajit config field(s): {', '.join(sorted(unknown))}")
    saved = {name: getattr(config, name) for name in changes}
    try:
        for name, value in changes.items():
            setattr(config, name, value)
        yield config
    finally:
        for name, value in saved.items():
            setattr(config, name, value)
