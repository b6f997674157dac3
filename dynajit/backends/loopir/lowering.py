"""Lowerings: each op record's ``lowering`` slot, filled here (the OpDef docstring: "filled by
the backend layers"). ``lowering(node, args, kwargs, ctx)`` receives the node's arguments with
every array replaced by its ``LoopValue`` and returns the node's LoopValue, or None when the
op (or this call of it) has no loop form: the scheduler then runs the op's NumPy
implementation as an extern step. ``ctx`` answers what the target supports and realizes
values that must live in memory."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from dynajit.backends.loopir.ir import (
    Buffer,
    Ix,
    LoopValue,
    Pointwise,
    Reduction,
    Scan,
    View,
    affine_view_map,
    c_strides,
    ops,
)
from dynajit.ops.elementwise import UFUNC_OPS
from dynajit.ops.registry import OPS

_NOVALUE = np._NoValue

# The dtypes loop kernels compute in; anything else (float16, complex) runs as an extern.
LOOP_DTYPES = frozenset(np.dtype(t) for t in (
    "bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
    "float32", "float64"))


def loop_dtype(dtype: Any) -> bool:
    return np.dtype(dtype) in LOOP_DTYPES


def defined_cast(src: Any, dst: Any) -> bool:
    """Casts whose out-of-range results kernels reproduce. NumPy leaves float to uint32 and
    uint64 conversion of out-of-range values to its SIMD loops (values differ by CPU), so
    those casts stay with NumPy."""
    src, dst = np.dtype(src), np.dtype(dst)
    return not (src.kind == "f" and dst.kind == "u" and dst.itemsize >= 4)


# ------------------------------------------------------------------------------ helpers
def broadcast_loader(value: Any, shape: tuple, dtype: np.dtype) -> Callable[[tuple], Any]:
    """A loader for ``value`` (LoopValue or Python/NumPy scalar) broadcast to ``shape`` and
    cast to ``dtype`` (NumPy's conversion of a weak scalar to the loop dtype)."""
    if isinstance(value, LoopValue):
        inner = value.loader()
        lead = len(shape) - len(value.shape)
        # NumPy also writes a value with extra leading size-1 dims (shape (1,) into ()).
        extra = (Ix(0),) * max(-lead, 0)
        lead = max(lead, 0)
        dims = value.shape[len(extra):]
        src = value.dtype
        keep = [dims[k] != 1 or shape[lead + k] == 1 for k in range(len(dims))]

        def load(idx: tuple) -> Any:
            sub = extra + tuple(i if keep[k] else Ix(0) for k, i in enumerate(idx[lead:]))
            v = inner(sub)
            return v if src == dtype else ops().cast(v, src, dtype)

        return load
    with np.errstate(all="ignore"):
        scalar = np.asarray(value).astype(dtype).item()
    return lambda idx: ops().constant(scalar, dtype)


def _arg_dtype(value: Any) -> Any:
    if isinstance(value, LoopValue):
        return value.dtype
    if isinstance(value, np.generic):
        return value.dtype
    if isinstance(value, (bool, int, float, complex)):
        return type(value)
    return None


# ------------------------------------------------------------------------------ ufuncs
def _lower_ufunc(ufunc: np.ufunc) -> Callable[..., Any]:
    name = ufunc.__name__

    def lower(node: Any, args: tuple, kwargs: dict, ctx: Any) -> LoopValue | None:
        if ufunc.nout != 1 or kwargs.get("out_dtype") is not None:
            return None
        in_types = tuple(_arg_dtype(a) for a in args)
        if any(t is None for t in in_types):
            return None
        extra = {}
        if kwargs.get("dtype") is not None:
            extra["signature"] = (None,) * ufunc.nin + (np.dtype(kwargs["dtype"]),)
        try:
            loop = ufunc.resolve_dtypes(in_types + (None,), **extra)
        except (TypeError, ValueError):
            return None
        out_meta = node.meta
        if not all(loop_dtype(t) for t in loop) or not loop_dtype(out_meta.dtype):
            return None
        if any(isinstance(a, LoopValue) and not loop_dtype(a.dtype) for a in args):
            return None
        if len(set(loop[:-1])) > 1:  # mixed loops (uint64 with int64, ldexp): NumPy's own
            return None
        for a, t in zip(args, loop, strict=False):
            if type(a) is int and t.kind in "iu" and not (
                    np.iinfo(t).min <= a <= np.iinfo(t).max):
                return None  # NumPy 2 compares out-of-range Python ints by value
        if not ctx.supports(name, loop[0]):
            return None
        special = _special_power(name, args, loop)
        if special is not None:
            return _pointwise(out_meta, special, loop[-1])
        shape = tuple(out_meta.shape)
        loaders = [broadcast_loader(a, shape, t) for a, t in zip(args, loop[:-1], strict=True)]
        in_dtype = loop[0]

        def body(idx: tuple) -> Any:
            return getattr(ops(), name)(*(ld(idx) for ld in loaders), dtype=in_dtype)

        return _pointwise(out_meta, body, loop[-1])

    return lower


def _pointwise(meta: Any, body: Callable, computed: np.dtype) -> Pointwise:
    dtype = np.dtype(meta.dtype)
    if computed == dtype:
        return Pointwise(tuple(meta.shape), dtype, body)
    return Pointwise(tuple(meta.shape), dtype,
                     lambda idx: ops().cast(body(idx), computed, dtype))


def _special_power(name: str, args: tuple, loop: tuple) -> Callable | None:
    """``x ** 2`` and friends with a constant exponent become multiplies (DESIGN facts: a
    generic pow made five kernels slower than NumPy). NumPy itself squares for 2."""
    if name != "power" or isinstance(args[1], LoopValue):
        return None
    exponent = args[1]
    if isinstance(exponent, np.generic):
        exponent = exponent.item()
    dtype = loop[0]
    if not isinstance(exponent, (int, float)) or isinstance(exponent, bool):
        return None
    base = args[0]
    if not isinstance(base, LoopValue):
        return None
    shape = tuple(np.broadcast_shapes(base.shape))
    load = broadcast_loader(base, shape, dtype)
    if exponent in (2, 3, 4) and float(exponent).is_integer():
        n = int(exponent)

        def body(idx: tuple) -> Any:
            x = load(idx)
            acc = ops().multiply(x, x, dtype=dtype)
            for _ in range(n - 2):
                acc = ops().multiply(acc, x, dtype=dtype)
            return acc

        return body
    if dtype.kind == "f" and exponent == 0.5:
        return lambda idx: ops().sqrt(load(idx), dtype=dtype)
    if dtype.kind == "f" and exponent == 1:
        return load
    return None


# ------------------------------------------------------------------------------ elementwise
def lower_where(node: Any, args: tuple, kwargs: dict, ctx: Any) -> LoopValue | None:
    dtype = np.dtype(node.meta.dtype)
    if not loop_dtype(dtype):
        return None
    shape = tuple(node.meta.shape)
    cond = broadcast_loader(args[0], shape, np.dtype(bool))
    a = broadcast_loader(args[1], shape, dtype)
    b = broadcast_loader(args[2], shape, dtype)
    return Pointwise(shape, dtype, lambda idx: ops().where(cond(idx), a(idx), b(idx), dtype))


def lower_clip(node: Any, args: tuple, kwargs: dict, ctx: Any) -> LoopValue | None:
    dtype = np.dtype(node.meta.dtype)
    if not loop_dtype(dtype) or not ctx.supports("maximum", dtype):
        return None
    shape = tuple(node.meta.shape)
    args = _clip_bounds(args)
    if args is None:
        return None
    for bound in args[1:]:
        if isinstance(bound, LoopValue) and not loop_dtype(bound.dtype):
            return None
        if type(bound) is int and dtype.kind in "iu" and not (
                np.iinfo(dtype).min <= bound <= np.iinfo(dtype).max):
            return None  # NumPy treats an out-of-range Python int bound specially
    x = broadcast_loader(args[0], shape, dtype)
    lo = None if args[1] is None else broadcast_loader(args[1], shape, dtype)
    hi = None if args[2] is None else broadcast_loader(args[2], shape, dtype)

    def body(idx: tuple) -> Any:
        v = x(idx)
        if lo is not None:
            v = ops().maximum(v, lo(idx), dtype=dtype)
        if hi is not None:
            v = ops().minimum(v, hi(idx), dtype=dtype)
        return v

    return Pointwise(shape, dtype, body)


def _clip_bounds(args: tuple) -> tuple | None:
    """NumPy's ``_clip`` drops a Python-int bound an integer array always satisfies (min at or
    below its dtype's minimum, max at or above its maximum), before any promotion; with both
    dropped the result is the array itself. None when ``x`` is not an array value."""
    x, lo, hi = args
    if not isinstance(x, LoopValue):
        return None
    if x.dtype.kind in "iu":
        info = np.iinfo(x.dtype)
        if type(lo) is int and lo <= info.min:
            lo = None
        if type(hi) is int and hi >= info.max:
            hi = None
    return x, lo, hi


def lower_cast(node: Any, args: tuple, kwargs: dict, ctx: Any) -> LoopValue | None:
    """astype / array / copy: a new buffer with the elements converted."""
    dtype = np.dtype(node.meta.dtype)
    x = args[0]
    if (not isinstance(x, LoopValue) or not loop_dtype(dtype) or not loop_dtype(x.dtype)
            or not defined_cast(x.dtype, dtype)):
        return None
    return Pointwise(tuple(node.meta.shape), dtype,
                     broadcast_loader(x, tuple(node.meta.shape), dtype))


def lower_copy_into(node: Any, args: tuple, kwargs: dict, ctx: Any) -> LoopValue | None:
    """The new value of ``dst`` after writing ``src`` into it (broadcast and cast)."""
    dst, src = args
    dtype = np.dtype(node.meta.dtype)
    if not loop_dtype(dtype) or (isinstance(src, LoopValue) and not (
            loop_dtype(src.dtype) and defined_cast(src.dtype, dtype))):
        return None
    if not isinstance(src, LoopValue) and not isinstance(src, (bool, int, float, np.generic)):
        return None
    src_node = node.args[1]
    if (isinstance(src, LoopValue) and src.dtype == dtype
            and tuple(src.shape) == tuple(node.meta.shape) and len(src_node.users) == 1):
        return src  # the written value is the source itself: no copy (it has no other reader)
    return Pointwise(tuple(node.meta.shape), dtype,
                     broadcast_loader(src, tuple(node.meta.shape), dtype))


def lower_fill(node: Any, args: tuple, kwargs: dict, ctx: Any) -> LoopValue | None:
    """zeros/ones/full and their _like forms: a constant pointwise value."""
    dtype = np.dtype(node.meta.dtype)
    if not loop_dtype(dtype):
        return None
    name = node.target.name.removesuffix("_like")
    if name == "full":
        fill = args[1]
        if isinstance(fill, LoopValue):
            if not (loop_dtype(fill.dtype) and defined_cast(fill.dtype, dtype)):
                return None
            if fill.shape != () and fill.size != 1:
                return None
            return Pointwise(tuple(node.meta.shape), dtype,
                             broadcast_loader(fill, tuple(node.meta.shape), dtype))
        if not isinstance(fill, (bool, int, float, np.generic)):
            return None
        if dtype.kind in "iub" and not (np.iinfo(np.int64).min <= np.real(fill)
                                        <= np.iinfo(np.uint64).max):
            return None
        if dtype.kind in "iu" and np.asarray(fill).dtype.kind in "fc" and not (
                np.iinfo(dtype).min <= np.real(fill) <= np.iinfo(dtype).max):
            return None  # out-of-range float to integer: platform-defined in NumPy
    else:
        fill = 0 if name == "zeros" else 1
    with np.errstate(all="ignore"):
        value = np.full((), fill).astype(dtype).item()
    return Pointwise(tuple(node.meta.shape), dtype, lambda idx: ops().constant(value, dtype))


# ------------------------------------------------------------------------------ reductions
_REDUCE_KIND = {"sum": "sum", "prod": "prod", "max": "max", "min": "min", "any": "any",
                "all": "all"}


def _split_axes(shape: tuple, axis: Any) -> tuple[tuple[int, ...], tuple[int, ...]]:
    axes = tuple(range(len(shape))) if axis is None else tuple(sorted(
        (axis,) if isinstance(axis, int) else axis))
    kept = tuple(k for k in range(len(shape)) if k not in axes)
    return kept, axes


def reduction_value(x: LoopValue, axes: tuple[int, ...], kind: str, acc: np.dtype,
                    prologue: Callable[[Any], Any] | None = None) -> Reduction:
    """``kind`` of ``x`` over ``axes`` accumulated in ``acc``; the result's shape is the kept
    dims (no keepdims). ``prologue`` maps each loaded element (already in ``acc``)."""
    kept = tuple(k for k in range(len(x.shape)) if k not in axes)
    load = x.loader()
    src = x.dtype

    def body(idx: tuple, ridx: tuple) -> Any:
        full: list[Any] = [None] * len(x.shape)
        for k, i in zip(kept, idx, strict=True):
            full[k] = i
        for k, r in zip(axes, ridx, strict=True):
            full[k] = r
        v = load(tuple(full))
        if kind in ("argmax", "argmin"):
            return v
        if kind in ("any", "all"):
            return ops().cast(v, src, np.dtype(bool)) if src != np.dtype(bool) else v
        v = v if src == acc else ops().cast(v, src, acc)
        return prologue(v) if prologue is not None else v

    return Reduction(tuple(x.shape[k] for k in kept), np.dtype(acc),
                     tuple(x.shape[k] for k in axes), kind, body, src)


def keepdims_view(red: LoopValue, full_shape: tuple, axes: tuple[int, ...]) -> View:
    shape = tuple(1 if k in axes else s for k, s in enumerate(full_shape))
    kept = [k for k in range(len(full_shape)) if k not in axes]
    return View(red, shape, red.dtype, lambda idx: tuple(idx[k] for k in kept))


def _reshape_result(red: LoopValue, node: Any, full_shape: tuple, axes: tuple,
                    keepdims: bool) -> LoopValue:
    return keepdims_view(red, full_shape, axes) if keepdims else red


def lower_reduce(node: Any, args: tuple, kwargs: dict, ctx: Any) -> LoopValue | None:
    x = args[0]
    dtype = np.dtype(node.meta.dtype)
    if (not isinstance(x, LoopValue) or not loop_dtype(x.dtype) or not loop_dtype(dtype)
            or kwargs.get("initial", _NOVALUE) is not _NOVALUE
            or kwargs.get("out_dtype") is not None):
        return None
    kind = _REDUCE_KIND[node.target.name]
    if not ctx.supports_reduction(kind, dtype):
        return None
    _, axes = _split_axes(x.shape, kwargs.get("axis"))
    red = ctx.realize(reduction_value(x, axes, kind, dtype))
    return _reshape_result(red, node, x.shape, axes, kwargs.get("keepdims", False))


def lower_scan(node: Any, args: tuple, kwargs: dict, ctx: Any) -> LoopValue | None:
    """cumsum / cumprod: a stored ``Scan`` along the axis (the flattened array for None),
    accumulating in the result dtype as NumPy does."""
    x = args[0]
    dtype = np.dtype(node.meta.dtype)
    if (not isinstance(x, LoopValue) or not x.shape or not loop_dtype(x.dtype)
            or not loop_dtype(dtype) or dtype.kind == "b" or not ctx.supports_scan()
            or kwargs.get("out_dtype") is not None or not defined_cast(x.dtype, dtype)):
        return None
    axis = kwargs.get("axis")
    if axis is None:
        x, axis = in_memory(x, None, ctx), 0
    load = x.loader()
    src = x.dtype

    def body(idx: tuple) -> Any:  # the other dims, then the axis
        v = load(idx[:axis] + (idx[-1],) + idx[axis:-1])
        return v if src == dtype else ops().cast(v, src, dtype)

    kind = "prod" if node.target.name == "cumprod" else "sum"
    return ctx.realize(Scan(tuple(x.shape), dtype, kind, axis, body), "a scan is stored")


def lower_arg_reduce(node: Any, args: tuple, kwargs: dict, ctx: Any) -> LoopValue | None:
    x = args[0]
    if (not isinstance(x, LoopValue) or not loop_dtype(x.dtype)
            or kwargs.get("out_dtype") is not None
            or not ctx.supports_reduction(node.target.name, x.dtype)):
        return None
    _, axes = _split_axes(x.shape, kwargs.get("axis"))
    red = reduction_value(x, axes, node.target.name, np.dtype(np.intp))
    red = ctx.realize(red)
    if kwargs.get("keepdims", False):
        return keepdims_view(red, x.shape, axes)
    return red


def _moment_sum(node: Any, args: tuple, kwargs: dict, ctx: Any) -> tuple | None:
    """What mean and var share: a float result, the reduced axes, their element count and the
    stored sum of ``x`` in the result dtype (as NumPy's _mean and _var start)."""
    x = args[0]
    dtype = np.dtype(node.meta.dtype)
    if (not isinstance(x, LoopValue) or not loop_dtype(x.dtype) or dtype.kind != "f"
            or kwargs.get("out_dtype") is not None or not ctx.supports_reduction("sum", dtype)):
        return None
    _, axes = _split_axes(x.shape, kwargs.get("axis"))
    count = 1
    for k in axes:
        count *= x.shape[k]
    return x, dtype, axes, count, ctx.realize(reduction_value(x, axes, "sum", dtype))


def lower_mean(node: Any, args: tuple, kwargs: dict, ctx: Any) -> LoopValue | None:
    """NumPy's mean: sum in the result dtype (float64 for integers), then divide by the count."""
    found = _moment_sum(node, args, kwargs, ctx)
    if found is None:
        return None
    x, dtype, axes, count, total = found
    load = total.loader()
    mean = Pointwise(total.shape, dtype,
                     lambda idx: ops().divide(load(idx), ops().constant(float(count), dtype),
                                              dtype=dtype))
    return _reshape_result(mean, node, x.shape, axes, kwargs.get("keepdims", False))


def lower_var(node: Any, args: tuple, kwargs: dict, ctx: Any) -> LoopValue | None:
    """NumPy's _var: mean (keepdims), squared deviations summed, divided by max(n - ddof, 0);
    std takes the square root."""
    ddof = kwargs.get("ddof", 0)
    found = _moment_sum(node, args, kwargs, ctx) if isinstance(ddof, int) else None
    if found is None:
        return None
    x, dtype, axes, count, total = found
    total_load = keepdims_view(total, x.shape, axes).loader()
    n = ops_constant_float(count, dtype)
    xload = x.loader()
    src = x.dtype
    # NumPy subtracts the mean (in ``dtype``) from the array itself: in their promoted dtype
    # (a float64 array with dtype='f4' deviates in float64), squares, then sums in ``dtype``.
    dev_dtype = np.result_type(src, dtype)
    if not loop_dtype(dev_dtype):
        return None

    def deviation(full: tuple) -> Any:
        v = xload(full)
        v = v if src == dev_dtype else ops().cast(v, src, dev_dtype)
        mean = ops().divide(total_load(_keepdims_index(full, axes)), n(), dtype=dtype)
        mean = mean if dtype == dev_dtype else ops().cast(mean, dtype, dev_dtype)
        d = ops().subtract(v, mean, dtype=dev_dtype)
        return ops().multiply(d, d, dtype=dev_dtype)

    dev = Pointwise(tuple(x.shape), dev_dtype, deviation)
    sq = ctx.realize(reduction_value(dev, axes, "sum", dtype))
    sq_load = sq.loader()
    denom = ops_constant_float(max(count - ddof, 0), dtype)
    std = node.target.name == "std"

    def finish(idx: tuple) -> Any:
        v = ops().divide(sq_load(idx), denom(), dtype=dtype)
        return ops().sqrt(v, dtype=dtype) if std else v

    result = Pointwise(sq.shape, dtype, finish)
    return _reshape_result(result, node, x.shape, axes, kwargs.get("keepdims", False))


def _keepdims_index(full: tuple, axes: tuple) -> tuple:
    return tuple(Ix(0) if k in axes else i for k, i in enumerate(full))


def ops_constant_float(value: float, dtype: np.dtype) -> Callable[[], Any]:
    return lambda: ops().constant(float(value), dtype)


# ------------------------------------------------------------------------------ views
def lower_view(node: Any, args: tuple, kwargs: dict, ctx: Any) -> LoopValue | None:
    """Any view op whose only array is its first argument: the index map is read off NumPy
    itself (``affine_view_map``); a view of a buffer keeps reading that buffer."""
    base = args[0]
    if not isinstance(base, LoopValue) or any(isinstance(a, LoopValue) for a in args[1:]):
        return None
    if any(isinstance(v, LoopValue) for v in kwargs.values()) or _has_runtime_index(args):
        return None
    impl = node.target.impl

    def view_fn(a: np.ndarray) -> Any:
        return impl(a, *args[1:], **kwargs)

    if node.target.name == "reshape":
        view_fn = _no_copy_reshape(args[1])
    found = affine_view_map(view_fn, tuple(base.shape))
    if found is None:
        if node.target.name != "reshape":
            return None
        buf = ctx.realize(base)
        return _buffer_reshape(buf, tuple(node.meta.shape))
    shape, index_map = found
    if shape != tuple(node.meta.shape):
        return None
    return View(base, shape, base.dtype, index_map)


def _has_runtime_index(args: tuple) -> bool:
    def walk(v: Any) -> bool:
        if isinstance(v, LoopValue):
            return True
        if isinstance(v, (tuple, list)):
            return any(walk(x) for x in v)
        return False

    return walk(args[1:])


def _no_copy_reshape(shape: tuple) -> Callable[[np.ndarray], Any]:
    def fn(a: np.ndarray) -> Any:
        try:
            return np.reshape(a, shape, copy=False)
        except ValueError:
            return None

    return fn


def _buffer_reshape(buf: LoopValue, shape: tuple) -> LoopValue | None:
    """Reshape of memory: NumPy's own no-copy rule on the buffer's layout."""
    if not isinstance(buf, Buffer):
        return None
    return buffer_view(buf, _no_copy_reshape(shape))


def buffer_view(buf: Buffer, view_fn: Callable[[np.ndarray], Any]) -> Buffer | None:
    """The layout of ``view_fn`` applied to ``buf``'s memory, read off NumPy on a stand-in
    array with the buffer's strides (8-byte items; nothing is read or written)."""
    item = 8
    lo = sum((n - 1) * s for n, s in zip(buf.shape, buf.strides) if s < 0 and n > 0)
    hi = sum((n - 1) * s for n, s in zip(buf.shape, buf.strides) if s > 0 and n > 0)
    storage = np.empty(hi - lo + 1, np.uint64)
    start = storage[-lo:] if lo else storage
    fake = np.lib.stride_tricks.as_strided(start, buf.shape,
                                           tuple(s * item for s in buf.strides), writeable=False)
    out = view_fn(fake)
    if not isinstance(out, np.ndarray) or out.flags.owndata:
        return None
    moved = out.__array_interface__["data"][0] - start.__array_interface__["data"][0]
    return Buffer(buf.name, tuple(out.shape), buf.dtype, buf.offset + moved // item,
                  tuple(s // item for s in out.strides))


# ------------------------------------------------------------------------------ writes
def _basic_index(index: Any) -> bool:
    return isinstance(index, tuple) and all(
        e is None or e is Ellipsis or type(e) is int or isinstance(e, slice) for e in index)


def lower_setitem(node: Any, args: tuple, kwargs: dict, ctx: Any) -> LoopValue | None:
    """``x`` with ``x[index] = value`` for a basic index: a new buffer, ``value`` stored into
    its indexed view, and ``x`` copied into the rest. When the index is a box (integers and
    unit-step slices) the copy covers only the box's complement, as at most two slabs per
    dimension, so no element is written twice (a stencil's ``out = u.copy(); out[1:-1, 1:-1]
    = ...`` copies the border only; targets opt in with ``copies_complement``); otherwise
    the whole of ``x`` is copied first."""
    x, index, value = args
    dtype = np.dtype(node.meta.dtype)
    if (not isinstance(x, LoopValue) or not loop_dtype(dtype) or not _basic_index(index)
            or not _storable(value, dtype)):
        return None
    shape = tuple(x.shape)
    # with an Ellipsis an index of integers only still selects a (0-d) view, not a scalar
    if not any(e is Ellipsis for e in index):
        index = index + (Ellipsis,)
    if buffer_view(Buffer("probe", shape, dtype), lambda a: a[index]) is None:
        return None
    box = _box(index, shape) if ctx.target.copies_complement else None
    if box is None:
        buf = ctx.fresh_buffer(x, "setitem writes into a copy")
    else:
        buf = ctx.new_buffer(shape, dtype)
        for slab in _complement(box, shape):
            def cut(a: np.ndarray, slab: list = slab) -> np.ndarray:
                return a[tuple(slice(*r) for r in slab)]

            part_shape, index_map = affine_view_map(cut, shape)
            ctx.store_into(View(x, part_shape, dtype, index_map), buffer_view(buf, cut),
                           "setitem: copy outside the written box")
    view = buffer_view(buf, lambda a: a[index])
    ctx.store_into(_broadcast_value(value, view.shape, dtype), view, "setitem")
    return buf


def _box(index: tuple, shape: tuple) -> list[tuple[int, int]] | None:
    """Per dimension the [start, stop) that ``index`` selects, when it is a box: integers and
    unit-step slices, Ellipsis, no None (None where it is not, or selects nothing)."""
    entries = expand_ellipsis(index, len(shape))
    if entries is None or any(e is None for e in entries):
        return None
    box = []
    for e, n in zip(entries, shape, strict=True):
        if isinstance(e, slice):
            start, stop, step = e.indices(n)
            if step != 1 or stop <= start:
                return None
            box.append((start, stop))
        else:
            i = e + n if e < 0 else e
            box.append((i, i + 1))
    return box


def expand_ellipsis(entries: tuple, ndim: int) -> tuple | None:
    """The index with Ellipsis and the missing trailing dims as full slices (None when the
    entries do not fit ``ndim``)."""
    used = sum(1 for e in entries if e is not None and e is not Ellipsis)
    if used > ndim or sum(1 for e in entries if e is Ellipsis) > 1:
        return None
    full = [slice(0, None, 1)] * (ndim - used)
    if any(e is Ellipsis for e in entries):
        k = next(i for i, e in enumerate(entries) if e is Ellipsis)
        return entries[:k] + tuple(full) + entries[k + 1:]
    return entries + tuple(full)


def _complement(box: list[tuple[int, int]], shape: tuple) -> list[list[tuple[int, int]]]:
    """Disjoint boxes covering ``shape`` outside ``box``: for each dimension k, the parts
    before and after the box in k, within the box in dimensions before k and whole after."""
    slabs = []
    for k, (start, stop) in enumerate(box):
        for lo, hi in ((0, start), (stop, shape[k])):
            if hi > lo:
                slabs.append(box[:k] + [(lo, hi)] + [(0, n) for n in shape[k + 1:]])
    return slabs


def lower_concatenate(node: Any, args: tuple, kwargs: dict, ctx: Any) -> LoopValue | None:
    arrays, axis = args[0], args[1]
    dtype = np.dtype(node.meta.dtype)
    if (axis is None or not loop_dtype(dtype) or kwargs.get("dtype") is not None
            or not all(_storable(a, dtype) and isinstance(a, LoopValue) for a in arrays)):
        return None
    buf = ctx.new_buffer(tuple(node.meta.shape), dtype)
    start = 0
    for a in arrays:
        stop = start + a.shape[axis]
        part = buffer_view(buf, lambda b, s=start, e=stop: b[(slice(None),) * axis
                                                            + (slice(s, e),)])
        ctx.store_into(_broadcast_value(a, part.shape, dtype), part, "concatenate")
        start = stop
    return buf


def lower_pad(node: Any, args: tuple, kwargs: dict, ctx: Any) -> LoopValue | None:
    """Constant padding with one scalar fill: a fill kernel, then the array stored into the
    interior view."""
    array, widths = args
    fill = kwargs.get("constant_values", 0)
    dtype = np.dtype(node.meta.dtype)
    if (not isinstance(array, LoopValue) or not loop_dtype(dtype) or not widths
            or not _storable(array, dtype) or not isinstance(fill, (bool, int, float))
            or (dtype.kind in "iub" and not float(fill).is_integer())):
        return None
    with np.errstate(all="ignore"):
        value = np.asarray(fill).astype(dtype).item()
    shape = tuple(node.meta.shape)
    filled = ctx.realize(Pointwise(shape, dtype, lambda idx: ops().constant(value, dtype)),
                         "pad fill")
    buf = filled.realized
    interior = buffer_view(buf, lambda b: b[tuple(slice(lo, lo + n) for (lo, _), n
                                                 in zip(widths, array.shape))])
    ctx.store_into(_broadcast_value(array, interior.shape, dtype), interior, "pad interior")
    return buf


def _storable(value: Any, dtype: np.dtype) -> bool:
    if isinstance(value, LoopValue):
        return loop_dtype(value.dtype) and defined_cast(value.dtype, dtype)
    return isinstance(value, (bool, int, float, np.generic)) and not isinstance(
        value, (complex, np.complexfloating))


def _broadcast_value(value: Any, shape: tuple, dtype: np.dtype) -> Pointwise:
    return Pointwise(tuple(shape), dtype, broadcast_loader(value, tuple(shape), dtype))


# ------------------------------------------------------------------------------ memory
def in_memory(a: LoopValue, axis: int | None, ctx: Any) -> Buffer:
    """``a`` as a buffer (flattened when ``axis`` is None): gathers read it at computed
    indices, flattening scans at computed positions."""
    if not isinstance(a, Buffer):
        done = ctx.realize(a, "read at computed indices")
        a = done if isinstance(done, Buffer) else done.realized
    if axis is None:
        if tuple(a.strides) != c_strides(a.shape):
            a = ctx.fresh_buffer(a, "gather from a flattened copy")
        return Buffer(a.name, (a.size,), a.dtype, a.offset, (1,))
    return a


# ------------------------------------------------------------------------------ registration
def _register() -> None:
    for op in UFUNC_OPS.values():
        op.lowering = _lower_ufunc(getattr(np, op.name))
    OPS["where"].lowering = lower_where
    OPS["clip"].lowering = lower_clip
    OPS["astype"].lowering = lower_cast
    OPS["array"].lowering = lower_cast
    OPS["copy_into"].lowering = lower_copy_into
    OPS["setitem"].lowering = lower_setitem
    OPS["concatenate"].lowering = lower_concatenate
    OPS["pad"].lowering = lower_pad
    from dynajit.backends.loopir.gathers import lower_gather, lower_take

    OPS["take"].lowering = lower_take
    OPS["gather"].lowering = lower_gather
    for name in ("zeros", "ones", "full", "zeros_like", "ones_like", "full_like"):
        OPS[name].lowering = lower_fill
    for name in _REDUCE_KIND:
        OPS[name].lowering = lower_reduce
    OPS["cumsum"].lowering = lower_scan
    OPS["cumprod"].lowering = lower_scan
    OPS["argmax"].lowering = lower_arg_reduce
    OPS["argmin"].lowering = lower_arg_reduce
    OPS["mean"].lowering = lower_mean
    OPS["var"].lowering = lower_var
    OPS["std"].lowering = lower_var
    for name in ("transpose", "flip", "broadcast_to", "getitem", "reshape"):
        OPS[name].lowering = lower_view


_register()
