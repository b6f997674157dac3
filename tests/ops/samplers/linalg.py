"""Sample calls for the linalg ops: matmul and the product gufuncs through every captured form
(function, np.linalg, @, reflected and in-place dunders), dot, vdot, inner, outer, tensordot
and einsum, over broadcast batches, 0-size and size-1 dims, every dtype and layout, plus
misaligned shapes so that the errors are compared too.

Float and complex operands hold small integers: every partial sum is then exact, so the
result does not depend on the summation order. BLAS, matmul's fallback loop and einsum's
kernels each add in an order that depends on the strides, and BLAS kernels also on the
alignment of the data, which the harness's copies for NumPy need not share with the
originals (and with infinities, complex products give inf or nan depending on the kernel)."""

from __future__ import annotations

import math
import operator
import re
from typing import Any

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from dynajit.ops.linalg import (
    DOT,
    EINSUM,
    INNER,
    MATMUL,
    MATVEC,
    OUTER,
    TENSORDOT,
    VDOT,
    VECDOT,
    VECMAT,
)
from tests.ops.harness import Call
from tests.ops.strategies import arrays, dtypes

_INPLACE = (operator.imatmul, np.ndarray.__imatmul__)
_CASTINGS = ["no", "equiv", "safe", "same_kind", "unsafe"]


def _elements(dtype: np.dtype) -> st.SearchStrategy[Any] | None:
    if dtype.kind == "f":
        # float16 products of three operands summed over a few labels stay below 2048.
        top = 2 if dtype.itemsize == 2 else 3
        ints = [float(v) for v in range(-top, top + 1)]
        return st.sampled_from([*ints, -0.0])
    if dtype.kind == "c":
        return st.builds(complex, st.integers(-3, 3), st.integers(-3, 3))
    return None  # integers and bool: the whole range (wrapping arithmetic is exact)


def _array(dtype: np.dtype, shape: tuple) -> st.SearchStrategy[np.ndarray]:
    return arrays(dtype, shape, elements=_elements(np.dtype(dtype)))


@st.composite
def _operand(draw: Any, shape: tuple, dtype: np.dtype | None = None,
             scalars: bool = True) -> Any:
    """An array of ``shape``; for shape () sometimes a NumPy or Python scalar."""
    dtype = np.dtype(dtype) if dtype is not None else draw(dtypes())
    if shape == () and scalars:
        choice = draw(st.integers(0, 2))
        if choice == 0:
            return draw(_array(dtype, ()))[()]
        if choice == 1:
            return draw(st.one_of(st.booleans(), st.integers(-3, 3),
                                  st.sampled_from([0.5, -2.0, 1j - 2, 2**31, 2**63 - 1])))
    return draw(_array(dtype, shape))


@st.composite
def _with_array(draw: Any, operands: list) -> list:
    """The operands, with the first made an array when none is one (a call on Python
    numbers alone is not an array operation)."""
    if any(isinstance(v, (np.ndarray, np.generic)) for v in operands):
        return operands
    return [draw(_operand(np.shape(operands[0]), scalars=False)), *operands[1:]]


def _result_shape(fn: Any, *shapes: tuple) -> tuple | None:
    """The shape NumPy gives for operands of these shapes (None when it raises)."""
    try:
        return np.shape(fn(*(np.zeros(s) for s in shapes)))
    except (ValueError, IndexError, TypeError):
        return None


@st.composite
def _out_shape(draw: Any, result: tuple) -> tuple:
    """Mostly the result shape; sometimes with more loop dims (the result broadcasts), a
    wrong last dim, or the first dim dropped (dynajit refuses an out with fewer dims)."""
    choice = draw(st.integers(0, 9))
    if choice == 0:
        return (draw(st.integers(1, 3)),) + result
    if choice == 1 and result:
        return result[:-1] + (result[-1] + 1,)
    if choice == 2 and result:
        return result[1:]
    return result


# ------------------------------------------------------------------------------ matmul
@st.composite
def _matmul_shapes(draw: Any) -> tuple[tuple, tuple]:
    kind = draw(st.sampled_from(["mm", "mm", "mm", "mv", "vm", "vv"]))
    n, k, m = (draw(st.integers(0, 4)) for _ in range(3))
    batch = draw(hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=2, min_side=0,
                                                   max_side=3))
    ba, bb = batch.input_shapes
    sa = (*ba, n, k) if kind in ("mm", "mv") else (k,)
    sb = (*bb, k, m) if kind in ("mm", "vm") else (k,)
    if draw(st.integers(0, 9)) == 0:  # misaligned core dims
        sb = (k + 1,) if kind in ("mv", "vv") else (*bb, k + 1, m)
    if draw(st.integers(0, 14)) == 0 and len(sa) > 2:  # batch dims that do not broadcast
        sa = (sa[0] + 2,) + sa[1:]
    return sa, sb


@st.composite
def _inplace_matmul_call(draw: Any, fn: Any) -> Call:
    k = draw(st.integers(0, 4))
    a_shape = draw(st.sampled_from([(k,), (draw(st.integers(0, 3)), k),
                                    (draw(st.integers(1, 3)), draw(st.integers(0, 3)), k)]))
    b_shape = draw(st.sampled_from([(k, k), (k, k), (1, k, k), (2, k, k), (k, k + 1), (k,),
                                    (k + 1, k + 1)]))
    a = draw(_array(draw(dtypes()), a_shape))
    b = draw(_array(draw(dtypes()), b_shape))
    if fn is operator.imatmul and draw(st.integers(0, 9)) == 0:
        a = draw(_operand((), scalars=True))  # not an ndarray: `a @= b` is `a = a @ b`
        return Call(fn, (a, b))
    product = _result_shape(np.matmul, a_shape, b_shape)
    if product is not None and len(product) > len(a_shape) and len(b_shape) > 1:
        return Call(fn, (a, b), unsupported="fewer dimensions")
    return Call(fn, (a, b))


@st.composite
def _matmul_call(draw: Any) -> Call:
    fn = draw(st.sampled_from(MATMUL.captures))
    if fn in _INPLACE:
        return draw(_inplace_matmul_call(fn))
    sa, sb = draw(_matmul_shapes())
    a = draw(_operand(sa, scalars=False))
    b = draw(_operand(sb, scalars=False))
    if draw(st.integers(0, 19)) == 0:  # a scalar operand: NumPy refuses it
        if draw(st.booleans()) or fn is np.ndarray.__matmul__:
            b = draw(_operand(()))
        else:
            a = draw(_operand(()))
    if fn is np.ndarray.__rmatmul__:
        if not isinstance(b, np.ndarray):
            a, b = b, draw(_operand(np.shape(b), scalars=False))
        return Call(fn, (b, a))  # ndarray.__rmatmul__(self=b, other=a) is a @ b
    if fn is not np.matmul:
        return Call(fn, (a, b))
    kwargs: dict = {}
    if draw(st.integers(0, 4)) == 0:
        kwargs["dtype"] = draw(dtypes())
    args: tuple = (a, b)
    result = _result_shape(np.matmul, np.shape(a), np.shape(b))
    if result is not None and draw(st.integers(0, 3)) == 0:
        out_shape = draw(_out_shape(result))
        out = draw(_array(draw(dtypes()), out_shape))
        if draw(st.booleans()):
            args = (a, b, out)
        else:
            kwargs["out"] = out
        if len(out_shape) < len(result):
            return Call(fn, args, kwargs, unsupported="fewer dimensions")
    return Call(fn, args, kwargs)


# ------------------------------------------------------------------------------ vector gufuncs
def _core_dims(ufunc: np.ufunc) -> list[list[str]]:
    inputs = ufunc.signature.split("->")[0]
    return [[d for d in t.split(",") if d] for t in re.findall(r"\(([^)]*)\)", inputs)]


@st.composite
def _gufunc_call(draw: Any, op: Any) -> Call:
    ufunc = getattr(np, op.name)
    fn = draw(st.sampled_from(op.captures))
    sizes: dict[str, int] = {}
    batch = draw(hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=2, min_side=0,
                                                   max_side=3))
    shapes = []
    for core, loop in zip(_core_dims(ufunc), batch.input_shapes):
        dims = tuple(sizes.setdefault(d, draw(st.integers(0, 4))) for d in core)
        shapes.append(loop + dims)
    if draw(st.integers(0, 9)) == 0:  # a mismatched or missing core dim
        i = draw(st.integers(0, 1))
        shapes[i] = shapes[i][:-1] + ((shapes[i][-1] + 1,) if draw(st.booleans()) else ())
    a, b = draw(_with_array([draw(_operand(shapes[0])), draw(_operand(shapes[1]))]))
    if fn is not ufunc:
        return Call(fn, (a, b))  # np.linalg.vecdot
    kwargs: dict = {}
    if draw(st.integers(0, 4)) == 0:
        kwargs["dtype"] = draw(dtypes())
    if draw(st.integers(0, 9)) == 0:
        kwargs["keepdims"] = draw(st.booleans())
        if kwargs["keepdims"] and op is VECDOT:
            return Call(fn, (a, b), kwargs, unsupported="keepdims=True")
    result = _result_shape(ufunc, np.shape(a), np.shape(b))
    if result is not None and draw(st.integers(0, 3)) == 0:
        out_shape = draw(_out_shape(result))
        # NumPy 2.4 bug: vecmat/matvec into a strided out with an extra leading dim write
        # wrong values (np.vecmat(x, A, out=zeros((1, 4))[:, ::2]) gives zeros). dynajit
        # computes the right values; samples keep out contiguous.
        kwargs["out"] = draw(_array(draw(dtypes()), out_shape)).copy(order="C")
        if len(out_shape) < len(result):
            return Call(fn, (a, b), kwargs, unsupported="fewer dimensions")
    return Call(fn, (a, b), kwargs)


# ------------------------------------------------------------------------------ dot family
@st.composite
def _dot_shapes(draw: Any) -> tuple[tuple, tuple]:
    k = draw(st.integers(0, 4))
    kind = draw(st.integers(0, 4))
    if kind == 0:  # a scalar operand
        other = draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=3))
        return ((), other) if draw(st.booleans()) else (other, ())
    lead_a = draw(hnp.array_shapes(min_dims=0, max_dims=2, min_side=0, max_side=3))
    lead_b = draw(hnp.array_shapes(min_dims=0, max_dims=1, min_side=0, max_side=3))
    m = draw(st.integers(0, 3))
    sa = lead_a + (k,)
    sb = (k,) if kind == 1 else lead_b + (k, m)
    if draw(st.integers(0, 9)) == 0:
        sb = (k + 1,) if kind == 1 else lead_b + (k + 1, m)
    return sa, sb


@st.composite
def _dot_call(draw: Any) -> Call:
    fn = draw(st.sampled_from(DOT.captures))
    sa, sb = draw(_dot_shapes())
    a, b = draw(_with_array([draw(_operand(sa, scalars=fn is np.dot)), draw(_operand(sb))]))
    if draw(st.integers(0, 19)) == 0:
        out = draw(_array(draw(dtypes()), np.shape(np.dot(np.zeros(sa), 0))))
        return Call(fn, (a, b), {"out": out}, unsupported="out= is not supported")
    return Call(fn, (a, b))


@st.composite
def _vdot_call(draw: Any) -> Call:
    sa = draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=3))
    size = math.prod(sa)
    sb = draw(st.sampled_from([sa, sa[::-1], (size,), (1, size), (size + 1,)]))
    return Call(np.vdot, tuple(draw(_with_array([draw(_operand(sa)), draw(_operand(sb))]))))


@st.composite
def _inner_call(draw: Any) -> Call:
    k = draw(st.integers(0, 4))
    sa = draw(hnp.array_shapes(min_dims=0, max_dims=2, min_side=0, max_side=3)) + (k,)
    sb = draw(hnp.array_shapes(min_dims=0, max_dims=2, min_side=0, max_side=3)) + (k,)
    choice = draw(st.integers(0, 9))
    if choice == 0:
        sa = ()
    elif choice == 1:
        sb = sb[:-1] + (k + 1,)
    return Call(np.inner, tuple(draw(_with_array([draw(_operand(sa)), draw(_operand(sb))]))))


@st.composite
def _outer_call(draw: Any) -> Call:
    if draw(st.integers(0, 3)) == 0:
        sa, sb = (draw(st.integers(0, 4)),), (draw(st.integers(0, 4)),)
        if draw(st.integers(0, 4)) == 0:
            sa = draw(hnp.array_shapes(min_dims=0, max_dims=2, min_side=0, max_side=3))
        return Call(np.linalg.outer,
                    tuple(draw(_with_array([draw(_operand(sa)), draw(_operand(sb))]))))
    sa = draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=3))
    sb = draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=3))
    a, b = draw(_with_array([draw(_operand(sa)), draw(_operand(sb))]))
    if draw(st.integers(0, 3)) == 0:
        out_shape = draw(_out_shape((math.prod(sa), math.prod(sb))))
        return Call(np.outer, (a, b), {"out": draw(_array(draw(dtypes()), out_shape))})
    return Call(np.outer, (a, b))


# ------------------------------------------------------------------------------ tensordot
@st.composite
def _tensordot_call(draw: Any) -> Call:
    contracted = draw(st.lists(st.integers(0, 3), max_size=3))
    free_a = draw(st.lists(st.integers(0, 3), max_size=2))
    free_b = draw(st.lists(st.integers(0, 3), max_size=2))
    nc = len(contracted)
    if draw(st.booleans()):  # the int form: a's last axes against b's first, in order
        sa, sb = tuple(free_a + contracted), tuple(contracted + free_b)
        axes: Any = nc
        if draw(st.integers(0, 9)) == 0:
            axes = draw(st.sampled_from([nc + 1, -1, 1.0]))
    else:
        order_a = draw(st.permutations(range(len(free_a) + nc)))
        order_b = draw(st.permutations(range(len(free_b) + nc)))
        dims_a, dims_b = free_a + contracted, contracted + free_b
        sa = tuple(dims_a[i] for i in order_a)
        sb = tuple(dims_b[i] for i in order_b)
        axes_a = [order_a.index(len(free_a) + j) for j in range(nc)]
        axes_b = [order_b.index(j) for j in range(nc)]
        axes_a = [ax - len(sa) if draw(st.booleans()) else ax for ax in axes_a]
        mutation = draw(st.integers(0, 14))
        if mutation == 0:
            axes_b = axes_b + [len(sb)]
        elif mutation == 1 and axes_a:
            axes_a[0] = len(sa)
        elif mutation == 2 and axes_a:
            axes_a = axes_a + axes_a[:1]
            axes_b = axes_b + axes_b[:1]
        axes = (axes_a, axes_b) if draw(st.booleans()) else (tuple(axes_a), tuple(axes_b))
        if nc == 1 and draw(st.booleans()):
            axes = (axes_a[0], axes_b[0])
    if draw(st.integers(0, 9)) == 0 and contracted:  # sizes that do not agree
        sb = tuple(s + 1 for s in sb)
    a, b = draw(_with_array([draw(_operand(sa)), draw(_operand(sb))]))
    fn = draw(st.sampled_from(TENSORDOT.captures))
    if axes == 2 and draw(st.booleans()):
        return Call(fn, (a, b))  # the default
    if fn is np.tensordot and draw(st.booleans()):
        return Call(fn, (a, b, axes))
    return Call(fn, (a, b), {"axes": axes})


# ------------------------------------------------------------------------------ einsum
def _label_number(c: str) -> int:
    return ord(c) - ord("A") if c.isupper() else ord(c) - ord("a") + 26


@st.composite
def _einsum_call(draw: Any) -> Call:
    pool = draw(st.permutations("ijkAZ"))[:draw(st.integers(1, 5))]
    sizes = {c: draw(st.integers(0, 3)) for c in pool}
    broadcast = draw(hnp.array_shapes(min_dims=0, max_dims=2, min_side=0, max_side=3))
    use_ellipsis = draw(st.integers(0, 3)) == 0
    terms, shapes = [], []
    for _ in range(draw(st.integers(1, 3))):
        letters = draw(st.lists(st.sampled_from(pool), max_size=3))
        ones = {c for c in letters if draw(st.integers(0, 5)) == 0}  # a label broadcast
        dims = [1 if c in ones else sizes[c] for c in letters]
        ellipsis = -1
        if use_ellipsis and draw(st.booleans()):
            ellipsis = draw(st.integers(0, len(letters)))
            part = broadcast[len(broadcast) - draw(st.integers(0, len(broadcast))):]
            part = tuple(1 if draw(st.integers(0, 4)) == 0 else s for s in part)
            dims = dims[:ellipsis] + list(part) + dims[ellipsis:]
        terms.append((letters, ellipsis))
        shapes.append(tuple(dims))
    used = sorted({c for letters, _ in terms for c in letters})
    any_ellipsis = any(e != -1 for _, e in terms)
    implicit = draw(st.integers(0, 2)) == 0
    if implicit:
        counts = [c for letters, _ in terms for c in letters]
        out_letters = [c for c in used if counts.count(c) == 1]
        out_ellipsis = 0 if any_ellipsis else -1
    else:
        out_letters = draw(st.permutations(used))[:draw(st.integers(0, len(used)))]
        out_ellipsis = -1
        if any_ellipsis and draw(st.integers(0, 9)) or draw(st.integers(0, 9)) == 0:
            out_ellipsis = draw(st.integers(0, len(out_letters)))

    def text(letters: list, ellipsis: int) -> str:
        if ellipsis == -1:
            return "".join(letters)
        return "".join(letters[:ellipsis]) + "..." + "".join(letters[ellipsis:])

    subscripts = ",".join(text(*t) for t in terms)
    if not implicit:
        subscripts += "->" + text(out_letters, out_ellipsis)
    operands = [draw(_operand(s)) for s in shapes]
    sublists = draw(st.integers(0, 4)) == 0  # the interleaved form: op, [0, 1], op, [1, 2]
    mutation = draw(st.integers(0, 19))
    if sublists and mutation != 4:
        mutation = -1  # the others edit the string or the operand count
    if mutation == 0:
        operands.append(draw(_operand(())))
    elif mutation == 1 and len(operands) > 1:
        operands.pop()
    elif mutation == 2:
        at = draw(st.integers(0, len(subscripts)))
        subscripts = subscripts[:at] + draw(st.sampled_from("1.>")) + subscripts[at:]
    elif mutation == 3 and out_letters and not implicit:
        subscripts += out_letters[0]
    elif mutation == 4:
        operands[0] = draw(_operand(np.shape(operands[0]) + (2,)))
    elif mutation == 5:
        subscripts = " " + subscripts.replace(",", " , ") + " "
    operands = draw(_with_array(operands))
    kwargs: dict = {}
    if draw(st.integers(0, 4)) == 0:
        kwargs["dtype"] = draw(dtypes())
        kwargs["casting"] = draw(st.sampled_from(_CASTINGS))
    elif draw(st.integers(0, 9)) == 0:
        kwargs["casting"] = draw(st.sampled_from(_CASTINGS))
    n_broadcast = max((np.ndim(o) - len(t[0]) for t, o in zip(terms, operands) if t[1] != -1),
                      default=0)
    out_ndim = len(out_letters) + (n_broadcast if out_ellipsis != -1 else 0)
    view = len(terms) == len(operands) == 1 and set(terms[0][0]) <= set(out_letters)
    unsupported = "returns a view" if view and out_ndim > 0 else None
    rare = draw(st.integers(0, 29))
    if rare == 0:
        kwargs["optimize"] = draw(st.sampled_from([True, "greedy", "optimal"]))
        unsupported = "optimize="
    elif rare == 1:
        kwargs["order"] = "C"
        unsupported = "order="
    if sublists:
        args: list = []
        for (letters, ellipsis), op in zip(terms, operands):
            sub = [_label_number(c) for c in letters]
            if ellipsis != -1:
                sub.insert(ellipsis, Ellipsis)
            args += [op, sub if draw(st.booleans()) else tuple(sub)]
        if not implicit:
            out = [_label_number(c) for c in out_letters]
            if out_ellipsis != -1:
                out.insert(out_ellipsis, Ellipsis)
            args.append(out)
        return Call(np.einsum, tuple(args), kwargs, unsupported=unsupported)
    return Call(np.einsum, (subscripts, *operands), kwargs, unsupported=unsupported)


SAMPLERS: dict = {
    MATMUL.name: _matmul_call(),
    DOT.name: _dot_call(),
    VDOT.name: _vdot_call(),
    INNER.name: _inner_call(),
    OUTER.name: _outer_call(),
    TENSORDOT.name: _tensordot_call(),
    EINSUM.name: _einsum_call(),
}
SAMPLERS.update({op.name: _gufunc_call(op) for op in (VECDOT, MATVEC, VECMAT) if op is not None})
INDIRECT: dict = {}
