"""Property tests: for random arrays and random mutations, the compiled check agrees with
``explain`` (False iff some reason) and with an independent oracle built from the guard
definitions; constants compare by exact value and type."""

from __future__ import annotations

import os

import numpy as np
from hypothesis import event, given, settings
from hypothesis import strategies as st

from dynajit.guards import (
    ArrayGuard,
    EqualsGuard,
    GuardSet,
    LocalSource,
    NoAliasGuard,
    arrays_disjoint,
    strides_class,
)
from dynajit.guards.runtime import dtype_matches, exact_equal
from tests.guards.helpers import one, three

# Examples per property; raise it locally for a deeper search (DYNAJIT_TEST_EXAMPLES=3000).
MAX_EXAMPLES = int(os.environ.get("DYNAJIT_TEST_EXAMPLES", "150"))

DTYPES = [np.float32, np.float64, np.int64, np.int32, np.uint8, np.bool_, np.float16,
          np.complex64, np.longlong, ">f4"]
SOURCES = [LocalSource("a"), LocalSource("b"), LocalSource("c")]


class Sub(np.ndarray):
    pass


@st.composite
def arrays(draw):
    """Arrays of many layouts: C, strided, transposed, reversed, broadcast, read-only."""
    dtype = np.dtype(draw(st.sampled_from(DTYPES)))
    shape = tuple(draw(st.lists(st.integers(0, 4), min_size=0, max_size=3)))
    base = np.zeros(tuple(2 * n for n in shape), dtype)
    layout = draw(st.sampled_from(["C", "step", "transpose", "reverse", "broadcast", "F",
                                   "readonly"]))
    part = base[(*(slice(0, n) for n in shape), ...)]  # ``...`` keeps 0-d results arrays
    if layout == "C":
        return part.copy()
    if layout == "step":
        return base[(*(slice(0, 2 * n, 2) for n in shape), ...)]
    if layout == "transpose":
        return part.T
    if layout == "reverse":
        return part[::-1] if shape else part
    if layout == "broadcast":
        return np.broadcast_to(np.zeros(shape[-1:], dtype), shape) if shape else part
    if layout == "F":
        return np.asfortranarray(part)
    ro = part.copy()
    ro.flags.writeable = False
    return ro


MUTATIONS = ["same", "fresh copy", "other dtype", "other shape", "other layout", "subclass",
             "list", "alias", "overlap", "scalar"]


def mutate(arr: np.ndarray, kind: str, others: list, data) -> object:
    if kind == "same":
        return arr
    if kind == "fresh copy":
        return np.empty_like(arr)  # keeps C and F layouts; makes views C-contiguous
    if kind == "other dtype":
        return np.zeros_like(arr, dtype=data.draw(st.sampled_from(DTYPES)))
    if kind == "other shape":
        return np.zeros(arr.shape + (2,), arr.dtype)
    if kind == "other layout":
        wide = np.zeros(tuple(2 * n for n in arr.shape), arr.dtype)
        return wide[(*(slice(0, 2 * n, 2) for n in arr.shape), ...)]
    if kind == "subclass":
        return arr.view(Sub)
    if kind == "list":
        return arr.tolist()
    if kind == "alias":
        return data.draw(st.sampled_from(others)) if others else arr
    if kind == "overlap":
        return arr[...]
    return arr.dtype.type(0)


def oracle(guards: list[ArrayGuard], values: list, no_alias: bool) -> bool:
    for g, v in zip(guards, values):
        if type(v) is not np.ndarray or not dtype_matches(v.dtype, g.dtype):
            return False
        if v.shape != g.shape or strides_class(v) != g.strides_class:
            return False
    return not no_alias or arrays_disjoint(*values)


@settings(max_examples=MAX_EXAMPLES, deadline=None)
@given(st.lists(arrays(), min_size=3, max_size=3), st.data())
def test_check_agrees_with_explain_and_oracle(originals, data):
    if data.draw(st.booleans()):
        originals[2] = originals[0]  # aliased inputs: the entry assumes no NoAliasGuard
    guards = [ArrayGuard.of(s, a) for s, a in zip(SOURCES, originals)]
    no_alias = arrays_disjoint(*originals)
    all_guards = guards + ([NoAliasGuard(SOURCES)] if no_alias else [])
    gs = GuardSet.for_function(three, all_guards)
    check = gs.compile()
    assert check(*originals) and gs.explain(*originals) == []
    values = []
    for arr in originals:
        kind = data.draw(st.sampled_from(["same"] * 8 + MUTATIONS))
        values.append(mutate(arr, kind, [*originals, *values], data))
    verdict = check(*values)
    event(f"check {verdict}, no-alias guard {no_alias}")
    reasons = gs.explain(*values)
    assert verdict == (reasons == []), (reasons, gs.source)
    assert verdict == oracle(guards, values, no_alias), (values, reasons, gs.source)
    assert all(r.startswith(("L['", "type(L['")) for r in reasons)


@settings(max_examples=MAX_EXAMPLES, deadline=None)
@given(st.lists(arrays(), min_size=1, max_size=1), st.lists(arrays(), min_size=1, max_size=1))
def test_writeable_guard_agrees_with_flags(first, second):
    (a,), (b,) = first, second
    if not a.flags.writeable:
        return
    gs = GuardSet.for_function(one, [ArrayGuard.of(LocalSource("a"), a, writeable=True)])
    verdict = gs.compile()(b)
    assert verdict == (gs.explain(b) == [])
    assert verdict == (oracle(list(gs), [b], False) and b.flags.writeable)


CONSTANTS = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 3) | st.floats(allow_nan=True, width=64)
    | st.sampled_from([0.0, -0.0, 1.0, float("nan")]) | st.text(max_size=2)
    | st.binary(max_size=2) | st.complex_numbers(max_magnitude=2)
    | st.sampled_from([np.float32(1), np.float64(1), np.int64(1), np.float32("nan"),
                       Ellipsis, slice(1, 2), slice(1.0, 2), np.dtype("f4")]),
    lambda inner: st.tuples(inner, inner) | st.frozensets(st.integers(0, 2), max_size=2),
    max_leaves=4)


@settings(max_examples=2 * MAX_EXAMPLES, deadline=None)
@given(CONSTANTS, CONSTANTS)
def test_equals_guard_is_exact_equality(expected, got):
    gs = GuardSet.for_function(one, [EqualsGuard(LocalSource("a"), expected)])
    check = gs.compile()
    assert check(expected)
    verdict = check(got)
    assert verdict == (gs.explain(got) == [])
    assert verdict == exact_equal(got, expected)
