"""The loop IR's values. A graph node lowers to a ``LoopValue``: a ``Buffer`` (memory with a
strided layout), a ``Pointwise`` (a body computing one element at an index), a ``Reduction``
(a body reduced over extra loop variables) or a ``View`` (another value read through an index
map). Bodies are define-by-run: Python functions calling the methods of the current handler
(``ops()``), so one body is printed, evaluated with NumPy, or compiled by LLVM or NVPTX.

Index arithmetic is affine with concrete integer coefficients (``Ix``): shapes and strides are
fixed per graph (guards fix them). Codegen turns each coefficient into a run-time parameter,
so one compiled kernel serves every shape with the same structure."""

from __future__ import annotations

import abc
import contextlib
import dataclasses
import threading
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np


# ------------------------------------------------------------------------------ indices
class Ix:
    """An affine integer expression ``const + sum(coef * var)`` over loop variables."""

    __slots__ = ("const", "terms")

    def __init__(self, const: int = 0, terms: tuple[tuple[str, int], ...] = ()):
        self.const = int(const)
        self.terms = tuple(sorted((v, int(c)) for v, c in terms if c != 0))

    @staticmethod
    def var(name: str) -> Ix:
        return Ix(0, ((name, 1),))

    def __add__(self, other: Ix | int) -> Ix:
        if isinstance(other, Ix):
            merged = dict(self.terms)
            for v, c in other.terms:
                merged[v] = merged.get(v, 0) + c
            return Ix(self.const + other.const, tuple(merged.items()))
        return Ix(self.const + int(other), self.terms)

    __radd__ = __add__

    def __mul__(self, k: int) -> Ix:
        k = int(k)
        return Ix(self.const * k, tuple((v, c * k) for v, c in self.terms))

    __rmul__ = __mul__

    def __neg__(self) -> Ix:
        return self * -1

    def __sub__(self, other: Ix | int) -> Ix:
        return self + (-other)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Ix) and (self.const, self.terms) == (other.const, other.terms)

    def __hash__(self) -> int:
        return hash((self.const, self.terms))

    @property
    def vars(self) -> set[str]:
        return {v for v, _ in self.terms}

    def __repr__(self) -> str:
        parts = [f"{c}*{v}" if c != 1 else v for v, c in self.terms]
        if self.const or not parts:
            parts.append(str(self.const))
        return " + ".join(parts)


def loop_vars(prefix: str, n: int) -> tuple[Ix, ...]:
    return tuple(Ix.var(f"{prefix}{k}") for k in range(n))


# ------------------------------------------------------------------------------ handlers
_state = threading.local()


def ops() -> Any:
    """The handler bodies call: set by ``use_handler`` around each body evaluation."""
    return _state.handler


@contextlib.contextmanager
def use_handler(handler: Any) -> Iterator[Any]:
    saved = getattr(_state, "handler", None)
    _state.handler = handler
    try:
        yield handler
    finally:
        _state.handler = saved


# ------------------------------------------------------------------------------ values
Loader = Callable[[tuple], Any]


class LoopValue(abc.ABC):
    """A lowered array value: ``shape``, ``dtype`` and a way to read one element."""

    shape: tuple[int, ...]
    dtype: np.dtype

    @abc.abstractmethod
    def loader(self) -> Loader:
        """A function from an index (tuple of Ix) to the element, through ``ops()``."""

    @property
    def size(self) -> int:
        n = 1
        for s in self.shape:
            n *= s
        return n


@dataclasses.dataclass(eq=False)
class Buffer(LoopValue):
    """Memory named ``name`` (an input, a constant, an extern result, or a kernel's output),
    read through a strided layout in elements: element ``idx`` is at
    ``offset + sum(strides[k] * idx[k])``."""

    name: str
    shape: tuple[int, ...]
    dtype: np.dtype
    offset: int = 0
    strides: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        if self.strides is None:
            self.strides = c_strides(self.shape)

    def index(self, idx: tuple) -> Ix:
        flat = Ix(self.offset)
        for s, i in zip(self.strides, idx, strict=True):
            if s:
                flat = flat + i * s
        return flat

    def loader(self) -> Loader:
        return lambda idx: ops().load(self.name, self.index(idx), self.dtype)


@dataclasses.dataclass(eq=False)
class Pointwise(LoopValue):
    """``body(idx)`` computes the element at ``idx`` with handler calls. ``realized`` is set
    when the scheduler decides to store it to a buffer (then readers load it)."""

    shape: tuple[int, ...]
    dtype: np.dtype
    body: Callable[[tuple], Any]
    realized: Buffer | None = None
    # Handler calls in the body (for the realize decision), filled lazily.
    cost: int | None = None

    def loader(self) -> Loader:
        if self.realized is not None:
            return self.realized.loader()
        return self.body


@dataclasses.dataclass(eq=False)
class Reduction(LoopValue):
    """``kind`` (sum, prod, max, min, any, all, argmax, argmin) of ``body(idx, ridx)`` over
    ``ridx`` in ``reduce_shape``, accumulated in ``dtype``; ``idx`` ranges over ``shape``
    (the kept dimensions). Always realized: readers load the stored result."""

    shape: tuple[int, ...]
    dtype: np.dtype
    reduce_shape: tuple[int, ...]
    kind: str
    body: Callable[[tuple, tuple], Any]
    src_dtype: np.dtype
    realized: Buffer | None = None

    def loader(self) -> Loader:
        assert self.realized is not None, "a reduction is read only after it is realized"
        return self.realized.loader()


@dataclasses.dataclass(eq=False)
class Scan(LoopValue):
    """The running ``kind`` (sum or prod) of elements along ``axis``, accumulated in
    ``dtype`` from first to last (NumPy's ``add.accumulate`` order). Its kernel stage loops
    over the other dims, then the axis: ``body(idx)`` takes that order (the axis index
    last) and returns the element in ``dtype``. Always realized, like a reduction."""

    shape: tuple[int, ...]
    dtype: np.dtype
    kind: str
    axis: int
    body: Callable[[tuple], Any]
    realized: Buffer | None = None

    def loader(self) -> Loader:
        assert self.realized is not None, "a scan is read only after it is realized"
        return self.realized.loader()


@dataclasses.dataclass(eq=False)
class View(LoopValue):
    """``base`` read through ``index_map`` (view index -> base index), e.g. a transpose."""

    base: LoopValue
    shape: tuple[int, ...]
    dtype: np.dtype
    index_map: Callable[[tuple], tuple]

    def loader(self) -> Loader:
        inner = self.base.loader()
        return lambda idx: inner(self.index_map(idx))


def c_strides(shape: tuple[int, ...]) -> tuple[int, ...]:
    strides, acc = [], 1
    for s in reversed(shape):
        strides.append(acc)
        acc *= max(int(s), 1)
    return tuple(reversed(strides))


def affine_view_map(view_fn: Callable[[np.ndarray], np.ndarray],
                    base_shape: tuple[int, ...]) -> tuple[tuple[int, ...], Callable] | None:
    """The per-dimension affine index map of a NumPy view function (transpose, flip, basic
    indexing, broadcast_to, ...), found by applying it to stand-in arrays whose byte address
    encodes one base index: for base dim d, a uint8 array with stride 1 along d and 0 elsewhere.
    The view's data-pointer offset and strides are then exactly how base index d depends on
    the view index. Returns (view shape, map) or None if ``view_fn`` copies."""
    ndim = len(base_shape)
    maps: list[tuple[int, tuple[int, ...]]] = []
    view_shape: tuple[int, ...] | None = None
    for d in range(ndim):
        storage = np.empty(max(base_shape[d], 1), np.uint8)
        strides = tuple(1 if k == d else 0 for k in range(ndim))
        fake = np.lib.stride_tricks.as_strided(storage, base_shape, strides, writeable=False)
        out = view_fn(fake)
        if not isinstance(out, np.ndarray) or out.flags.owndata:
            return None
        offset = out.__array_interface__["data"][0] - storage.__array_interface__["data"][0]
        if not 0 <= offset < storage.size:
            return None
        maps.append((offset, out.strides))
        view_shape = out.shape
    if view_shape is None:  # 0-d base: the view only adds or drops size-1 dims
        storage = np.empty(1, np.uint8)
        fake = np.lib.stride_tricks.as_strided(storage, (), (), writeable=False)
        out = view_fn(fake)
        if not isinstance(out, np.ndarray):
            return None
        view_shape = out.shape

    def index_map(idx: tuple) -> tuple:
        result = []
        for offset, strides in maps:
            expr = Ix(offset)
            for s, i in zip(strides, idx, strict=True):
                if s:
                    expr = expr + i * s
            result.append(expr)
        return tuple(result)

    return tuple(view_shape), index_map
