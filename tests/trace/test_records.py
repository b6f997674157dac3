"""The records convert_frame writes for compiles, recompiles, fallbacks and crashes: exact
compile ids and record kinds in order, and the fields the report and tlparse read."""

from __future__ import annotations

import inspect
import json
import os
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest

import dynajit
from dynajit.config import config
from tests.trace.tracelog import by_compile, read_strings, read_trace

COMPILE_RECORDS = ["dynamo_start", "artifact:dynajit_bytecode_before", "dynamo_output_graph",
                   "artifact:dynajit_graph_code", "dynamo_guards",
                   "artifact:dynajit_bytecode_after", "compilation_metrics"]
FALLBACK_RECORDS = ["dynamo_start", "artifact:dynajit_bytecode_before",
                    "artifact:dynamo_graph_break_reason", "compilation_metrics"]


def line_of(fn, text: str) -> int:
    """The file line number of the first line of ``fn``'s source containing ``text``."""
    lines, first = inspect.getsourcelines(fn)
    return first + next(i for i, line in enumerate(lines) if text in line)


def scaled(x):
    return np.sin(x) * 2.0


def shifted(x):
    return x + 1.0


def with_try(x):
    try:
        y = x + 1  # the break site
    except ValueError:
        y = x
    return y


def add_in_place(x, y):
    x += 1
    return x + y


def ids_and_kinds(directory) -> list[tuple[str | None, str]]:
    return by_compile(read_trace(directory))


def metrics_of(entries, compile_id: str) -> dict:
    (meta,) = [e.meta for e in entries
               if e.kind == "compilation_metrics" and e.compile_id == compile_id]
    return meta


def test_two_frames_and_a_recompile_give_exact_ids_and_records(trace_dir):
    f, g = dynajit.compile(scaled), dynajit.compile(shifted)
    f(np.ones(4, np.float32))
    g(np.ones(4, np.float32))
    f(np.ones(4, np.float32))  # cache hit: nothing recorded
    f(np.ones(4, np.float64))  # recompile
    expected = ([("[0/0]", k) for k in COMPILE_RECORDS]
                + [("[1/0]", k) for k in COMPILE_RECORDS]
                + [("[0/1]", "artifact:recompile_reasons")]
                + [("[0/1]", k) for k in COMPILE_RECORDS])
    assert ids_and_kinds(trace_dir) == expected

    entries = read_trace(trace_dir)
    (reasons,) = [e for e in entries if e.name == "artifact:recompile_reasons"]
    assert json.loads(reasons.payload) == ["L['x'].dtype: expected float32, got float64"]
    m0, m1, recompiled = (metrics_of(entries, i) for i in ("[0/0]", "[1/0]", "[0/1]"))
    assert (m0["co_name"], m1["co_name"]) == ("scaled", "shifted")
    assert m0["co_filename"] == __file__ and m0["co_firstlineno"] == line_of(scaled, "def")
    assert (m0["cache_size"], recompiled["cache_size"]) == (1, 2)
    assert m0["graph_op_count"] == 2 and m0["graph_input_count"] == 1
    assert m0["graph_node_count"] == 4  # placeholder, sin, multiply, output
    assert m0["guard_count"] >= 1
    assert m0["restart_reasons"] == [] and m0["fail_type"] is None
    assert m0["dynajit_status"] == "ok" and m0["dynajit_backend"] == "eager"
    phases = m0["dynajit_phase_times_s"]
    assert list(phases) == ["trace", "passes", "backend", "guards", "output_code"]
    assert all(t >= 0 for t in phases.values())
    assert m0["entire_frame_compile_time_s"] >= sum(phases.values()) - 1e-6
    assert m0["backend_compile_time_s"] == phases["backend"]


def test_record_payloads_hold_graph_guards_and_code(trace_dir):
    dynajit.compile(scaled)(np.ones(4, np.float32))
    got = {e.name: e for e in read_trace(trace_dir)}
    assert "sin" in got["dynamo_output_graph"].payload
    assert "f32[4]" in got["dynamo_output_graph"].payload
    graph_code = got["artifact:dynajit_graph_code"].payload
    assert f"({__file__}:{line_of(scaled, 'np.sin')})" in graph_code
    guards = json.loads(got["dynamo_guards"].payload)
    assert any("L['x']" in g["code"] for g in guards)
    assert set().union(*guards) == {"code"}
    assert "LOAD_GLOBAL" in got["artifact:dynajit_bytecode_before"].payload
    assert got["artifact:dynajit_bytecode_after"].payload.startswith("def __compiled_scaled")


def test_dynamo_start_has_the_user_stack_ending_at_the_compiled_def(trace_dir):
    def caller():
        return dynajit.compile(scaled)(np.ones(3))  # the call site

    caller()
    (start,) = [e for e in read_trace(trace_dir) if e.kind == "dynamo_start"]
    strings = read_strings(trace_dir)
    stack = start.meta["stack"]
    *_, call_site, compiled = stack
    assert (strings[compiled["filename"]], compiled["line"], compiled["name"]) == (
        __file__, line_of(scaled, "def"), "scaled")
    assert compiled["loc"] == "def scaled(x):"
    assert (call_site["name"], call_site["line"]) == ("caller", line_of(caller, "call site"))
    assert call_site["loc"].endswith("# the call site")
    assert not any("dynajit/" in strings[f["filename"]] and "tests" not in
                   strings[f["filename"]] for f in stack), "dynajit's own frames leaked"
    # Each filename is interned once, before the record that uses it.
    assert len(strings) == len(set(strings))


def test_fallback_frame_records_the_break_reason_at_the_user_line(trace_dir):
    f = dynajit.compile(with_try)
    np.testing.assert_array_equal(f(np.ones(2)), np.full(2, 2.0))
    f(np.ones(2))  # the code is skipped from now on: no second compile
    entries = read_trace(trace_dir)
    assert by_compile(entries) == [("[0/0]", k) for k in FALLBACK_RECORDS]
    site = line_of(with_try, "the break site")
    (reason,) = [e.payload for e in entries if e.name == "artifact:dynamo_graph_break_reason"]
    assert reason.startswith(f"Graph break in user code at {__file__}:{site}\n")
    assert "try/except/with block" in reason
    assert f'  File "{__file__}", line {site}, in with_try\n    y = x + 1  # the break site' in (
        reason)
    meta = metrics_of(entries, "[0/0]")
    assert meta["dynajit_status"] == "fallback"
    assert meta["fail_type"] == "Unsupported"
    assert meta["fail_reason"].endswith(f"({__file__}:{site})")
    assert (meta["fail_user_frame_filename"], meta["fail_user_frame_lineno"]) == (__file__, site)
    assert meta["cache_size"] == 0 and meta["restart_reasons"] == []


def calls_with_try(x):
    return with_try(x) * 2


def test_a_break_in_an_inlined_function_names_its_line(trace_dir):
    dynajit.compile(calls_with_try)(np.ones(2))
    entries = read_trace(trace_dir)
    # calls_with_try breaks at its call of with_try ([0/0]); with_try then runs as a frame
    # of its own and falls back ([1/0]); the resume function does `* 2` ([2/0]).
    assert [e.compile_id for e in entries if e.kind == "dynamo_start"] == [
        "[0/0]", "[1/0]", "[2/0]"]
    reasons = [e.payload for e in entries if e.name == "artifact:dynamo_graph_break_reason"]
    site = line_of(with_try, "the break site")
    assert all(r.startswith(f"Graph break in user code at {__file__}:{site}\n")
               for r in reasons)
    # The break names the whole user stack: the call in calls_with_try, then the site.
    call_line = line_of(calls_with_try, "return with_try(x)")
    assert reasons[0].index(f"line {call_line}, in calls_with_try\n") < reasons[0].index(
        f"line {site}, in with_try\n")
    assert f"line {site}, in with_try\n" in reasons[1]
    assert metrics_of(entries, "[0/0]")["restart_reasons"]
    assert metrics_of(entries, "[1/0]")["fail_user_frame_lineno"] == site
    phases = metrics_of(entries, "[1/0]")["dynajit_phase_times_s"]
    assert phases["trace"] > 0 and phases["backend"] == 0  # time until the failure counts


def test_input_dependent_fallback_then_compile_gets_the_next_compile_id(trace_dir):
    f = dynajit.compile(add_in_place)
    x = np.ones(3)
    f(x, x)  # aliased inputs: eager for these inputs only
    f(np.ones(3), np.ones(3))
    assert ids_and_kinds(trace_dir) == ([("[0/0]", k) for k in FALLBACK_RECORDS]
                                        + [("[0/1]", k) for k in COMPILE_RECORDS])
    entries = read_trace(trace_dir)
    meta = metrics_of(entries, "[0/0]")
    assert meta["dynajit_status"] == "fallback" and "overlaps" in meta["fail_reason"]
    # No user line is known: the site is the function's def line.
    assert meta["fail_user_frame_lineno"] == line_of(add_in_place, "def")
    (reason,) = [e.payload for e in entries if e.name == "artifact:dynamo_graph_break_reason"]
    assert "runs eagerly for these inputs" in reason
    assert metrics_of(entries, "[0/1]")["dynajit_status"] == "ok"


def failing_backend(gm, example_inputs):
    raise RuntimeError("backend exploded")


def test_compiler_crash_records_dynamo_error_and_warns_with_the_trace_file(trace_dir):
    f = dynajit.compile(shifted, backend=failing_backend)
    with pytest.warns(UserWarning, match="running it eagerly") as caught:
        np.testing.assert_array_equal(f(np.ones(2)), np.full(2, 2.0))
    entries = read_trace(trace_dir)
    assert by_compile(entries) == [("[0/0]", k) for k in [
        "dynamo_start", "artifact:dynajit_bytecode_before", "dynamo_output_graph",
        "artifact:dynajit_graph_code", "artifact:dynamo_error", "compilation_metrics"]]
    (error,) = [e.payload for e in entries if e.name == "artifact:dynamo_error"]
    assert error.startswith("Traceback (most recent call last):")
    assert "RuntimeError: backend exploded" in error and "in failing_backend" in error
    assert "CompileError: backend" in error
    meta = metrics_of(entries, "[0/0]")
    assert meta["dynajit_status"] == "error" and meta["fail_type"] == "CompileError"
    assert "backend exploded" in meta["fail_reason"]
    (log_file,) = trace_dir.glob("*.log")
    (message,) = [str(w.message) for w in caught]
    assert "\n" not in message and str(log_file) in message


def test_compiler_crash_is_recorded_before_it_is_raised(trace_dir):
    f = dynajit.compile(shifted, backend=failing_backend)
    with config.patch(raise_on_compile_error=True):
        with pytest.raises(dynajit.CompileError, match="backend exploded"):
            f(np.ones(2))
    names = [e.name for e in read_trace(trace_dir)]
    assert names[-2:] == ["artifact:dynamo_error", "compilation_metrics"]


def test_fullgraph_unsupported_is_recorded_and_raised(trace_dir):
    f = dynajit.compile(with_try, fullgraph=True)
    with pytest.raises(dynajit.Unsupported):
        f(np.ones(2))
    entries = read_trace(trace_dir)
    assert [e.name for e in entries] == FALLBACK_RECORDS
    assert "raised to the caller" in entries[2].payload


def test_cache_size_limit_is_a_recorded_fallback(trace_dir):
    f = dynajit.compile(shifted)
    with config.patch(cache_size_limit=1), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        f(np.ones(2, np.float32))
        f(np.ones(2, np.float64))
        f(np.ones(2, np.int64))  # the code is skipped now
    assert ids_and_kinds(trace_dir) == (
        [("[0/0]", k) for k in COMPILE_RECORDS]
        + [("[0/1]", "artifact:recompile_reasons"), ("[0/1]", "dynamo_start"),
           ("[0/1]", "artifact:dynajit_bytecode_before"),
           ("[0/1]", "artifact:dynamo_graph_break_reason"), ("[0/1]", "compilation_metrics")])
    meta = metrics_of(read_trace(trace_dir), "[0/1]")
    assert meta["fail_type"] == "CacheLimitExceeded" and "cache_size_limit (1)" in (
        meta["fail_reason"])
    assert meta["cache_size"] == 1


def test_closures_sharing_code_recompile_with_the_reason(trace_dir):
    def make(k):
        def add_k(x):
            return x + k
        return dynajit.compile(add_k)

    make(1.0)(np.ones(2))
    make(2.0)(np.ones(2))
    entries = read_trace(trace_dir)
    (reasons,) = [json.loads(e.payload) for e in entries
                  if e.name == "artifact:recompile_reasons"]
    assert any("another function object" in r for r in reasons)
    assert [e.compile_id for e in entries if e.kind == "dynamo_start"] == ["[0/0]", "[0/1]"]


def test_tracing_off_writes_no_file(tmp_path):
    with config.patch(trace_dir=None):
        dynajit.compile(scaled)(np.ones(2))
        dynajit.compile(with_try)(np.ones(2))
        with pytest.warns(UserWarning, match="raise_on_compile_error"):
            dynajit.compile(shifted, backend=failing_backend)(np.ones(2))
    assert list(tmp_path.iterdir()) == []
    assert dynajit.trace.trace_file() is None


def test_a_new_directory_starts_a_new_file_numbered_from_zero(tmp_path):
    first, second = tmp_path / "a", tmp_path / "b"
    with config.patch(trace_dir=str(first)):
        dynajit.compile(scaled)(np.ones(2))
        dynajit.compile(shifted)(np.ones(2))
    with config.patch(trace_dir=str(second)):
        dynajit.compile(shifted)(np.ones(2, np.float32))
    assert {e.compile_id for e in read_trace(first)} == {"[0/0]", "[1/0]"}
    assert {e.compile_id for e in read_trace(second)} == {"[0/0]"}
    # Each file has its own string table, numbered from 0 (the reader checks the numbers).
    assert __file__ in read_strings(first) and __file__ in read_strings(second)


def test_environment_variable_turns_tracing_on(tmp_path):
    program = textwrap.dedent("""
        import numpy as np, dynajit

        @dynajit.compile
        def f(x):
            return x * 2

        f(np.ones(3))
        f(np.ones(3, np.float32))
    """)
    env = {**os.environ, "DYNAJIT_TRACE": str(tmp_path)}
    env.pop("DYNAJIT_TRACE_DIR", None)
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env["PYTHONPATH"] = root
    subprocess.run([sys.executable, "-c", program], env=env, check=True, cwd=tmp_path)
    entries = read_trace(tmp_path)
    assert [e.compile_id for e in entries if e.kind == "compilation_metrics"] == [
        "[0/0]", "[0/1]"]
    assert {e.path for e in entries if e.kind == "dynamo_start"} == {
        "dynajit/capture/convert_frame.py"}
