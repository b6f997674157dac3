"""The frame hook is safe around everything Python does while a compiled function runs:
generators and coroutines, deep recursion, exceptions (same type and message as eager),
threads, ``sys.settrace``, ``dynajit.disable`` and ``reset``, and every kind of callable
``compile`` accepts."""

from __future__ import annotations

import asyncio
import sys
import threading
import time
import traceback
import types
import warnings

import numpy as np
import pytest

import dynajit
from dynajit import _hook
from tests.capture.conftest import CountingBackend, assert_same, cache_of


def compiled_with(fn):
    backend = CountingBackend()
    return dynajit.compile(fn, backend=backend), backend


def raises_like_eager(compiled, fn, *args):
    """compiled(*args) raises what fn(*args) raises: the same type and message."""
    with pytest.raises(Exception) as eager:
        fn(*args)
    with pytest.raises(Exception) as got:
        compiled(*args)
    assert type(got.value) is type(eager.value), (
        f"{type(got.value).__name__}: {got.value} != eager {type(eager.value).__name__}")
    assert str(got.value) == str(eager.value)
    return got.value


def line_of(fn, text):
    """The line number of the first source line of ``fn`` that contains ``text``."""
    import inspect

    lines, first = inspect.getsourcelines(fn)
    return first + next(i for i, line in enumerate(lines) if text in line)


# ----------------------------------------------------------------------------- generators
def _evens(n):
    for i in range(n):
        yield i * 2


def _rows(x):
    for row in x:
        yield row * 2


def uses_generator(x):
    return x * sum(_evens(3)) + sum(_rows(x))


def test_generator_called_from_compiled_function():
    compiled, backend = compiled_with(uses_generator)
    x = np.arange(6.0).reshape(2, 3)
    assert_same(compiled(x), uses_generator(x))
    assert_same(compiled(x), uses_generator(x))
    assert not cache_of(_evens).entries and not cache_of(_rows).entries


def test_generator_created_outside_and_resumed_inside():
    def take_two(x, it):
        return x * next(it) + next(it)

    compiled, _ = compiled_with(take_two)
    it_eager, it_compiled = _evens(5), _evens(5)
    for _ in range(2):
        assert_same(compiled(np.ones(2), it_compiled), take_two(np.ones(2), it_eager))
    assert list(it_compiled) == list(it_eager) == [8]


def test_compiled_generator_function():
    compiled, _ = compiled_with(_rows)
    x = np.arange(6.0).reshape(3, 2)
    got, expected = list(compiled(x)), list(_rows(x))
    assert len(got) == len(expected)
    for g, e in zip(got, expected):
        assert_same(g, e)


async def _async_affine(x, w):
    await asyncio.sleep(0)
    return x @ w + 1


def uses_coroutine(x, w):
    return asyncio.run(_async_affine(x, w)) * 2


def test_async_function_called_from_compiled_function():
    compiled, _ = compiled_with(uses_coroutine)
    x, w = np.ones((2, 3)), np.arange(6.0).reshape(3, 2)
    assert_same(compiled(x, w), uses_coroutine(x, w))
    assert_same(compiled(x, w), uses_coroutine(x, w))
    assert not cache_of(_async_affine).entries


def test_compiled_async_function():
    compiled, _ = compiled_with(_async_affine)
    x, w = np.ones((2, 3)), np.arange(6.0).reshape(3, 2)
    assert_same(asyncio.run(compiled(x, w)), asyncio.run(_async_affine(x, w)))


# ----------------------------------------------------------------------------- recursion
def _max_depth():
    """How deep plain Python recursion gets from here before RecursionError."""
    depth = 0

    def down(n):
        nonlocal depth
        depth = n
        down(n + 1)

    try:
        down(0)
    except RecursionError:
        pass
    return depth


def probe_depth(x):
    return x * 0 + _max_depth()


def test_deep_recursion_from_compiled_code_reaches_eager_depth():
    eager = probe_depth(np.zeros(1))[0]
    compiled, _ = compiled_with(probe_depth)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # `down` recompiles per depth up to the cache limit
        got = compiled(np.zeros(1))[0]
    # The hook must cost no recursion budget. Frames dynajit adds: the compiled wrapper, and
    # for each compiled frame on the stack its entry and, at a graph break, the caller placed
    # at the user's line; `down` is compiled at up to cache_size_limit depths.
    extra = 2 + 2 * dynajit.config.cache_size_limit
    assert got >= eager - extra, f"compiled recursion reached {got}, eager {eager}"


def _count_down(n):
    return 0 if n == 0 else 1 + _count_down(n - 1)


def deep_python_recursion(x):
    return x + _count_down(600)


def test_recursion_deeper_than_inline_depth_runs_eagerly():
    # The helper cannot be inlined past config.inline_depth: the frame breaks at its call,
    # the call runs eagerly, and the result equals eager.
    compiled, backend = compiled_with(deep_python_recursion)
    assert_same(compiled(np.ones(2)), deep_python_recursion(np.ones(2)))
    assert cache_of(deep_python_recursion).failure is None


def _doubled(x, n):
    return x if n == 0 else _doubled(x, n - 1) * 2


def shallow_recursion(x):
    return _doubled(x, 4)


def test_shallow_recursion_is_inlined():
    compiled, backend = compiled_with(shallow_recursion)
    assert_same(compiled(np.ones(3)), shallow_recursion(np.ones(3)))
    assert backend.frame_count == 1 and backend.op_counts == [4]


# ----------------------------------------------------------------------------- exceptions
def power(x, y):
    return x**y


def _power_helper(x, y):
    return (x + 0) ** y


def power_through_helper(x, y):
    return _power_helper(x, y) - 1


@pytest.mark.parametrize("fn", [power, power_through_helper])
def test_runtime_error_in_compiled_code_matches_eager(fn):
    compiled, backend = compiled_with(fn)
    assert_same(compiled(np.arange(3), np.arange(3)), fn(np.arange(3), np.arange(3)))
    error = raises_like_eager(compiled, fn, np.arange(3), np.array([1, -1, 2]))
    assert isinstance(error, ValueError)
    assert backend.frame_count == 1, "a run-time error must not recompile"
    # The traceback (or its notes) names the user's line that raised.
    target = power if fn is power else _power_helper
    text = "".join(traceback.format_exception(error))
    assert f"{__file__}:{line_of(target, '**')}" in text or (
        f'"{__file__}", line {line_of(target, "**")}' in text), text
    # The function still works after raising.
    assert_same(compiled(np.arange(3), np.arange(3)), fn(np.arange(3), np.arange(3)))


def bad_literal_index(x):
    return x[10] + 1


def test_bad_literal_index_breaks_and_raises_index_error():
    compiled, backend = compiled_with(bad_literal_index)
    error = raises_like_eager(compiled, bad_literal_index, np.arange(3.0))
    assert isinstance(error, IndexError)
    assert backend.frame_count == 0  # the frame breaks at x[10], which raises eagerly


def _check_matrix(x):
    if x.ndim != 2:
        raise ValueError(f"expected a matrix, got {x.ndim} dimensions")
    return x


def explicit_raise(x):
    return _check_matrix(x) * 2


def missing_key(d):
    return d["missing"] * 2


def casting_error(x):
    x += 1.5
    return x


def shape_mismatch(x, y):
    return x @ y


def unpack_error(x):
    a, b = x.shape
    return x * a * b


@pytest.mark.parametrize("fn, args", [
    (explicit_raise, (np.ones(3),)),
    (missing_key, ({"present": np.ones(2)},)),
    (casting_error, (np.arange(3),)),
    (shape_mismatch, (np.ones((2, 3)), np.ones((2, 3)))),
    (unpack_error, (np.ones(3),)),
], ids=["raise_statement", "key_error", "casting_error", "matmul_shapes", "unpack"])
def test_errors_raised_by_user_code_match_eager(fn, args):
    compiled, _ = compiled_with(fn)
    raises_like_eager(compiled, fn, *args)
    raises_like_eager(compiled, fn, *args)


def test_explicit_raise_not_taken_is_compiled():
    compiled, backend = compiled_with(explicit_raise)
    assert_same(compiled(np.ones((2, 2))), explicit_raise(np.ones((2, 2))))
    assert backend.frame_count == 1 and backend.op_counts == [1]


def test_exception_caught_by_caller_leaves_hook_usable():
    compiled, backend = compiled_with(power)
    compiled(np.arange(3), np.arange(3))
    for _ in range(3):
        try:
            compiled(np.arange(3), np.array([-1, -1, -1]))
        except ValueError:
            pass
    assert _hook.get_callback() is None
    assert_same(compiled(np.arange(3), np.arange(3)), power(np.arange(3), np.arange(3)))
    assert backend.frame_count == 1


# ----------------------------------------------------------------------------- threads
def threaded_fn(x, y):
    return np.tanh(x) * y + x.sum()


def test_two_threads_call_one_compiled_function():
    compiled, backend = compiled_with(threaded_fn)
    compiled(np.ones(4), np.ones(4))  # compile first; then hammer the cache from 2 threads
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def work(seed):
        try:
            barrier.wait()
            rng = np.random.default_rng(seed)
            for _ in range(300):
                x, y = rng.standard_normal(4), rng.standard_normal(4)
                assert_same(compiled(x, y), threaded_fn(x, y))
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert backend.frame_count == 1


def test_two_threads_compiling_at_once_get_correct_results_and_one_graph():
    """Both threads miss at once while the first compile is slow (the backend sleeps and
    so releases the GIL): the second must wait for or reuse the first's entry."""
    graphs = []

    def slow_backend(gm, example_inputs):
        graphs.append(gm)
        time.sleep(0.2)
        return gm.forward

    compiled = dynajit.compile(threaded_fn, backend=slow_backend)
    barrier = threading.Barrier(2)
    results: dict[int, object] = {}
    errors: list[BaseException] = []

    def work(i):
        try:
            x, y = np.full(4, float(i)), np.full(4, 2.0)
            barrier.wait()
            results[i] = compiled(x, y)
            assert_same(results[i], threaded_fn(x, y))
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and len(results) == 2
    assert len(graphs) == 1, f"{len(graphs)} graphs compiled for one guard set"
    assert len(cache_of(threaded_fn).entries) == 1


def test_threads_with_different_shapes():
    compiled, backend = compiled_with(threaded_fn)
    errors: list[BaseException] = []

    def work(n):
        try:
            for k in range(50):
                x = np.full(n, float(k))
                assert_same(compiled(x, x), threaded_fn(x, x))
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=work, args=(n,)) for n in (3, 5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


# ----------------------------------------------------------------------------- settrace
def _inner(x):
    return x + 1


def traced_outer(x):
    return _inner(x) * 2


def test_settrace_outside_compiled_regions_still_sees_frames():
    compiled, _ = compiled_with(traced_outer)
    compiled(np.ones(2))
    seen: list[str] = []

    def tracer(frame, event, arg):
        if event == "call":
            seen.append(frame.f_code.co_name)
        return None

    old = sys.gettrace()
    sys.settrace(tracer)
    try:
        traced_outer(np.ones(2))
        got = compiled(np.ones(2))
        traced_outer(np.ones(2))
    finally:
        sys.settrace(old)
    assert_same(got, traced_outer(np.ones(2)))
    assert seen.count("traced_outer") >= 2 and seen.count("_inner") >= 2, seen
    assert seen[-2:] == ["traced_outer", "_inner"], seen


def test_settrace_line_events_after_compiled_call():
    compiled, _ = compiled_with(traced_outer)
    compiled(np.ones(2))
    lines: list[int] = []

    def tracer(frame, event, arg):
        if frame.f_code is _inner.__code__:
            if event == "line":
                lines.append(frame.f_lineno)
            return tracer
        return None

    old = sys.gettrace()
    sys.settrace(tracer)
    try:
        compiled(np.ones(2))
        _inner(np.ones(2))
    finally:
        sys.settrace(old)
    assert lines == [_inner.__code__.co_firstlineno + 1]


# ----------------------------------------------------------------------------- disable
@dynajit.disable
def _disabled_helper(x):
    return x * 3


def calls_disabled(x):
    return _disabled_helper(x) + 1


def test_disable_decorator_inside_compiled_function():
    compiled, backend = compiled_with(calls_disabled)
    assert_same(compiled(np.ones(2)), calls_disabled(np.ones(2)))
    assert_same(compiled(np.ones(2)), calls_disabled(np.ones(2)))
    assert not cache_of(_disabled_helper.__wrapped__).entries
    failure = cache_of(calls_disabled).failure
    if backend.frame_count == 0:  # no graph breaks yet: the caller runs eagerly, and says
        assert failure is not None and __file__ in failure, failure  # where, in user code


def test_disable_context_manager_around_compiled_call():
    compiled, backend = compiled_with(traced_outer)
    with dynajit.disable():
        assert_same(compiled(np.ones(2)), traced_outer(np.ones(2)))
    assert backend.frame_count == 0
    assert_same(compiled(np.ones(2)), traced_outer(np.ones(2)))
    assert backend.frame_count == 1


def _work_in_disabled_block(x):
    with dynajit.disable():
        y = _inner(x)
    return y * 2


def test_disable_context_manager_inside_compiled_function():
    compiled, backend = compiled_with(_work_in_disabled_block)
    assert_same(compiled(np.ones(2)), _work_in_disabled_block(np.ones(2)))
    assert not cache_of(_inner).entries
    assert _hook.get_callback() is None


def test_disable_restores_state_after_an_exception():
    @dynajit.disable
    def boom(x):
        raise KeyError("boom")

    def f(x):
        return boom(x)

    compiled, _ = compiled_with(f)
    raises_like_eager(compiled, f, np.ones(2))
    assert _hook.get_callback() is None
    compiled2, backend = compiled_with(traced_outer)
    compiled2(np.ones(2))
    assert backend.frame_count == 1


def test_recursive_disabled_function_restores_the_callback():
    """Each call of a ``@dynajit.disable`` function keeps the callback it replaced: a shared
    one would be overwritten by the inner call and leave no callback after the outer."""

    def callback(*args):
        return None

    @dynajit.disable
    def countdown(n):
        if n:
            countdown(n - 1)

    prior = _hook.set_callback(callback)
    try:
        countdown(2)
        assert _hook.get_callback() is callback
    finally:
        _hook.set_callback(prior)


# ----------------------------------------------------------------------------- reset
def test_reset_forgets_entries():
    compiled, backend = compiled_with(traced_outer)
    compiled(np.ones(2))
    assert cache_of(traced_outer).entries
    dynajit.reset()
    assert not cache_of(traced_outer).entries
    assert not _hook.get_entries(traced_outer.__code__)
    compiled(np.ones(2))
    assert backend.frame_count == 2


def printing(x):
    try:  # a try block cannot be resumed: the whole frame runs eagerly
        print("tracing?")
    finally:
        pass
    return x + 1


def test_reset_forgets_run_eagerly_decisions(capsys):
    compiled, _ = compiled_with(printing)
    compiled(np.ones(2))
    assert cache_of(printing).failure is not None
    dynajit.reset()
    assert cache_of(printing).failure is None
    assert not _hook.is_skipped(printing.__code__)
    compiled(np.ones(2))
    assert cache_of(printing).misses == 1  # traced again after the reset
    assert capsys.readouterr().out == "tracing?\n" * 2


# ----------------------------------------------------------------------------- callables
class Layer:
    def __init__(self):
        self.w = np.arange(6.0).reshape(3, 2)

    def forward(self, x):
        return x @ self.w


def test_compiled_bound_method():
    layer = Layer()
    backend = CountingBackend()
    compiled = dynajit.compile(layer.forward, backend=backend)
    assert isinstance(compiled, types.MethodType) and compiled.__self__ is layer
    assert_same(compiled(np.ones((2, 3))), layer.forward(np.ones((2, 3))))
    assert_same(compiled(np.ones((2, 3))), layer.forward(np.ones((2, 3))))
    assert backend.frame_count == 1 and backend.op_counts == [1]


def test_compiled_lambda():
    fn = lambda x, y=2.0: x * y + 1  # noqa: E731
    compiled, backend = compiled_with(fn)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert_same(compiled(np.ones(3)), fn(np.ones(3)))
        assert_same(compiled(np.ones(3), y=3.0), fn(np.ones(3), y=3.0))
    assert backend.frame_count == 2 and backend.op_counts == [2, 2]


def _make_scaler(k):
    def scale(x):
        return x * k

    return scale


def test_compiled_closures_sharing_one_code_object():
    double, triple = _make_scaler(2.0), _make_scaler(np.arange(3.0))
    c_double, b_double = compiled_with(double)
    c_triple, b_triple = compiled_with(triple)
    for _ in range(2):
        assert_same(c_double(np.ones(3)), double(np.ones(3)))
        assert_same(c_triple(np.ones(3)), triple(np.ones(3)))
    assert b_double.frame_count == 1 and b_triple.frame_count == 1


def test_decorator_forms():
    @dynajit.compile
    def plain(x):
        return x + 1

    backend = CountingBackend()

    @dynajit.compile(backend=backend)
    def configured(x):
        return x - 1

    assert_same(plain(np.ones(2)), np.full(2, 2.0))
    assert_same(configured(np.ones(2)), np.zeros(2))
    assert backend.frame_count == 1
    assert plain.__name__ == "plain" and plain.__wrapped__.__name__ == "plain"


def test_compiled_function_called_from_compiled_function():
    inner_compiled, inner_backend = compiled_with(_inner)

    def outer(x):
        return inner_compiled(x) * 2

    compiled, _ = compiled_with(outer)
    assert_same(compiled(np.ones(2)), outer(np.ones(2)))
    assert_same(compiled(np.ones(2)), outer(np.ones(2)))


def _helper_reached_eagerly(x):
    return np.exp(x) - 1


def falls_back_then_calls_helper(x):
    try:  # runs the whole frame eagerly (no graph break inside try)
        print("eager frame")
    finally:
        pass
    return _helper_reached_eagerly(x)


def test_callee_of_an_eager_frame_is_compiled_on_its_own_frame(capsys):
    compiled, backend = compiled_with(falls_back_then_calls_helper)
    for _ in range(2):
        assert_same(compiled(np.ones(2)), falls_back_then_calls_helper(np.ones(2)))
    assert cache_of(falls_back_then_calls_helper).failure is not None
    assert backend.frame_count == 1 and backend.op_counts == [2]
    assert len(cache_of(_helper_reached_eagerly).entries) == 1


# ----------------------------------------------------------------------------- fullgraph
def data_dependent_branch(x):
    if x.sum() > 0:
        return x * 2
    return -x


def _branching_helper(x):
    if x.max() > 1:
        return x
    return x + 1


def branch_in_helper(x):
    return _branching_helper(x) * 2


@pytest.mark.parametrize("fn, target, text", [
    (data_dependent_branch, data_dependent_branch, "if x.sum() > 0"),
    (branch_in_helper, _branching_helper, "if x.max() > 1"),
])
def test_fullgraph_raises_unsupported_naming_the_users_line(fn, target, text):
    compiled = dynajit.compile(fn, fullgraph=True)
    with pytest.raises(dynajit.Unsupported) as info:
        compiled(np.ones(3))
    assert f"{__file__}:{line_of(target, text)}" in str(info.value), str(info.value)
    assert _hook.get_callback() is None


def test_fullgraph_compiles_supported_code():
    backend = CountingBackend()
    compiled = dynajit.compile(traced_outer, backend=backend, fullgraph=True)
    assert_same(compiled(np.ones(2)), traced_outer(np.ones(2)))
    assert backend.frame_count == 1 and backend.op_counts == [2]


# ----------------------------------------------------------------------------- bytecode
def nop_target(x, y):
    z = x * y
    for i in range(2):
        z = z + i
    return z.sum(axis=0)


def test_bytecode_round_trip_with_nops_compiles_the_same_graph():
    bytecode = pytest.importorskip("bytecode")
    code = bytecode.Bytecode.from_code(nop_target.__code__)
    padded = bytecode.Bytecode()
    padded._copy_attr_from(code)
    last_line = None
    for instr in code:
        # A NOP where each new line starts (as a coverage tool or debugger would put it);
        # never before END_FOR, which 3.12's FOR_ITER skips by position.
        if (isinstance(instr, bytecode.Instr) and instr.lineno != last_line
                and instr.name not in ("RESUME", "END_FOR")):
            padded.append(bytecode.Instr("NOP", lineno=instr.lineno))
            last_line = instr.lineno
        padded.append(instr)
    new_code = padded.to_code()
    assert any(i.opname == "NOP" for i in __import__("dis").get_instructions(new_code))
    twin = types.FunctionType(new_code, nop_target.__globals__, "nop_twin")
    x, y = np.arange(6.0).reshape(2, 3), np.ones(3)
    assert_same(twin(x, y), nop_target(x, y))
    original, b1 = compiled_with(nop_target)
    padded_fn, b2 = compiled_with(twin)
    assert_same(padded_fn(x, y), nop_target(x, y))
    assert_same(original(x, y), nop_target(x, y))
    assert b1.op_counts == b2.op_counts == [4]
    assert b1.op_names() == b2.op_names()
