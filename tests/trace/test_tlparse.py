"""Upstream compatibility: the real ``tlparse`` (PyPI, in the test extra) parses a trace with
two frames, a recompile, a fallback and a compiler crash under ``--strict
--strict-compile-id`` and renders every compile id with its graph, guards and metrics.
Output file names carry one global counter, so files are matched on their prefix."""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

import dynajit
from tests.trace.tracelog import read_trace


def _tlparse() -> str | None:
    beside = Path(sys.executable).with_name("tlparse")
    return str(beside) if beside.exists() else shutil.which("tlparse")


TLPARSE = _tlparse()
pytestmark = pytest.mark.skipif(
    TLPARSE is None, reason="tlparse is not installed (pip install tlparse, or the "
                            "'test' extra: pip install -e '.[test]')")


def scaled(x):
    return np.sin(x) * 2.0


def shifted(x):
    return x + 1.0


def with_try(x):
    try:
        y = x + 1
    except ValueError:
        y = x
    return y


def failing_backend(gm, example_inputs):
    raise RuntimeError("backend exploded")


def run_tlparse(log: Path, out: Path) -> subprocess.CompletedProcess:
    return subprocess.run([TLPARSE, str(log), "-o", str(out), "--overwrite", "--no-browser",
                           "--strict", "--strict-compile-id"], capture_output=True, text=True,
                          timeout=120)


def files_of(directory: Path) -> list[str]:
    """File names without the global counter: ``dynamo_guards_7.html`` -> ``dynamo_guards``
    plus its extension."""
    return sorted(re.sub(r"_\d+(\.\w+)$", r"\1", p.name) for p in directory.iterdir())


COMPILED = ["compilation_metrics.html", "dynajit_bytecode_after.txt",
            "dynajit_bytecode_before.txt", "dynajit_graph_code.txt", "dynamo_guards.html",
            "dynamo_output_graph.txt"]


def test_tlparse_renders_every_compile_id(trace_dir, tmp_path):
    f, g = dynajit.compile(scaled), dynajit.compile(shifted)
    f(np.ones(4, np.float32))
    g(np.ones(4, np.float32))
    f(np.ones(4, np.float64))  # [0/1]: recompile
    dynajit.compile(with_try)(np.ones(2))  # [2/0]: fallback
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")

        def crashing(x):
            return x * 3.0

        dynajit.compile(crashing, backend=failing_backend)(np.ones(2))  # [3/0]: crash
    (log,) = trace_dir.glob("*.log")
    entries = read_trace(trace_dir)
    out = tmp_path / "tl"
    proc = run_tlparse(log, out)
    assert proc.returncode == 0, proc.stderr
    stats = [line for line in proc.stderr.splitlines() if line.startswith("Stats")]
    assert stats == [f"Stats {{ ok: {len(entries)} }}"], proc.stderr

    directories = sorted(p.name for p in out.iterdir() if p.is_dir() and p.name != "payloads")
    assert directories == ["-_0_0_0", "-_0_1_0", "-_1_0_0", "-_2_0_0", "-_3_0_0"]
    assert files_of(out / "-_0_0_0") == COMPILED
    assert files_of(out / "-_1_0_0") == COMPILED
    assert files_of(out / "-_0_1_0") == sorted(COMPILED + ["recompile_reasons.json"])
    assert files_of(out / "-_2_0_0") == ["compilation_metrics.html",
                                         "dynajit_bytecode_before.txt",
                                         "dynamo_graph_break_reason.txt"]
    assert files_of(out / "-_3_0_0") == ["compilation_metrics.html",
                                         "dynajit_bytecode_before.txt",
                                         "dynajit_graph_code.txt", "dynamo_error.txt",
                                         "dynamo_output_graph.txt"]
    for name in ("index.html", "failures_and_restarts.html", "compile_directory.json",
                 "raw.jsonl"):
        assert (out / name).is_file(), name

    # Payloads are written verbatim: the graph file is the graph text we recorded.
    (graph,) = (out / "-_0_0_0").glob("dynamo_output_graph_*.txt")
    (recorded,) = [e.payload for e in entries
                   if e.kind == "dynamo_output_graph" and e.compile_id == "[0/0]"]
    assert graph.read_text() == recorded
    (reasons,) = (out / "-_0_1_0").glob("recompile_reasons_*.json")
    assert json.loads(reasons.read_text()) == ["L['x'].dtype: expected float32, got float64"]
    (guards,) = (out / "-_0_0_0").glob("dynamo_guards_*.html")
    shown = re.findall(r"<li><code>(.*?)</code>", html.unescape(guards.read_text()), re.S)
    (recorded,) = [e.payload for e in entries
                   if e.kind == "dynamo_guards" and e.compile_id == "[0/0]"]
    assert shown == [g["code"] for g in json.loads(recorded)] and shown

    # The index: every compile id, coloured by the stack trie from compilation_metrics.
    index = (out / "index.html").read_text()
    status = dict(re.findall(r"<a href='#(\[\d+/\d+\])' class='status-(\w+)'>", index))
    assert status == {"[0/0]": "ok", "[1/0]": "ok", "[0/1]": "ok", "[2/0]": "error",
                      "[3/0]": "error"}
    directory = json.loads((out / "compile_directory.json").read_text())
    assert set(directory) == set(status)

    # Metrics pages show our counts; failures name their type and reason.
    (metrics,) = (out / "-_0_0_0").glob("compilation_metrics_*.html")
    text = re.sub(r"<[^>]+>", " ", metrics.read_text())
    assert re.search(r"Graph Ops:\s*2\b", text) and re.search(r"Cache Size:\s*1\b", text)
    assert "scaled" in text
    failures = (out / "failures_and_restarts.html").read_text()
    assert "Unsupported" in failures and "CompileError" in failures
