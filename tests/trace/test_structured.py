"""The trace writer on its own: line grammar, payload encoding and MD5, string interning,
compile-id context, laziness when off, and robustness (a record never raises)."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import warnings

import pytest

from dynajit import trace
from dynajit.config import config
from dynajit.trace import structured
from tests.trace.tracelog import HEADER, parse_log, read_strings, read_trace


def log_text(directory) -> str:
    (path,) = directory.glob("dedicated_log_torch_trace_*.log")
    return path.read_text(encoding="utf-8")


def test_nothing_is_computed_or_written_when_off(tmp_path):
    def explode():
        raise AssertionError("evaluated while tracing is off")

    with config.patch(trace_dir=None):
        assert not trace.enabled()
        trace.record("dynamo_output_graph", explode, explode)
        trace.artifact("x", explode, encoding="json")
        with trace.compile_context(trace.CompileId(0, 0)):
            trace.record("dynamo_start", explode)
    with config.patch(trace_dir=""):
        trace.record("dynamo_output_graph", explode, explode)
    assert list(tmp_path.iterdir()) == []


def test_the_file_is_created_on_the_first_record(trace_dir):
    assert not trace_dir.exists() and trace.trace_file() is None
    trace.record("dynamo_output_graph", payload="g")
    (path,) = trace_dir.iterdir()
    assert path.name.startswith("dedicated_log_torch_trace_") and path.suffix == ".log"
    assert trace.trace_file() == str(path)


def test_header_grammar_and_payload_lines(trace_dir):
    with trace.compile_context(trace.CompileId(3, 1)):
        trace.record("dynamo_output_graph", payload="line 1\n\tindented\n\nlast\n")
    text = log_text(trace_dir)
    header, *payload = text.split("\n")
    m = HEADER.match(header)
    assert m["path"] == "test_structured.py"  # outside dynajit: the file's name
    assert re.search(r" \d{2}:\d{2}:\d{2}\.\d{6} ", header)
    assert payload == ["\tline 1", "\t\tindented", "\t", "\tlast", "\t", ""]
    envelope = json.loads(m["json"])
    assert envelope == {"dynamo_output_graph": {}, "frame_id": 3, "frame_compile_id": 1,
                        "attempt": 0,
                        "has_payload": hashlib.md5(b"line 1\n\tindented\n\nlast\n").hexdigest()}
    (entry,) = read_trace(trace_dir)
    assert entry.payload == "line 1\n\tindented\n\nlast\n" and entry.compile_id == "[3/1]"


def test_carriage_returns_are_normalized_before_hashing(trace_dir):
    trace.artifact("crlf", "a\r\nb\rc")
    (entry,) = read_trace(trace_dir)  # the reader checks the MD5
    assert entry.payload == "a\nb\nc"
    assert "\r" not in log_text(trace_dir)


def test_unicode_and_empty_payloads(trace_dir):
    trace.artifact("unicode", "π ≈ 3.14 \u2028 ok")
    trace.artifact("empty", "")
    unicode, empty = read_trace(trace_dir)
    assert unicode.payload == "π ≈ 3.14 \u2028 ok"
    assert empty.payload == "" and empty.envelope["has_payload"] == hashlib.md5(b"").hexdigest()


def test_json_payloads_are_written_as_pytorch_does(trace_dir):
    trace.artifact("reasons", ["a", "b"], encoding="json")
    trace.artifact("groups", {"k": [1, 2]}, encoding="json")
    trace.record("dynamo_guards", payload=lambda: [{"code": "x"}])
    reasons, groups, guards = read_trace(trace_dir)
    assert reasons.payload == '[\n"a",\n"b"\n]'
    assert json.loads(groups.payload) == {"k": [1, 2]}
    assert json.loads(guards.payload) == [{"code": "x"}]
    assert reasons.meta == {"name": "reasons", "encoding": "json"}


def test_records_outside_a_compile_have_no_compile_id(trace_dir):
    trace.record("dynamo_output_graph", {"sizes": {}}, "g")
    with trace.compile_context(trace.CompileId(0, 2, attempt=1)) as cid:
        assert trace.current_compile_id() == cid and str(cid) == "[0/2_1]"
        trace.record("dynamo_output_graph", payload="g")
    assert trace.current_compile_id() is None
    outside, inside = read_trace(trace_dir)
    assert outside.compile_id is None and "frame_id" not in outside.envelope
    assert inside.compile_id == "[0/2_1]"


def test_stack_filenames_are_interned_once_before_use(trace_dir):
    def stack():
        return {"stack": [structured.stack_frame("/a.py", 1, "f", "x = 1"),
                          structured.stack_frame("/b.py", 2, "g", "y = 2"),
                          structured.stack_frame("/a.py", 3, "h", "z = 3")]}

    trace.record("dynamo_start", stack)
    trace.record("dynamo_start", stack)
    assert read_strings(trace_dir) == ["/a.py", "/b.py"]
    first, _ = read_trace(trace_dir)
    assert [f["filename"] for f in first.meta["stack"]] == [0, 1, 0]
    lines = log_text(trace_dir).splitlines()
    assert [json.loads(HEADER.match(x)["json"]).get("str") for x in lines[:2]] == [
        ["/a.py", 0], ["/b.py", 1]]


def test_new_compile_ids_count_frames_and_recompiles_per_directory(tmp_path):
    def f():
        pass

    def g():
        pass

    with config.patch(trace_dir=str(tmp_path / "one")):
        ids = [structured.new_compile_id(c) for c in (f.__code__, g.__code__, f.__code__)]
        assert [str(i) for i in ids] == ["[0/0]", "[1/0]", "[0/1]"]
    with config.patch(trace_dir=str(tmp_path / "two")):
        assert str(structured.new_compile_id(g.__code__)) == "[0/0]"


def test_a_failing_record_warns_and_does_not_raise(trace_dir):
    def broken():
        raise ValueError("no metadata today")

    with pytest.warns(UserWarning, match="no metadata today"):
        trace.record("dynamo_start", broken)
    with pytest.warns(UserWarning, match="could not write"):
        trace.record("compilation_metrics", {"start_time": float("nan")})  # not JSON
    trace.record("dynamo_output_graph", payload="still works")
    assert [e.payload for e in read_trace(trace_dir)] == ["still works"]


def test_an_unwritable_directory_warns_once_and_turns_tracing_off(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with config.patch(trace_dir=str(blocker / "trace")):
        with pytest.warns(UserWarning, match="cannot write the trace"):
            trace.record("dynamo_output_graph", payload="g")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            trace.record("dynamo_output_graph", payload="g")
        assert caught == [] and trace.trace_file() is None


def test_artifact_rejects_unknown_encodings(trace_dir):
    with pytest.raises(ValueError, match="encoding"):
        trace.artifact("x", "y", encoding="binary")


def test_reader_rejects_bad_lines():
    good = ('V1124 08:00:00.000001 1 dynajit/x.py:1] {"artifact": {"name": "a", "encoding": '
            f'"string"}}, "has_payload": "{hashlib.md5(b"p").hexdigest()}"}}\n\tp\n')
    assert len(parse_log(good)[0]) == 1
    for bad in (good.replace(".000001", ".001"), good.replace("\tp", "\tq"),
                good.replace("x.py", "C:/x.py"), good + "\torphan\n",
                good.replace(hashlib.md5(b"p").hexdigest(),
                             hashlib.md5(b"p").hexdigest().upper())):
        with pytest.raises(AssertionError):
            parse_log(bad)


def test_turning_tracing_off_and_on_again_keeps_the_file_and_the_numbering(tmp_path):
    def f():
        pass

    with config.patch(trace_dir=str(tmp_path)):
        assert str(structured.new_compile_id(f.__code__)) == "[0/0]"
        trace.record("dynamo_output_graph", payload="first")
    with config.patch(trace_dir=None):
        trace.record("dynamo_output_graph", payload="not written")
    with config.patch(trace_dir=str(tmp_path)):
        assert str(structured.new_compile_id(f.__code__)) == "[0/1]"
        trace.record("dynamo_output_graph", payload="second")
    assert [e.payload for e in read_trace(tmp_path)] == ["first", "second"]


@pytest.mark.parametrize("env, expected", [
    ({"DYNAJIT_TRACE": "/t/a"}, "/t/a"),
    ({"DYNAJIT_TRACE_DIR": "/t/b", "DYNAJIT_TRACE": "/t/a"}, "/t/b"),
    ({"DYNAJIT_TRACE": ""}, None),
    ({}, None),
])
def test_trace_dir_from_the_environment(env, expected):
    code = "import dynajit; print(repr(dynajit.config.trace_dir))"
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    base = {k: v for k, v in os.environ.items() if not k.startswith("DYNAJIT_")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**base, **env, "PYTHONPATH": root}, check=True)
    assert out.stdout.strip() == repr(expected)
