"""`python -m dynajit report`: hand-made logs (every status, restarts, malformed lines, hostile
text) and a real trace from a small traced program go through the CLI; the tests check the
pages written, that every link resolves to a file and an anchor, that every compile id has a
page, that all text is escaped and that nothing is fetched from the network."""

from __future__ import annotations

import hashlib
import html.parser
import json
import os
import random
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from dynajit.trace.report import ReportError, write_report
from dynajit.trace.report_log import read_log

ROOT = Path(__file__).resolve().parents[2]
HOSTILE = "<img src=x onerror=alert(1)>&\"'"

USER_SOURCE = '''\
import numpy as np


def f(x):
    y = np.sin(x) * 2
    return y + 1


def g(x):
    print("<not traced>")
    return x
'''


class LogWriter:
    """Writes records in the TORCH_TRACE format, as the emitter does."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.strings: dict[str, int] = {}
        self.clock = 0

    def intern(self, filename: str) -> int:
        if filename not in self.strings:
            self.strings[filename] = len(self.strings)
            self.raw({"str": [filename, self.strings[filename]]})
        return self.strings[filename]

    def raw(self, envelope: dict, payload: str | None = None, md5: str | None = None) -> None:
        self.clock += 1
        if payload is not None:
            envelope["has_payload"] = md5 or hashlib.md5(payload.encode()).hexdigest()
        minutes, seconds = divmod(self.clock, 60)
        self.lines.append(f"V0424 10:{minutes % 60:02d}:{seconds:02d}.{self.clock:06d} 77 "
                          f"dynajit/capture/convert_frame.py:{self.clock}] {json.dumps(envelope)}")
        if payload:
            self.lines.extend("\t" + piece for piece in payload.split("\n"))

    def record(self, kind: str, meta: object, cid: tuple[int, int, int] | None,
               payload: str | None = None) -> None:
        envelope: dict = {kind: meta}
        if cid is not None:
            envelope.update(frame_id=cid[0], frame_compile_id=cid[1], attempt=cid[2])
        self.raw(envelope, payload)

    def artifact(self, name: str, cid: tuple[int, int, int], payload: str,
                 encoding: str = "string") -> None:
        self.record("artifact", {"name": name, "encoding": encoding}, cid, payload)

    def stack(self, *frames: tuple[str, int, str, str]) -> list[dict]:
        return [{"line": line, "name": name, "filename": self.intern(fname), "loc": loc}
                for fname, line, name, loc in frames]

    def write(self, path: Path) -> Path:
        path.write_text("\n".join(self.lines) + "\n", encoding="utf-8")
        return path


def metrics(co_name: str, filename: str, line: int, status: str, time_s: float,
            ops: int | None = 2, **extra: object) -> dict:
    m = {
        "co_name": co_name, "co_filename": filename, "co_firstlineno": line, "cache_size": 1,
        "guard_count": 2, "graph_op_count": ops, "graph_node_count": 4, "graph_input_count": 1,
        "start_time": 1745488800.5, "entire_frame_compile_time_s": time_s,
        "backend_compile_time_s": time_s / 4, "restart_reasons": [], "fail_type": None,
        "fail_reason": None, "dynajit_status": status, "dynajit_backend": "eager",
        "dynajit_phase_times_s": {"trace": time_s * 0.5, "passes": time_s * 0.1,
                                  "backend": time_s * 0.25, "guards": time_s * 0.05,
                                  "output_code": time_s * 0.05},
    }
    m.update(extra)
    return m


def compile_records(log: LogWriter, src: str, cid: tuple[int, int, int], dtype: str) -> None:
    """A successful compile of ``f`` with every record the emitter writes."""
    log.record("dynamo_start", {"stack": log.stack(
        (src, 20, "<module>", "main()"), (src, 4, "f", "def f(x):"))}, cid)
    log.artifact("dynajit_bytecode_before", cid, "  5           0 LOAD_GLOBAL  np\n\t(tab)")
    log.record("dynamo_output_graph", {}, cid,
               f"graph(L_x: {dtype}[4]):\n  %sin = sin(%L_x) : {dtype}[4]\n"
               f"  %multiply = multiply(%sin, 2) : {dtype}[4]\n  return (%multiply,)")
    log.artifact("dynajit_graph_code", cid, textwrap.dedent(f"""\
        def forward(self, L_x: "{dtype}[4]"):
            sin = _op_sin(L_x)  # {dtype}[4]  ({src}:5)
            multiply = _op_multiply(sin, 2)  # {dtype}[4]  ({src}:5)
            add = _op_add(multiply, 1)  # {dtype}[4]  ({src}:6)
            gone = _op_neg(add)  # {dtype}[4]  (/nonexistent/dir/gone.py:7)
            return (gone,)"""))
    log.record("dynamo_guards", {}, cid, "[\n" + ",\n".join(json.dumps({"code": c}) for c in (
        f"ARRAY L['x']: ndarray {dtype} (4,)", f"ID G['np'] {HOSTILE}")) + "\n]")
    log.artifact("dynajit_bytecode_after", cid, "def __compiled_f_0(x):\n    return __c(x)")


def synthetic_trace(directory: Path, src: str) -> LogWriter:
    """Frames: f (ok, then a recompile), g (fallback), h (compiler error), k (no metrics);
    plus a restarted compile, records outside compiles, malformed lines and a bad MD5."""
    log = LogWriter()
    compile_records(log, src, (0, 0, 0), "f32")
    log.artifact("dynajit_fusion_groups", (0, 0, 0), json.dumps({"groups": [["sin", "mul"]]}),
                 "json")
    log.record("inductor_output_code", {"filename": "/tmp/k.py"}, (0, 0, 0), "def kernel(): pass")
    log.record("compilation_metrics", metrics("f", src, 4, "ok", 0.020), (0, 0, 0))
    log.artifact("recompile_reasons", (0, 1, 0),
                 json.dumps(["L['x'].dtype: expected float32, got float64"]), "json")
    compile_records(log, src, (0, 1, 0), "f64")
    log.record("compilation_metrics", metrics("f", src, 4, "ok", 0.010), (0, 1, 0))
    log.record("dynamo_start", {"stack": log.stack((src, 9, "g", "def g(x):"))}, (1, 0, 0))
    log.artifact("dynamo_graph_break_reason", (1, 0, 0),
                 f"Graph break in user code at {src}:10\nReason: print() {HOSTILE}")
    log.record("compilation_metrics", metrics(
        "g", src, 9, "fallback", 0.002, ops=None, fail_type="Unsupported",
        fail_reason=f"print() is not supported {HOSTILE}", fail_user_frame_filename=src,
        fail_user_frame_lineno=10), (1, 0, 0))
    log.record("dynamo_start", {"stack": []}, (2, 0, 0))
    log.artifact("dynamo_error", (2, 0, 0),
                 "Traceback (most recent call last):\n  File \"x.py\", line 1\n"
                 f"RuntimeError: backend crashed {HOSTILE}")
    log.record("compilation_metrics", metrics(
        f"h{HOSTILE}", "/nonexistent/dir/gone.py", 3, "error", 0.001, ops=None,
        fail_type="RuntimeError", fail_reason="backend crashed"), (2, 0, 0))
    log.record("dynamo_start", {"stack": []}, (3, 0, 0))
    # A restarted compile: attempt 0 breaks, attempt 1 compiles; both on the page of [4/0].
    log.artifact("dynamo_graph_break_reason", (4, 0, 0), "restart: data-dependent branch")
    log.record("dynamo_output_graph", {}, (4, 0, 1), "graph():\n  return ()")
    log.record("compilation_metrics", metrics(
        "r", src, 4, "ok", 0.003, restart_reasons=["data-dependent branch"]), (4, 0, 1))
    log.record("link", {"name": "docs", "url": "https://example.invalid/x"}, None)
    log.artifact("dynajit_unscoped_note", None, "outside any compile")
    log.lines.append("this line is not a record")
    log.lines.append("V0424 10:00:59.000000 77 dynajit/x.py:1] {not json")
    log.lines.append("\torphan payload line")
    log.raw({"artifact": {"name": "bad_md5", "encoding": "string"}, "frame_id": 0,
             "frame_compile_id": 0, "attempt": 0}, "payload", md5="0" * 32)
    log.write(directory / "dedicated_log_torch_trace_test1.log")
    return log


def run_cli(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dynajit", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)})


def make_report(tmp: Path) -> tuple[Path, Path]:
    """A synthetic trace dir and its report, written by the CLI; returns (source file, out)."""
    src = tmp / "user_prog.py"
    src.write_text(USER_SOURCE)
    trace = tmp / "trace"
    trace.mkdir()
    synthetic_trace(trace, str(src))
    out = tmp / "report"
    proc = run_cli("report", str(trace), "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "5 frame(s), 6 compile(s)" in proc.stdout and "3 unreadable line(s)" in proc.stdout
    return src, out


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> tuple[Path, Path]:
    return make_report(tmp_path_factory.mktemp("report"))


class Links(html.parser.HTMLParser):
    """Collects ids, hrefs and every tag/attribute that could load a resource."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.hrefs: list[str] = []
        self.loads: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        a = dict(attrs)
        if "id" in a:
            self.ids.add(a["id"])
        if tag == "a" and "href" in a:
            self.hrefs.append(a["href"])
        if "src" in a or tag in ("link", "img", "iframe", "object", "embed") or (
                tag == "script" and a):
            self.loads.append(f"<{tag} {a}>")

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(path: Path) -> Links:
    p = Links()
    p.feed(path.read_text(encoding="utf-8"))
    return p


def test_every_compile_id_has_a_page_with_its_status(report):
    _, out = report
    index = (out / "index.html").read_text()
    rows = re.findall(r'data-compile-id="([^"]+)" data-status="([^"]+)"', index)
    assert rows == [("[0/0]", "ok"), ("[0/1]", "ok"), ("[1/0]", "fallback"),
                    ("[2/0]", "error"), ("[3/0]", "missing"), ("[4/0]", "ok")]
    pages = re.findall(r'class="compile-link" href="([^"]+)">([^<]+)<', index)
    assert [cid for _, cid in pages] == [cid for cid, _ in rows]
    for page, cid in pages:
        text = (out / page).read_text()
        assert f'<span id="compile-id">{cid}</span>' in text
    assert sorted(p.name for p in out.glob("compile_*.html")) == sorted(p for p, _ in pages)


def test_index_summarises_the_run(report):
    _, out = report
    text = " ".join(parse(out / "index.html").text)
    for value, label in (("5", "frames"), ("6", "compiles"), ("1", "recompiles"),
                         ("1", "fallbacks"), ("1", "errors"), ("1", "missing metrics"),
                         ("36.0 ms", "total compile time"), ("3", "skipped lines")):
        assert re.search(rf"\b{re.escape(value)}\s+{label}\b", text), (value, label)
    assert "missing metrics" in text and "eager" in text
    index = (out / "index.html").read_text()
    assert index.index('id="frame-0-0"') < index.index('id="frame-0-1"')  # frames in order
    assert "recompile: L[&#x27;x&#x27;].dtype: expected float32, got float64" in index
    assert "1 payload MD5 mismatch(es)" in index and "payload line without a header" in index


def test_links_resolve_to_files_and_anchors(report):
    _, out = report
    pages = {p.name: parse(p) for p in out.glob("*.html")}
    checked = 0
    for name, parsed in pages.items():
        for href in parsed.hrefs:
            url = urlsplit(href)
            if url.scheme:
                assert href == "https://example.invalid/x", (name, href)  # the link record
                continue
            target = unquote(url.path) or name
            assert target in pages, (name, href)
            if url.fragment:
                assert url.fragment in pages[target].ids, (name, href)
            checked += 1
    assert checked > 50


def test_nothing_is_fetched_and_all_text_is_escaped(report):
    _, out = report
    for path in out.glob("*.html"):
        text = path.read_text()
        parsed = parse(path)
        assert parsed.loads == [], (path.name, parsed.loads)
        assert "<script" not in text and "@import" not in text and "url(" not in text
        assert "default-src 'none'" in text
        assert HOSTILE not in text and "<img" not in text, path.name
    escaped = "&lt;img src=x onerror=alert(1)&gt;&amp;&quot;&#x27;"
    compiles = {p.name: p.read_text() for p in out.glob("compile_*.html")}
    assert sum(escaped in t for t in compiles.values()) >= 3  # guards, break reason, error


def test_graph_code_lines_link_to_the_users_source_lines(report):
    src, out = report
    page = (out / "compile_0_0_0.html").read_text()
    source_page = next(out.glob("source_*_user_prog.py.html"))
    for line in (5, 6):
        assert f'href="{source_page.name}#L{line}"' in page
    assert "y = np.sin(x) * 2" in page  # the user's line beside the graph line
    listing = source_page.read_text()
    assert '<tr id="L5" class="hit">' in listing and '<tr id="L1">' in listing
    assert "return y + 1" in listing and 'href="compile_0_0_1.html#code-' in listing
    assert 'href="compile_0_1_0.html#errors">[1/0]' in listing  # g's failing line 10
    # Every line of the file has its anchor, and so has line 20, past its end.
    assert listing.count('<tr id="L') == len(src.read_text().splitlines()) + 1
    assert "past the end of the file" in listing


def test_a_missing_source_file_shows_the_location_only(report):
    _, out = report
    (gone,) = out.glob("source_*_gone.py.html")
    text = gone.read_text()
    assert "could not be read" in text and '<tr id="L7" class="hit">' in text
    assert 'id="L3"' in text  # co_firstlineno of the failing frame h


def test_compile_page_sections(report):
    _, out = report
    page = (out / "compile_0_0_0.html").read_text()
    ids = parse(out / "compile_0_0_0.html").ids
    assert {"phases", "stack", "graph", "graph-code", "guards", "bytecode-before",
            "bytecode-after", "metrics"} <= ids
    for phase in ("trace", "passes", "backend", "guards", "output_code"):
        assert f'data-phase="{phase}"' in page
    assert "width:50.00%" in page  # trace is half of the compile time
    assert "%multiply = multiply(%sin, 2) : f32[4]" in page
    assert "Fusion groups" in page and "&quot;groups&quot;: [" in page  # pretty JSON
    assert "Output code" in page and "def kernel(): pass" in page
    assert "ARRAY L[&#x27;x&#x27;]: ndarray f32 (4,)" in page
    assert "payload MD5 mismatch" in page  # the bad_md5 record is shown, with a warning
    assert "/nonexistent/dir/gone.py:7" not in page  # locations have their own column
    recompiled = (out / "compile_0_0_1.html").read_text()
    assert 'id="recompile"' in recompiled and "expected float32, got float64" in recompiled


def test_fallback_error_and_restart_pages(report):
    _, out = report
    fallback = (out / "compile_0_1_0.html").read_text()
    assert 'class="banner fallback"' in fallback and 'id="breaks"' in fallback
    assert "Graph break in user code at" in fallback and "print() is not supported" in fallback
    assert "user_prog.py:10" in fallback  # fail_user_frame, linked to the source line
    error = (out / "compile_0_2_0.html").read_text()
    assert 'class="banner error"' in error and 'id="errors"' in error
    assert "Traceback (most recent call last):" in error and "RuntimeError" in error
    missing = (out / "compile_0_3_0.html").read_text()
    assert "No compilation_metrics record" in missing
    restarted = (out / "compile_0_4_0.html").read_text()
    assert "attempt 0 [4/0]" in restarted and "attempt 1 [4/0_1]" in restarted
    assert "Restart reasons" in restarted and "data-dependent branch" in restarted
    index = (out / "index.html").read_text()
    assert '<a class="compile-link" href="compile_0_4_0.html">[4/0]</a><span class="badge">_1' \
        in index


def test_read_log_counts_what_it_skips(tmp_path):
    log = LogWriter()
    log.record("dynamo_start", {"stack": []}, (0, 0, 0))
    log.lines += ["", "garbage", "\torphan", "V0424 10:00:00.000000 1 a.py:1] [1, 2]",
                  "V0424 10:00:00.000000 1 a.py:1] {\"frame_id\": 0}",
                  "V0424 10:00:00.123 1 a.py:1] {\"x\": {}}"]
    log.raw({"artifact": {"name": "a", "encoding": "string"}}, "x\n\ty\n", md5="f" * 32)
    log.record("dynamo_output_graph", {}, (0, 0, 0), "")
    log.raw({"x": {}, "frame_id": -1, "frame_compile_id": 0})
    parsed = read_log(log.write(tmp_path / "a.log"))
    assert parsed.malformed_count == 5  # garbage, orphan, non-object, no kind, ms timestamp
    assert [e.kind for e in parsed.entries] == ["dynamo_start", "artifact",
                                                "dynamo_output_graph", "x"]
    assert parsed.entries[1].payload == "x\n\ty\n" and parsed.md5_mismatches == 1
    assert not parsed.entries[1].md5_ok and parsed.entries[0].md5_ok
    assert parsed.entries[2].payload == ""
    assert parsed.entries[3].compile_id is None and parsed.bad_compile_ids == 1


WRONG_TYPES = [
    '{"compilation_metrics": "text"}',
    '{"compilation_metrics": {"co_name": ["x"], "co_filename": 3, "co_firstlineno": "3", '
    '"start_time": 1e400, "entire_frame_compile_time_s": NaN, "graph_op_count": -1, '
    '"restart_reasons": "r", "dynajit_phase_times_s": {"trace": "x", "b": -Infinity}, '
    '"fail_user_frame_filename": "/etc/passwd", "fail_user_frame_lineno": 1}}',
    '{"compilation_metrics": {"start_time": -1e30, "dynajit_phase_times_s": [1, 2], '
    '"entire_frame_compile_time_s": -5, "dynajit_status": {"s": 1}}}',
    '{"dynamo_start": {"stack": "x"}}',
    '{"dynamo_start": {"stack": [1, {"line": "x", "filename": 99}, {"filename": true}]}}',
    '{"dynamo_start": [1, 2]}',
    '{"artifact": "x"}',
    '{"artifact": {"name": 5, "encoding": "json"}}',
    '{"link": {"name": "x", "url": "javascript:alert(1)"}}',
    '{"dynamo_guards": {}, "has_payload": "x"}',
]


@pytest.mark.parametrize("envelope", WRONG_TYPES)
def test_records_of_the_wrong_shape_do_not_stop_the_report(tmp_path, envelope):
    log = LogWriter()
    log.record("dynamo_start", {"stack": []}, (0, 0, 0))
    log.lines.append("V0424 10:00:00.000001 77 dynajit/x.py:1] " + envelope[:-1]
                     + ', "frame_id": 0, "frame_compile_id": 0, "attempt": 0}')
    if "has_payload" in envelope:
        log.lines.append("\t{not json")
    trace = tmp_path / "trace"
    trace.mkdir()
    log.write(trace / "a.log")
    report = write_report(trace, tmp_path / "out")
    assert report.trace.malformed_count == 0 and len(report.trace.compiles) == 1
    page = (tmp_path / "out" / "compile_0_0_0.html").read_text()
    assert '<span id="compile-id">[0/0]</span>' in page and 'href="javascript' not in page
    assert "root:" not in page  # a non-Python file named by a record is never read


def test_truncated_and_shuffled_logs_still_give_a_report(tmp_path):
    trace = tmp_path / "trace"
    trace.mkdir()
    synthetic_trace(trace, str(tmp_path / "user_prog.py"))
    text = (trace / "dedicated_log_torch_trace_test1.log").read_text()
    lines = text.split("\n")
    rng = random.Random(4)
    variants = [text[:n] for n in range(0, len(text), max(1, len(text) // 40))]
    for _ in range(10):
        shuffled = lines[:]
        rng.shuffle(shuffled)
        variants.append("\n".join(shuffled))
    for i, variant in enumerate(variants):
        (trace / "dedicated_log_torch_trace_test1.log").write_text(variant)
        report = write_report(trace, tmp_path / "out")
        assert report.index.is_file(), i


def test_cr_lf_and_invalid_utf8_are_read_like_tlparse(tmp_path):
    payload = "line one\nline two"
    digest = hashlib.md5(payload.encode()).hexdigest()
    header = ('V0424 10:00:00.000001 1 a.py:1] {"artifact": {"name": "a", "encoding": '
              f'"string"}}, "frame_id": 0, "frame_compile_id": 0, "attempt": 0, '
              f'"has_payload": "{digest}"}}')
    data = (header + "\r\n\tline one\r\n\tline two\r\n").encode() + b"\xff\xfe garbage\n"
    (tmp_path / "a.log").write_bytes(data)
    parsed = read_log(tmp_path / "a.log")
    assert parsed.entries[0].payload == payload and parsed.md5_mismatches == 0
    assert parsed.malformed_count == 1


def test_cli_errors_and_rerun(tmp_path):
    proc = run_cli("report", str(tmp_path / "missing"), "-o", str(tmp_path / "out"))
    assert proc.returncode == 1 and "no such file or directory" in proc.stderr
    (tmp_path / "empty").mkdir()
    proc = run_cli("report", str(tmp_path / "empty"), "-o", str(tmp_path / "out"))
    assert proc.returncode == 1 and "holds no *.log file" in proc.stderr
    proc = run_cli("report", str(tmp_path), "-o", str(tmp_path / "out"))
    assert proc.returncode == 1
    proc = run_cli()
    assert proc.returncode == 2 and "report" in proc.stderr
    trace = tmp_path / "trace"
    trace.mkdir()
    log = LogWriter()
    log.record("dynamo_start", {"stack": []}, (7, 0, 0))
    log.write(trace / "one.log")
    stranger = tmp_path / "stranger"
    stranger.mkdir()
    (stranger / "notes.txt").write_text("mine")
    with pytest.raises(ReportError, match="holds no dynajit report"):
        write_report(trace, stranger)
    out = tmp_path / "out"
    write_report(trace, out)
    (out / "compile_0_9_9.html").write_text("stale")
    (out / "keep.txt").write_text("not ours")
    log.record("dynamo_start", {"stack": []}, (8, 0, 0))
    log.write(trace / "one.log")
    report = write_report(trace, out)
    assert not (out / "compile_0_9_9.html").exists() and (out / "keep.txt").exists()
    assert sorted(p.name for p in out.glob("compile_*")) == ["compile_0_7_0.html",
                                                             "compile_0_8_0.html"]
    assert len(report.trace.compiles) == 2


def test_several_logs_are_several_processes(tmp_path):
    trace = tmp_path / "trace"
    trace.mkdir()
    for name in ("a", "b"):
        log = LogWriter()
        log.record("dynamo_start", {"stack": []}, (0, 0, 0))
        log.record("compilation_metrics", metrics(f"fn_{name}", "/x.py", 1, "ok", 0.01),
                   (0, 0, 0))
        log.write(trace / f"dedicated_log_torch_trace_{name}.log")
    (trace / "ignored.txt").write_text("not a log")
    report = write_report(trace, tmp_path / "out")
    assert [p.name for p in report.pages if p.name.startswith("compile_")] == [
        "compile_0_0_0.html", "compile_1_0_0.html"]
    index = report.index.read_text()
    assert "fn_a" in index and "fn_b" in index and "dedicated_log_torch_trace_b.log" in index


PROGRAM = '''\
import numpy as np
import dynajit


def scale(x):
    y = np.sin(x) * 2.0
    return y + 1.0


def noisy(x):
    print("side effect")
    return x * 3.0


s = dynajit.compile(scale)
n = dynajit.compile(noisy)
s(np.ones(4, np.float32))
s(np.ones(4, np.float32))
s(np.ones(4, np.float64))
n(np.ones(3))
'''


def test_report_of_a_real_trace(tmp_path):
    program = tmp_path / "prog.py"
    program.write_text(PROGRAM)
    trace = tmp_path / "trace"
    env = {**os.environ, "DYNAJIT_TRACE": str(trace), "PYTHONPATH": str(ROOT)}
    env.pop("DYNAJIT_LOGS", None)
    proc = subprocess.run([sys.executable, str(program)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    logs = list(trace.glob("*.log"))
    assert len(logs) == 1
    out = tmp_path / "report"
    proc = run_cli("report", str(trace), "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    assert read_log(logs[0]).malformed_count == 0
    index = (out / "index.html").read_text()
    rows = re.findall(r'data-compile-id="([^"]+)" data-status="([^"]+)"', index)
    assert rows[:2] == [("[0/0]", "ok"), ("[0/1]", "ok")]
    # print() breaks noisy's frame: [1/0] runs up to it, its resume function is [2/0].
    assert [cid for cid, _ in rows] == ["[0/0]", "[0/1]", "[1/0]", "[2/0]"]
    assert rows[2][1] == "ok" and rows[3][1] == "ok"
    assert "scale" in index and "noisy" in index
    first = (out / "compile_0_0_0.html").read_text()
    (source,) = out.glob("source_*_prog.py.html")
    assert f'href="{source.name}#L6"' in first and f'href="{source.name}#L7"' in first
    assert "y = np.sin(x) * 2.0" in first and 'id="guards"' in first
    assert 'id="phases"' in first and 'id="bytecode-before"' in first
    second = (out / "compile_0_0_1.html").read_text()
    assert 'id="recompile"' in second and "float64" in second
    listing = source.read_text()
    assert '<tr id="L6" class="hit">' in listing and "compile_0_0_0.html#code-" in listing
