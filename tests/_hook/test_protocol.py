"""The frame hook's per-frame protocol: when it intercepts, what the callback and the cached
(guard, entry) pairs receive, what runs in the frame's place, and what propagates."""

from __future__ import annotations

import sys
import traceback
import weakref

import pytest

from dynajit import _hook
from dynajit.errors import DynajitError
from tests._hook.hooked import Recorder, run_hooked

pytestmark = pytest.mark.skipif(not _hook.AVAILABLE, reason=str(_hook.UNAVAILABLE_REASON))


def add(a, b):
    return a + b


def calls_add_twice(x):
    return add(x, 1) + add(x, 2)


def skipped_entry(fn):
    """Mark ``fn``'s code skip (as the capture layer does for compiled entries)."""
    _hook.mark_skip(fn.__code__)
    return fn


@pytest.fixture
def fresh_add():
    """A function with a code object no other test has touched, dropped afterwards."""
    namespace = {}
    exec("def fresh(a, b):\n    return a + b\n", namespace)
    return namespace["fresh"]


def test_intercepts_only_while_a_callback_is_set():
    rec = Recorder()
    assert calls_add_twice(1) == 5
    assert not _hook.is_installed()
    assert run_hooked(rec, calls_add_twice, 1) == 5
    assert rec.names() == ["calls_add_twice", "add", "add"]
    assert rec.calls[1] == ("add", (1, 1))
    calls_add_twice(1)
    assert len(rec.calls) == 3
    assert not _hook.is_installed()


def test_callback_is_none_while_it_runs_and_restored_after():
    seen = []

    def callback(func, args):
        seen.append(_hook.get_callback())
        return None

    def probe():
        return _hook.get_callback()

    assert run_hooked(callback, probe) is callback
    assert seen == [None]


def test_set_callback_returns_previous_and_rejects_non_callables():
    rec = Recorder()
    assert _hook.set_callback(rec) is None
    try:
        assert _hook.set_callback(_hook.RUN_ONLY) is rec
        assert _hook.get_callback() is _hook.RUN_ONLY
        with pytest.raises(TypeError, match="callback must be"):
            _hook.set_callback(42)
    finally:
        assert _hook.set_callback(None) is _hook.RUN_ONLY


def test_skip_mark_costs_no_callback_call(fresh_add):
    rec = Recorder()
    _hook.mark_skip(fresh_add.__code__)
    assert _hook.is_skipped(fresh_add.__code__)
    assert not _hook.is_skipped(add.__code__)
    assert run_hooked(rec, fresh_add, 2, 3) == 5
    assert rec.calls == []


def test_generators_coroutines_and_async_generators_run_normally():
    def gen(n):
        yield from range(n)

    async def coro(x):
        return x * 2

    async def agen():
        yield 7

    def drive():
        out = list(gen(3))
        c = coro(4)
        try:
            c.send(None)
        except StopIteration as stop:
            out.append(stop.value)
        ag = agen().__anext__()
        try:
            ag.send(None)
        except StopIteration as stop:
            out.append(stop.value)
        return out

    rec = Recorder()
    assert run_hooked(rec, drive) == [0, 1, 2, 8, 7]
    assert rec.names() == ["drive"]


def test_generator_throw_is_unaffected():
    def gen():
        while True:
            try:
                yield "value"
            except KeyError:
                yield "caught"

    def drive():
        g = gen()
        first = next(g)
        second = g.throw(KeyError("k"))
        with pytest.raises(ValueError):
            g.throw(ValueError("v"))
        return first, second

    rec = Recorder()
    assert run_hooked(rec, drive) == ("value", "caught")
    assert "gen" not in rec.names()


def test_passing_guard_runs_the_entry_instead_of_the_code(fresh_add):
    ran_original = []
    rec = Recorder()

    @skipped_entry
    def entry(a, b):
        return ("entry", a, b)

    def guard(a, b):
        return a == 2

    _hook.set_entries(fresh_add.__code__, [(guard, entry)])
    assert run_hooked(rec, fresh_add, 2, 3) == ("entry", 2, 3)
    assert rec.calls == [] and ran_original == []
    assert _hook.get_entries(fresh_add.__code__) == [(guard, entry)]


def test_entry_exception_propagates_with_the_entry_traceback(fresh_add):
    @skipped_entry
    def failing_entry(a, b):
        raise ValueError("from entry")

    _hook.set_entries(fresh_add.__code__, [(lambda a, b: True, failing_entry)])
    with pytest.raises(ValueError, match="from entry") as info:
        run_hooked(Recorder(), fresh_add, 1, 2)
    names = [frame.name for frame in traceback.extract_tb(info.value.__traceback__)]
    assert names[-1] == "failing_entry"
    assert "fresh" not in names


def test_guard_exception_is_the_frame_exception(fresh_add):
    def bad_guard(a, b):
        raise LookupError("guard broke")

    _hook.set_entries(fresh_add.__code__, [(bad_guard, skipped_entry(lambda a, b: 0))])
    with pytest.raises(LookupError, match="guard broke"):
        run_hooked(Recorder(), fresh_add, 1, 2)


def test_failing_guard_leads_to_the_callback_and_entries_are_tried_in_order(fresh_add):
    rec = Recorder()
    first = skipped_entry(lambda a, b: "first")
    second = skipped_entry(lambda a, b: "second")
    _hook.set_entries(
        fresh_add.__code__, [(lambda a, b: a > 10, first), (lambda a, b: a > 5, second)]
    )
    assert run_hooked(rec, fresh_add, 20, 0) == "first"
    assert run_hooked(rec, fresh_add, 7, 0) == "second"
    assert rec.calls == []
    assert run_hooked(rec, fresh_add, 1, 2) == 3
    assert rec.calls == [("fresh", (1, 2))]


def test_callback_returning_an_entry_runs_it_and_caches_it(fresh_add):
    calls = []

    @skipped_entry
    def entry(a, b):
        return a * b

    def compile_frame(func, args):
        calls.append(args)
        _hook.set_entries(func.__code__, [(lambda a, b: True, entry)])
        return entry

    assert run_hooked(compile_frame, fresh_add, 3, 4) == 12
    assert run_hooked(compile_frame, fresh_add, 5, 6) == 30
    assert calls == [(3, 4)]


def test_callback_exception_is_the_frame_exception(fresh_add):
    def callback(func, args):
        raise RuntimeError("convert failed")

    with pytest.raises(RuntimeError, match="convert failed"):
        run_hooked(callback, fresh_add, 1, 2)


def test_run_only_never_calls_the_callback(fresh_add):
    entry = skipped_entry(lambda a, b: "cached")
    _hook.set_entries(fresh_add.__code__, [(lambda a, b: a == 1, entry)])
    assert run_hooked(_hook.RUN_ONLY, fresh_add, 1, 2) == "cached"
    assert run_hooked(_hook.RUN_ONLY, fresh_add, 2, 2) == 4
    assert run_hooked(_hook.RUN_ONLY, calls_add_twice, 1) == 5


def test_arguments_arrive_as_the_flat_vector():
    def f(a, b=2, *rest, c, d=4, **kw):
        return "original"

    seen = []

    def guard(*args):
        seen.append(("guard", args))
        return False

    rec = Recorder()
    _hook.set_entries(f.__code__, [(guard, skipped_entry(lambda *args: None))])
    try:
        run_hooked(rec, f, 1, 9, 8, c=3, z=5)
        run_hooked(rec, f, 1, c=3)
    finally:
        _hook.set_entries(f.__code__, None)
    assert seen == [
        ("guard", (1, 9, 3, 4, (8,), {"z": 5})),
        ("guard", (1, 2, 3, 4, (), {})),
    ]
    assert rec.calls == [("f", (1, 9, 3, 4, (8,), {"z": 5})), ("f", (1, 2, 3, 4, (), {}))]


def test_keyword_only_and_positional_only_arguments():
    def f(a, /, b, *, c):
        return a + b + c

    got = []

    @skipped_entry
    def entry(a, b, c):
        got.append((a, b, c))
        return -1

    _hook.set_entries(f.__code__, [(lambda a, b, c: True, entry)])
    try:
        assert run_hooked(Recorder(), f, 1, b=2, c=3) == -1
    finally:
        _hook.set_entries(f.__code__, None)
    assert got == [(1, 2, 3)]


def test_callback_gets_the_function_so_it_can_read_the_closure():
    scale = 10

    def scaled(x):
        return x * scale

    def inner_cell_arg(x):
        def g():
            return x

        return g()

    seen = {}

    def callback(func, args):
        seen[func.__name__] = (func, args)
        return None

    assert run_hooked(callback, scaled, 4) == 40
    func, args = seen["scaled"]
    assert func is scaled and args == (4,)
    assert [c.cell_contents for c in func.__closure__] == [10]
    # An argument that is also a cell still arrives as its plain value.
    assert run_hooked(callback, inner_cell_arg, 7) == 7
    assert seen["inner_cell_arg"][1] == (7,)


def test_entry_runs_with_the_callback_on_and_guards_with_it_off(fresh_add):
    rec = Recorder()

    def guard(a, b):
        return add(a, b) == 3  # a plain Python callee: must not reach the callback

    @skipped_entry
    def entry(a, b):
        return add(a, b) * 100  # eager callees of an entry are intercepted

    _hook.set_entries(fresh_add.__code__, [(guard, entry)])
    assert run_hooked(rec, fresh_add, 1, 2) == 300
    assert rec.calls == [("add", (1, 2))]


def test_set_entries_validates_copies_and_clears(fresh_add):
    code = fresh_add.__code__
    with pytest.raises(TypeError, match="expected a code object"):
        _hook.set_entries(fresh_add, None)
    with pytest.raises(TypeError, match=r"entries\[0\] must be"):
        _hook.set_entries(code, [(len,)])
    with pytest.raises(TypeError, match=r"entries\[1\] must be"):
        _hook.set_entries(code, [(len, len), (len, 3)])
    pairs = [(len, len)]
    _hook.set_entries(code, pairs)
    pairs.append((abs, abs))
    assert _hook.get_entries(code) == [(len, len)]
    _hook.mark_skip(code)
    assert _hook.get_entries(code) is None and _hook.is_skipped(code)
    _hook.set_entries(code, [])
    assert _hook.get_entries(code) is None and not _hook.is_skipped(code)


def test_cached_entries_are_released_on_replace_and_with_the_code():
    class Guard:
        def __call__(self, *args):
            return True

    namespace = {}
    exec("def fresh(a):\n    return a\n", namespace)
    code = namespace.pop("fresh").__code__
    guard = Guard()
    ref = weakref.ref(guard)
    _hook.set_entries(code, [(guard, len)])
    _hook.set_entries(code, [(len, len)])
    del guard
    assert ref() is None

    guard = Guard()
    ref = weakref.ref(guard)
    _hook.set_entries(code, [(guard, len)])
    del guard, code
    assert ref() is None


@pytest.mark.parametrize("outcome", ["entry", "entry_raises", "callback_entry", "guard_fails"])
def test_intercepted_calls_do_not_leak_the_code_or_function(fresh_add, outcome):
    code = fresh_add.__code__

    @skipped_entry
    def entry(a, b):
        if outcome == "entry_raises":
            raise KeyError(a)
        return a

    if outcome in ("entry", "entry_raises"):
        _hook.set_entries(code, [(lambda a, b: True, entry)])
    elif outcome == "guard_fails":
        _hook.set_entries(code, [(lambda a, b: False, entry)])

    def callback(func, args):
        return entry if outcome == "callback_entry" else None

    def loop(n, arg):
        for _ in range(n):
            try:
                fresh_add(arg, arg)
            except (KeyError, TypeError):  # the entry's error, or the original's own
                pass

    _hook.mark_skip(loop.__code__)
    arg = object()
    run_hooked(callback, loop, 1, arg)  # first-call effects (caches, specialization)
    before = sys.getrefcount(code), sys.getrefcount(fresh_add), sys.getrefcount(arg)
    run_hooked(callback, loop, 10000, arg)
    after = sys.getrefcount(code), sys.getrefcount(fresh_add), sys.getrefcount(arg)
    assert after == before


def test_unsupported_version_reason():
    assert _hook.unavailable_reason("cpython", sys.version_info) is None
    assert "3.11 or 3.12" in _hook.unavailable_reason("cpython", (3, 13, 0))
    assert "pypy" in _hook.unavailable_reason("pypy", (3, 11, 0))
    assert _hook.AVAILABLE and _hook.UNAVAILABLE_REASON is None
    assert isinstance(DynajitError("x"), Exception)
