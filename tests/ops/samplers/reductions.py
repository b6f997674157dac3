"""Sample calls for the reduction and scan ops: every captured function and method, arrays of
every dtype and layout (zero-size and size-1 dims, NumPy scalars for the functions, NaNs for
the extrema), every axis form (None, int, negative, tuple, (), invalid ones), keepdims,
dtype=, ddof=/correction=, initial=, out= of any dtype, positional method arguments, and the
refused where=/mean=."""

from __future__ import annotations

import inspect
import warnings
from typing import Any

import numpy as np
from hypothesis import strategies as st

from dynajit.ops.reductions import (
    ALL,
    ANY,
    ARGMAX,
    ARGMIN,
    CUMPROD,
    CUMSUM,
    MAX,
    MEAN,
    MIN,
    PROD,
    STD,
    SUM,
    VAR,
)
from dynajit.ops.registry import OpDef, lookup
from tests.ops.harness import Call
from tests.ops.strategies import BOOL, COMPLEX, FLOAT, arrays, dtypes, shapes

_DTYPE_SPELLINGS = [bool, int, float, complex, "f4", "i2", "u8", "c8"]


def _one_in(n: int, draw: Any) -> bool:
    """True about once in ``n`` draws (hypothesis favours the ends of a range, so the
    middle value is the uniform one)."""
    return draw(st.integers(0, n - 1)) == n // 2


def _is_method(fn: Any) -> bool:
    return getattr(fn, "__objclass__", None) is np.ndarray


@st.composite
def _input(draw: Any, fn: Any, favour: list[np.dtype] | None = None,
           nans: bool = False) -> Any:
    """The array (or, for the np.* functions, sometimes a NumPy scalar) to reduce."""
    dtype = draw(dtypes(favour) if favour and draw(st.booleans()) else dtypes())
    shape = draw(shapes(min_dims=0 if _one_in(6, draw) else 1, max_dims=4,
                        min_side=0 if _one_in(4, draw) else 1, max_side=4))
    if not _is_method(fn) and _one_in(10, draw):
        shape = ()
        return draw(arrays(dtype, shape))[()]
    a = draw(arrays(dtype, shape))
    if nans and dtype.kind in "fc" and a.size and draw(st.booleans()):
        mask = draw(arrays(np.dtype(bool), shape))
        a[mask] = np.nan
    return a


@st.composite
def _multi_axis(draw: Any, ndim: int) -> Any:
    """An axis argument of sum/mean/...: mostly valid, sometimes what NumPy refuses."""
    if _one_in(20, draw):
        return draw(st.sampled_from([ndim, -ndim - 1, (0, 0), [0], 1.0, True, (True,)]))
    kind = draw(st.sampled_from(["none", "int", "int", "tuple"]))
    if kind == "none":
        return None
    if kind == "int":
        if ndim == 0:
            return draw(st.sampled_from([0, -1, ()]))  # ufunc reductions accept 0/-1 on 0-d
        return draw(st.integers(-ndim, ndim - 1))
    picked = draw(st.permutations(range(ndim)))[:draw(st.integers(0, ndim))]
    return tuple(a - ndim if draw(st.booleans()) else a for a in picked)


@st.composite
def _single_axis(draw: Any, ndim: int) -> Any:
    """An axis argument of argmax/cumsum: one int or None (tuples are NumPy's TypeError)."""
    if _one_in(20, draw):
        return draw(st.sampled_from([max(ndim, 1), (0,), 1.0, True]))
    if draw(st.booleans()):
        return None
    return draw(st.integers(-max(ndim, 1), max(ndim, 1) - 1))


def _numpy_result(fn: Any, args: tuple, kwargs: dict) -> Any:
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return fn(*args, **kwargs)
        except Exception:  # noqa: BLE001 - an invalid call gets no out=
            return None


@st.composite
def _out(draw: Any, fn: Any, args: tuple, kwargs: dict, wrong_shape: bool) -> Any:
    """An out= array of the result's shape and any dtype (or, rarely, a wrong shape)."""
    result = _numpy_result(fn, args, kwargs)
    if result is None:
        return None
    shape = np.shape(result)
    if wrong_shape and _one_in(10, draw):
        shape = shape + (1,)
    return draw(arrays(dtypes(), shape))


def _positional(fn: Any, a: Any, kwargs: dict, count: int) -> tuple[tuple, dict]:
    """Move up to ``count`` leading keyword arguments to positions, in the callable's order
    (the binder's signature, which must be NumPy's: the comparison checks it)."""
    params = [p for p in list(inspect.signature(lookup(fn)).parameters.values())[1:]
              if p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD]
    args = [a]
    kwargs = dict(kwargs)
    for p in params[:count]:
        if p.name not in kwargs:
            break
        args.append(kwargs.pop(p.name))
    return tuple(args), kwargs


def _casts_float_to_int(op: OpDef, a: Any, kwargs: dict) -> bool:
    """Whether the call casts float values to an integer dtype (dtype= or out=)."""
    dtype = np.dtype(kwargs["dtype"]) if kwargs.get("dtype") is not None else None
    targets = [d for d in (dtype, getattr(kwargs.get("out"), "dtype", None)) if d is not None]
    floats = (a.dtype.kind in "fc" or op in (MEAN, VAR, STD)
              or (dtype is not None and dtype.kind in "fc"))
    return floats and any(d.kind in "iu" for d in targets)


@st.composite
def _small_values(draw: Any, a: Any) -> Any:
    """``a`` holding zeros and at most one 1, in its own layout. C leaves a float-to-int cast
    of an out-of-range value undefined, and NumPy's contiguous and strided loops do give
    different answers, so such casts are sampled on values every result keeps in range."""
    if isinstance(a, np.generic):
        return a.dtype.type(draw(st.booleans()))
    a[...] = 0
    if a.size and draw(st.booleans()):
        a[tuple(draw(st.integers(0, n - 1)) for n in a.shape)] = 1
    return a


def _params(fn: Any) -> set[str]:
    return set(inspect.signature(lookup(fn)).parameters)


@st.composite
def _reduction_call(draw: Any, op: OpDef, favour: list[np.dtype] | None = None,
                    nans: bool = False) -> Call:
    fn = draw(st.sampled_from(op.captures))
    params = _params(fn)
    a = draw(_input(fn, favour, nans))
    ndim = np.ndim(a)
    kwargs: dict[str, Any] = {}
    unsupported = None
    single = op in (ARGMAX, ARGMIN, CUMSUM, CUMPROD)
    if not _one_in(5, draw):
        kwargs["axis"] = draw(_single_axis(ndim) if single else _multi_axis(ndim))
    if "keepdims" in params and draw(st.booleans()):
        kwargs["keepdims"] = draw(st.sampled_from([True, False, True, False, 1, 0]))
    if "dtype" in params and _one_in(4, draw):
        kwargs["dtype"] = draw(st.one_of(dtypes(), st.sampled_from(_DTYPE_SPELLINGS)))
    if "ddof" in params and draw(st.booleans()):
        kwargs["ddof"] = draw(st.sampled_from([0, 1, 2, 0.5, True]))
    if "correction" in params and _one_in(4, draw):
        kwargs["correction"] = draw(st.sampled_from([0, 1, 1.5]))
    if "initial" in params and _one_in(4, draw):
        kind = a.dtype.kind
        kwargs["initial"] = draw(st.one_of(
            st.none(), st.booleans(), st.integers(-3, 300),
            st.floats(-4, 4) if kind in "fc" else st.integers(0, 3),
            st.sampled_from([float("nan"), -float("inf"), 2**40]) if kind == "f"
            else st.just(7)))
    if "out" in params and _one_in(4, draw):
        out = draw(_out(fn, (a,), kwargs, wrong_shape=not single))
        if out is not None:
            kwargs["out"] = out
            if isinstance(a, np.generic) and op not in (CUMSUM, CUMPROD) and out.ndim == 0:
                unsupported = "NumPy scalar input"
    if _casts_float_to_int(op, a, kwargs):
        a = draw(_small_values(a))
        kwargs.pop("initial", None)
    if "where" in params and _one_in(10, draw):
        kwargs["where"] = draw(st.sampled_from([True, False]))
        if kwargs["where"] is False:
            unsupported = "where="
    if "mean" in params and _one_in(20, draw):
        kwargs["mean"] = np.zeros(np.shape(a))
        unsupported = unsupported if unsupported == "where=" else "mean="
    if _is_method(fn) and draw(st.booleans()):
        args, kwargs = _positional(fn, a, kwargs, draw(st.integers(1, 6)))
    else:
        args = (a,)
    if unsupported is None and not _is_method(fn) and _one_in(30, draw):
        return Call(fn, ([a, a],) + args[1:], kwargs, unsupported="np.asarray")
    return Call(fn, args, kwargs, unsupported=unsupported)


SAMPLERS: dict = {
    SUM.name: _reduction_call(SUM, favour=BOOL),
    PROD.name: _reduction_call(PROD),
    MAX.name: _reduction_call(MAX, favour=FLOAT + COMPLEX, nans=True),
    MIN.name: _reduction_call(MIN, favour=FLOAT + COMPLEX, nans=True),
    ANY.name: _reduction_call(ANY, favour=BOOL),
    ALL.name: _reduction_call(ALL, favour=BOOL),
    MEAN.name: _reduction_call(MEAN),
    VAR.name: _reduction_call(VAR, favour=FLOAT + COMPLEX),
    STD.name: _reduction_call(STD, favour=FLOAT + COMPLEX),
    ARGMAX.name: _reduction_call(ARGMAX, favour=FLOAT, nans=True),
    ARGMIN.name: _reduction_call(ARGMIN, favour=FLOAT, nans=True),
    CUMSUM.name: _reduction_call(CUMSUM, favour=BOOL),
    CUMPROD.name: _reduction_call(CUMPROD),
}
INDIRECT: dict = {}
