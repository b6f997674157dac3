"""Creation ops beyond the property test: canonical binds, flags the later stages read,
arange's length rule over a grid of float ranges, and NumPy's argument parsing quirks."""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest

from dynajit.errors import Unsupported
from dynajit.graph import Graph, TensorMeta
from dynajit.ops import bind
from dynajit.ops.creation import (
    ARANGE,
    EMPTY,
    EMPTY_LIKE,
    EYE,
    FULL,
    FULL_LIKE,
    LINSPACE,
    ONES,
    ONES_LIKE,
    ZEROS,
    ZEROS_LIKE,
)
from tests.ops.harness import Call, check_call

CREATION_OPS = [ZEROS, ONES, EMPTY, FULL, ZEROS_LIKE, ONES_LIKE, EMPTY_LIKE, FULL_LIKE, ARANGE,
                LINSPACE, EYE]


def _placeholder(shape=(2, 3), dtype=np.float32):
    return Graph().placeholder("x", TensorMeta(shape, dtype))


def test_flags():
    for op in CREATION_OPS:
        assert op.recomputable and op.pure and op.family == "creation", op
    # Undefined values: CSE must never merge two empty arrays.
    assert {op for op in CREATION_OPS if not op.deterministic} == {EMPTY, EMPTY_LIKE}
    # Only array fill values and array start/stop carry a gradient.
    assert {op for op in CREATION_OPS if op.differentiable} == {FULL, FULL_LIKE, LINSPACE}


def test_canonical_binds():
    f64 = np.dtype(np.float64)
    assert bind(np.zeros, (3,)).args == ((3,),)
    assert bind(np.ones, ([2, np.int8(3)],), {"dtype": "f4"}).kwargs == {"dtype": np.float32}
    assert bind(np.empty, ((),)).kwargs == {"dtype": f64}
    full = bind(np.full, (2, 7))
    assert (full.op, full.args, full.kwargs) == (FULL, ((2,), 7), {"dtype": np.int64})
    assert bind(np.arange, (), {"stop": 5}).args == (0, 5, 1)
    assert bind(np.arange, (5, None, 2)).args == (0, 5, 2)
    assert bind(np.arange, (0.5, 3)).kwargs == {"dtype": f64}
    # Past the last column, NumPy never converts k: any number means "no diagonal".
    assert bind(np.eye, (2,), {"k": 5.5}).args == (2, 2, 2)
    identity = bind(np.identity, (3,), {"dtype": int})
    assert (identity.op, identity.args) == (EYE, (3, 3, 0))
    x = _placeholder()
    assert bind(np.zeros_like, (x,), {"dtype": np.float32}).kwargs == {}
    assert bind(np.ones_like, (x,), {"shape": 4}).kwargs == {"shape": (4,)}


def test_number_prototype_binds_to_the_plain_constructor():
    bound = bind(np.zeros_like, (3.0,))
    assert (bound.op, bound.args, bound.kwargs) == (ZEROS, ((),), {"dtype": np.float64})
    bound = bind(np.full_like, (1, 2.5), {"shape": (2,)})
    assert (bound.op, bound.args, bound.kwargs) == (FULL, ((2,), 2.5), {"dtype": np.int64})


@pytest.mark.parametrize("call", [
    Call(np.zeros, ((2, np.int64(3)),)),
    Call(np.arange, (np.int64(4),)),
    Call(np.linspace, (0, 1, np.int64(4))),
    Call(np.eye, (np.int64(2),)),
])
def test_size_from_an_array_value_is_refused(call):
    check_call(Call(call.fn, call.args, unsupported="data-dependent"))


def test_sizes_from_array_values_name_the_function():
    with pytest.raises(Unsupported, match=r"np\.ones: a size from an array value"):
        bind(np.ones, ((_placeholder((), np.int64), 2),))


@pytest.mark.parametrize("args, kwargs", [((), {}), ((), {"start": 5})])
def test_arange_requires_stop(args, kwargs):
    with pytest.raises(TypeError):
        np.arange(*args, **kwargs)
    with pytest.raises(TypeError):
        bind(np.arange, args, kwargs)


def test_arange_length_matches_numpy_on_a_grid():
    values = [-7.5, -3, -1e-300, -0.0, 0, 1e-300, 0.1, 1, 2.5, 3, 10, 1e300, float("inf")]
    steps = [-2.5, -1, -0.3, -1e-300, 1e-300, 0.3, 1, 2, 7.25, 1e300, float("inf")]
    for start, stop, step in itertools.product(values, values, steps):
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            try:
                want = np.arange(start, stop, step).shape
            except ValueError:
                want = ValueError
        try:
            got = ARANGE.meta_rule(start, stop, step, dtype=np.dtype(np.float64)).shape
        except ValueError:
            got = ValueError
        assert got == want, (start, stop, step)


def test_full_fill_array_broadcasts_like_copyto():
    # copyto drops leading size-1 dimensions of the source beyond the destination's rank.
    fill = TensorMeta((1, 1, 3), np.float64)
    assert FULL.meta_rule((3,), fill, dtype=np.dtype(np.float64)) == TensorMeta((3,), np.float64)
    with pytest.raises(ValueError):
        FULL.meta_rule((3,), TensorMeta((2, 3), np.float64), dtype=np.dtype(np.float64))


def test_allocation_checks_need_no_allocation():
    with pytest.raises(ValueError, match="too big"):
        ZEROS.meta_rule((2**62, 0, 4), dtype=np.dtype(np.float64))
    assert EMPTY.meta_rule((0, 2**40), dtype=np.dtype(np.int8)).shape == (0, 2**40)


def test_full_of_an_unallocatable_size_raises_memory_error_before_the_fill_check():
    """np.full allocates before it converts the fill value (a registry draw found the
    rule raising OverflowError where NumPy raises MemoryError)."""
    check_call(Call(np.full, (2**61, 128), {"dtype": "int8"}))
    check_call(Call(np.full, (3, 128), {"dtype": "int8"}))  # OverflowError, as NumPy
