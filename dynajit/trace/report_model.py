"""What the report shows, derived from parsed logs: frames, their compiles (with status, times
and counts read from ``compilation_metrics``), and the user source lines the records point at.
Nothing here writes HTML."""

from __future__ import annotations

import dataclasses
import functools
import math
import re
from pathlib import Path
from typing import Any

from dynajit.trace.report_log import CompileId, Entry, LogFile

# `(file:line)` at the end of a generated graph-code line names the user's source line.
_GRAPH_CODE_LOCATION = re.compile(r"\(([^()]+):(\d+)\)\s*$")

STATUS_LABELS = {
    "ok": "ok",
    "fallback": "fallback",
    "error": "error",
    "missing": "missing metrics",
}


def number(value: Any) -> float | None:
    """``value`` when it is a finite real number (not a bool), else None: records are
    untrusted (Python's JSON reader even accepts NaN and Infinity)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            value = float(value)
        except OverflowError:
            return None
        return value if math.isfinite(value) else None
    return None


def graph_code_location(line: str) -> tuple[str, int] | None:
    """The ``(file, line)`` a generated graph-code line names in its trailing comment."""
    if "#" not in line:
        return None
    match = _GRAPH_CODE_LOCATION.search(line)
    if match is None:
        return None
    return match.group(1).strip(), int(match.group(2))


def graph_code_location_removed(line: str) -> str:
    """The graph-code line without its trailing ``(file:line)``."""
    return _GRAPH_CODE_LOCATION.sub("", line).rstrip()


@dataclasses.dataclass
class Compile:
    """One (re)compile of a frame: every attempt of compile id ``[x/y]``."""

    log: LogFile
    log_index: int
    compile_id: CompileId
    entries: list[Entry] = dataclasses.field(default_factory=list)

    @property
    def display_id(self) -> str:
        return self.compile_id.display(with_attempt=False)

    @property
    def page(self) -> str:
        cid = self.compile_id
        autograd = "" if cid.autograd is None else f"a{cid.autograd}_"
        frame = "x" if cid.frame is None else cid.frame
        compile_ = "x" if cid.compile is None else cid.compile
        return f"compile_{self.log_index}_{autograd}{frame}_{compile_}.html"

    @property
    def attempts(self) -> list[int]:
        return sorted({e.attempt for e in self.entries})

    @functools.cached_property
    def metrics(self) -> dict | None:
        """The last ``compilation_metrics`` record (PyTorch logs it once, at the last attempt)."""
        found = [e.meta for e in self.entries
                 if e.kind == "compilation_metrics" and isinstance(e.meta, dict)]
        return found[-1] if found else None

    def metric(self, key: str) -> Any:
        m = self.metrics
        return None if m is None else m.get(key)

    def artifacts(self, name: str) -> list[Entry]:
        return [e for e in self.entries if e.artifact_name == name]

    def kind(self, kind: str) -> list[Entry]:
        return [e for e in self.entries if e.kind == kind]

    @property
    def status(self) -> str:
        """ok / fallback / error / missing (no metrics record)."""
        m = self.metrics
        if m is None:
            return "error" if self.artifacts("dynamo_error") else "missing"
        declared = m.get("dynajit_status")
        if declared in ("ok", "fallback", "error"):
            return declared
        if m.get("fail_type"):
            return "error"
        if self.artifacts("dynamo_graph_break_reason") and not number(m.get("graph_op_count")):
            return "fallback"
        return "ok"

    @property
    def compile_time_s(self) -> float | None:
        return number(self.metric("entire_frame_compile_time_s"))

    @property
    def phase_times(self) -> list[tuple[str, float]]:
        phases = self.metric("dynajit_phase_times_s")
        if not isinstance(phases, dict):
            return []
        return [(str(k), t) for k, v in phases.items() if (t := number(v)) is not None]

    @property
    def restart_reasons(self) -> list[str]:
        reasons = self.metric("restart_reasons")
        return [str(r) for r in reasons] if isinstance(reasons, list) else []

    @property
    def recompile_reasons(self) -> list[str]:
        reasons: list[str] = []
        for e in self.artifacts("recompile_reasons"):
            try:
                data = e.json_payload()
            except ValueError:
                data = e.payload
            if isinstance(data, list):
                reasons.extend(str(r) for r in data)
            elif data:
                reasons.append(str(data))
        return reasons

    @property
    def summary_reason(self) -> str:
        """One line for the index: why it failed, fell back or recompiled."""
        fail = self.metric("fail_reason")
        if fail:
            return f"{self.metric('fail_type') or 'error'}: {fail}"
        for e in self.artifacts("dynamo_graph_break_reason") + self.artifacts("dynamo_error"):
            for line in (e.payload or "").splitlines():
                if line.strip():
                    return line.strip()
        recompile = self.recompile_reasons
        if recompile:
            return "recompile: " + recompile[0]
        return ""


def frame_anchor(log_index: int, frame_id: int | None) -> str:
    """The index page's anchor of a frame's section."""
    return f"frame-{log_index}-{'x' if frame_id is None else frame_id}"


@dataclasses.dataclass
class Frame:
    """A code object compiled one or more times (one ``frame_id`` in one log)."""

    log: LogFile
    log_index: int
    frame_id: int | None
    autograd: int | None
    compiles: list[Compile] = dataclasses.field(default_factory=list)

    def _first(self, key: str) -> Any:
        for c in self.compiles:
            v = c.metric(key)
            if v is not None:
                return v
        return None

    @property
    def co_name(self) -> str:
        name = self._first("co_name")
        return str(name) if name is not None else f"frame {self.frame_id}"

    @property
    def location(self) -> tuple[str, int] | None:
        filename, line = self._first("co_filename"), number(self._first("co_firstlineno"))
        if isinstance(filename, str) and line is not None:
            return filename, int(line)
        return None


@dataclasses.dataclass
class SourceRef:
    """A user source file the records point at, and the lines they name."""

    filename: str
    page: str
    # line -> (compile, anchor on its page) for each compile that names the line, in order
    lines: dict[int, list[tuple[Compile, str]]] = dataclasses.field(default_factory=dict)
    loc_text: dict[int, str] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class Trace:
    """Everything a report shows."""

    logs: list[LogFile]
    frames: list[Frame]
    compiles: list[Compile]
    outside: list[tuple[int, Entry]]  # records with no compile id: (log index, entry)
    sources: dict[str, SourceRef]

    @property
    def malformed_count(self) -> int:
        return sum(log.malformed_count for log in self.logs)

    @property
    def total_compile_time_s(self) -> float:
        return sum(c.compile_time_s or 0.0 for c in self.compiles)

    def count(self, status: str) -> int:
        return sum(1 for c in self.compiles if c.status == status)

    @property
    def recompiles(self) -> int:
        return sum(1 for c in self.compiles if (c.compile_id.compile or 0) > 0)

    def source_link(self, filename: str, line: int | None = None) -> str | None:
        ref = self.sources.get(filename)
        if ref is None:
            return None
        return ref.page + (f"#L{line}" if line is not None else "")


def _safe_name(filename: str) -> str:
    base = re.sub(r"[^A-Za-z0-9_.-]", "_", Path(filename).name)[:60]
    return base or "source"


def graph_code_anchor(entry_index: int, line_index: int) -> str:
    """Anchor of line ``line_index`` (from 1) of the graph code in ``compile.entries[i]``."""
    return f"code-{entry_index}-{line_index}"


def _add_source(trace: Trace, filename: str, line: int | None, compile_: Compile,
                anchor: str, loc: str | None = None) -> None:
    ref = trace.sources.get(filename)
    if ref is None:
        ref = SourceRef(filename, f"source_{len(trace.sources)}_{_safe_name(filename)}.html")
        trace.sources[filename] = ref
    if line is None:
        return
    users = ref.lines.setdefault(line, [])
    if all(c is not compile_ for c, _ in users):
        users.append((compile_, anchor))
    if loc and line not in ref.loc_text:
        ref.loc_text[line] = loc


def stack_frames(log: LogFile, stack: Any) -> list[tuple[str | None, int | None, str, str]]:
    """``(filename, line, name, loc)`` for each well-formed frame of a record's stack."""
    frames = []
    if not isinstance(stack, list):
        return frames
    for frame in stack:
        if not isinstance(frame, dict):
            continue
        line = number(frame.get("line"))
        frames.append((log.filename(frame), None if line is None else int(line),
                       str(frame.get("name", "")), str(frame.get("loc") or "")))
    return frames


def _collect_sources(trace: Trace) -> None:
    # Graph code first: a source line links to the first graph line it produced.
    for c in trace.compiles:
        for pos, e in enumerate(c.entries):
            if e.artifact_name != "dynajit_graph_code":
                continue
            for i, code_line in enumerate((e.payload or "").split("\n"), 1):
                where = graph_code_location(code_line)
                if where is not None:
                    _add_source(trace, where[0], where[1], c, graph_code_anchor(pos, i))
    for c in trace.compiles:
        filename, line = c.metric("co_filename"), number(c.metric("co_firstlineno"))
        if isinstance(filename, str):
            _add_source(trace, filename, None if line is None else int(line), c, "")
        for e in c.kind("dynamo_start"):
            stack = e.meta.get("stack") if isinstance(e.meta, dict) else None
            for fname, fline, _name, loc in stack_frames(c.log, stack):
                if fname is not None:
                    _add_source(trace, fname, fline, c, "stack", loc)
        filename, line = c.metric("fail_user_frame_filename"), number(
            c.metric("fail_user_frame_lineno"))
        if isinstance(filename, str):
            _add_source(trace, filename, None if line is None else int(line), c, "errors")


def build_trace(logs: list[LogFile]) -> Trace:
    """Group every log's entries into frames and compiles, in order of first appearance."""
    trace = Trace(logs=logs, frames=[], compiles=[], outside=[], sources={})
    frames: dict[tuple, Frame] = {}
    compiles: dict[tuple, Compile] = {}
    for index, log in enumerate(logs):
        for entry in log.entries:
            cid = entry.compile_id
            if cid is None:
                trace.outside.append((index, entry))
                continue
            key = (index, cid.group)
            compile_ = compiles.get(key)
            if compile_ is None:
                compile_ = compiles[key] = Compile(log, index, cid.group)
                trace.compiles.append(compile_)
                frame_key = (index, cid.autograd, cid.frame)
                frame = frames.get(frame_key)
                if frame is None:
                    frame = frames[frame_key] = Frame(log, index, cid.frame, cid.autograd)
                    trace.frames.append(frame)
                frame.compiles.append(compile_)
            compile_.entries.append(entry)
    _collect_sources(trace)
    return trace
