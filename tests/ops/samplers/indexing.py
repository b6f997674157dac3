"""Sample calls for the indexing ops: ``x[key]`` with basic keys (ints, slices with any step
and out-of-range bounds, None, Ellipsis, run-time integer scalars) and integer-array keys
(arrays of every integer dtype, literal lists, mixed with basic entries in every placement),
``x[key] = value`` (tested by tests/ops/test_indexing.py), ``np.take`` and
``np.take_along_axis``. Mostly valid; some out of bounds, float, boolean or malformed."""

from __future__ import annotations

import operator
from typing import Any

import numpy as np
from hypothesis import strategies as st

from tests.ops.harness import Call
from tests.ops.strategies import (
    INTEGER,
    arrays,
    dtypes,
    numpy_scalars,
    python_scalars,
    shapes,
)

_UNSUPPORTED_BOOL = "data-dependent shape"


def _rare(draw: Any, one_in: int = 12) -> bool:
    return draw(st.integers(0, one_in - 1)) == 0


def _int_range(dtype: np.dtype, size: int, wide: bool) -> tuple[int, int]:
    """Index values for an axis of ``size`` (a few out of bounds when ``wide``), within the
    dtype's range."""
    lo, hi = (-size - 2, size + 1) if wide else (-size, size - 1)
    info = np.iinfo(dtype)
    return max(lo, info.min, 0 if dtype.kind == "u" else lo), min(hi, info.max)


@st.composite
def _index_array(draw: Any, size: int, shape: tuple, wide: bool = False) -> np.ndarray:
    """An integer index array for an axis of ``size`` (in every dtype and layout)."""
    dtype = draw(dtypes(INTEGER))
    wide = wide or size == 0 or _rare(draw, 20)
    lo, hi = _int_range(dtype, size, wide)
    return draw(arrays(dtype, shape, elements=st.integers(lo, hi)))


@st.composite
def _int_literal(draw: Any, size: int) -> int:
    if size == 0 or _rare(draw, 20):
        return draw(st.integers(-size - 3, size + 2))
    return draw(st.integers(-size, size - 1))


@st.composite
def _slice(draw: Any, size: int) -> slice:
    bound = st.one_of(st.none(), st.integers(-size - 3, size + 3))
    step = st.sampled_from([None, 1, 1, 2, 3, -1, -1, -2, -3])
    return slice(draw(bound), draw(bound), draw(step))


def _index_shape_like(draw: Any, target: tuple) -> tuple:
    """A shape that broadcasts to ``target``: a suffix with some sizes set to 1."""
    ndim = draw(st.integers(0, len(target)))
    suffix = target[len(target) - ndim:]
    return tuple(1 if draw(st.integers(0, 3)) == 0 else s for s in suffix)


@st.composite
def _advanced_entry(draw: Any, size: int, bshape: tuple, strict: bool) -> Any:
    """An integer-array entry: an array (any integer dtype, sometimes 0-d) or a literal
    list, broadcastable to ``bshape``. ``strict``: in bounds (an empty axis gets an empty
    array), for keys with another error whose order against a run-time IndexError only
    the index values decide."""
    shape = _index_shape_like(draw, bshape)
    if size == 0 and (strict or draw(st.integers(0, 3)) != 0):
        shape = bshape  # mostly empty index arrays: an empty axis has no valid index
        if strict and 0 not in shape:
            shape = (0,)
    wide = not strict and (size == 0 or _rare(draw, 20))
    choice = draw(st.integers(0, 5))
    if choice == 0 and shape:
        lo, hi = _int_range(np.dtype(np.int64), max(size, 1), wide)
        return np.asarray(draw(arrays(np.int64, shape, elements=st.integers(lo, hi)))).tolist()
    if strict:
        dtype = draw(dtypes(INTEGER))
        lo, hi = _int_range(dtype, max(size, 1), False)
        return draw(arrays(dtype, shape, elements=st.integers(lo, hi)))
    return draw(_index_array(size, shape, wide))


@st.composite
def _basic_entry(draw: Any, size: int) -> Any:
    choice = draw(st.integers(0, 9))
    if choice <= 3:
        return draw(_int_literal(size))
    if choice == 4 and size > 0:
        dtype = draw(dtypes(INTEGER))
        lo, hi = _int_range(dtype, size, False)
        return dtype.type(draw(st.integers(lo, hi)))  # a run-time integer (a graph input)
    return draw(_slice(size))


@st.composite
def _invalid_entry(draw: Any, size: int) -> tuple[Any, str | None]:
    """An entry NumPy refuses (IndexError/TypeError) or dynajit refuses (booleans)."""
    choice = draw(st.integers(0, 8))
    if choice == 0:
        return 1.0, None
    if choice == 8:
        return slice(None, None, 0), None  # ValueError
    if choice == 1:
        return np.float64(1.0), None  # a float scalar graph input
    if choice == 2:
        return draw(arrays(dtypes([np.dtype("float32"), np.dtype("float64")]), (2,))), None
    if choice == 3:
        return draw(st.booleans()), _UNSUPPORTED_BOOL
    if choice == 4:
        return draw(arrays(np.dtype(bool), (size,))), _UNSUPPORTED_BOOL
    if choice == 5:
        return slice(0.5, None), None
    if choice == 6:
        return "a", None
    return [[0], [0, 1]], None  # ragged: ValueError


@st.composite
def index_keys(draw: Any, shape: tuple, advanced: bool) -> tuple[Any, str | None]:
    """A key for an array of ``shape``, and the Unsupported reason dynajit should give (or
    None). Consumed dims are indexed in order; an Ellipsis (sometimes) stands for the dims
    in between; None entries go anywhere."""
    ndim = len(shape)
    count = draw(st.integers(0, ndim))
    too_many = _rare(draw, 25)
    if too_many:
        count = ndim + 1
    ellipsis = draw(st.integers(0, 2)) == 0
    head = draw(st.integers(0, count)) if ellipsis else count
    dims = list(range(head)) + list(range(ndim - (count - head), ndim))
    if too_many:
        dims = list(range(ndim)) + [None]
    bshape = draw(shapes(0, 2, 0, 3))
    adv_dims = set()
    if advanced and count:
        adv_dims = set(draw(st.lists(st.sampled_from(range(count)), min_size=1, max_size=3)))
    invalid = _rare(draw, 10)
    entries: list[Any] = []
    for i, d in enumerate(dims):
        size = shape[d] if d is not None else 3
        if i in adv_dims:
            entries.append(draw(_advanced_entry(size, bshape, invalid)))
        else:
            entries.append(draw(_basic_entry(size)))
    if ellipsis:
        entries.insert(head, Ellipsis)
        if _rare(draw, 30):
            entries.insert(draw(st.integers(0, len(entries))), Ellipsis)
    for _ in range(draw(st.integers(0, 2))):
        entries.insert(draw(st.integers(0, len(entries))), None)
    unsupported = None
    if invalid:
        bad, unsupported = draw(_invalid_entry(shape[0] if shape else 1))
        # In place of a consumed entry, so the others still index the dims drawn for them.
        consumed = [i for i, e in enumerate(entries) if e is not None and e is not Ellipsis]
        if consumed:
            entries[draw(st.sampled_from(consumed))] = bad
        else:
            entries.insert(draw(st.integers(0, len(entries))), bad)
    if len(entries) == 1 and draw(st.booleans()):
        return entries[0], unsupported
    return tuple(entries), unsupported


_GETITEM_FNS = [operator.getitem, np.ndarray.__getitem__]


@st.composite
def _getitem_call(draw: Any, advanced: bool) -> Call:
    fn = draw(st.sampled_from(_GETITEM_FNS))
    if fn is operator.getitem and _rare(draw, 15):
        # A NumPy scalar: only (), ..., None index it.
        key = draw(st.sampled_from([(), Ellipsis, None, (None, Ellipsis), (None, None), 0,
                                    [0], slice(None)]))
        return Call(fn, (draw(numpy_scalars()), key))
    x = draw(arrays(shape=shapes(0, 4, 0, 5)))
    key, unsupported = draw(index_keys(x.shape, advanced))
    return Call(fn, (x, key), unsupported=unsupported)


# ------------------------------------------------------------------------------ setitem
def _target(x: np.ndarray, key: Any) -> Any:
    """What ``x[key]`` gives in NumPy (None when it raises)."""
    try:
        return x[key]
    except Exception:  # noqa: BLE001 - invalid keys are sampled too
        return None


@st.composite
def _value_for(draw: Any, target: Any) -> Any:
    """A value to assign to ``target``: an array broadcastable to it (sometimes not), a
    NumPy or Python scalar, or a literal list."""
    shape = np.shape(target) if target is not None else draw(shapes(0, 2, 0, 3))
    one_element = target is not None and not isinstance(target, np.ndarray)
    choice = draw(st.integers(0, 9))
    if choice <= 1:
        return draw(python_scalars())
    if choice == 2:
        return draw(numpy_scalars())
    if choice == 3 and not one_element:
        vshape = _index_shape_like(draw, shape)
        return draw(arrays(np.dtype(np.int16), vshape, elements=st.integers(-3, 3))).tolist()
    if one_element:
        vshape = draw(st.sampled_from([(), (), (), (1,), (1, 1), (2,)]))
    else:
        vshape = _index_shape_like(draw, shape)
        if _rare(draw, 6):
            vshape = (1,) + vshape  # leading 1s are dropped
        if _rare(draw, 10):
            vshape = draw(shapes(0, 3, 0, 4))  # mostly not broadcastable
    return draw(arrays(dtypes(), vshape))


@st.composite
def setitem_calls(draw: Any) -> Call:
    """``operator.setitem(x, key, value)`` / ``ndarray.__setitem__``: write ``value`` into
    ``x[key]``. The harness's Call compares return values, so these go through
    tests/ops/test_indexing.py, which compares the written array."""
    fn = draw(st.sampled_from([operator.setitem, np.ndarray.__setitem__]))
    if fn is operator.setitem and _rare(draw, 25):
        return Call(fn, (draw(numpy_scalars()), (), 1))  # TypeError: no item assignment
    x = draw(arrays(shape=shapes(0, 4, 0, 5)))
    key, unsupported = draw(index_keys(x.shape, draw(st.booleans())))
    if _rare(draw, 20):
        return Call(fn, (x, key, x), unsupported=unsupported)  # the array itself as value
    value = draw(_value_for(_target(x, key)))
    return Call(fn, (x, key, value), unsupported=unsupported)


# ------------------------------------------------------------------------------ take
def _take_out_shape(draw: Any, a: np.ndarray, ishape: tuple, axis: Any) -> tuple:
    """The shape of the take result (sometimes another shape: ValueError)."""
    try:
        shape = np.take(np.zeros(a.shape, np.int8), np.zeros(ishape, np.intp), axis=axis).shape
    except Exception:  # noqa: BLE001 - the call itself is invalid
        shape = None
    if shape is None or _rare(draw, 6):
        shape = draw(shapes(0, 3, 0, 3))
    return shape


@st.composite
def _take_call(draw: Any) -> Call:
    a = draw(arrays(shape=shapes(0, 3, 0, 5)))
    ndim = a.ndim
    axis = None
    if draw(st.integers(0, 2)) != 0:
        axis = draw(st.integers(-max(ndim, 1), max(ndim, 1) - 1))
        if _rare(draw, 20):
            axis = draw(st.sampled_from([max(ndim, 1), 1.0, (0,)]))
    if axis is None:
        size = a.size
    elif isinstance(axis, int) and -max(ndim, 1) <= axis < max(ndim, 1):
        size = a.shape[axis] if ndim else 1
    else:
        size = 1
    mode = draw(st.sampled_from(["raise", "raise", "raise", "wrap", "clip", None]))
    if _rare(draw, 30):
        mode = "foo"
    if mode == "wrap" and size == 0:
        mode = "clip"  # NumPy 2 may never return (see test_take_wrap_on_empty_axis)
    wide = mode in ("wrap", "clip")
    ishape = draw(shapes(0, 2, 0, 3))
    if size == 0 and draw(st.integers(0, 3)) != 0:
        ishape = ishape + (0,)
    choice = draw(st.integers(0, 9))
    if choice <= 1:
        indices: Any = draw(_int_literal(size)) if not wide else draw(
            st.integers(-size - 4, size + 4))
        ishape = ()
    elif choice == 2:
        lo, hi = _int_range(np.dtype(np.int64), size, wide or size == 0 or _rare(draw, 20))
        indices = np.asarray(draw(arrays(np.int64, ishape, elements=st.integers(lo, hi))))
        indices = indices.tolist()
    elif choice == 3:
        dtype = draw(dtypes(INTEGER))
        lo, hi = _int_range(dtype, max(size, 1), False)
        indices = dtype.type(draw(st.integers(lo, hi)))
        ishape = ()
    elif choice == 4 and _rare(draw, 2):
        indices = draw(arrays(dtypes([np.dtype(bool), np.dtype("float64")]), ishape))
    else:
        indices = draw(_index_array(size, ishape, wide))
    form = draw(st.sampled_from([np.take, np.ndarray.take]))
    kwargs: dict = {}
    if axis is not None or draw(st.booleans()):
        kwargs["axis"] = axis
    if mode != "raise" or draw(st.booleans()):
        kwargs["mode"] = mode
    if draw(st.integers(0, 4)) == 0:
        kwargs["out"] = draw(arrays(dtypes(), _take_out_shape(draw, a, ishape, axis)))
    return Call(form, (a, indices), kwargs)


# ------------------------------------------------------------------------------ take_along_axis
@st.composite
def _take_along_axis_call(draw: Any) -> Call:
    arr = draw(arrays(shape=shapes(1, 4, 0, 4)))
    ndim = arr.ndim
    if draw(st.integers(0, 4)) == 0:
        length = draw(st.integers(0, 4))
        if arr.size == 0 and draw(st.booleans()):
            length = 0
        indices = draw(_index_array(arr.size, (length,)))
        if _rare(draw, 10):
            indices = indices.reshape(1, -1)  # ValueError: must be 1-d
        return Call(np.take_along_axis, (arr, indices), {"axis": None})
    axis = draw(st.integers(-ndim, ndim - 1))
    size = arr.shape[axis]
    ishape = []
    for d, n in enumerate(arr.shape):
        if d == axis % ndim:
            ishape.append(0 if size == 0 and draw(st.booleans()) else draw(st.integers(0, 4)))
        else:
            ishape.append(draw(st.sampled_from([n, n, 1, draw(st.integers(0, 3))])))
    indices = draw(_index_array(size, tuple(ishape)))
    if _rare(draw, 15):
        indices = draw(arrays(dtypes([np.dtype(bool), np.dtype("float32")]), tuple(ishape)))
    if _rare(draw, 15):
        indices = indices[..., None]  # ValueError: ndims differ
    if draw(st.integers(0, 3)) == 0 and axis == -1:
        return Call(np.take_along_axis, (arr, indices))
    if draw(st.booleans()):
        return Call(np.take_along_axis, (arr, indices, axis))
    return Call(np.take_along_axis, (arr, indices), {"axis": axis})


SAMPLERS: dict = {
    "getitem": _getitem_call(advanced=False),
    "gather": _getitem_call(advanced=True),
    "take": _take_call(),
    "take_along_axis": _take_along_axis_call(),
}
INDIRECT: dict = {
    "setitem": "operator.setitem returns None: tests/ops/test_indexing.py checks the written "
               "array against NumPy's over setitem_calls()",
}

__all__ = ["INDIRECT", "SAMPLERS", "index_keys", "setitem_calls"]
