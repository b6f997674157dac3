"""Handlers every target shares: ``NumpyHandler`` evaluates a kernel with NumPy over whole
index grids (the reference meaning of a kernel) and ``PrintHandler`` writes a body as text.
``HANDLER_OPS`` lists every handler call a lowering can produce; a test holds each handler
to it."""

from __future__ import annotations

from typing import Any

import numpy as np

from dynajit.backends.loopir.ir import Ix, Scan, loop_vars, use_handler
from dynajit.backends.loopir.scheduler import Kernel, Stage
from dynajit.ops.elementwise import UFUNC_NAMES

# ufuncs with one output that a loop body may call (``ops().<name>(*args, dtype=...)``).
LOOP_UFUNCS = tuple(n for n in UFUNC_NAMES if getattr(np, n).nout == 1)
HANDLER_OPS = ("load", "load_at", "constant", "cast", "where") + LOOP_UFUNCS
REDUCTION_KINDS = ("sum", "prod", "max", "min", "any", "all", "argmax", "argmin")


# ------------------------------------------------------------------------------ NumPy
class NumpyHandler:
    """Values are NumPy arrays over an index grid; ``load`` gathers with computed indices."""

    def __init__(self, grid: dict[str, np.ndarray], flats: dict[str, tuple[np.ndarray, int]]):
        self.grid = grid
        self.flats = flats

    def _index(self, ix: Ix) -> np.ndarray:
        out = np.asarray(ix.const, np.int64)
        for var, coef in ix.terms:
            out = out + self.grid[var] * coef
        return out

    def load(self, name: str, index: Ix, dtype: Any) -> np.ndarray:
        flat, lo = self.flats[name]
        return flat[self._index(index) - lo]

    def load_at(self, name: str, index: Ix, offset: np.ndarray, dtype: Any) -> np.ndarray:
        flat, lo = self.flats[name]
        return flat[self._index(index) + np.asarray(offset, np.int64) - lo]

    def constant(self, value: Any, dtype: Any) -> np.ndarray:
        return np.asarray(value, dtype)

    def cast(self, x: np.ndarray, src: Any, dst: Any) -> np.ndarray:
        with np.errstate(all="ignore"):
            return np.asarray(x).astype(dst)

    def where(self, c: Any, a: Any, b: Any, dtype: Any) -> np.ndarray:
        return np.where(c, a, b)

    def __getattr__(self, name: str) -> Any:
        if name not in LOOP_UFUNCS:
            raise AttributeError(name)
        ufunc = getattr(np, name)

        def apply(*args: Any, dtype: Any) -> Any:
            with np.errstate(all="ignore"):
                return np.asarray(ufunc(*args))

        return apply


def _flat_view(a: np.ndarray) -> tuple[np.ndarray, int]:
    """A 1-d element view covering every element of ``a`` and the element offset of its
    first entry relative to ``a``'s data pointer."""
    lo = sum((n - 1) * s for n, s in zip(a.shape, a.strides) if s < 0 and n > 0) // max(
        a.itemsize, 1)
    hi = sum((n - 1) * s for n, s in zip(a.shape, a.strides) if s > 0 and n > 0) // max(
        a.itemsize, 1)
    if a.size == 0:
        return np.empty(0, a.dtype), 0
    flipped = a[tuple(slice(None, None, -1) if s < 0 else slice(None) for s in a.strides)
                + (Ellipsis,)]
    flat = np.lib.stride_tricks.as_strided(flipped, (hi - lo + 1,), (a.itemsize,))
    return flat, lo


def _store(arrays: dict[str, np.ndarray], stage: Stage, index: np.ndarray,
           value: np.ndarray) -> None:
    flat, lo = _flat_view(arrays[stage.out.name])
    flat = np.lib.stride_tricks.as_strided(flat, flat.shape, flat.strides, writeable=True)
    index, value = np.broadcast_arrays(index, np.asarray(value, stage.out.dtype))
    flat[index - lo] = value


def run_kernel_numpy(kernel: Kernel, arrays: dict[str, np.ndarray]) -> None:
    """Run ``kernel`` on ``arrays`` (buffer name -> ndarray) with NumPy."""
    flats = {name: _flat_view(a) for name, a in arrays.items() if isinstance(a, np.ndarray)}
    n_outer = len(kernel.outer)
    for stage in kernel.stages:
        dims = tuple(kernel.outer) + tuple(stage.inner)
        if 0 in kernel.outer or (0 in stage.inner and not hasattr(stage.value, "reduce_shape")):
            continue  # no iteration: nothing is stored
        grids = np.indices(dims, sparse=True) if dims else ()
        names = [f"x{k}" for k in range(n_outer)] + [f"r{k}" for k in range(len(stage.inner))]
        grid = dict(zip(names, grids, strict=True))
        handler = NumpyHandler(grid, flats)
        idx = loop_vars("x", n_outer)
        ridx = loop_vars("r", len(stage.inner))
        with use_handler(handler):
            if hasattr(stage.value, "reduce_shape"):
                if 0 in stage.inner:  # an empty reduction: only the identity is stored
                    value = np.empty(dims, stage.value.dtype)
                else:
                    value = np.broadcast_to(stage.value.body(idx, ridx), dims)
                result = _reduce(stage.value.kind, value, n_outer, stage.value.dtype)
                store_ix = np.broadcast_to(
                    handler._index(stage.out.index(idx)),
                    tuple(kernel.outer) + (1,) * len(stage.inner)).reshape(kernel.outer)
            else:
                result = np.broadcast_to(stage.value.body(idx + ridx), dims)
                if isinstance(stage.value, Scan) and result.size:
                    accumulate = np.multiply if stage.value.kind == "prod" else np.add
                    with np.errstate(all="ignore"):
                        result = accumulate.accumulate(result, axis=-1,
                                                       dtype=stage.value.dtype)
                store_ix = handler._index(stage.out.index(idx + ridx))
        _store(arrays, stage, store_ix, result)
        flats[stage.out.name] = _flat_view(arrays[stage.out.name])


def _reduce(kind: str, value: np.ndarray, n_outer: int, dtype: Any) -> np.ndarray:
    axes = tuple(range(n_outer, value.ndim))
    with np.errstate(all="ignore"):
        if kind in ("argmax", "argmin"):
            flat = value.reshape(value.shape[:n_outer] + (-1,))
            return getattr(np, kind)(flat, axis=-1)
        fn = {"sum": np.sum, "prod": np.prod, "max": np.max, "min": np.min, "any": np.any,
              "all": np.all}[kind]
        return fn(value, axis=axes).astype(dtype)


# ------------------------------------------------------------------------------ printing
class PrintHandler:
    """Writes each call as a line ``tN = op(args)``; values are the temporaries' names."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def _emit(self, text: str) -> str:
        name = f"t{len(self.lines)}"
        self.lines.append(f"{name} = {text}")
        return name

    def load(self, name: str, index: Ix, dtype: Any) -> str:
        return self._emit(f"load({name}, {index!r})")

    def load_at(self, name: str, index: Ix, offset: str, dtype: Any) -> str:
        return self._emit(f"load({name}, {index!r} + {offset})")

    def constant(self, value: Any, dtype: Any) -> str:
        return self._emit(f"constant({value!r}, {np.dtype(dtype).name})")

    def cast(self, x: str, src: Any, dst: Any) -> str:
        return self._emit(f"cast({x}, {np.dtype(src).name} -> {np.dtype(dst).name})")

    def where(self, c: str, a: str, b: str, dtype: Any) -> str:
        return self._emit(f"where({c}, {a}, {b})")

    def __getattr__(self, name: str) -> Any:
        if name not in LOOP_UFUNCS:
            raise AttributeError(name)
        return lambda *args, dtype: self._emit(
            f"{name}({', '.join(args)}) [{np.dtype(dtype).name}]")


def kernel_text(kernel: Kernel) -> str:
    """A kernel's loops and bodies as readable text (trace records, docs, tests)."""
    lines = [f"{kernel.name}: for x in {kernel.outer}:"]
    for stage in kernel.stages:
        printer = PrintHandler()
        idx = loop_vars("x", len(kernel.outer))
        ridx = loop_vars("r", len(stage.inner))
        with use_handler(printer):
            if hasattr(stage.value, "reduce_shape"):
                result = stage.value.body(idx, ridx)
                head = f"  {stage.value.kind} over r in {stage.inner}:"
                store = f"    {stage.out.name}[{stage.out.index(idx)!r}] = {stage.value.kind}(" \
                        f"{result})"
            else:
                result = stage.value.body(idx + ridx)
                head = f"  for r in {stage.inner}:" if stage.inner else "  pointwise:"
                if isinstance(stage.value, Scan):
                    head = f"  running {stage.value.kind} over r in {stage.inner}:"
                store = f"    {stage.out.name}[{stage.out.index(idx + ridx)!r}] = {result}"
        lines.append(head)
        lines.extend(f"    {line}" for line in printer.lines)
        lines.append(store)
    return "\n".join(lines)
