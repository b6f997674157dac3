"""Per-compile metrics: phase timings, graph and guard counts, status and failure. One
``CompileMetrics`` lives for one compile of a frame and becomes its ``compilation_metrics``
record (the field names tlparse reads, plus dynajit's own ``dynajit_*`` keys)."""

from __future__ import annotations

import time
import types
from typing import Any

PHASES = ("trace", "passes", "backend", "guards", "output_code")


class CompileMetrics:
    """Filled in as the compile goes; ``as_record()`` gives the record's metadata."""

    def __init__(self, code: types.CodeType, backend: Any):
        self.code = code
        self.backend = backend if isinstance(backend, str) else getattr(
            backend, "__name__", type(backend).__name__)
        self.start_time = time.time()
        self._started = time.perf_counter()
        self.phase_times = dict.fromkeys(PHASES, 0.0)
        self._phase: str | None = None
        self._phase_started = self._started
        self.graph: Any = None  # counted only when the record is written
        self.guard_count: int | None = None
        self.cache_size = 0
        self.status = "ok"
        self.fail_type: str | None = None
        self.fail_reason: str | None = None
        self.fail_location: tuple[str, int] | None = None
        self.restart_reasons: list[str] = []

    def start_phase(self, name: str) -> None:
        self._phase = name
        self._phase_started = time.perf_counter()

    def end_phase(self) -> None:
        """Adds the time since ``start_phase`` to that phase. Two clock reads, not a context
        manager: that would cost more than the rest of the bookkeeping. A phase left open
        by an exception is closed by ``fail`` (time up to the failure counts)."""
        if self._phase is not None:
            self.phase_times[self._phase] += time.perf_counter() - self._phase_started
            self._phase = None

    def fail(self, status: str, fail_type: str, reason: str,
             location: tuple[str, int] | None = None) -> None:
        """``status`` is "fallback" (the frame runs eagerly) or "error" (a compiler crash)."""
        self.end_phase()
        self.status = status
        self.fail_type = fail_type
        self.fail_reason = reason or fail_type  # tlparse aborts on a type without a reason
        self.fail_location = location

    def _graph_counts(self) -> dict[str, int]:
        if self.graph is None:
            return {}
        nodes = self.graph.nodes
        return {"graph_op_count": sum(1 for n in nodes if n.kind == "call"),
                "graph_node_count": len(nodes),
                "graph_input_count": sum(1 for n in nodes if n.kind == "placeholder")}

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self._started

    def as_record(self) -> dict[str, Any]:
        record: dict[str, Any] = {
            "co_name": self.code.co_name,
            "co_filename": self.code.co_filename,
            "co_firstlineno": self.code.co_firstlineno,
            "cache_size": self.cache_size,
            "guard_count": self.guard_count,
            **self._graph_counts(),
            "start_time": self.start_time,
            "entire_frame_compile_time_s": self.elapsed,
            "backend_compile_time_s": self.phase_times["backend"],
            "restart_reasons": list(self.restart_reasons),
            "fail_type": self.fail_type,
            "fail_reason": self.fail_reason,
            "dynajit_phase_times_s": dict(self.phase_times),
            "dynajit_status": self.status,
            "dynajit_backend": self.backend,
        }
        if self.fail_location is not None:
            record["fail_user_frame_filename"] = self.fail_location[0]
            record["fail_user_frame_lineno"] = self.fail_location[1]
        return record
