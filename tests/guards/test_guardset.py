"""GuardSet: flat arguments, globals, closures, attributes and items, ordering and reading
each source once, de-duplication and conflicts, the generated source and its registration."""

from __future__ import annotations

import gc
import inspect
import linecache
import sys
import traceback

import numpy as np
import pytest

from dynajit.config import patch
from dynajit.guards import (
    ArrayGuard,
    AttrSource,
    ClosureSource,
    DictKeysGuard,
    EqualsGuard,
    GlobalSource,
    GuardError,
    GuardSet,
    IdGuard,
    ItemSource,
    LenGuard,
    LocalSource,
    NoAliasGuard,
    TypeGuard,
    flat_arg_names,
)

L, G = LocalSource, GlobalSource
scale = 2.0


def uses_globals(x):
    return x * scale + np.float32(len(x))


def every_kind_of_argument(a, /, b, *args, c, d=1, **kwargs):
    return a


def test_flat_argument_order():
    assert flat_arg_names(every_kind_of_argument.__code__) == ("a", "b", "c", "d", "args",
                                                               "kwargs")
    gs = GuardSet.for_function(every_kind_of_argument, [
        TypeGuard(L("args"), tuple), LenGuard(L("args"), 1),
        EqualsGuard(ItemSource(L("args"), 0), 5), DictKeysGuard(L("kwargs"), ("e",)),
        EqualsGuard(L("d"), 1)])
    check = gs.compile()
    assert inspect.signature(check).parameters.keys() == {"a", "b", "c", "d", "args", "kwargs"}
    assert check(0, 0, 0, 1, (5,), {"e": 0})
    assert not check(0, 0, 0, 1, (5.0,), {"e": 0})
    assert gs.explain(0, 0, 0, 2, (5,), {"f": 0}) == [
        "L['kwargs']: expected keys ('e',), got ('f',)", "L['d']: expected 1, got 2"]
    with pytest.raises(TypeError):
        gs.explain(0, 0)


# -- globals ----------------------------------------------------------------------------------

@pytest.fixture
def globals_guards():
    gs = GuardSet.for_function(uses_globals, [
        EqualsGuard(G("scale"), 2.0), IdGuard(G("np"), np), IdGuard(G("len"), len),
        IdGuard(AttrSource(G("np"), "float32"), np.float32)])
    yield gs, gs.compile()
    globals()["scale"] = 2.0
    globals().pop("len", None)


def test_changed_global(globals_guards):
    gs, check = globals_guards
    assert check([1.0]) and gs.explain([1.0]) == []
    globals()["scale"] = 3.0
    assert not check([1.0])
    assert gs.explain([1.0]) == ["G['scale']: expected 2.0, got 3.0"]
    globals()["scale"] = 2
    assert gs.explain([1.0]) == ["G['scale']: expected 2.0 (float), got 2 (int)"]


def test_deleted_global_and_shadowed_builtin(globals_guards):
    gs, check = globals_guards
    del globals()["scale"]
    assert not check([1.0])
    assert gs.explain([1.0]) == ["G['scale']: missing (not in globals or builtins)"]
    globals()["scale"] = 2.0
    assert check([1.0])
    globals()["len"] = lambda v: 0
    assert not check([1.0])
    (reason,) = gs.explain([1.0])
    assert reason.startswith("G['len']: expected <function builtins.len>, got <function ")


def test_globals_are_read_from_the_functions_dict():
    namespace = {"np": np, "k": 1}
    exec("def f(x):\n    return x * k\n", namespace)
    gs = GuardSet.for_function(namespace["f"], [EqualsGuard(G("k"), 1)])
    check = gs.compile()
    assert check(0)
    namespace["k"] = 2
    assert gs.explain(0) == ["G['k']: expected 1, got 2"] and not check(0)


# -- closures ---------------------------------------------------------------------------------

def make_closure(k):
    def inner(x):
        return x * k

    def set_k(value):
        nonlocal k
        k = value

    def clear_k():
        nonlocal k
        del k

    return inner, set_k, clear_k


def test_changed_and_emptied_closure_cell():
    inner, set_k, clear_k = make_closure(3)
    gs = GuardSet.for_function(inner, [EqualsGuard(ClosureSource("k", 0), 3)])
    check = gs.compile()
    assert check(1)
    set_k(4)
    assert not check(1) and gs.explain(1) == ["C['k']: expected 3, got 4"]
    clear_k()
    assert not check(1) and gs.explain(1) == ["C['k']: missing (empty cell)"]


def test_same_scope_tells_closures_of_one_def_apart():
    first, _, _ = make_closure(3)
    second, _, _ = make_closure(3)
    gs = GuardSet.for_function(first)
    assert first.__code__ is second.__code__
    assert gs.same_scope(first) and not gs.same_scope(second)
    assert not gs.same_scope(uses_globals)


def test_closure_source_must_match_the_code():
    inner, _, _ = make_closure(3)
    with pytest.raises(GuardError, match="no free variable 'j'"):
        GuardSet.for_function(inner, [EqualsGuard(ClosureSource("j", 0), 3)])
    with pytest.raises(GuardError, match="not an argument"):
        GuardSet.for_function(inner, [EqualsGuard(L("y"), 3)])


# -- attributes and items ----------------------------------------------------------------------

class Layer:
    def __init__(self, w):
        self.w = w


class Watched:
    """``w`` is a property that counts its reads."""

    reads = 0

    @property
    def w(self):
        Watched.reads += 1
        return np.ones(3)


def method_like(self, params, xs):
    return self.w + params["w0"] + xs[2]


def item_and_attr_guards() -> GuardSet:
    w = np.ones(3)
    return GuardSet.for_function(method_like, [
        ArrayGuard.of(AttrSource(L("self"), "w"), w),
        TypeGuard(L("self"), Layer),
        TypeGuard(L("params"), dict),
        ArrayGuard.of(ItemSource(L("params"), "w0"), w),
        TypeGuard(L("xs"), list),
        ArrayGuard.of(ItemSource(L("xs"), 2), w),
    ])


def test_changed_attribute_and_items():
    gs = item_and_attr_guards()
    check = gs.compile()
    args = (Layer(np.ones(3)), {"w0": np.ones(3)}, [0, 0, np.ones(3)])
    assert check(*args) and gs.explain(*args) == []
    args[0].w = np.ones(4)
    args[1]["w0"] = np.ones(3, np.float32)
    args[2][2] = np.ones((3, 1))
    assert not check(*args)
    assert gs.explain(*args) == [
        "L['self'].w.shape: expected (3,), got (4,)",
        "L['params']['w0'].dtype: expected float64, got float32",
        "L['xs'][2].shape: expected (3,), got (3, 1)"]


def test_missing_attribute_key_or_index_is_false_and_named():
    gs = item_and_attr_guards()
    check = gs.compile()
    layer = Layer(None)
    del layer.w
    args = (layer, {}, [0])
    assert check(*args) is False
    reasons = gs.explain(*args)
    assert reasons == [
        "L['self'].w: missing (AttributeError: 'Layer' object has no attribute 'w')",
        "L['params']['w0']: missing (KeyError: 'w0')",
        "L['xs'][2]: missing (IndexError: list index out of range)"]


def test_base_type_guard_runs_before_reading_from_the_base():
    gs = item_and_attr_guards()
    check = gs.compile()
    Watched.reads = 0
    args = (Watched(), {"w0": np.ones(3)}, [0, 0, np.ones(3)])
    assert not check(*args)
    assert gs.explain(*args) == ["type(L['self']): expected Layer, got Watched"]
    assert Watched.reads == 0


def code_of(gs: GuardSet) -> str:
    """The generated source without its comments."""
    return "\n".join(line.split("  # ")[0] for line in gs.source.splitlines()[1:])


def test_each_source_is_read_once_per_call():
    def f(self, other):
        return self.w + other

    w = np.ones(3)
    gs = GuardSet.for_function(f, [
        TypeGuard(L("self"), Watched), ArrayGuard.of(AttrSource(L("self"), "w"), w),
        ArrayGuard.of(L("other"), w), NoAliasGuard([AttrSource(L("self"), "w"), L("other")])])
    check = gs.compile()
    Watched.reads = 0
    assert check(Watched(), np.ones(3))
    assert Watched.reads == 1
    assert code_of(gs).count("self.w") == 1


def test_intermediate_sources_shared_by_two_reads_are_read_once():
    def f(self):
        return self.layer.w + self.layer.b

    w = np.ones(3)
    layer = AttrSource(L("self"), "layer")
    gs = GuardSet.for_function(f, [ArrayGuard.of(AttrSource(layer, "w"), w),
                                   ArrayGuard.of(AttrSource(layer, "b"), w)])
    assert code_of(gs).count(".layer") == 1
    obj = Layer(None)
    obj.layer = Layer(w)
    obj.layer.b = w
    assert gs.compile()(obj)


# -- the set itself -------------------------------------------------------------------------

def test_duplicates_are_dropped_and_contradictions_rejected():
    x = np.ones(3)
    gs = GuardSet.for_function(method_like)
    assert gs.add(TypeGuard(L("self"), Layer))
    assert not gs.add(TypeGuard(L("self"), Layer))
    assert gs.add(ArrayGuard.of(ItemSource(L("xs"), 0), x))
    assert not gs.add(ArrayGuard.of(ItemSource(L("xs"), 0), np.zeros(3)))
    assert len(gs) == 2
    with pytest.raises(GuardError, match="contradicting"):
        gs.add(TypeGuard(L("self"), Watched))
    with pytest.raises(GuardError, match="contradicting"):
        gs.add(ArrayGuard.of(ItemSource(L("xs"), 0), x.astype(np.float32)))


def test_order_and_text_form():
    gs = item_and_attr_guards()
    text = str(gs)
    assert text.splitlines() == [
        "TYPE      type(L['self']) is tests.guards.test_guardset.Layer",
        "TYPE      type(L['params']) is dict",
        "TYPE      type(L['xs']) is list",
        "ARRAY     L['self'].w: ndarray float64 (3,) C-contiguous",
        "ARRAY     L['params']['w0']: ndarray float64 (3,) C-contiguous",
        "ARRAY     L['xs'][2]: ndarray float64 (3,) C-contiguous",
    ]
    assert [str(g.sources[0]) for g in gs] == [
        "L['self']", "L['params']", "L['xs']", "L['self'].w", "L['params']['w0']", "L['xs'][2]"]


def test_empty_set_always_passes():
    gs = GuardSet.for_function(method_like)
    assert gs.compile()(1, 2, 3) is True
    assert gs.explain(1, 2, 3) == []


def test_adding_after_compile_recompiles():
    gs = GuardSet.for_function(uses_globals)
    assert gs.compile()(1)
    gs.add(EqualsGuard(L("x"), 2))
    assert not gs.compile()(1) and gs.compile()(2)


def test_dead_id_guard_marks_the_set_dead():
    def make():
        def helper():
            pass

        return helper

    helper = make()
    gs = GuardSet.for_function(uses_globals, [IdGuard(L("x"), helper)])
    assert not gs.dead
    del helper
    gc.collect()
    assert gs.dead and not gs.compile()(None)


# -- generated source ---------------------------------------------------------------------------

def test_generated_source_is_valid_readable_and_in_linecache():
    gs = item_and_attr_guards()
    check = gs.compile()
    src = gs.source
    compile(src, "<check>", "exec")
    assert "def guard(self, params, xs):" in src
    assert "type(self) is Layer" in src
    lines = src.splitlines()
    for i, line in enumerate(lines, 1):
        assert linecache.getline(gs.filename, i).rstrip("\n") == line
    assert inspect.getsource(check).startswith("    def guard(self, params, xs):")


class Interrupt(BaseException):
    pass


class Exploding:
    @property
    def w(self):
        raise Interrupt


def test_tracebacks_show_the_generated_line():
    gs = GuardSet.for_function(method_like, [ArrayGuard.of(AttrSource(L("self"), "w"),
                                                           np.ones(3))])
    check = gs.compile()
    with pytest.raises(Interrupt) as info:  # BaseExceptions are not swallowed
        check(Exploding(), {}, [])
    text = "".join(traceback.format_exception(info.value))
    assert gs.filename in text
    assert "type((self_w := self.w)) is ndarray" in text


def test_linecache_entry_lives_as_long_as_the_check():
    gs = GuardSet.for_function(uses_globals, [EqualsGuard(L("x"), 1)])
    gs.compile()
    filename = gs.filename
    assert filename in linecache.cache
    del gs
    gc.collect()
    assert filename not in linecache.cache


def test_source_registration_follows_config():
    with patch(register_source=False):
        gs = GuardSet.for_function(uses_globals, [EqualsGuard(L("x"), 1)])
        assert gs.compile()(1)
    assert gs.filename not in linecache.cache


def test_argument_names_that_clash_with_generated_names():
    def f(type, len, ndarray, G, Exception, guard):
        return type

    x = np.ones(2)
    gs = GuardSet.for_function(f, [ArrayGuard.of(L("type"), x), LenGuard(L("len"), 2),
                                   IdGuard(L("ndarray"), np), EqualsGuard(G("scale"), 2.0),
                                   EqualsGuard(L("Exception"), 1), EqualsGuard(L("guard"), 1)])
    check = gs.compile()
    assert check(x, [1, 2], np, None, 1, 1)
    assert not check(x, [1], np, None, 1, 1)
    assert gs.explain(x, [1], np, None, 1, 1) == ["L['len']: expected len 2, got 1"]


def test_argument_names_that_are_not_identifiers():
    code = (v for v in range(3)).gi_code  # a generator's code takes the iterator as '.0'
    assert flat_arg_names(code) == (".0",)
    gs = GuardSet(code, globals(), guards=[TypeGuard(L(".0"), type(iter(range(3))))])
    assert "def guard(arg0):" in gs.source
    assert gs.compile()(iter(range(3))) and not gs.compile()(iter([]))
    assert gs.explain(iter([])) == ["type(L['.0']): expected range_iterator, got list_iterator"]


@pytest.mark.skipif(sys.version_info < (3, 11), reason="co_qualname")
def test_header_names_the_function():
    gs = GuardSet.for_function(uses_globals)
    assert gs.source.startswith("# guards of uses_globals (")


def test_equal_constants_deduplicate_however_they_were_built():
    gs = GuardSet.for_function(uses_globals)
    assert gs.add(EqualsGuard(L("x"), (float("nan"), frozenset({"a", "b", "c"}))))
    assert not gs.add(EqualsGuard(L("x"), (float("nan"), frozenset({"c", "b", "a"}))))
    with pytest.raises(GuardError, match="contradicting"):
        gs.add(EqualsGuard(L("x"), (float("nan"), frozenset({"a"}))))


def test_item_keys_that_are_not_literals_are_bound_as_constants():
    def f(table):
        return table

    key = (1.5, np.int64(2))
    gs = GuardSet.for_function(f, [TypeGuard(L("table"), dict),
                                   EqualsGuard(ItemSource(L("table"), key), 1),
                                   EqualsGuard(ItemSource(L("table"), (1, "a")), 2)])
    assert "table[(1, 'a')]" in gs.source
    check = gs.compile()
    assert check({key: 1, (1, "a"): 2})
    assert not check({key: 1})
    assert gs.explain({key: 1}) == ["L['table'][(1, 'a')]: missing (KeyError: (1, 'a'))"]
