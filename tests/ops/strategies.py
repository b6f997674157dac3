"""Hypothesis strategies shared by the op samplers: dtypes, shapes, arrays in every layout
(contiguous, reversed/negative strides, strided, transposed), NumPy and Python scalars."""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

BOOL = [np.dtype(bool)]
SIGNED = [np.dtype(t) for t in ("int8", "int16", "int32", "int64")]
UNSIGNED = [np.dtype(t) for t in ("uint8", "uint16", "uint32", "uint64")]
INTEGER = SIGNED + UNSIGNED
FLOAT = [np.dtype(t) for t in ("float16", "float32", "float64")]
COMPLEX = [np.dtype(t) for t in ("complex64", "complex128")]
REAL = BOOL + INTEGER + FLOAT
ALL_DTYPES = REAL + COMPLEX

LAYOUTS = ("contiguous", "reversed", "strided", "transposed")


def dtypes(choices: list[np.dtype] = ALL_DTYPES) -> st.SearchStrategy[np.dtype]:
    return st.sampled_from(choices)


def shapes(min_dims: int = 0, max_dims: int = 4, min_side: int = 0,
           max_side: int = 5) -> st.SearchStrategy[tuple[int, ...]]:
    return hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=min_side,
                            max_side=max_side)


def _elements(dtype: np.dtype) -> st.SearchStrategy[Any] | None:
    if dtype.kind == "f":
        # Mostly ordinary values, with NaN/inf/signed zeros and extremes present.
        width = dtype.itemsize * 8
        return st.one_of(st.floats(-10, 10, width=width),
                         st.floats(width=width, allow_nan=True, allow_infinity=True))
    if dtype.kind == "c":
        width = dtype.itemsize * 8
        return st.complex_numbers(max_magnitude=1e3, width=width)
    return None  # hypothesis default: the whole range of the dtype


@st.composite
def arrays(draw: Any, dtype: np.dtype | st.SearchStrategy[np.dtype] | None = None,
           shape: tuple[int, ...] | st.SearchStrategy | None = None,
           elements: st.SearchStrategy[Any] | None = None) -> np.ndarray:
    """An array with the given (or drawn) dtype and shape, in a drawn memory layout: the
    values are a view when the layout is not contiguous."""
    if dtype is None:
        dtype = dtypes()
    if isinstance(dtype, st.SearchStrategy):
        dtype = draw(dtype)
    dtype = np.dtype(dtype)
    if shape is None:
        shape = shapes()
    if isinstance(shape, st.SearchStrategy):
        shape = draw(shape)
    shape = tuple(shape)
    elements = elements if elements is not None else _elements(dtype)
    layout = draw(st.sampled_from(LAYOUTS)) if shape else "contiguous"
    if layout == "contiguous":
        return draw(hnp.arrays(dtype, shape, elements=elements))
    if layout == "reversed":
        base = draw(hnp.arrays(dtype, shape, elements=elements))
        return base[::-1]
    if layout == "strided":
        base = draw(hnp.arrays(dtype, shape[:-1] + (shape[-1] * 2,), elements=elements))
        return base[..., ::2]
    base = draw(hnp.arrays(dtype, shape[::-1], elements=elements))
    return base.T


@st.composite
def numpy_scalars(draw: Any, dtype: np.dtype | st.SearchStrategy | None = None) -> np.generic:
    arr = draw(arrays(dtype, shape=()))
    return arr[()]


def python_scalars(kinds: str = "bifc") -> st.SearchStrategy[Any]:
    """Python scalars (weak under NEP 50), including ints out of range for small dtypes."""
    options = []
    if "b" in kinds:
        options.append(st.booleans())
    if "i" in kinds:
        options.append(st.one_of(st.integers(-3, 3), st.integers(-300, 300),
                                 st.sampled_from([2**31, -(2**31) - 1, 2**63 - 1])))
    if "f" in kinds:
        options.append(st.one_of(st.floats(-4, 4), st.sampled_from([0.5, 2.0, float("inf"),
                                                                    float("nan"), -0.0])))
    if "c" in kinds:
        options.append(st.complex_numbers(max_magnitude=4))
    return st.one_of(*options)


@st.composite
def broadcastable_arrays(draw: Any, n: int = 2, dtype_choices: list[np.dtype] = ALL_DTYPES,
                         same_dtype: bool = False) -> list[np.ndarray]:
    """``n`` arrays whose shapes broadcast together (sometimes with 0 or 1 sizes)."""
    bshapes = draw(hnp.mutually_broadcastable_shapes(num_shapes=n, max_dims=4, min_side=0,
                                                     max_side=4))
    first = draw(dtypes(dtype_choices))
    out = []
    for shape in bshapes.input_shapes:
        dt = first if same_dtype else draw(dtypes(dtype_choices))
        out.append(draw(arrays(dt, shape)))
    return out
