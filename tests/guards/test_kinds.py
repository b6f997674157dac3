"""Each guard kind passes on the value it was built from and fails, with the right reason,
on a changed value."""

from __future__ import annotations

import gc
import pickle
import types

import numpy as np
import pytest

from dynajit.guards import (
    ArrayGuard,
    DictKeysGuard,
    EqualsGuard,
    GuardError,
    IdGuard,
    LenGuard,
    LocalSource,
    NoAliasGuard,
    ScalarGuard,
    TypeGuard,
    strides_class,
)
from tests.guards.helpers import run

A, B, C = LocalSource("a"), LocalSource("b"), LocalSource("c")


class MyArray(np.ndarray):
    pass


# -- strides class ----------------------------------------------------------------------------

def test_strides_class():
    x = np.zeros((4, 8), np.float32)
    assert strides_class(x) == "C"
    assert strides_class(x[:, ::2]) == (8, 2)
    assert strides_class(x.T) == (1, 8)
    assert strides_class(x[::-1]) == (-8, 1)
    assert strides_class(np.broadcast_to(np.ones(8, np.float32), (3, 8))) == (0, 1)
    assert strides_class(x[:, :1]) == (8, 1)
    assert strides_class(np.zeros((3, 1))[::1, :]) == "C"
    assert strides_class(np.zeros((0, 5))) == "C"
    assert strides_class(np.array(1.0)) == "C"
    unaligned = np.frombuffer(bytes(17), np.float32, 4, offset=1)
    assert strides_class(unaligned) == "unaligned"


# -- ArrayGuard -------------------------------------------------------------------------------

def test_array_guard_passes_on_its_array_and_equal_ones():
    x = np.ones((128, 4), np.float32)
    g = ArrayGuard.of(A, x)
    assert run([g], x) == (True, [])
    assert run([g], np.zeros((128, 4), np.float32)) == (True, [])
    # Unpickled arrays carry a private dtype copy: the slow dtype path must still pass.
    y = pickle.loads(pickle.dumps(x))
    assert y.dtype is not x.dtype
    assert run([g], y) == (True, [])


def test_array_guard_reasons():
    x = np.ones((128, 4), np.float32)
    g = ArrayGuard.of(A, x)
    assert run([g], np.ones((64, 4), np.float32)) == (
        False, ["L['a'].shape: expected (128, 4), got (64, 4)"])
    assert run([g], x.astype(np.float64)) == (
        False, ["L['a'].dtype: expected float32, got float64"])
    assert run([g], x.view(MyArray)) == (False, ["type(L['a']): expected ndarray, got MyArray"])
    assert run([g], x.tolist()) == (False, ["type(L['a']): expected ndarray, got list"])
    wide = np.ones((128, 8), np.float32)[:, ::2]
    assert run([g], wide) == (
        False, ["L['a'].strides: expected C-contiguous, got element strides (8, 2)"])
    assert run([g], x.astype(">f4")) == (False, ["L['a'].dtype: expected float32, got >f4"])


def test_array_guard_on_a_strided_view_rejects_other_strides():
    base = np.ones((128, 8), np.float32)
    g = ArrayGuard.of(A, base[:, ::2])
    assert g.strides_class == (8, 2)
    assert run([g], np.ones((128, 8), np.float32)[:, ::2]) == (True, [])
    assert run([g], np.ones((128, 4), np.float32)) == (
        False, ["L['a'].strides: expected element strides (8, 2), got C-contiguous"])
    assert run([g], np.ones((128, 12), np.float32)[:, ::3]) == (
        False, ["L['a'].strides: expected element strides (8, 2), got element strides (12, 3)"])
    # Same byte strides, other item size: the dtype reason, never a false pass.
    assert not run([g], np.ones((128, 8), np.int32)[:, ::2])[0]


def test_array_guard_broadcast_and_unaligned_classes():
    bcast = np.broadcast_to(np.ones(4, np.float32), (3, 4))
    g = ArrayGuard.of(A, bcast)
    assert run([g], np.broadcast_to(np.zeros(4, np.float32), (3, 4))) == (True, [])
    assert run([g], np.ones((3, 4), np.float32)) == (
        False, ["L['a'].strides: expected element strides (0, 1), got C-contiguous"])
    unaligned = np.frombuffer(bytes(17), np.float32, 4, offset=1)
    gu = ArrayGuard.of(A, unaligned)
    assert run([gu], np.frombuffer(bytes(33), np.float32, 4, offset=3)) == (True, [])
    assert run([gu], np.ones(4, np.float32)) == (
        False, ["L['a'].strides: expected unaligned, got C-contiguous"])
    assert run([g], unaligned[:3].reshape(1, 3)) != (True, [])


def test_array_guard_scalar_type_of_the_dtype_counts():
    # int64 and longlong compare equal as dtypes but make different scalar types.
    g = ArrayGuard.of(A, np.ones(3, np.int64))
    verdict, reasons = run([g], np.ones(3, np.longlong))
    assert not verdict
    assert reasons == ["L['a'].dtype: expected int64, got longlong"]


def test_array_guard_writeable():
    x = np.ones(4)
    g = ArrayGuard.of(A, x, writeable=True)
    ro = np.ones(4)
    ro.flags.writeable = False
    assert run([g], x) == (True, [])
    assert run([g], ro) == (False, ["L['a'].flags.writeable: expected True, got False"])
    assert run([ArrayGuard.of(A, x)], ro) == (True, [])
    with pytest.raises(GuardError):
        ArrayGuard.of(A, ro, writeable=True)


def test_array_guard_validates_its_fields():
    with pytest.raises(GuardError, match="strides class"):
        ArrayGuard(A, np.float32, (3,), "F")
    with pytest.raises(GuardError, match="do not match shape"):
        ArrayGuard(A, np.float32, (3, 4), (1,))
    assert ArrayGuard(A, "float32", (3,), "C") == ArrayGuard.of(A, np.ones(3, np.float32))


# -- ScalarGuard ------------------------------------------------------------------------------

def test_scalar_guard():
    g = ScalarGuard.of(A, np.float32(1.5))
    assert run([g], np.float32(-7)) == (True, [])
    assert run([g], np.float64(1.5)) == (False, ["type(L['a']): expected float32, got float64"])
    assert run([g], 1.5) == (False, ["type(L['a']): expected float32, got float"])
    assert run([g], np.array(1.5, np.float32)) == (
        False, ["type(L['a']): expected float32, got ndarray"])
    with pytest.raises(GuardError):
        ScalarGuard.of(A, 1.5)


def test_scalar_guard_checks_units_of_parametric_dtypes():
    g = ScalarGuard.of(A, np.datetime64(1, "s"))
    assert run([g], np.datetime64(5, "s")) == (True, [])
    assert run([g], np.datetime64(5, "ms")) == (
        False, ["L['a'].dtype: expected datetime64[s], got datetime64[ms]"])


# -- TypeGuard, IdGuard ----------------------------------------------------------------------

class Base:
    pass


class Sub(Base):
    pass


def test_type_guard_is_exact():
    g = TypeGuard(A, Base)
    assert run([g], Base()) == (True, [])
    assert run([g], Sub()) == (False, ["type(L['a']): expected Base, got Sub"])


def test_type_guard_names_modules_when_class_names_clash():
    first = type("Thing", (), {"__module__": "one"})
    second = type("Thing", (), {"__module__": "two"})
    assert run([TypeGuard(A, first)], second()) == (
        False, ["type(L['a']): expected one.Thing, got two.Thing"])


def test_id_guard_on_modules_functions_and_unweakrefable_objects():
    g = IdGuard(A, np)
    assert run([g], np) == (True, [])
    assert run([g], types) == (False, ["L['a']: expected <module 'numpy'>, got <module 'types'>"])
    ufunc = IdGuard(A, np.add)  # ufuncs take no weak references: held strongly
    assert run([ufunc], np.add) == (True, [])
    assert not run([ufunc], np.subtract)[0]
    assert run([IdGuard(A, None)], None) == (True, [])
    assert not run([IdGuard(A, None)], 0)[0]


def test_id_guard_fails_once_its_object_dies():
    def make():
        def helper():
            return 1

        return helper

    fn = make()
    g = IdGuard(A, fn)
    assert run([g], fn) == (True, [])
    del fn
    gc.collect()
    assert g.dead and g.obj is None
    verdict, reasons = run([g], None)
    assert not verdict
    assert reasons == [
        "L['a']: expected <function tests.guards.test_kinds.test_id_guard_fails_once_its_object_"
        "dies.<locals>.make.<locals>.helper> (garbage-collected), got None"]


# -- EqualsGuard ------------------------------------------------------------------------------

def test_equals_guard_type_is_part_of_the_value():
    g = EqualsGuard(A, 1)
    assert run([g], 1) == (True, [])
    assert run([g], 1.0) == (False, ["L['a']: expected 1 (int), got 1.0 (float)"])
    assert run([g], True) == (False, ["L['a']: expected 1 (int), got True (bool)"])
    assert run([EqualsGuard(A, True)], 1) == (False, ["L['a']: expected True (bool), got 1 (int)"])
    assert run([EqualsGuard(A, 2.0)], 3.0) == (False, ["L['a']: expected 2.0, got 3.0"])
    assert not run([g], np.int64(1))[0]


@pytest.mark.parametrize("value, same, other", [
    (float("nan"), float("nan"), 0.0),
    (-0.0, -0.0, 0.0),
    (0.0, 0.0, -0.0),
    (float("inf"), float("inf"), float("-inf")),
    ((1, 2.0, "x"), (1, 2.0, "x"), (1, 2, "x")),
    ((1, (True, None)), (1, (True, None)), (1, (1, None))),
    (1 + 2j, 1 + 2j, 1 + 2.5j),
    (np.float32(2), np.float32(2), np.float64(2)),
    (np.float32("nan"), np.float32("nan"), np.float32(0)),
    (slice(1, None, 2), slice(1, None, 2), slice(1.0, None, 2)),
    (frozenset({1, 2}), frozenset({1, 2}), frozenset({1, 2.0})),
    ("abc", "abc", "abd"),
    (b"ab", b"ab", "ab"),
    (None, None, 0),
    (Ellipsis, Ellipsis, None),
    (np.dtype("int64"), np.dtype("int64"), np.dtype("longlong")),
    (range(3), range(0, 3, 1), range(4)),
])
def test_equals_guard_constants(value, same, other):
    g = EqualsGuard(A, value)
    assert run([g], same) == (True, [])
    verdict, reasons = run([g], other)
    assert not verdict and reasons[0].startswith("L['a']: expected ")


def test_equals_guard_rejects_mutable_values():
    with pytest.raises(GuardError, match="immutable"):
        EqualsGuard(A, [1, 2])
    with pytest.raises(GuardError):
        EqualsGuard(A, (1, [2]))


def test_equals_guards_differ_by_type():
    assert EqualsGuard(A, 1) != EqualsGuard(A, True)
    assert EqualsGuard(A, 0.0) != EqualsGuard(A, -0.0)
    assert EqualsGuard(A, float("nan")) == EqualsGuard(A, float("nan"))
    assert len({EqualsGuard(A, 1), EqualsGuard(A, 1.0), EqualsGuard(A, True)}) == 3


# -- LenGuard, DictKeysGuard --------------------------------------------------------------------

def test_len_guard():
    g = LenGuard(A, 3)
    assert run([g], [1, 2, 3]) == (True, [])
    assert run([g], [1, 2]) == (False, ["L['a']: expected len 3, got 2"])
    assert run([g], 5) == (False, ["L['a']: expected len 3, got int without len"])


def test_dict_keys_guard_is_ordered_and_typed():
    g = DictKeysGuard(A, ("w0", "b0"))
    assert run([g], {"w0": 1, "b0": 2}) == (True, [])
    assert run([g], {"b0": 2, "w0": 1}) == (
        False, ["L['a']: expected keys ('w0', 'b0'), got ('b0', 'w0')"])
    assert run([g], {"w0": 1}) == (False, ["L['a']: expected keys ('w0', 'b0'), got ('w0',)"])
    gi = DictKeysGuard(A, (1, 2))
    assert run([gi], {True: 0, 2: 0}) == (
        False, ["L['a']: expected key types (int, int), got (bool, int)"])
    assert run([gi], 7) == (False, ["L['a']: expected keys (1, 2), got int (not iterable)"])


# -- NoAliasGuard --------------------------------------------------------------------------------

def alias_guards(*arrays):
    sources = [A, B, C][: len(arrays)]
    return [ArrayGuard.of(s, a) for s, a in zip(sources, arrays)] + [NoAliasGuard(sources)]


def test_no_alias_guard():
    x, y = np.ones((4, 4)), np.ones((4, 4))
    guards = alias_guards(x, y)
    assert run(guards, x, y) == (True, [])
    assert run(guards, x, x) == (
        False, ["L['a'] and L['b']: expected no shared memory, got the same array"])
    reversed_guards = alias_guards(x, y[::-1])
    assert run(reversed_guards, x, y[::-1]) == (True, [])
    assert run(reversed_guards, x, x[::-1]) == (
        False, ["L['a'] and L['b']: expected no shared memory, got overlapping memory"])


def test_no_alias_guard_on_views():
    buf = np.ones((8, 4))
    top, bottom = buf[:4], buf[4:]
    guards = alias_guards(top, bottom)
    assert run(guards, top, bottom) == (True, [])  # views, disjoint extents: the slow path
    assert run(guards, buf[:4], buf[3:7]) == (
        False, ["L['a'] and L['b']: expected no shared memory, got overlapping memory"])


def test_no_alias_guard_three_arrays_reports_each_pair():
    x, y, z = np.ones(4), np.ones(4), np.ones(4)
    guards = alias_guards(x, y, z)
    assert run(guards, x, y, z) == (True, [])
    assert run(guards, x, y, x) == (
        False, ["L['a'] and L['c']: expected no shared memory, got the same array"])


def test_no_alias_guard_needs_array_guards():
    from dynajit.guards import GuardSet
    from tests.guards.helpers import two

    gs = GuardSet.for_function(two, [ArrayGuard.of(A, np.ones(2)), NoAliasGuard([A, B])])
    with pytest.raises(GuardError, match=r"no ArrayGuard on L\['b'\]"):
        gs.compile()
    with pytest.raises(GuardError):
        NoAliasGuard([A, A])
