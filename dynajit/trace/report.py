"""``python -m dynajit report TRACE_DIR -o OUT``: a self-contained static HTML report of the
structured trace logs in TRACE_DIR (index of compiles by frame, one page per compile, one page
per user source file). Parsing lives in ``report_log``, grouping in ``report_model``, HTML in
``report_html`` and ``report_pages``."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from dynajit.errors import DynajitError
from dynajit.trace.report_html import GENERATOR
from dynajit.trace.report_log import find_logs, read_log
from dynajit.trace.report_model import Trace, build_trace
from dynajit.trace.report_pages import render_compile, render_index, render_source

# Files a report writes; a rerun into the same directory removes its previous ones first.
_OWN_FILES = re.compile(r"^(index|compile_[A-Za-z0-9_]+|source_[A-Za-z0-9_.-]+)\.html$")
# User files bigger than this are not copied into the report (the location still shows).
_MAX_SOURCE_BYTES = 4 * 1024 * 1024


class ReportError(DynajitError):
    """The report cannot be written (no logs, or an output directory that is not ours)."""


@dataclasses.dataclass
class Report:
    """What ``write_report`` wrote: ``index`` is the page to open."""

    out_dir: Path
    index: Path
    pages: list[Path]
    trace: Trace


def _read_source(filename: str) -> list[str] | None:
    # Only Python sources: a trace must not pull arbitrary files into a report.
    path = Path(filename)
    try:
        if (path.suffix not in (".py", ".pyw") or not path.is_file()
                or path.stat().st_size > _MAX_SOURCE_BYTES):
            return None
        return path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return None


def _is_report_dir(out_dir: Path) -> bool:
    index = out_dir / "index.html"
    try:
        return f'content="{GENERATOR}"' in index.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False


def _prepare_out_dir(out_dir: Path) -> None:
    if out_dir.exists() and not out_dir.is_dir():
        raise ReportError(f"{out_dir} exists and is not a directory; pick another -o OUT")
    if out_dir.is_dir() and any(out_dir.iterdir()):
        if not _is_report_dir(out_dir):
            raise ReportError(f"{out_dir} is not empty and holds no dynajit report; pick a new or "
                              "empty directory for -o OUT (an old report there is replaced)")
        for old in out_dir.iterdir():
            if old.is_file() and _OWN_FILES.match(old.name):
                old.unlink()
    out_dir.mkdir(parents=True, exist_ok=True)


def write_report(trace_dir: str | Path, out_dir: str | Path) -> Report:
    """Write the HTML report of every ``*.log`` in ``trace_dir`` (or of one log file) into
    ``out_dir``, replacing an earlier report there.

    Example::

        # DYNAJIT_TRACE=/tmp/trace python train.py
        from dynajit.trace.report import write_report
        report = write_report("/tmp/trace", "/tmp/trace-report")
        print(report.index)  # open it in a browser
    """
    trace_dir, out_dir = Path(trace_dir), Path(out_dir)
    if not trace_dir.exists():
        raise ReportError(f"{trace_dir}: no such file or directory (pass the directory that "
                          "DYNAJIT_TRACE pointed at)")
    paths = find_logs(trace_dir)
    if not paths:
        raise ReportError(f"{trace_dir} holds no *.log file; run the program with "
                          f"DYNAJIT_TRACE={trace_dir} first")
    trace = build_trace([read_log(p) for p in paths])
    _prepare_out_dir(out_dir)
    sources = {name: _read_source(name) for name in trace.sources}
    pages = []

    def write(name: str, text: str) -> None:
        path = out_dir / name
        path.write_text(text, encoding="utf-8")
        pages.append(path)

    write("index.html", render_index(trace, trace_dir.resolve()))
    for position, c in enumerate(trace.compiles):
        write(c.page, render_compile(trace, position, sources))
    for ref in trace.sources.values():
        write(ref.page, render_source(trace, ref, sources[ref.filename]))
    return Report(out_dir, out_dir / "index.html", pages, trace)
