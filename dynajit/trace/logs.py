"""Human logs by topic, through Python ``logging`` (loggers ``dynajit.<topic>``), turned on
with ``DYNAJIT_LOGS=graph_breaks,recompiles`` or ``config.logs`` ("+topic" for verbose,
"all" for every topic). Messages are built only when their logger is enabled; the setting
is read at each use, so ``config.patch(logs=...)`` takes effect at once."""

from __future__ import annotations

import linecache
import logging
import sys
import threading
import warnings
from collections.abc import Callable

from dynajit.config import config
from dynajit.trace.structured import current_compile_id

TOPICS = ("graph_breaks", "recompiles", "guards", "graph", "graph_code", "bytecode",
          "output_code")
_LOGGERS = {topic: logging.getLogger(f"dynajit.{topic}") for topic in TOPICS}
_PARENT = logging.getLogger("dynajit")


class _StderrHandler(logging.Handler):
    """Writes to the ``sys.stderr`` of the moment (not the one seen at set-up), so output
    follows redirections such as pytest's capture."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stderr.write(self.format(record) + "\n")
        except Exception:  # noqa: BLE001 - logging must not raise into the user's code
            self.handleError(record)


_HANDLER = _StderrHandler()
_HANDLER.setFormatter(logging.Formatter("%(name)s: %(message)s"))
_applied: str | None = None  # the config.logs value the loggers are set up for
_configured: set[str] = set()  # topics whose level this module set
_seen_sites: set[str] = set()  # graph-break sites already logged
_lock = threading.Lock()


def parse(spec: str) -> dict[str, int]:
    """``"graph_breaks,+recompiles"`` -> {topic: logging level}. Unknown topics warn."""
    levels: dict[str, int] = {}
    for item in spec.split(","):
        item = item.strip()
        if not item:
            continue
        verbose = item.startswith("+")
        name = item.lstrip("+")
        names = TOPICS if name == "all" else (name,)
        if name != "all" and name not in TOPICS:
            warnings.warn(f"dynajit: unknown log topic {name!r} in DYNAJIT_LOGS/config.logs; "
                          f"known topics: {', '.join(TOPICS)}, all", stacklevel=4)
            continue
        for topic in names:
            levels[topic] = logging.DEBUG if verbose else logging.INFO
    return levels


def _sync() -> None:
    """Set the loggers up for the current ``config.logs`` (cheap when it did not change)."""
    global _applied
    spec = config.logs or ""
    if spec == _applied:
        return
    with _lock:
        if spec == _applied:
            return
        levels = parse(spec)
        for topic in _configured - set(levels):
            _LOGGERS[topic].setLevel(logging.NOTSET)
        for topic, level in levels.items():
            _LOGGERS[topic].setLevel(level)
        _configured.clear()
        _configured.update(levels)
        if levels and _HANDLER not in _PARENT.handlers:
            _PARENT.addHandler(_HANDLER)
            _PARENT.propagate = False
        elif not levels and _HANDLER in _PARENT.handlers:
            _PARENT.removeHandler(_HANDLER)
            _PARENT.propagate = True
        _applied = spec


def enabled(topic: str, verbose: bool = False) -> bool:
    _sync()
    return _LOGGERS[topic].isEnabledFor(logging.DEBUG if verbose else logging.INFO)


def log(topic: str, message: str | Callable[[], str], verbose: bool = False) -> None:
    """Log ``message`` (or what the callable returns) on ``dynajit.<topic>``, prefixed
    with the current compile id; ``verbose`` messages need "+topic"."""
    if not enabled(topic, verbose):
        return
    text = message() if callable(message) else message
    compile_id = current_compile_id()
    if compile_id is not None:
        text = f"{compile_id} {text}"
    _LOGGERS[topic].log(logging.DEBUG if verbose else logging.INFO, text)


def source_line(filename: str, line: int) -> str:
    return linecache.getline(filename, line).strip()


def graph_break(site: tuple[str, int], function: str, reason: str, action: str) -> None:
    """A graph break or whole-frame fallback at ``site`` (the user's file and line): logged
    once per site, or every time with "+graph_breaks"."""
    if not enabled("graph_breaks"):
        return
    key = f"{site[0]}:{site[1]}"
    with _lock:
        first = key not in _seen_sites
        _seen_sites.add(key)
    if not first and not enabled("graph_breaks", verbose=True):
        return
    source = source_line(*site)
    log("graph_breaks", f"graph break in {function} at {key}: {reason}; {action}"
        + (f"\n    {site[1]} | {source}" if source else ""), verbose=not first)


def reset() -> None:
    """Forget which graph-break sites were logged (``dynajit.reset()``)."""
    with _lock:
        _seen_sites.clear()
