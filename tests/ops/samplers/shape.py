"""Sample calls for the shape ops: every captured spelling (functions, methods, aliases) of
reshape/ravel/flatten/expand_dims/squeeze, transpose/swapaxes/moveaxis, broadcast_to,
flip/fliplr/flipud, concatenate, stack, split/array_split, tile, repeat and pad, over every
dtype and layout, 0-size and size-1 dims, NumPy scalars where functions take them, and some
invalid calls (bad axes, size mismatches) whose errors are compared with NumPy's."""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import strategies as st

from dynajit.ops.shape import (
    BROADCAST_TO,
    CONCATENATE,
    FLIP,
    PAD,
    REPEAT,
    RESHAPE,
    SPLIT,
    STACK,
    TILE,
    TRANSPOSE,
)
from tests.ops.harness import Call
from tests.ops.strategies import arrays, dtypes, numpy_scalars, shapes


def _rare(draw: Any, n: int = 8) -> bool:
    """True about once in ``n`` draws (invalid calls, unsupported options). Not ``== 0``:
    hypothesis draws the minimal value far more often than 1/n."""
    return draw(st.integers(0, 10 * n - 1)) % n == 1


@st.composite
def _input(draw: Any, function_form: bool = True, min_dims: int = 0) -> Any:
    """An array in a drawn layout; now and then 0-d, or for function forms a NumPy
    scalar."""
    if min_dims == 0 and _rare(draw, 6):
        if function_form and draw(st.booleans()):
            return draw(numpy_scalars())
        return draw(arrays(shape=()))
    return draw(arrays(shape=shapes(min_dims=max(min_dims, 1))))


def _divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


@st.composite
def _same_size_shape(draw: Any, size: int) -> tuple[int, ...]:
    """A shape with ``size`` elements (rank 0 to 4), sometimes with one -1."""
    ndim = draw(st.integers(0 if size == 1 else 1, 4))
    if size == 0:
        dims = list(draw(shapes(min_dims=ndim, max_dims=ndim, max_side=4)))
        dims[draw(st.integers(0, ndim - 1))] = 0
    else:
        dims, rest = [], size
        for _ in range(ndim - 1):
            d = draw(st.sampled_from(_divisors(rest)))
            dims.append(d)
            rest //= d
        if ndim:
            dims.append(rest)
        dims = list(draw(st.permutations(dims)))
    if dims and _rare(draw, 3):
        dims[draw(st.integers(0, len(dims) - 1))] = draw(st.sampled_from([-1, -1, -2]))
    return tuple(dims)


@st.composite
def _target_shape(draw: Any, size: int) -> tuple[int, ...]:
    if _rare(draw, 10):
        return draw(shapes(max_dims=3))  # usually a size mismatch
    return draw(_same_size_shape(size))


# ------------------------------------------------------------------------------ reshape family
@st.composite
def _reshape_call(draw: Any) -> Call:
    x = draw(_input())
    shape = draw(_target_shape(int(np.size(x))))
    spelling = draw(st.integers(0, 3))
    if spelling == 1 and len(shape) == 1:
        shape_arg: Any = shape[0]
    elif spelling == 2:
        shape_arg = list(shape)
    else:
        shape_arg = shape
    kwargs: dict = {}
    unsupported = None
    if _rare(draw, 4):
        kwargs["order"] = draw(st.sampled_from(["C", "c", None]))
    if _rare(draw, 4):
        kwargs["copy"] = draw(st.sampled_from([None, True]))
    if _rare(draw, 12):
        kwargs["order"], unsupported = draw(st.sampled_from(["F", "A", "K"])), "order"
    elif _rare(draw, 12):
        kwargs["copy"], unsupported = False, "copy=False"
    if isinstance(x, np.ndarray) and draw(st.booleans()):
        if isinstance(shape_arg, tuple) and draw(st.booleans()):
            return Call(np.ndarray.reshape, (x, *shape_arg), kwargs, unsupported=unsupported)
        return Call(np.ndarray.reshape, (x, shape_arg), kwargs, unsupported=unsupported)
    if draw(st.booleans()):
        return Call(np.reshape, (x,), {"shape": shape_arg, **kwargs}, unsupported=unsupported)
    return Call(np.reshape, (x, shape_arg), kwargs, unsupported=unsupported)


@st.composite
def _ravel_call(draw: Any) -> Call:
    fn = draw(st.sampled_from([np.ravel, np.ndarray.ravel, np.ndarray.flatten]))
    x = draw(_input(function_form=fn is np.ravel))
    order = draw(st.sampled_from([None, "C", "c", "F", "K", "A"])) if _rare(draw, 3) else "C"
    unsupported = "order" if order not in (None, "C", "c") else None
    if order == "C" and draw(st.booleans()):
        return Call(fn, (x,))
    if draw(st.booleans()):
        return Call(fn, (x, order), unsupported=unsupported)
    return Call(fn, (x,), {"order": order}, unsupported=unsupported)


@st.composite
def _expand_dims_call(draw: Any) -> Call:
    x = draw(_input())
    out_ndim = np.ndim(x) + draw(st.integers(1, 3))
    count = out_ndim - np.ndim(x)
    axes = draw(st.lists(st.integers(-out_ndim, out_ndim - 1), min_size=count, max_size=count))
    if _rare(draw):
        axes[0] = draw(st.sampled_from([out_ndim, -out_ndim - 1]))  # AxisError
    if count == 1 and draw(st.booleans()):
        return Call(np.expand_dims, (x, axes[0]))
    return Call(np.expand_dims, (x,), {"axis": draw(st.sampled_from([tuple, list]))(axes)})


@st.composite
def _squeeze_call(draw: Any) -> Call:
    fn = draw(st.sampled_from([np.squeeze, np.ndarray.squeeze]))
    x = draw(_input(function_form=fn is np.squeeze)) if _rare(draw, 3) else draw(
        arrays(shape=shapes(min_side=1, max_side=2)))
    ndim = np.ndim(x)
    ones = [i for i in range(ndim) if np.shape(x)[i] == 1]
    choice = draw(st.integers(0, 4))
    if choice == 0 or not ndim:
        axis: Any = None
    elif choice == 1 and ones:
        axis = draw(st.sampled_from(ones)) - draw(st.sampled_from([0, ndim]))
    elif choice == 2:
        axis = tuple(draw(st.lists(st.sampled_from(ones), unique=True))) if ones else ()
    else:  # anything, often a size that is not 1 or a repeated axis
        axis = tuple(draw(st.lists(st.integers(-ndim, ndim - 1), max_size=2)))
    if draw(st.booleans()):
        return Call(fn, (x,), {"axis": axis})
    return Call(fn, (x, axis))


# ------------------------------------------------------------------------------ transpose family
@st.composite
def _transpose_call(draw: Any) -> Call:
    form = draw(st.sampled_from(["np", "method", "T", "swapaxes", "moveaxis"]))
    x = draw(_input(function_form=form in ("np", "swapaxes", "moveaxis")))
    ndim = np.ndim(x)
    perm = list(draw(st.permutations(range(ndim))))
    perm = [p - draw(st.sampled_from([0, ndim])) for p in perm]  # some negative axes
    if _rare(draw, 10):
        perm = draw(st.lists(st.integers(-ndim - 1, ndim), max_size=ndim + 1))  # often bad
    if form == "np":
        if draw(st.booleans()):
            return Call(np.transpose, (x,))
        axes = tuple(perm) if draw(st.booleans()) else perm
        return Call(np.transpose, (x,), {"axes": axes}) if draw(st.booleans()) else Call(
            np.transpose, (x, axes))
    if form == "method":
        spelling = draw(st.integers(0, 3))
        if spelling == 0:
            return Call(np.ndarray.transpose, (x,))
        if spelling == 1:
            return Call(np.ndarray.transpose, (x, None))
        if spelling == 2:
            return Call(np.ndarray.transpose, (x, *perm))
        return Call(np.ndarray.transpose, (x, tuple(perm)))
    if form == "T":
        return Call(np.ndarray.transpose, (x,))  # .T itself is checked in test_shape.py
    if form == "swapaxes":
        bound = max(ndim, 1)
        a1, a2 = (draw(st.integers(-bound, bound - 1)) for _ in range(2))
        fn = np.swapaxes if not isinstance(x, np.ndarray) else draw(
            st.sampled_from([np.swapaxes, np.ndarray.swapaxes]))
        return Call(fn, (x, a1, a2))
    count = draw(st.integers(0, ndim)) if ndim else 0
    source = draw(st.permutations(range(ndim)))[:count]
    destination = draw(st.permutations(range(ndim)))[:count]
    if _rare(draw):
        destination = destination[:-1] if count else [0]  # length mismatch or bad axis
    if count == 1 and len(destination) == 1 and draw(st.booleans()):
        return Call(np.moveaxis, (x, source[0], destination[0] - ndim))
    return Call(np.moveaxis, (x, tuple(source), list(destination)))


# ------------------------------------------------------------------------------ broadcast_to
@st.composite
def _broadcast_to_call(draw: Any) -> Call:
    x = draw(_input())
    shape = [draw(st.integers(0, 3)) if s == 1 else s for s in np.shape(x)]
    shape = list(draw(shapes(max_dims=2, max_side=3))) + shape
    if _rare(draw):
        shape = list(draw(shapes(max_dims=3)))  # often incompatible
    if _rare(draw, 20):
        shape = shape + [-1]
    if len(shape) == 1 and draw(st.booleans()):
        return Call(np.broadcast_to, (x, shape[0]))
    shape_arg = tuple(shape) if draw(st.booleans()) else shape
    if draw(st.booleans()):
        return Call(np.broadcast_to, (x,), {"shape": shape_arg, "subok": draw(st.booleans())})
    return Call(np.broadcast_to, (x, shape_arg))


# ------------------------------------------------------------------------------ flip
@st.composite
def _flip_call(draw: Any) -> Call:
    fn = draw(st.sampled_from([np.flip, np.flip, np.fliplr, np.flipud]))
    x = draw(_input())
    if fn is not np.flip:
        return Call(fn, (x,))  # errors below 2-d / 1-d are compared too
    ndim = np.ndim(x)
    choice = draw(st.integers(0, 3))
    if choice == 0:
        return Call(np.flip, (x,)) if draw(st.booleans()) else Call(np.flip, (x, None))
    if choice == 1 and ndim:
        return Call(np.flip, (x, draw(st.integers(-ndim, ndim - 1))))
    axes = draw(st.lists(st.integers(-ndim - 1, ndim), max_size=ndim + 1))
    if not _rare(draw, 3):
        axes = list(dict.fromkeys(a % ndim for a in axes)) if ndim else []
    axes_arg = tuple(axes) if draw(st.booleans()) else axes
    return Call(np.flip, (x,), {"axis": axes_arg})


# ------------------------------------------------------------------------------ concatenate, stack
def _join_kwargs(draw: Any) -> tuple[dict, str | None]:
    kwargs: dict = {}
    if _rare(draw, 4):
        kwargs["dtype"] = draw(dtypes())
    if _rare(draw, 15):
        return {**kwargs, "casting": "unsafe"}, "casting"
    if _rare(draw, 15):
        return kwargs, "out="
    return kwargs, None


@st.composite
def _concatenate_call(draw: Any) -> Call:
    base = list(draw(shapes(min_dims=1, max_dims=3, max_side=3)))
    axis = draw(st.integers(-len(base), len(base) - 1))
    count = draw(st.integers(1, 4))
    parts = []
    for _ in range(count):
        shape = list(base)
        shape[axis] = draw(st.integers(0, 3))
        if _rare(draw, 15):
            shape = list(draw(shapes(max_dims=3, max_side=3)))  # usually mismatched
        parts.append(draw(arrays(dtypes(), tuple(shape))))
    axis_arg = None if _rare(draw, 5) else axis
    kwargs, unsupported = _join_kwargs(draw)
    if unsupported == "out=":
        kwargs["out"] = draw(arrays(dtypes(), tuple(base)))
    seq = tuple(parts) if draw(st.booleans()) else parts
    if axis_arg == 0 and draw(st.booleans()):
        return Call(np.concatenate, (seq,), kwargs, unsupported=unsupported)
    if draw(st.booleans()):
        kwargs["axis"] = axis_arg
        return Call(np.concatenate, (seq,), kwargs, unsupported=unsupported)
    return Call(np.concatenate, (seq, axis_arg), kwargs, unsupported=unsupported)


@st.composite
def _stack_call(draw: Any) -> Call:
    shape = draw(shapes(max_dims=3, max_side=3))
    count = draw(st.integers(1, 4))
    parts = [draw(arrays(dtypes(), shape)) for _ in range(count)]
    if not shape and draw(st.booleans()):
        parts = [p[()] for p in parts]  # NumPy scalars stack too
    if _rare(draw, 12):
        parts.append(draw(arrays(dtypes(), draw(shapes(max_dims=3, max_side=3)))))
    axis = draw(st.integers(-len(shape) - 2, len(shape) + 1))
    if not _rare(draw):
        axis = max(-len(shape) - 1, min(axis, len(shape)))
    kwargs, unsupported = _join_kwargs(draw)
    if unsupported == "out=":
        kwargs["out"] = draw(arrays(dtypes(), (count,) + shape))
    seq = tuple(parts) if draw(st.booleans()) else parts
    if axis == 0 and draw(st.booleans()):
        return Call(np.stack, (seq,), kwargs, unsupported=unsupported)
    return Call(np.stack, (seq, axis), kwargs, unsupported=unsupported)


# ------------------------------------------------------------------------------ split
@st.composite
def _split_call(draw: Any) -> Call:
    fn = draw(st.sampled_from([np.split, np.array_split]))
    x = draw(_input(min_dims=0 if _rare(draw, 15) else 1))
    ndim = np.ndim(x)
    axis = draw(st.integers(-ndim, ndim - 1)) if ndim else 0
    if _rare(draw, 15):
        axis = ndim
    n = np.shape(x)[axis] if -ndim <= axis < ndim else 1
    choice = draw(st.integers(0, 2))
    if choice == 0:
        sections: Any = draw(st.sampled_from(_divisors(n) if n else [1, 2, 3]))
        if fn is np.array_split or _rare(draw):
            sections = draw(st.integers(0 if _rare(draw) else 1, n + 2))
    else:
        sections = draw(st.lists(st.integers(-n - 2, n + 2), max_size=4))
        if choice == 2:
            sections = sorted(a % (n + 1) for a in sections)
        if draw(st.booleans()):
            sections = tuple(sections)
    if axis == 0 and draw(st.booleans()):
        return Call(fn, (x, sections))
    if draw(st.booleans()):
        return Call(fn, (x, sections), {"axis": axis})
    return Call(fn, (x, sections, axis))


# ------------------------------------------------------------------------------ tile, repeat
@st.composite
def _tile_call(draw: Any) -> Call:
    x = draw(_input())
    reps = draw(st.lists(st.integers(0, 3), max_size=np.ndim(x) + 2))
    if reps and _rare(draw, 12):
        reps[0] = -1
    if _rare(draw, 10):
        reps = [1] * len(reps)
    if len(reps) == 1 and draw(st.booleans()):
        return Call(np.tile, (x, reps[0]))
    reps_arg = tuple(reps) if draw(st.booleans()) else reps
    return Call(np.tile, (x,), {"reps": reps_arg}) if draw(st.booleans()) else Call(
        np.tile, (x, reps_arg))


@st.composite
def _repeat_call(draw: Any) -> Call:
    fn = draw(st.sampled_from([np.repeat, np.ndarray.repeat]))
    x = draw(_input(function_form=fn is np.repeat))
    ndim = np.ndim(x)
    axis = None if draw(st.booleans()) else draw(st.integers(-max(ndim, 1), max(ndim, 1) - 1))
    if axis is not None and _rare(draw, 15):
        axis = max(ndim, 1)  # AxisError
    n = np.size(x) if axis is None else (np.shape(x)[axis] if 0 < ndim > axis else 1)
    choice = draw(st.integers(0, 3))
    unsupported = None
    if choice <= 1:
        repeats: Any = draw(st.integers(0, 3))
    elif choice == 2:
        repeats = draw(st.lists(st.integers(0, 3), min_size=n, max_size=n))
    else:
        repeats = [draw(st.integers(0, 3))]
    if _rare(draw, 12):
        repeats = draw(st.sampled_from([-1, [1, 2, 3, 4, 5, 6, 7], [-1] * n]))
    elif _rare(draw, 15):
        repeats, unsupported = np.array([2]), "data-dependent shape"
    elif _rare(draw, 15):
        repeats, unsupported = 2.0, "integers"
    if axis is None and draw(st.booleans()):
        return Call(fn, (x, repeats), unsupported=unsupported)
    return Call(fn, (x, repeats), {"axis": axis}, unsupported=unsupported)


# ------------------------------------------------------------------------------ pad
@st.composite
def _pad_width(draw: Any, ndim: int) -> Any:
    width = st.integers(0, 2)
    choice = draw(st.integers(0, 4))
    if choice == 0:
        return draw(width)
    if choice == 1:
        return (draw(width), draw(width))
    if choice == 2:
        return tuple((draw(width), draw(width)) for _ in range(ndim))
    if choice == 3:
        return [[draw(width)] for _ in range(ndim)] if ndim != 2 else [[1], [2]]
    if not ndim:
        return {}
    return {draw(st.integers(-ndim, ndim - 1)): draw(st.one_of(width, st.tuples(width, width)))
            for _ in range(draw(st.integers(0, 2)))}


@st.composite
def _constant_values(draw: Any, ndim: int) -> Any:
    value = st.one_of(st.integers(-3, 3), st.floats(-4, 4), st.booleans(),
                      st.sampled_from([300, -1, 0.5]))
    choice = draw(st.integers(0, 3))
    if choice == 0:
        return draw(value)
    if choice == 1:
        return (draw(value), draw(value))
    if choice == 2:
        return tuple((draw(value), draw(value)) for _ in range(ndim))
    return None


@st.composite
def _pad_call(draw: Any) -> Call:
    x = draw(_input())
    ndim = np.ndim(x)
    pad_width = draw(_pad_width(ndim))
    if _rare(draw, 12):
        pad_width = draw(st.sampled_from([-1, 1.5, (1, 2, 3), True]))  # NumPy's errors
    kwargs: dict = {}
    if draw(st.booleans()):
        kwargs["constant_values"] = draw(_constant_values(ndim))
    unsupported = None
    if _rare(draw, 12):
        kwargs["mode"], unsupported = draw(st.sampled_from(["edge", "reflect", "wrap"])), "mode"
        kwargs.pop("constant_values", None)
    elif _rare(draw, 20):
        kwargs["mode"] = "no-such-mode"
    elif _rare(draw, 20):
        kwargs["stat_length"] = 1
    elif draw(st.booleans()):
        kwargs["mode"] = "constant"
    if draw(st.booleans()):
        return Call(np.pad, (x,), {"pad_width": pad_width, **kwargs}, unsupported=unsupported)
    return Call(np.pad, (x, pad_width), kwargs, unsupported=unsupported)


# Every spelling, by name, for the focused tests in tests/ops/test_shape.py.
FORMS: dict = {
    "reshape": _reshape_call(),
    "ravel/flatten": _ravel_call(),
    "expand_dims": _expand_dims_call(),
    "squeeze": _squeeze_call(),
    "transpose/swapaxes/moveaxis": _transpose_call(),
}

SAMPLERS: dict = {
    RESHAPE.name: st.one_of(_reshape_call(), _ravel_call(), _expand_dims_call(),
                            _squeeze_call()),
    TRANSPOSE.name: _transpose_call(),
    BROADCAST_TO.name: _broadcast_to_call(),
    FLIP.name: _flip_call(),
    CONCATENATE.name: _concatenate_call(),
    STACK.name: _stack_call(),
    SPLIT.name: _split_call(),
    TILE.name: _tile_call(),
    REPEAT.name: _repeat_call(),
    PAD.name: _pad_call(),
}

INDIRECT: dict = {
    "copy_into": "written by out= and in-place operators: the elementwise samples (out=, "
                 "x += y) run it on every dtype pair",
    "tuple_item": "no NumPy callable binds to it (capture emits it for multi-output results); "
                  "tests/ops/test_shape.py reads split results through it",
}
