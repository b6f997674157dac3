"""Sample calls for the creation ops: every constructor with random shapes (ints, tuples,
lists, zero sizes), dtypes (np.dtype, strings, Python types), fill values of every Python
scalar kind and arrays, arange/linspace ranges (int, float, complex, negative, empty), plus
the invalid calls NumPy rejects and the ones dynajit refuses."""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import strategies as st

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
from tests.ops.harness import Call
from tests.ops.strategies import (
    arrays,
    broadcastable_arrays,
    dtypes,
    numpy_scalars,
    python_scalars,
    shapes,
)

DATA_DEPENDENT = "data-dependent"
UNSUPPORTED_DTYPE = "numeric and bool dtypes only"
DTYPE_SPELLINGS = ["float32", "i4", "u2", "f2", "complex64", "bool", "int8", float, int, bool,
                   complex]


def _rare(draw: Any, cases: int, odds: int = 3) -> int | None:
    """Mostly None; sometimes the index of one of ``cases`` unusual cases. The unusual
    indices avoid hypothesis' favourite values (the ends of the range)."""
    k = draw(st.integers(0, odds * cases + 1))
    return k - 1 if 1 <= k <= cases else None


def _dtype_arg() -> st.SearchStrategy[Any]:
    """A ``dtype=`` value as users write it (None is NumPy's default)."""
    return st.one_of(st.none(), dtypes(), st.sampled_from(DTYPE_SPELLINGS))


INVALID_SHAPES = [-1, (2, -3), [0, -1], 2.0, (2, 1.5), None, True, (3, False), "3",
                  (2**40, 2**40), 2**61, (2**62, 0, 4), (1,) * 65]


@st.composite
def _shape_arg(draw: Any) -> tuple[Any, tuple[int, ...] | None]:
    """A shape argument (int, tuple or list) and the shape it means (None when NumPy
    rejects it)."""
    if _rare(draw, 1, odds=8) is not None:
        return draw(st.sampled_from(INVALID_SHAPES)), None
    shape = draw(shapes(max_dims=4))
    form = draw(st.integers(0, 2))
    if form == 1 and len(shape) == 1:
        return shape[0], shape
    if form == 2:
        return list(shape), shape
    return shape, shape


@st.composite
def _into_shape(draw: Any, shape: tuple[int, ...] | None) -> tuple[int, ...]:
    """A shape that broadcasts into ``shape`` (copyto's rule: a suffix, with 1s, and extra
    leading 1s), or sometimes any shape."""
    if shape is None or _rare(draw, 1, odds=8) is not None:
        return draw(shapes(max_dims=3, max_side=3))
    keep = draw(st.integers(0, len(shape)))
    suffix = tuple(s if draw(st.booleans()) else 1 for s in shape[len(shape) - keep:])
    return (1,) * draw(st.integers(0, 1)) + suffix


def _fill_value(shape: tuple[int, ...] | None) -> st.SearchStrategy[Any]:
    """Python scalars of every kind (incl. ints out of range for small dtypes), NumPy
    scalars and arrays (both graph values)."""
    return st.one_of(python_scalars(), st.sampled_from([2**63, -1, 300, 1e300]),
                     numpy_scalars(), arrays(shape=_into_shape(shape)))


@st.composite
def _unusual_keyword(draw: Any, kwargs: dict, default_order: str) -> str | None:
    """Sometimes one unusual keyword: a spelling NumPy accepts, an invalid value (NumPy's
    error), or one dynajit refuses (returns the expected reason text)."""
    case = _rare(draw, 7)
    if case == 0:
        kwargs["order"] = draw(st.sampled_from([default_order, default_order.lower(), None]))
    elif case == 1:
        kwargs["order"] = draw(st.sampled_from(["X", 1] + (["K", "A"] if default_order == "C"
                                                           else [])))
    elif case == 2:
        kwargs["order"] = draw(st.sampled_from(["F"] if default_order == "C" else ["F", "A"]))
        return "order="
    elif case == 3:
        kwargs["device"] = draw(st.sampled_from(["cpu", "gpu", None]))
    elif case == 4:
        kwargs["dtype"] = draw(st.sampled_from(["U3", "datetime64[s]", object]))
        return UNSUPPORTED_DTYPE
    elif case == 5:
        kwargs["dtype"] = "not-a-dtype"
    elif case == 6 and default_order == "C":
        kwargs["like"] = draw(arrays(shape=shapes(max_dims=2)))
        return "like="
    return None


@st.composite
def _new_call(draw: Any, fn: Any) -> Call:
    """np.zeros / ones / empty / full."""
    shape_arg, shape = draw(_shape_arg())
    args: tuple = (shape_arg,)
    if fn is np.full:
        args += (draw(_fill_value(shape)),)
    kwargs: dict = {}
    dtype = draw(_dtype_arg())
    if dtype is not None or draw(st.booleans()):
        if draw(st.booleans()):
            args += (dtype,)
        else:
            kwargs["dtype"] = dtype
    unsupported = draw(_unusual_keyword(kwargs, "C"))
    case = _rare(draw, 2)
    if case == 0 and unsupported is None:
        # A size read from an array value (a NumPy scalar is a graph value).
        size = np.int64(draw(st.integers(0, 4)))
        args = ((size, 2) if draw(st.booleans()) else size,) + args[1:]
        unsupported = DATA_DEPENDENT
    elif case == 1 and fn is np.full and unsupported is None:
        fill = draw(st.sampled_from([[1, 2], (1.5,), "a", None, 2**64]))
        reason = UNSUPPORTED_DTYPE if isinstance(fill, int) else "fill_value"
        return Call(fn, (shape_arg, fill), unsupported=reason)
    return Call(fn, args, kwargs, unsupported=unsupported)


@st.composite
def _like_call(draw: Any, fn: Any) -> Call:
    """np.zeros_like / ones_like / empty_like / full_like, with array, NumPy scalar and
    Python scalar prototypes."""
    proto = draw(st.one_of(arrays(), numpy_scalars(), python_scalars()))
    kwargs: dict = {}
    result_shape: tuple[int, ...] | None = np.shape(proto)
    if draw(st.integers(0, 3)) == 1:
        shape_arg, result_shape = draw(_shape_arg())
        kwargs["shape"] = shape_arg
    args: tuple = (proto,)
    if fn is np.full_like:
        args += (draw(_fill_value(result_shape)),)
    dtype = draw(_dtype_arg())
    if dtype is not None or draw(st.booleans()):
        kwargs["dtype"] = dtype
    if draw(st.booleans()):
        kwargs["subok"] = draw(st.booleans())
    unsupported = draw(_unusual_keyword(kwargs, "K"))
    if unsupported is None and "shape" in kwargs and _rare(draw, 1) is not None:
        kwargs["shape"] = (np.int64(2), 3)
        unsupported = DATA_DEPENDENT
    return Call(fn, args, kwargs, unsupported=unsupported)


def _signed(magnitude: st.SearchStrategy[float]) -> st.SearchStrategy[float]:
    return st.tuples(magnitude, st.booleans()).map(lambda t: -t[0] if t[1] else t[0])


ARANGE_EDGES = [
    (0, 5, 0), (1.0, 2.0, 0.0), (0, float("nan"), 1), (float("inf"), 5, 1),
    (0, float("inf"), 1), (5, float("-inf"), 1), (0, 1, 1e-320), (0, 1e-300, 1e300),
    (0, -1e-300, 1e300), (0, 2**62, 1), (0, 2.0**63, 1), (True, False, -1),
    (2**63, 2**63 + 3, 1), (-5, 5, 2.5), (0, 3 + 1j, 1), (-300, -297, 1), (250, 260, 3),
]


def _arange_values() -> st.SearchStrategy[tuple[Any, Any, Any]]:
    """(start, stop, step) with small lengths: ints, floats (steps of either sign), mixed,
    complex, and the edge cases (zero step, NaN/inf, huge or underflowing lengths)."""
    ints = st.tuples(st.integers(-20, 20), st.integers(-20, 20),
                     st.integers(-5, 5).filter(lambda s: s != 0))
    floats = st.tuples(st.floats(-20, 20), st.floats(-20, 20), _signed(st.floats(0.05, 5)))
    small = st.one_of(st.integers(-9, 9), st.floats(-9, 9), st.booleans())
    mixed = st.tuples(small, small, st.sampled_from([1, 2, -1, -3, 0.5, -0.25, True]))
    complexes = st.tuples(st.complex_numbers(max_magnitude=8),
                          st.complex_numbers(max_magnitude=8),
                          st.sampled_from([1, 1j, 1 + 1j, -0.5 + 2j, 0.75]))
    return st.one_of(ints, floats, mixed, complexes, st.sampled_from(ARANGE_EDGES))


def _huge(start: Any, stop: Any, step: Any) -> bool:
    try:
        return abs((stop - start) / step) > 2**32
    except (TypeError, ZeroDivisionError, OverflowError):
        return False


@st.composite
def _arange_call(draw: Any) -> Call:
    start, stop, step = draw(_arange_values())
    dtype = draw(st.one_of(st.none(), _dtype_arg()))
    if dtype is not None and np.dtype(dtype) == np.dtype(bool) and _huge(start, stop, step):
        # NumPy 2.5 tries to allocate before its bool length check (MemoryError), 2.4 checks
        # first (TypeError): which error comes first is not a NumPy contract.
        dtype = None
    kwargs: dict = {} if dtype is None else {"dtype": dtype}
    form = draw(st.integers(0, 6))
    if form == 0:
        args: tuple = (start, stop, step)
    elif form == 1:
        args = (start, stop)
    elif form == 2:
        args = (stop,)
    elif form == 3:
        args, kwargs = (), {"start": start, "stop": stop, **kwargs}
    elif form == 4:
        args, kwargs = (stop,), {"step": step, **kwargs}
    elif form == 5:
        args, kwargs = (), {"stop": stop, "step": step, **kwargs}
    else:
        args, kwargs = (start, stop, step, dtype), {}
    unsupported = None
    case = _rare(draw, 4)
    if case == 0:
        kwargs["device"] = draw(st.sampled_from(["cpu", "gpu"]))
    elif case == 1:
        kwargs["like"] = draw(arrays(shape=(2,)))
        unsupported = "like="
    elif case == 2:
        args, kwargs = (start, np.int64(draw(st.integers(-3, 9)))), {}
        unsupported = DATA_DEPENDENT
    elif case == 3:
        args, kwargs = draw(st.sampled_from([((), {}), ((), {"start": 3}), (((1, 2),), {}),
                                             ((None,), {}), (("5",), {}), ((1, [3]), {})]))
    return Call(np.arange, args, kwargs, unsupported=unsupported)


@st.composite
def _linspace_call(draw: Any) -> Call:
    """Scalar and array start/stop (broadcast together), every keyword."""
    form = draw(st.integers(0, 3))
    if form == 0:
        start, stop = draw(python_scalars()), draw(python_scalars())
    elif form == 1:
        start = draw(st.one_of(python_scalars(), numpy_scalars()))
        stop = draw(arrays(shape=shapes(max_dims=2, max_side=3)))
    else:
        start, stop = draw(broadcastable_arrays(2))
        if form == 3 and start.ndim == 0:
            start = start[()]
    ndim = 1 + len(np.broadcast_shapes(np.shape(start), np.shape(stop)))
    args: tuple = (start, stop)
    if draw(st.integers(0, 5)):
        args += (draw(st.integers(0, 8)),)
    kwargs: dict = {}
    if draw(st.booleans()):
        kwargs["endpoint"] = draw(st.booleans())
    if draw(st.booleans()):
        kwargs["dtype"] = draw(_dtype_arg())
    if draw(st.integers(0, 2)) == 1:
        kwargs["axis"] = draw(st.integers(-ndim - 1, ndim))
    unsupported = None
    case = _rare(draw, 5)
    if case == 0:
        args = (start, stop, draw(st.sampled_from([-1, 5.0, "3"])))
    elif case == 1:
        args = (start, stop, np.int64(3))
        unsupported = DATA_DEPENDENT
    elif case == 2:
        kwargs["retstep"] = True
        unsupported = "retstep"
    elif case == 3:
        kwargs["device"] = draw(st.sampled_from(["cpu", "gpu"]))
    elif case == 4:
        kwargs["dtype"] = "U5"
        unsupported = UNSUPPORTED_DTYPE
    return Call(np.linspace, args, kwargs, unsupported=unsupported)


@st.composite
def _eye_call(draw: Any) -> Call:
    """np.eye (N, M, k of either sign, past the edges) and np.identity."""
    fn = draw(st.sampled_from(EYE.captures))
    n = draw(st.integers(0, 6))
    dtype = draw(_dtype_arg())
    kwargs: dict = {} if dtype is None else {"dtype": dtype}
    unsupported = None
    case = _rare(draw, 3)
    if case == 0:
        n = draw(st.sampled_from([-1, 2.0, True, None]))
    elif case == 1:
        n = np.int64(n)
        unsupported = DATA_DEPENDENT
    elif case == 2:
        kwargs["like"] = draw(arrays(shape=(2,)))
        unsupported = "like="
    if fn is np.identity:
        return Call(fn, (n,), kwargs, unsupported=unsupported)
    args: tuple = (n,)
    if draw(st.booleans()):
        args += (draw(st.one_of(st.none(), st.integers(0, 6), st.just(-2))),)
    if draw(st.booleans()):
        kwargs["k"] = draw(st.one_of(st.integers(-8, 8), st.sampled_from([1.5, 10.5, True])))
    if unsupported is None:
        unsupported = draw(_unusual_keyword(kwargs, "C"))
    return Call(fn, args, kwargs, unsupported=unsupported)


SAMPLERS: dict = {
    ZEROS.name: _new_call(np.zeros),
    ONES.name: _new_call(np.ones),
    EMPTY.name: _new_call(np.empty),
    FULL.name: _new_call(np.full),
    ZEROS_LIKE.name: _like_call(np.zeros_like),
    ONES_LIKE.name: _like_call(np.ones_like),
    EMPTY_LIKE.name: _like_call(np.empty_like),
    FULL_LIKE.name: _like_call(np.full_like),
    ARANGE.name: _arange_call(),
    LINSPACE.name: _linspace_call(),
    EYE.name: _eye_call(),
}
INDIRECT: dict = {}
