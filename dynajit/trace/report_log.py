"""Reading structured trace logs (TORCH_TRACE format) for the report: lines become `Entry`
records, lines that are not entries are counted as `Malformed`. Parsing follows tlparse 0.4.3:
an unanchored glog prefix, a one-line JSON envelope, TAB-indented payload lines that belong to
the entry only when it carries ``has_payload``."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

# LEVEL MMDD HH:MM:SS.uuuuuu PID PATH:LINE] JSON  (any text may precede the level letter)
_HEADER = re.compile(
    r"([VIWEC])(\d{2})(\d{2}) (\d{2}):(\d{2}):(\d{2})\.(\d{6}) +(\d+) ([^:]+):(\d+)\] (.*)$")

# Envelope keys that are context, not the record kind.
CONTEXT_KEYS = frozenset({
    "frame_id", "frame_compile_id", "attempt", "compiled_autograd_id", "rank", "has_payload",
    "stack",
})
_ID_KEYS = ("compiled_autograd_id", "frame_id", "frame_compile_id", "attempt")

# Examples of malformed lines kept per log file (the count is exact, the examples are not).
_MAX_EXAMPLES = 20


@dataclasses.dataclass(frozen=True)
class CompileId:
    """``[x/y_z]`` (PyTorch's display form); ``autograd`` adds the ``!a/`` prefix. A part
    that the record does not carry is None and shows as ``-``."""

    autograd: int | None
    frame: int | None
    compile: int | None
    attempt: int | None = None

    def display(self, with_attempt: bool = True) -> str:
        def part(v: int | None) -> str:
            return "-" if v is None else str(v)

        text = f"{part(self.frame)}/{part(self.compile)}"
        if with_attempt and self.attempt:
            text += f"_{self.attempt}"
        if self.autograd is not None:
            text = f"!{self.autograd}/{text}"
        return f"[{text}]"

    @property
    def group(self) -> CompileId:
        """The compile this id belongs to: attempts of one (re)compile share a page."""
        return CompileId(self.autograd, self.frame, self.compile, None)


@dataclasses.dataclass
class Entry:
    """One record: its kind, the kind's metadata, the whole envelope and its payload."""

    kind: str
    meta: Any
    envelope: dict
    payload: str | None
    lineno: int
    time: str
    source: str  # the PATH:LINE of the logging call
    compile_id: CompileId | None
    md5_ok: bool = True  # has_payload matches the payload read (tlparse renders it anyway)

    @property
    def attempt(self) -> int:
        return (self.compile_id.attempt or 0) if self.compile_id else 0

    @property
    def artifact_name(self) -> str | None:
        if self.kind == "artifact" and isinstance(self.meta, dict):
            name = self.meta.get("name")
            return name if isinstance(name, str) else None
        return None

    def json_payload(self) -> Any:
        """The payload parsed as JSON; raises ValueError when it is not JSON."""
        if self.payload is None:
            raise ValueError("no payload")
        return json.loads(self.payload)


@dataclasses.dataclass
class Malformed:
    """A line that is not part of any entry, or an entry that cannot be read."""

    lineno: int
    reason: str
    text: str


@dataclasses.dataclass
class LogFile:
    """Everything read from one log file (one process)."""

    path: Path
    entries: list[Entry] = dataclasses.field(default_factory=list)
    strings: dict[int, str] = dataclasses.field(default_factory=dict)
    malformed_count: int = 0
    malformed_examples: list[Malformed] = dataclasses.field(default_factory=list)
    md5_mismatches: int = 0
    bad_compile_ids: int = 0

    def add_malformed(self, lineno: int, reason: str, text: str) -> None:
        self.malformed_count += 1
        if len(self.malformed_examples) < _MAX_EXAMPLES:
            self.malformed_examples.append(Malformed(lineno, reason, text[:300]))

    def filename(self, frame: Any) -> str | None:
        """The file name of a stack frame: ``uninterned_filename`` or the string table."""
        if not isinstance(frame, dict):
            return None
        direct = frame.get("uninterned_filename")
        if isinstance(direct, str):
            return direct
        index = frame.get("filename")
        if isinstance(index, int) and not isinstance(index, bool):
            return self.strings.get(index)
        return None


def _lines(path: Path) -> Iterable[tuple[int, str]]:
    # Split on LF only and drop one CR before it, as tlparse's line reader does.
    with open(path, "rb") as f:
        for lineno, raw in enumerate(f, 1):
            if raw.endswith(b"\n"):
                raw = raw[:-1]
            if raw.endswith(b"\r"):
                raw = raw[:-1]
            yield lineno, raw.decode("utf-8", errors="replace")


def _compile_id(envelope: dict) -> tuple[CompileId | None, bool]:
    """The entry's compile id (None outside any compile) and whether its id keys were valid."""
    values: dict[str, int | None] = {}
    ok = True
    for key in _ID_KEYS:
        v = envelope.get(key)
        if v is None:
            values[key] = None
        elif isinstance(v, int) and not isinstance(v, bool) and v >= 0:
            values[key] = v
        else:
            values[key] = None
            ok = False
    if not ok or (values["frame_id"] is None and values["frame_compile_id"] is None
                  and values["compiled_autograd_id"] is None):
        return None, ok
    return CompileId(values["compiled_autograd_id"], values["frame_id"],
                     values["frame_compile_id"], values["attempt"]), ok


def read_log(path: Path) -> LogFile:
    """Read one structured log, keeping every entry that parses and counting the rest."""
    log = LogFile(Path(path))
    pending: dict | None = None  # header of the entry whose payload lines are being read
    payload_lines: list[str] = []

    def finish() -> None:
        nonlocal pending
        if pending is None:
            return
        payload = "\n".join(payload_lines)
        if hashlib.md5(payload.encode("utf-8")).hexdigest() != pending["md5"]:
            log.md5_mismatches += 1
            pending["entry"].md5_ok = False
        pending["entry"].payload = payload
        pending = None

    for lineno, line in _lines(path):
        if line.startswith("\t"):
            if pending is not None:
                payload_lines.append(line[1:])
            else:
                log.add_malformed(lineno, "payload line without a header that has has_payload",
                                  line)
            continue
        finish()
        if not line.strip():
            continue
        match = _HEADER.search(line)
        if match is None:
            log.add_malformed(lineno, "not a log record (no glog header)", line)
            continue
        try:
            envelope = json.loads(match.group(11))
        except ValueError as e:
            log.add_malformed(lineno, f"invalid JSON ({e})", line)
            continue
        if not isinstance(envelope, dict):
            log.add_malformed(lineno, "the JSON is not an object", line)
            continue
        kinds = [k for k in envelope if k not in CONTEXT_KEYS]
        if not kinds:
            log.add_malformed(lineno, "no record kind in the JSON", line)
            continue
        kind = kinds[0]
        if kind == "str":
            value = envelope["str"]
            if (isinstance(value, list) and len(value) == 2 and isinstance(value[0], str)
                    and isinstance(value[1], int)):
                log.strings[value[1]] = value[0]
            else:
                log.add_malformed(lineno, "string-table entry is not [string, index]", line)
            continue
        compile_id, ids_ok = _compile_id(envelope)
        if not ids_ok:
            log.bad_compile_ids += 1
        mon, day, hh, mm, ss, us = match.group(2, 3, 4, 5, 6, 7)
        entry = Entry(
            kind=kind, meta=envelope[kind], envelope=envelope, payload=None, lineno=lineno,
            time=f"{mon}-{day} {hh}:{mm}:{ss}.{us}",
            source=f"{match.group(9).strip()}:{match.group(10)}", compile_id=compile_id)
        log.entries.append(entry)
        md5 = envelope.get("has_payload")
        if isinstance(md5, str):
            pending = {"entry": entry, "md5": md5}
            payload_lines = []
    finish()
    return log


def find_logs(trace: Path) -> list[Path]:
    """The log files a report reads: TRACE itself when it is a file, else every ``*.log``
    directly in the directory (sorted by name)."""
    trace = Path(trace)
    if trace.is_file():
        return [trace]
    return sorted(p for p in trace.glob("*.log") if p.is_file())
