"""Human logs by topic (config.logs / DYNAJIT_LOGS): what each topic prints, graph breaks
once per site with the user's file:line and source line, verbose "+topic", and the standard
``logging`` route."""

from __future__ import annotations

import inspect
import logging
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import dynajit
from dynajit.config import config
from dynajit.trace import logs


def line_of(fn, text: str) -> int:
    lines, first = inspect.getsourcelines(fn)
    return first + next(i for i, line in enumerate(lines) if text in line)


def breaks(x):
    try:
        y = x * 3  # breaks here
    except ValueError:
        y = x
    return y


def first_caller(x):
    return breaks(x) + 1


def second_caller(x):
    return breaks(x) - 1


def cube(x):
    return x * x * x


def add_in_place(x, y):
    x += 1
    return x + y


@pytest.fixture(autouse=True)
def logs_off_afterwards():
    yield
    with config.patch(logs=""):
        logs.enabled("graph")  # applies the empty setting: handler removed


def stderr_lines(capsys) -> list[str]:
    return [line for line in capsys.readouterr().err.splitlines() if line.strip()]


def test_parse_topics_verbose_and_all():
    assert logs.parse("graph_breaks, +recompiles,,") == {
        "graph_breaks": logging.INFO, "recompiles": logging.DEBUG}
    assert set(logs.parse("all")) == set(logs.TOPICS)
    with pytest.warns(UserWarning, match="unknown log topic 'graphs'"):
        assert logs.parse("graphs") == {}


def test_logs_off_print_nothing(capsys):
    with config.patch(logs=""):
        dynajit.compile(cube)(np.ones(2))
        dynajit.compile(first_caller)(np.ones(2))
    assert capsys.readouterr().err == ""


def test_graph_break_is_logged_once_per_site_with_the_user_line(capsys):
    site = line_of(breaks, "breaks here")
    with config.patch(logs="graph_breaks"):
        dynajit.compile(first_caller)(np.ones(2))
        dynajit.compile(second_caller)(np.ones(2))  # same site, another frame
    (line, source) = stderr_lines(capsys)
    assert line.startswith("dynajit.graph_breaks: [0/0] graph break in first_caller at "
                           f"{__file__}:{site}: code inside a try/except/with block")
    assert "; graph break: CALL runs eagerly, then __resume_first_caller_at_" in line
    assert line.count(f"{__file__}:{site}") == 1  # the site once, not again in the reason
    assert source == f"    {site} | y = x * 3  # breaks here"


def test_verbose_graph_breaks_log_every_time(capsys):
    with config.patch(logs="+graph_breaks"):
        dynajit.compile(first_caller)(np.ones(2))
        dynajit.compile(second_caller)(np.ones(2))
    messages = [x for x in stderr_lines(capsys) if "graph break in" in x]
    # first_caller's fallback runs breaks() eagerly: a frame of its own, with the same site.
    assert [m.split(" graph break in ")[1].split(" ")[0] for m in messages] == [
        "first_caller", "breaks", "second_caller"]


def test_input_dependent_fallbacks_are_logged_once(capsys):
    f = dynajit.compile(add_in_place)
    x = np.ones(2)
    with config.patch(logs="graph_breaks"):
        for _ in range(3):
            f(x, x)
    (line, source) = stderr_lines(capsys)
    assert source.endswith(" | def add_in_place(x, y):")
    assert f"{__file__}:{line_of(add_in_place, 'def')}: an input array written in place" in line
    assert "runs eagerly for these inputs" in line


def test_recompiles_log_the_guard_failures(capsys):
    f = dynajit.compile(cube)
    with config.patch(logs="recompiles"):
        f(np.ones(2, np.float32))
        f(np.ones(3, np.float32))
    first, *reasons = stderr_lines(capsys)
    assert first == (f"dynajit.recompiles: [0/1] recompiling cube ({__file__}:"
                     f"{line_of(cube, 'def')}) (cache size 1), guards failed:")
    assert reasons == ["    - L['x'].shape: expected (2,), got (3,)"]


@pytest.mark.parametrize("topic, expected", [
    ("graph", ["graph of cube", "%multiply_1 = multiply(%multiply, %L_x) : f64[2]"]),
    ("graph_code", ["graph code of cube", "def forward(self", f"({__file__}:"]),
    ("guards", ["guards of cube", "L['x']"]),
    ("bytecode", ["bytecode of cube", "BINARY_OP", "bytecode of the entry of cube"]),
    ("output_code", ["entry code of cube", "def __compiled_cube"]),
])
def test_each_topic_prints_its_own_content(capsys, topic, expected):
    with config.patch(logs=topic):
        dynajit.compile(cube)(np.ones(2))
    err = capsys.readouterr().err
    for text in expected:
        assert text in err, (topic, text, err)
    prefixes = {line.split(":")[0] for line in err.splitlines() if line.startswith("dynajit.")}
    assert prefixes == {f"dynajit.{topic}"}


def test_loggers_are_ordinary_logging_loggers(caplog, capsys):
    with config.patch(logs=""), caplog.at_level(logging.INFO, logger="dynajit.recompiles"):
        f = dynajit.compile(cube)
        f(np.ones(2))
        f(np.ones(3))
    assert [r.name for r in caplog.records] == ["dynajit.recompiles"]
    assert "L['x'].shape" in caplog.records[0].getMessage()
    assert capsys.readouterr().err == ""  # DYNAJIT_LOGS is off: nothing of ours on stderr


def test_environment_variable_turns_logs_on(tmp_path):
    program = textwrap.dedent("""
        import numpy as np, dynajit

        @dynajit.compile
        def f(x):
            return x * 2

        f(np.ones(3))
        f(np.ones(4))
    """)
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = {**os.environ, "DYNAJIT_LOGS": "recompiles", "PYTHONPATH": root}
    out = subprocess.run([sys.executable, "-c", program], env=env, check=True, cwd=tmp_path,
                         capture_output=True, text=True)
    assert out.stderr.splitlines() == [
        "dynajit.recompiles: [0/1] recompiling f (<string>:4) (cache size 1), guards failed:",
        "    - L['x'].shape: expected (3,), got (4,)"]
