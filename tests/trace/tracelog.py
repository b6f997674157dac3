"""A strict reader of dynajit's structured trace, independent of the writer: every line must
be a glog header with one JSON envelope or a TAB payload line of an entry that declares
``has_payload``; the MD5 must match; keys must have the types tlparse requires; filenames
must be interned before use. ``read_trace(dir)`` returns the entries of the one log file."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from pathlib import Path
from typing import Any

HEADER = re.compile(
    r"^(?P<level>[VIWEC])(?P<month>\d{2})(?P<day>\d{2}) (?P<hour>\d{2}):(?P<minute>\d{2}):"
    r"(?P<second>\d{2})\.(?P<usec>\d{6}) (?P<pid>\d+) (?P<path>[^:\s]+):(?P<lineno>\d+)\] "
    r"(?P<json>\{.*\})$")
CONTEXT_KEYS = {"frame_id", "frame_compile_id", "attempt", "has_payload"}
FORBIDDEN_KEYS = {"rank", "timestamp", "thread", "pathname", "lineno", "payload_filename",
                  "compiled_autograd_id", "severity"}
COUNT_FIELDS = ("cache_size", "accumulated_cache_size", "guard_count", "graph_op_count",
                "graph_node_count", "graph_input_count", "fail_user_frame_lineno")
TIME_FIELDS = ("start_time", "entire_frame_compile_time_s", "backend_compile_time_s")


@dataclasses.dataclass
class Entry:
    kind: str
    meta: Any
    envelope: dict
    payload: str | None
    path: str  # the header's source path
    line: int  # line number of the header in the log file

    @property
    def compile_id(self) -> str | None:
        """"[x/y]" or "[x/y_z]", None without compile-id keys."""
        e = self.envelope
        if "frame_id" not in e:
            return None
        suffix = f"_{e['attempt']}" if e["attempt"] else ""
        return f"[{e['frame_id']}/{e['frame_compile_id']}{suffix}]"

    @property
    def name(self) -> str:
        """The kind, or ``artifact:<name>`` for artifacts."""
        return f"artifact:{self.meta['name']}" if self.kind == "artifact" else self.kind


def _is_u32(value: Any) -> bool:
    return type(value) is int and 0 <= value < 2**32


def parse_log(text: str) -> tuple[list[Entry], list[str]]:
    """The entries (``str`` records excluded) and the string table of one log."""
    assert "\r" not in text, "the log contains a CR"
    entries: list[Entry] = []
    strings: list[str] = []
    lines = text.split("\n")
    assert lines[-1] == "", "the log does not end with a newline"
    i = 0
    while i < len(lines) - 1:
        line = lines[i]
        m = HEADER.match(line)
        assert m, f"line {i + 1} is not a header: {line[:120]!r}"
        envelope = json.loads(m["json"])
        assert isinstance(envelope, dict)
        kinds = [k for k in envelope if k not in CONTEXT_KEYS]
        assert len(kinds) == 1, f"line {i + 1}: kind keys {kinds}"
        assert not set(envelope) & FORBIDDEN_KEYS, f"line {i + 1}: forbidden keys"
        kind = kinds[0]
        payload_lines = []
        j = i + 1
        while j < len(lines) - 1 and lines[j].startswith("\t"):
            payload_lines.append(lines[j][1:])
            j += 1
        payload = None
        if "has_payload" in envelope:
            digest = envelope["has_payload"]
            assert re.fullmatch(r"[0-9a-f]{32}", digest), f"line {i + 1}: md5 {digest!r}"
            payload = "\n".join(payload_lines)
            assert hashlib.md5(payload.encode()).hexdigest() == digest, (
                f"line {i + 1}: payload MD5 mismatch")
        else:
            assert not payload_lines, f"line {i + 1}: payload lines without has_payload"
        if kind == "str":
            assert set(envelope) == {"str"}, f"line {i + 1}: str record with context keys"
            text_, index = envelope["str"]
            assert isinstance(text_, str) and index == len(strings), f"line {i + 1}"
            strings.append(text_)
        else:
            _check_envelope(envelope, kind, len(strings), i + 1)
            if kind == "dynamo_guards" or envelope[kind].get("encoding") == "json":
                value = json.loads(payload)  # tlparse parses these
                if kind == "dynamo_guards":
                    assert all(isinstance(g["code"], str) for g in value), f"line {i + 1}"
            entries.append(Entry(kind, envelope[kind], envelope, payload, m["path"], i + 1))
        i = j
    return entries, strings


def _check_envelope(envelope: dict, kind: str, interned: int, where: int) -> None:
    ids = [k for k in ("frame_id", "frame_compile_id", "attempt") if k in envelope]
    assert ids in ([], ["frame_id", "frame_compile_id", "attempt"]), f"line {where}: {ids}"
    assert all(_is_u32(envelope[k]) for k in ids), f"line {where}: compile id types"
    meta = envelope[kind]
    assert isinstance(meta, dict), f"line {where}: metadata is not an object"
    for frame in meta.get("stack") or []:
        assert type(frame["line"]) is int and isinstance(frame["name"], str), where
        assert _is_u32(frame["filename"]) and frame["filename"] < interned, (
            f"line {where}: filename index {frame['filename']} not interned yet")
        assert isinstance(frame.get("loc", ""), str), where
    if kind == "artifact":
        assert isinstance(meta["name"], str) and "/" not in meta["name"], where
        assert meta["encoding"] in ("string", "json"), where
        assert "has_payload" in envelope, f"line {where}: artifact without payload"
    if kind == "compilation_metrics":
        for key in COUNT_FIELDS:
            assert meta.get(key) is None or _is_u32(meta[key]), f"line {where}: {key}"
        for key in TIME_FIELDS:
            assert meta.get(key) is None or type(meta[key]) is float, f"line {where}: {key}"
        assert (meta.get("fail_type") is None) == (meta.get("fail_reason") is None), where
        assert isinstance(meta.get("restart_reasons"), list), where


def read_trace(directory: Path) -> list[Entry]:
    """The entries of the single trace file in ``directory``."""
    files = sorted(Path(directory).glob("dedicated_log_torch_trace_*.log"))
    assert len(files) == 1, f"expected one trace file in {directory}, found {files}"
    entries, _ = parse_log(files[0].read_text(encoding="utf-8"))
    return entries


def read_strings(directory: Path) -> list[str]:
    (path,) = Path(directory).glob("dedicated_log_torch_trace_*.log")
    return parse_log(path.read_text(encoding="utf-8"))[1]


def by_compile(entries: list[Entry]) -> list[tuple[str | None, str]]:
    """(compile id, kind or artifact:name) per entry, in log order."""
    return [(e.compile_id, e.name) for e in entries]
