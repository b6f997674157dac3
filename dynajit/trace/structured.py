"""The structured trace: records in PyTorch's TORCH_TRACE format (read by upstream tlparse and
by dynajit's report), one file per process under ``config.trace_dir``. One call writes one
record; everything a record needs is computed lazily, so a disabled trace costs one check.

    from dynajit import trace
    trace.record("dynamo_output_graph", payload=lambda: str(graph))
    trace.artifact("dynajit_fusion_groups", lambda: groups, encoding="json")

Records pick up the compile id (``frame_id``/``frame_compile_id``/``attempt``) from the
compile context that ``capture/convert_frame.py`` sets around one compile. ``listen()`` hands
the same records to a callback in this process, with or without a trace file (``explain``)."""

from __future__ import annotations

import atexit
import contextlib
import contextvars
import dataclasses
import hashlib
import json
import linecache
import os
import sys
import tempfile
import threading
import time
import types
import warnings
import weakref
from collections.abc import Callable, Iterator
from typing import Any

from dynajit.config import config

_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_ROOT_DIR = os.path.dirname(_PACKAGE_DIR)
FILE_PREFIX = "dedicated_log_torch_trace_"


@dataclasses.dataclass(frozen=True)
class CompileId:
    """``[frame_id/frame_compile_id]`` (``_attempt`` when the analysis restarted)."""

    frame_id: int
    frame_compile_id: int
    attempt: int = 0

    def __str__(self) -> str:
        suffix = f"_{self.attempt}" if self.attempt else ""
        return f"[{self.frame_id}/{self.frame_compile_id}{suffix}]"


_COMPILE_ID: contextvars.ContextVar[CompileId | None] = contextvars.ContextVar(
    "dynajit_compile_id", default=None)


class _Sink:
    """One trace destination (a directory, or None when tracing is off) with its compile-id
    counters, its file (created on the first record) and its string table. A new directory
    gets a new sink, so every file numbers its frames from 0 and interns its own strings."""

    def __init__(self, directory: str | None):
        self.directory = directory
        self.frame_ids: weakref.WeakKeyDictionary[types.CodeType, int] = (
            weakref.WeakKeyDictionary())
        self.compiles: dict[int, int] = {}  # frame_id -> compiles started
        self.path: str | None = None
        self.file: Any = None
        self.pid = 0
        self.strings: dict[str, int] = {}
        self.broken = False

    def string(self, index: int) -> str:
        """The interned string at ``index`` (the table is small: a few file names)."""
        with _LOCK:
            for text, i in self.strings.items():
                if i == index:
                    return text
        raise KeyError(f"no interned string {index}")

    def open(self) -> bool:
        if self.broken or self.directory is None:
            return False
        if self.file is not None and self.pid == os.getpid():
            return True
        # First record, or a forked child: a process never appends to another's file.
        try:
            os.makedirs(self.directory, exist_ok=True)
            fd, path = tempfile.mkstemp(prefix=FILE_PREFIX, suffix=".log", dir=self.directory)
            self.file = os.fdopen(fd, "w", encoding="utf-8", newline="\n")
        except OSError as e:
            self.broken = True
            warnings.warn(f"dynajit: cannot write the trace to {self.directory!r} ({e}); "
                          "tracing is off for this directory", stacklevel=4)
            return False
        self.path, self.pid = os.path.abspath(path), os.getpid()
        self.strings = {}
        return True

    def write(self, text: str) -> None:
        self.file.write(text)
        self.file.flush()  # a crash must not lose the records that explain it

    def close(self) -> None:
        if self.file is not None and self.pid == os.getpid():
            self.file.close()
        self.file = None


_LOCK = threading.RLock()
_off_sink = _Sink(None)  # compile ids while tracing is off
_file_sink: _Sink | None = None  # the last directory's; kept while tracing is toggled off


def _current_sink() -> _Sink:
    global _file_sink
    if not config.trace_dir:
        return _off_sink
    directory = os.fspath(config.trace_dir)
    sink = _file_sink
    if sink is None or sink.directory != directory:
        with _LOCK:
            if _file_sink is None or _file_sink.directory != directory:
                if _file_sink is not None:
                    _file_sink.close()
                _file_sink = _Sink(directory)
            sink = _file_sink
    return sink


# ----------------------------------------------------------------------------- public API
def enabled() -> bool:
    """True when records are wanted: ``config.trace_dir`` is set or a listener is installed
    (guard costly record building with it)."""
    return bool(_listeners or config.trace_dir)


def record(kind: str, metadata: Any = None, payload: Any = None) -> None:
    """Write one record ``{kind: metadata}`` with the current compile id. ``metadata`` is a
    JSON-able object (default ``{}``) or a callable returning one; ``payload`` is a string,
    a JSON-able object (written as JSON) or a callable returning either, or None. Callables
    run only when tracing is on or a listener reads them. Never raises: a failing record is
    reported as a warning."""
    if not (_listeners or config.trace_dir):
        return
    _emit(kind, metadata, payload, sys._getframe(1))


def artifact(name: str, payload: Any, encoding: str = "string") -> None:
    """An ``artifact`` record (tlparse writes it to ``<name>_N.txt`` or ``.json``). ``name``
    must not contain "/"; ``encoding`` is "string" or "json"."""
    if not (_listeners or config.trace_dir):
        return
    if encoding not in ("string", "json"):
        raise ValueError(f"artifact encoding must be 'string' or 'json', got {encoding!r}")
    _emit("artifact", {"name": name, "encoding": encoding}, payload, sys._getframe(1))


_UNSET = object()


class Record:
    """One record as a listener sees it: ``kind``, ``name`` (the artifact's name, else the
    kind), ``compile_id`` (None outside a compile), and ``metadata`` and ``payload`` as
    objects (not JSON text). The metadata is built before any listener runs (it may hold
    the user's stack at the record); the payload is built on first access, then kept."""

    __slots__ = ("kind", "compile_id", "_metadata", "_payload", "_sink")

    def __init__(self, kind: str, compile_id: CompileId | None, metadata: Any,
                 payload: Any, sink: _Sink):
        self.kind = kind
        self.compile_id = compile_id
        self._metadata = metadata
        self._payload = payload
        self._sink = sink

    @property
    def metadata(self) -> Any:
        if callable(self._metadata):
            self._metadata = self._metadata()
        return {} if self._metadata is None else self._metadata

    @property
    def payload(self) -> Any:
        if callable(self._payload):
            self._payload = self._payload()
        return self._payload

    @property
    def name(self) -> str:
        if self.kind == "artifact":
            return self.metadata.get("name", "artifact")
        return self.kind

    def string(self, index: int) -> str:
        """The interned string ``index`` (a stack frame's ``filename``)."""
        return self._sink.string(index)

    def __repr__(self) -> str:
        return f"<Record {self.compile_id or '[-/-]'} {self.name}>"


@dataclasses.dataclass(frozen=True)
class Listener:
    """A callback installed by ``listen``; ``thread`` None means every thread."""

    callback: Callable[[Record], None]
    thread: int | None


_listeners: tuple[Listener, ...] = ()


@contextlib.contextmanager
def listen(callback: Callable[[Record], None], all_threads: bool = False,
           ) -> Iterator[Listener]:
    """Call ``callback(record)`` for every record written inside the block (in this thread,
    or in every thread with ``all_threads``), whether or not a trace file is written.

    >>> with trace.listen(lambda r: print(r.compile_id, r.name)):
    ...     f(x)
    [0/0] dynamo_start
    ...

    The callback runs inside the compile that writes the record; what it raises becomes a
    warning. While a listener is installed every record is built (one check more when none
    is: tracing off costs two flag reads instead of one)."""
    global _listeners
    listener = Listener(callback, None if all_threads else threading.get_ident())
    with _LOCK:
        _listeners = (*_listeners, listener)
    try:
        yield listener
    finally:
        with _LOCK:
            _listeners = tuple(item for item in _listeners if item is not listener)


def trace_file() -> str | None:
    """Path of this process's trace file, once a record has been written to it."""
    sink = _current_sink()
    return sink.path if sink.file is not None else None


def new_compile_id(code: types.CodeType) -> CompileId:
    """The id of a compile of ``code`` that is about to start: the frame's id (one per code
    object, in order of first compile) and how many compiles of it came before."""
    sink = _current_sink()
    with _LOCK:
        frame_id = sink.frame_ids.get(code)
        if frame_id is None:
            frame_id = sink.frame_ids[code] = len(sink.compiles)
        count = sink.compiles.get(frame_id, 0)
        sink.compiles[frame_id] = count + 1
    return CompileId(frame_id, count)


def reset_compile_ids() -> None:
    """``dynajit.reset()``: without a trace file, compile ids start again from [0/0]. A
    trace file keeps numbering, so its ids stay unique."""
    global _off_sink
    with _LOCK:
        _off_sink = _Sink(None)


def current_compile_id() -> CompileId | None:
    return _COMPILE_ID.get()


@contextlib.contextmanager
def compile_context(compile_id: CompileId) -> Iterator[CompileId]:
    """Records written inside the block carry ``compile_id``."""
    token = _COMPILE_ID.set(compile_id)
    try:
        yield compile_id
    finally:
        _COMPILE_ID.reset(token)


def intern_string(text: str) -> int:
    """Index of ``text`` in the trace file's string table; writes its ``str`` record on
    first use. Call only inside lazy metadata. Without a file (only listeners) the table is
    kept in memory, for ``Record.string``."""
    sink = _current_sink()
    with _LOCK:
        writing = sink.open()
        index = sink.strings.get(text)
        if index is None:
            index = sink.strings[text] = len(sink.strings)
            if writing:
                envelope = json.dumps({"str": [text, index]})
                sink.write(f"{_prefix(sys._getframe(1))}{envelope}\n")
        return index


def stack_frame(filename: str, line: int, name: str, loc: str | None = None) -> dict:
    """One stack frame as tlparse reads it (``loc``: the source line, read if not given)."""
    if loc is None:
        loc = linecache.getline(filename, line).strip()
    return {"line": int(line), "name": name, "filename": intern_string(filename), "loc": loc}


def user_stack(code: types.CodeType | None = None, skip: int = 1) -> list[dict]:
    """The Python stack above dynajit, outermost first, as stack frames; ``code`` (the frame
    being compiled, which has not started yet) is appended at its ``def`` line."""
    frames = []
    frame: types.FrameType | None = sys._getframe(skip)
    while frame is not None:
        filename = frame.f_code.co_filename
        if not _is_internal(filename):
            frames.append((filename, frame.f_lineno or frame.f_code.co_firstlineno,
                           frame.f_code.co_name))
        frame = frame.f_back
    frames.reverse()
    if code is not None:
        frames.append((code.co_filename, code.co_firstlineno, code.co_name))
    return [stack_frame(f, line, name) for f, line, name in frames]


def _is_internal(filename: str) -> bool:
    return filename.startswith("<dynajit") or os.path.abspath(filename).startswith(
        _PACKAGE_DIR + os.sep)


# ----------------------------------------------------------------------------- writing
def payload_text(value: Any) -> str:
    """The exact payload text of ``value``: strings as they are (line ends normalized to
    LF, since tlparse drops a CR and the MD5 would no longer match), lists as one JSON
    item per line, other objects as JSON."""
    if isinstance(value, str):
        text = value
    elif isinstance(value, list):
        text = "[\n" + ",\n".join(json.dumps(item) for item in value) + "\n]"
    else:
        text = json.dumps(value, indent=0)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text.encode("utf-8", "replace").decode("utf-8")


def _emit(kind: str, metadata: Any, payload: Any, caller: types.FrameType) -> None:
    # The sink is chosen before anything lazy runs: metadata interns file names in it.
    rec = Record(kind, _COMPILE_ID.get(), metadata, payload, _current_sink())
    if config.trace_dir:
        _write(rec, caller)
    if _listeners:
        _notify(rec)


def _write(rec: Record, caller: types.FrameType) -> None:
    try:
        envelope: dict[str, Any] = {rec.kind: rec.metadata}
        compile_id = rec.compile_id
        if compile_id is not None:
            envelope["frame_id"] = compile_id.frame_id
            envelope["frame_compile_id"] = compile_id.frame_compile_id
            envelope["attempt"] = compile_id.attempt
        text = None
        payload = rec.payload
        if payload is not None:
            text = payload_text(payload)
            envelope["has_payload"] = hashlib.md5(text.encode("utf-8")).hexdigest()
        line = f"{_prefix(caller)}{json.dumps(envelope, allow_nan=False)}\n"
        if text:
            line += "".join(f"\t{piece}\n" for piece in text.split("\n"))
        sink = rec._sink
        with _LOCK:
            if sink.open():
                sink.write(line)
    except Exception as e:  # noqa: BLE001 - tracing must never change what it observes
        warnings.warn(f"dynajit: could not write the {rec.kind!r} trace record: "
                      f"{type(e).__name__}: {e}", stacklevel=4)


def _notify(rec: Record) -> None:
    thread = threading.get_ident()
    listeners = [item for item in _listeners if item.thread in (None, thread)]
    if not listeners:
        return
    try:
        # Built here, not inside a listener, so that a user stack does not include it.
        rec.metadata  # noqa: B018
    except Exception as e:  # noqa: BLE001 - tracing must never change what it observes
        warnings.warn(f"dynajit: could not build the {rec.kind!r} trace record: "
                      f"{type(e).__name__}: {e}", stacklevel=4)
        return
    for listener in listeners:
        try:
            listener.callback(rec)
        except Exception as e:  # noqa: BLE001 - a listener must not change what it observes
            warnings.warn(f"dynajit: a trace listener failed on the {rec.kind!r} record: "
                          f"{type(e).__name__}: {e}", stacklevel=4)


def _prefix(caller: types.FrameType) -> str:
    """``V<MMDD> <HH:MM:SS.uuuuuu> <pid> <path>:<line>] `` (glog style, as PyTorch)."""
    now = time.time()
    t = time.localtime(now)
    usec = int((now - int(now)) * 1_000_000)
    path = _source_path(caller.f_code.co_filename)
    return (f"V{t.tm_mon:02d}{t.tm_mday:02d} {t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}"
            f".{usec:06d} {os.getpid()} {path}:{caller.f_lineno}] ")


_PATHS: dict[str, str] = {}


def _source_path(filename: str) -> str:
    path = _PATHS.get(filename)
    if path is None:
        absolute = os.path.abspath(filename)
        path = (os.path.relpath(absolute, _ROOT_DIR) if absolute.startswith(_PACKAGE_DIR)
                else os.path.basename(absolute))
        # The glog prefix allows no colon and no space in the path.
        path = _PATHS[filename] = "".join("_" if c == ":" or c.isspace() else c
                                          for c in path.replace(os.sep, "/")) or "unknown"
    return path


def _close() -> None:
    with _LOCK:
        if _file_sink is not None:
            _file_sink.close()


atexit.register(_close)
