"""The frame hook among everything else in the process: threads with their own callbacks,
the evaluator that was installed before it (possibly another PEP 523 user), deep recursion,
sys.settrace, and its micro-benchmark."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import textwrap
import threading
from pathlib import Path

import pytest

from dynajit import _hook
from tests._hook.hooked import Recorder, run_hooked

pytestmark = pytest.mark.skipif(not _hook.AVAILABLE, reason=str(_hook.UNAVAILABLE_REASON))

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent


def add(a, b):
    return a + b


def recurse(n):
    return 0 if n == 0 else 1 + recurse(n - 1)


def deepest():
    """How deep plain recursion gets before RecursionError."""
    depth = 0

    def down():
        nonlocal depth
        depth += 1
        down()

    try:
        down()
    except RecursionError:
        pass
    return depth


def run_python(code: str, *extra_path: Path) -> str:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *map(str, extra_path)])
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def test_install_uninstall_restores_the_previous_evaluator():
    assert not _hook.is_installed()
    prev = _hook.set_callback(Recorder())
    try:
        assert _hook.is_installed() and _hook.active_threads() == 1
        _hook.set_callback(_hook.RUN_ONLY)
        assert _hook.is_installed() and _hook.active_threads() == 1
    finally:
        _hook.set_callback(prev)
    assert not _hook.is_installed() and _hook.active_threads() == 0
    assert add(2, 3) == 5 and recurse(50) == 50


def test_two_threads_with_different_callbacks():
    barrier = threading.Barrier(3)
    recorders = {"a": Recorder(), "b": Recorder()}
    results = {}
    _hook.mark_skip(barrier.wait.__func__.__code__)

    def worker(name, base):
        callback = recorders.get(name)
        prev = _hook.set_callback(callback)
        try:
            barrier.wait()  # every thread's callback is set (or not) from here...
            results[name] = add(base, 1), _hook.active_threads(), _hook.is_installed()
            barrier.wait()  # ...to here
        finally:
            _hook.set_callback(prev)

    threads = [
        threading.Thread(target=worker, args=(name, base))
        for name, base in (("a", 100), ("b", 200), ("plain", 300))
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results["a"] == (101, 2, True)
    assert results["b"] == (201, 2, True)
    assert results["plain"] == (301, 2, True)
    assert [c for c in recorders["a"].calls if c[0] == "add"] == [("add", (100, 1))]
    assert [c for c in recorders["b"].calls if c[0] == "add"] == [("add", (200, 1))]


def test_a_thread_that_exits_with_a_callback_set_releases_it():
    rec = Recorder()

    def leave_it_set():
        _hook.set_callback(rec)
        add(1, 2)

    t = threading.Thread(target=leave_it_set)
    t.start()
    t.join()
    assert rec.names()[0] == "add"  # then threading's own clean-up functions
    assert _hook.active_threads() == 0 and not _hook.is_installed()
    assert sys.getrefcount(rec) == 2


@pytest.mark.parametrize("mode", ["callback", "skip", "run_only"])
def test_deep_recursion_behaves_as_without_the_hook(mode):
    if mode == "skip":
        _hook.mark_skip(recurse.__code__)
    callback = _hook.RUN_ONLY if mode == "run_only" else Recorder()
    try:
        assert recurse(900) == 900
        assert run_hooked(callback, recurse, 900) == 900
        assert deepest() - 5 <= run_hooked(callback, deepest) <= deepest()
        with pytest.raises(RecursionError):
            run_hooked(callback, recurse, sys.getrecursionlimit() + 10)
    finally:
        _hook.set_entries(recurse.__code__, None)


def test_raised_recursion_limit_gives_recursion_error_not_a_crash():
    # Hooked frames nest C frames; the hook keeps them within a C-stack-safe depth (~1500 on
    # both versions) however high the Python limit is. Plain recursion is not limited so.
    out = run_python(
        """
        import sys
        from dynajit import _hook
        from tests._hook.hooked import run_hooked

        def down(n):
            return 0 if n == 0 else 1 + down(n - 1)

        sys.setrecursionlimit(100_000)
        assert down(50_000) == 50_000
        assert run_hooked(_hook.RUN_ONLY, down, 1_400) == 1_400
        try:
            run_hooked(_hook.RUN_ONLY, down, 50_000)
        except RecursionError:
            print("RecursionError")
        assert run_hooked(_hook.RUN_ONLY, down, 1_400) == 1_400
        """
    )
    assert out.strip() == "RecursionError"


def test_recursion_through_cached_entries():
    def fact(n):
        return 1 if n <= 1 else n * fact(n - 1)

    def entry(n):
        return 1 if n <= 1 else n * fact(n - 1)

    _hook.mark_skip(entry.__code__)
    _hook.set_entries(fact.__code__, [(lambda n: True, entry)])
    assert run_hooked(_hook.RUN_ONLY, fact, 300) == run_hooked(None, fact, 300)


def test_settrace_set_outside_still_sees_calls():
    events = []

    def tracer(frame, event, arg):
        if event == "call":
            events.append(frame.f_code.co_name)
        return None

    def entry(a, b):
        return "entry"

    def caller():
        return add(1, 2), replaced(3, 4)

    namespace = {}
    exec("def replaced(a, b):\n    return a - b\n", namespace)
    replaced = namespace["replaced"]
    _hook.mark_skip(entry.__code__)
    _hook.set_entries(replaced.__code__, [(lambda a, b: True, entry)])
    old = sys.gettrace()
    sys.settrace(tracer)
    try:
        assert run_hooked(Recorder(), caller) == (3, "entry")
    finally:
        sys.settrace(old)
    calls = [name for name in events if name in ("caller", "add", "entry", "replaced")]
    assert calls == ["caller", "add", "entry"]


@pytest.fixture(scope="module")
def foreign_evaluator(tmp_path_factory):
    """Build tests/_hook/_foreign_evaluator.c, a minimal counting PEP 523 user."""
    out = tmp_path_factory.mktemp("foreign")
    target = out / ("_foreign_evaluator" + sysconfig.get_config_var("EXT_SUFFIX"))
    cc = (sysconfig.get_config_var("CC") or "gcc").split()
    cmd = [
        *cc,
        "-shared",
        "-fPIC",
        "-O1",
        f"-I{sysconfig.get_paths()['include']}",
        str(HERE / "_foreign_evaluator.c"),
        "-o",
        str(target),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot build the test evaluator: {proc.stderr[-500:]}")
    return out


def test_chains_to_another_pep523_user_and_restores_it(foreign_evaluator):
    out = run_python(
        """
        import _foreign_evaluator as fe
        from dynajit import _hook

        def add(a, b):
            return a + b

        def recurse(n):
            return 0 if n == 0 else 1 + recurse(n - 1)

        calls = []
        def callback(func, args):
            calls.append(func.__name__)

        # Nested use: the foreign evaluator, then dynajit above it, then both removed.
        fe.install()
        _hook.set_callback(callback)
        assert _hook.is_installed()
        seen = fe.count()
        assert add(1, 2) == 3 and calls == ["add"] and fe.count() > seen
        _hook.set_callback(None)
        assert fe.is_current() and not _hook.is_installed()
        fe.uninstall()

        # Interleaved use: the foreign evaluator goes above dynajit (and chains to it),
        # dynajit is turned off (leaving it in place), then on again above it.
        _hook.set_callback(callback)
        fe.install()
        _hook.set_callback(None)
        assert fe.is_current()
        calls.clear()
        assert add(1, 2) == 3 and calls == []
        _hook.set_callback(callback)
        assert _hook.is_installed()
        seen = fe.count()
        assert add(1, 2) == 3 and calls == ["add"] and fe.count() > seen
        assert recurse(300) == 300
        _hook.set_callback(None)
        assert fe.is_current()
        fe.uninstall()
        assert add(1, 2) == 3 and recurse(300) == 300
        print("ok")
        """,
        foreign_evaluator,
    )
    assert out.strip() == "ok"


def test_missing_extension_imports_as_unavailable():
    out = run_python(
        """
        import sys

        class NoExtension:
            def find_spec(self, name, path=None, target=None):
                if name == "dynajit._hook._evalframe":
                    raise ImportError("simulated: not built")

        sys.meta_path.insert(0, NoExtension())
        from dynajit import _hook
        from dynajit.errors import DynajitError

        assert not _hook.AVAILABLE
        assert "not built" in _hook.UNAVAILABLE_REASON
        try:
            _hook.set_callback(None)
        except DynajitError as exc:
            print(exc)
        """
    )
    assert "frame hook extension is not built" in out


def test_hook_overhead_benchmark_smoke():
    out = run_python(
        "import runpy, sys; sys.argv = ['hook_overhead.py', '--smoke']; "
        "runpy.run_path('benchmarks/hook_overhead.py', run_name='__main__')"
    )
    assert "skip" in out and "ns/call" in out
