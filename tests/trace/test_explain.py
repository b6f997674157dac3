"""``trace.listen`` (records in-process), ``dynajit.explain`` (exact fields on programs with no
break, a data-dependent branch, a print, a break three frames deep, a fallback), the reason
``fullgraph=True`` raises, break classification, and ``python -m dynajit explain``."""

from __future__ import annotations

import dis
import inspect
import subprocess
import sys
import textwrap
import threading
import warnings
from pathlib import Path

import numpy as np
import pytest

import dynajit
from dynajit import trace
from dynajit.capture import convert_frame
from dynajit.config import config
from dynajit.graph.codegen import GraphModule
from dynajit.trace.explain import (
    CATEGORIES,
    BreakReason,
    CompileRecord,
    ExplainOutput,
    RecordCollector,
    classify,
    parse_break_reason,
    summarize,
)
from tests.capture.conftest import CountingBackend
from tests.trace.tracelog import by_compile, read_trace

ROOT = Path(__file__).resolve().parents[2]
HERE = __file__


def line_of(fn, text: str) -> int:
    """The file line number of the first line of ``fn``'s source containing ``text``."""
    lines, first = inspect.getsourcelines(fn)
    return first + next(i for i, line in enumerate(lines) if text in line)


def at(fn, text: str) -> tuple[str, str]:
    """The user-stack entry of the line of ``fn`` containing ``text``."""
    line = line_of(fn, text)
    source = inspect.getsourcelines(fn)[0][line - fn.__code__.co_firstlineno].strip()
    return (f"{HERE}:{line}", source)


def instruction_at(fn, line: int, prefix: str) -> str:
    """``opname argrepr`` of the first instruction of ``fn`` on ``line`` starting with
    ``prefix`` (Python versions differ in opnames and offsets)."""
    for inst in dis.get_instructions(fn):
        if inst.positions.lineno == line and inst.opname.startswith(prefix):
            return f"{inst.opname} {inst.argrepr}".strip()
    raise AssertionError(f"no {prefix}* instruction on line {line}")


@pytest.fixture
def counting_backend() -> CountingBackend:
    return CountingBackend()


# ----------------------------------------------------------------------------- programs
def clean(x):
    return np.sin(x) * 2.0 + 1.0


def branch(x):
    if x.max() > 0:
        return x + 1.0
    return x - 1.0


def printing(x):
    y = x * 2.0
    print("y is ready")
    return y + 1.0


def innermost(x):
    print("deep inside")
    return x


def middle(x):
    return innermost(x) + 1.0


def outer(x):
    y = x * 3.0
    return middle(y) * 2.0


def with_try(x):
    try:
        y = x + 1.0
    except ValueError:
        y = x
    return y


class Sub(np.ndarray):
    pass


# ----------------------------------------------------------------------------- listen()
def test_a_listener_sees_the_records_the_trace_file_gets(trace_dir):
    seen = []
    with trace.listen(lambda r: seen.append((str(r.compile_id), r.name))):
        dynajit.compile(branch)(np.ones(3))
    written = [(cid, name.removeprefix("artifact:")) for cid, name in
               by_compile(read_trace(trace_dir))]
    assert seen == written
    assert ("[0/0]", "dynamo_graph_break_reason") in seen


def test_a_listener_works_without_a_trace_file_and_resolves_stack_files(tmp_path):
    starts = []

    def keep(rec):
        if rec.kind == "dynamo_start":
            starts.append([(rec.string(f["filename"]), f["line"], f["name"])
                           for f in rec.metadata["stack"]])

    with config.patch(trace_dir=None), trace.listen(keep):
        assert trace.enabled()
        dynajit.compile(clean)(np.ones(3))  # the call
    assert not trace.enabled()
    me = test_a_listener_works_without_a_trace_file_and_resolves_stack_files
    (stack,) = starts
    # The listener's own frame is not part of the user stack: metadata is built first.
    assert stack[-2:] == [(HERE, line_of(me, "# the call"), me.__name__),
                          (HERE, clean.__code__.co_firstlineno, "clean")]
    assert trace.trace_file() is None and list(tmp_path.iterdir()) == []


def test_payloads_are_built_only_when_read():
    def explode():
        raise AssertionError("payload built although nobody read it")

    names = []
    with config.patch(trace_dir=None), trace.listen(lambda r: names.append(r.name)):
        trace.record("dynamo_output_graph", {"a": 1}, explode)
        trace.artifact("dynajit_x", explode)
    assert names == ["dynamo_output_graph", "dynajit_x"]

    payloads = []
    with config.patch(trace_dir=None), trace.listen(lambda r: payloads.append(r.payload)):
        trace.artifact("dynajit_x", lambda: ["built"], encoding="json")
    assert payloads == [["built"]]


def test_listeners_get_this_thread_unless_all_threads():
    mine, everyone = [], []
    with trace.listen(lambda r: mine.append(r.name)), \
            trace.listen(lambda r: everyone.append(r.name), all_threads=True):
        worker = threading.Thread(target=lambda: trace.record("dynamo_output_graph"))
        worker.start()
        worker.join()
        trace.artifact("dynajit_here", "x")
    assert mine == ["dynajit_here"]
    assert everyone == ["dynamo_output_graph", "dynajit_here"]


def test_a_failing_listener_warns_and_changes_nothing():
    def broken(rec):
        raise RuntimeError("listener bug")

    with trace.listen(broken), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = dynajit.compile(clean)(np.ones(3))
    np.testing.assert_array_equal(result, clean(np.ones(3)))
    assert caught and all("a trace listener failed" in str(w.message) for w in caught)
    assert "listener bug" in str(caught[0].message)


def test_records_with_no_listener_and_no_file_are_not_built():
    def explode():
        raise AssertionError("built with no listener and no file")

    with trace.listen(lambda r: None):
        pass
    with config.patch(trace_dir=None):
        trace.record("dynamo_start", explode, explode)
        trace.artifact("dynajit_x", explode)


# ----------------------------------------------------------------------------- explain()
def test_explain_a_function_without_breaks():
    x = np.linspace(-1, 1, 5)
    out = dynajit.explain(clean)(x)
    assert isinstance(out, ExplainOutput)
    assert out.graph_count == 1 and out.graph_break_count == 0
    assert out.break_reasons == [] and out.errors == []
    assert out.ops_per_graph == [3]
    (gm,) = out.graphs
    assert isinstance(gm, GraphModule)
    assert [n.target.name for n in gm.graph.call_nodes()] == ["sin", "multiply", "add"]
    assert out.guards == [["ARRAY     L['x']: ndarray float64 (5,) C-contiguous",
                           "ID        G['np'] is <module 'numpy'>"]]
    ((compile_id, function, seconds),) = out.compile_times
    assert (compile_id, function) == ("[0/0]", "clean") and seconds > 0
    np.testing.assert_array_equal(out.result, clean(x))
    text = str(out)
    assert text.startswith("Graph count: 1\nGraph break count: 0\nOp count: 3 (per graph: 3)")
    assert "[0/0] clean (test_explain.py:" in text and "Break reasons" not in text


def test_explain_a_data_dependent_branch():
    out = dynajit.explain(branch)(np.ones(3))
    np.testing.assert_array_equal(out.result, np.full(3, 2.0))
    assert out.graph_count == 2 and out.graph_break_count == 1
    assert out.ops_per_graph == [2, 1]  # max > 0, then x + 1 in the resume function
    line = line_of(branch, "if x.max()")
    (reason,) = out.break_reasons
    assert reason == BreakReason(
        category="data-dependent branch",
        message="branching on an array value (`if`, `and`, `or`, `not`, bool()) depends on "
                "the data",
        user_stack=[at(branch, "if x.max()")],
        instruction=instruction_at(branch, line, "POP_JUMP"),
        site=f"{HERE}:{line}",
        function="branch",
        compile_id="[0/0]",
        action=reason.action,
        hint="replace `if` on an array with np.where, or decide the branch outside the "
             "compiled function")
    assert reason.action.startswith("graph break: POP_JUMP")
    assert [c.function for c in out.compiles] == ["branch", reason.action.rsplit(" ", 2)[1]]
    assert out.guards == [["ARRAY     L['x']: ndarray float64 (3,) C-contiguous"]] * 2
    assert "1. [0/0] branch: data-dependent branch at" in str(out)


def test_explain_a_print(capsys):
    out = dynajit.explain(printing)(np.ones(2))
    assert capsys.readouterr().out == "y is ready\n"
    np.testing.assert_array_equal(out.result, np.full(2, 3.0))
    assert out.graph_count == 2 and out.graph_break_count == 1
    assert out.ops_per_graph == [1, 1]
    (reason,) = out.break_reasons
    assert (reason.category, reason.message, reason.hint) == (
        "side effect", "call to print has side effects or is not supported while tracing",
        "move print out of the compiled function")
    assert reason.user_stack == [at(printing, "print(")]
    assert reason.instruction == instruction_at(printing, line_of(printing, "print("), "CALL")
    assert (reason.function, reason.compile_id) == ("printing", "[0/0]")


def test_explain_a_break_three_frames_deep_reports_the_whole_user_stack(capsys):
    out = dynajit.explain(outer)(np.ones(2))
    assert capsys.readouterr().out == "deep inside\n"
    np.testing.assert_array_equal(out.result, np.full(2, 8.0))
    # outer breaks at the inlined print; middle and innermost then run as frames of their
    # own (called eagerly at the break) and break there too.
    assert out.graph_break_count == 3
    assert [(r.compile_id, r.function, r.category) for r in out.break_reasons] == [
        ("[0/0]", "outer", "side effect"), ("[1/0]", "middle", "side effect"),
        ("[2/0]", "innermost", "side effect")]
    site = at(innermost, "print(")
    assert {r.site for r in out.break_reasons} == {site[0]}
    whole = [at(outer, "middle(y)"), at(middle, "innermost(x)"), site]
    assert out.break_reasons[0].user_stack == whole
    # middle is called at the break through a caller placed at outer's line, so the records
    # of the later compiles know the whole stack too.
    assert out.break_reasons[1].user_stack == whole
    assert out.break_reasons[2].user_stack == whole
    assert out.graph_count == 3 and out.ops_per_graph == [1, 1, 1]


def test_explain_a_whole_frame_fallback():
    out = dynajit.explain(with_try)(np.ones(2))
    np.testing.assert_array_equal(out.result, np.full(2, 2.0))
    assert out.graph_count == 0 and out.graphs == [] and out.guards == []
    (reason,) = out.break_reasons
    assert (reason.category, reason.action, reason.instruction) == (
        "try/with block", "the frame runs eagerly from now on", "LOAD_FAST x")
    assert reason.message.startswith("code inside a try/except/with block")
    assert reason.user_stack == [at(with_try, "y = x + 1.0")]
    assert [c.status for c in out.compiles] == ["fallback"]


def test_explain_an_input_that_cannot_be_compiled():
    out = dynajit.explain(clean)(np.ones(3).view(Sub))
    (reason,) = out.break_reasons
    assert (reason.category, reason.message) == (
        "input type", "L['x']: ndarray subclass Sub is not supported")
    assert reason.user_stack == [at(clean, "def clean")]


@pytest.mark.parametrize("fn", [branch, printing, outer])
def test_fullgraph_raises_the_reason_explain_reports(fn):
    reason = dynajit.explain(fn)(np.ones(2)).break_reasons[0]
    dynajit.reset()
    with pytest.raises(dynajit.Unsupported) as raised:
        dynajit.compile(fn, fullgraph=True)(np.ones(2))
    assert reason.message in str(raised.value)
    assert reason.site in str(raised.value)


def test_explain_compiles_afresh_and_leaves_no_entry_behind(counting_backend):
    compiled = dynajit.compile(clean, backend=counting_backend)
    compiled(np.ones(3))
    assert counting_backend.frame_count == 1
    out = dynajit.explain(compiled)(np.ones(3))  # a compiled function: its original
    assert out.graph_count == 1 and out.compiles[0].compile_id == "[0/0]"
    assert convert_frame.cache_of(clean.__code__).entries == []
    compiled(np.ones(3))  # compiles again with its own backend, not explain's
    assert counting_backend.frame_count == 2


def test_explain_with_a_callable_backend_and_a_method(counting_backend):
    class Model:
        scale = 3.0

        def forward(self, x):
            return x * self.scale

    out = dynajit.explain(Model().forward, backend=counting_backend)(np.ones(2))
    np.testing.assert_array_equal(out.result, np.full(2, 3.0))
    assert out.graphs == counting_backend.graphs and out.ops_per_graph == [1]
    assert out.compiles[0].function == "forward"


def test_explain_propagates_the_functions_exception():
    def fails(x):
        return x + undefined_name  # noqa: F821

    with pytest.raises(NameError):
        dynajit.explain(fails)(np.ones(2))
    assert convert_frame.cache_of(fails.__code__).entries == []


# ----------------------------------------------------------------------------- records
RESUME_ARTIFACT = """Graph break in user code at /p/m.py:5
Graph Break Reason: call to print has side effects or is not supported while tracing (/p/m.py:5)
Instruction: CALL 1
Action: graph break: CALL runs eagerly, then __resume_f_at_40 continues
User code traceback:
  File "/p/m.py", line 12
    return g(y)
  File "/p/m.py", line 5
    print(a)
"""

FALLBACK_ARTIFACT = """Graph break in user code at /p/m.py:5
Graph Break Reason: code inside a try/except/with block (...)
Action: the frame runs eagerly from now on
User code traceback:
  File "/p/m.py", line 5, in f
    y = x + 1
"""


def test_parse_break_reason_reads_both_formats():
    resume = parse_break_reason(RESUME_ARTIFACT)
    assert resume["site"] == "/p/m.py:5"
    assert resume["message"] == "call to print has side effects or is not supported while " \
                                "tracing"
    assert resume["instruction"] == "CALL 1"
    assert [(f.site, f.name, f.source) for f in resume["frames"]] == [
        ("/p/m.py:12", None, "return g(y)"), ("/p/m.py:5", None, "print(a)")]
    fallback = parse_break_reason(FALLBACK_ARTIFACT)
    assert (fallback["message"], fallback["instruction"], fallback["action"]) == (
        "code inside a try/except/with block (...)", None, "the frame runs eagerly from now on")
    assert [(f.site, f.name) for f in fallback["frames"]] == [("/p/m.py:5", "f")]


class FakeRecord:
    """What a listener gets, for records made up by the test."""

    def __init__(self, cid, kind, metadata=None, payload=None, name=None):
        self.compile_id, self.kind, self.metadata, self.payload = cid, kind, metadata, payload
        self.name = name or kind

    def string(self, index):
        return ["/p/main.py", "/p/m.py"][index]


def collect(*records) -> list:
    collector = RecordCollector()
    for rec in records:
        collector(rec)
    return collector.compiles()


def test_every_break_artifact_counts_once_and_the_stack_joins_the_callers():
    cid = trace.CompileId(0, 0)
    start = FakeRecord(cid, "dynamo_start", {"stack": [
        {"filename": 0, "line": 7, "name": "<module>", "loc": "f(x)"},
        {"filename": 1, "line": 10, "name": "f", "loc": "def f(x):"}]})
    broke = FakeRecord(cid, "artifact", payload=RESUME_ARTIFACT,
                       name="dynamo_graph_break_reason")
    metrics = FakeRecord(trace.CompileId(0, 0, attempt=1), "compilation_metrics", {
        "co_name": "f", "co_filename": "/p/m.py", "co_firstlineno": 10,
        "graph_op_count": 2, "dynajit_status": "ok", "entire_frame_compile_time_s": 0.5,
        "restart_reasons": ["call to print", "call to print"]})
    (compile_,) = collect(start, broke, broke, metrics)
    out = ExplainOutput.from_compiles([compile_], [], None)
    assert out.graph_break_count == 2  # the artifacts, not restart_reasons
    assert out.break_reasons[0].user_stack == [
        ("/p/main.py:7", "f(x)"), ("/p/m.py:12", "return g(y)"), ("/p/m.py:5", "print(a)")]
    assert (out.graph_count, out.ops_per_graph, out.compile_times) == (
        1, [2], [("[0/0]", "f", 0.5)])

    fallback = FakeRecord(cid, "artifact", payload=FALLBACK_ARTIFACT.replace(", in f", ""),
                          name="dynamo_graph_break_reason")
    (compile_,) = collect(start, fallback)
    # A break in an inlined callee whose record names only its line: the compiled frame
    # is kept at its def line.
    assert compile_.breaks[0].user_stack == [
        ("/p/main.py:7", "f(x)"), ("/p/m.py:10", "def f(x):"), ("/p/m.py:5", "y = x + 1")]


@pytest.mark.parametrize("message, action, category", [
    ("branching on an array value (`if`, ...) depends on the data", "", "data-dependent branch"),
    ("float() of an array value depends on the data", "", "data-dependent value"),
    ("method 'item' of a NumPy scalar is not supported", "", "data-dependent value"),
    ("x[...]: boolean indices are not supported (data-dependent shape)", "",
     "data-dependent shape"),
    ("numpy.linalg.eigvalsh has no entry in dynajit's op registry", "",
     "unsupported NumPy function"),
    ("call to print has side effects or is not supported while tracing", "", "side effect"),
    ("call to time.time has side effects or is not supported while tracing", "",
     "side effect"),
    ("call to _warnings.warn has side effects or is not supported while tracing", "",
     "side effect"),
    ("call to json.dumps has side effects or is not supported while tracing", "",
     "unsupported call"),
    ("bytecode IMPORT_NAME is not supported", "", "unsupported bytecode"),
    ("bytecode BEFORE_WITH is not supported", "", "try/with block"),
    ("code inside a try/except/with block (...)", "", "try/with block"),
    ("<genexpr> is a generator or coroutine", "", "unsupported Python construct"),
    ("L['x'] is the same object as L['y']", "the frame runs eagerly for these inputs",
     "input type"),
    ("cache_size_limit (8) reached; last guard failures: ...", "", "recompile limit"),
    ("something new", "", "other"),
])
def test_classify(message, action, category):
    got, hint = classify(message, action)
    assert got == category and got in CATEGORIES
    assert (hint is None) == (category == "other")


def test_hints_name_what_to_change():
    assert classify("np.unique has no entry in dynajit's op registry")[1] == (
        "register the NumPy function (np.unique) in dynajit/ops, or call it outside the "
        "compiled function")
    assert classify("bytecode IMPORT_NAME is not supported")[1] == (
        "move the import to module level")
    assert classify("method 'item' of a NumPy scalar is not supported")[1].startswith(
        "use .item() / float() outside compiled code")


def test_summary_ranks_sites_by_count():
    def brk(site, category="side effect", message="m", function="f"):
        return BreakReason(category, message, [(site, "src")], None, site, function, "[0/0]",
                           "", "hint " + category)

    assert summarize(RecordCollector().compiles()).endswith("no graph breaks")
    c = CompileRecord("[0/0]", "f", "/p/m.py", 1, "ok", 1)
    c.breaks = [brk("/p/m.py:3"), brk("/p/m.py:9", "data-dependent branch"),
                brk("/p/m.py:9", "data-dependent branch", function="g")]
    text = summarize([c])
    assert text.splitlines()[0] == ("dynajit explain: 1 compile(s) of 1 function(s), 1 graph(s), "
                                    "3 graph break(s) at 2 site(s)")
    first, second = [line for line in text.splitlines() if "x  /p/m.py:" in line]
    assert first == "    2x  /p/m.py:9  (data-dependent branch; in f, g)"
    assert second == "    1x  /p/m.py:3  (side effect; in f)"


# ----------------------------------------------------------------------------- the command
SCRIPT = '''
import sys
import numpy as np
import dynajit


def log_shape(x):
    print("shape", x.shape)
    return x * 2.0


@dynajit.compile
def step(x):
    y = x + 1.0
    if y.sum() > 0:
        y = y * 3.0
    return log_shape(y)


@dynajit.compile
def uniq(x):
    return np.unique(x)


for n in (2, 3, 4):
    step(np.ones(n))
uniq(np.ones(3))
print("argv", sys.argv[1:])
sys.exit(int(sys.argv[1]))
'''


def run_cli(*args, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dynajit", "explain", *map(str, args)],
                          capture_output=True, text=True, cwd=cwd or ROOT, timeout=120)


def test_the_command_runs_a_script_and_ranks_its_break_sites(tmp_path):
    script = tmp_path / "train.py"
    script.write_text(textwrap.dedent(SCRIPT))
    done = run_cli(script, "3", "--flag")
    assert done.returncode == 3, done.stderr
    assert done.stdout.splitlines() == ["shape (2,)", "shape (3,)", "shape (4,)",
                                        "argv ['3', '--flag']"]
    lines = done.stderr.splitlines()
    assert lines[0].startswith("dynajit explain: ") and "graph break(s) at 3 site(s)" in lines[0]
    ranked = [line.split()[:2] for line in lines if "x  " in line and str(script) in line]
    # print: step's resume function and log_shape, 3 shapes each; the branch: 3 shapes;
    # np.unique once.
    assert ranked == [["6x", f"{script}:8"], ["3x", f"{script}:15"], ["1x", f"{script}:22"]]
    text = done.stderr
    assert "hint: move print out of the compiled function" in text
    assert "hint: replace `if` on an array with np.where" in text
    assert "hint: register the NumPy function (np.unique)" in text
    assert f'user stack: {script}:26 -> {script}:15' in text


def test_the_command_writes_the_summary_to_a_file_and_reports_errors(tmp_path):
    script = tmp_path / "fails.py"
    script.write_text("import numpy as np\nimport dynajit\n\n"
                      "@dynajit.compile\ndef f(x):\n    print(x)\n    return x\n\n"
                      "f(np.ones(1))\nraise ValueError('boom')\n")
    summary = tmp_path / "summary.txt"
    done = run_cli("-o", summary, script)
    assert done.returncode == 1
    assert "ValueError: boom" in done.stderr and f'File "{script}", line 10' in done.stderr
    assert "runpy" not in done.stderr
    assert "  1x  " in summary.read_text() and f"{script}:6" in summary.read_text()

    missing = run_cli(tmp_path / "missing.py")
    assert missing.returncode == 2 and "cannot open file" in missing.stderr
