"""Value trackers: what the bytecode tracer keeps in each stack slot and local. An array is
a graph node; a Python constant is its value; containers hold trackers; functions, modules
and user objects hold the real object and the *source* it was read from (for guards)."""

from __future__ import annotations

import dataclasses
from typing import Any

from dynajit.errors import Unsupported
from dynajit.graph.graph import Node


class VT:
    """Base value tracker. ``source`` says where the value came from in the frame's inputs
    (None for values the trace created)."""

    source: Any = None

    def python_type(self) -> type:
        raise Unsupported(f"type of {self} is not known while tracing")

    def is_constant(self) -> bool:
        return False

    def constant(self) -> Any:
        raise Unsupported(f"{self} is not a constant")

    def truth(self) -> bool:
        raise Unsupported(f"truth value of {self} is not known while tracing")


class ArrayVT(VT):
    """An ndarray or NumPy scalar: a graph value. In-place writes rebind ``node``; ``views``
    and ``base`` track NumPy aliasing so that writes through aliases are refused."""

    def __init__(self, node: Node, source: Any = None, base: ArrayVT | None = None):
        self.node = node
        self.source = source
        self.base = base
        self.has_views = False
        self.original = node  # the node this value started as (inputs: its placeholder)

    @property
    def meta(self) -> Any:
        return self.node.meta

    def python_type(self) -> type:
        return self.meta.dtype.type if self.meta.scalar else _ndarray()

    def truth(self) -> bool:
        raise Unsupported("branching on an array value (`if`, `and`, `or`, `not`, bool()) "
                          "depends on the data")

    def __repr__(self) -> str:
        return f"ArrayVT({self.node.name}: {self.meta})"


def _ndarray() -> type:
    import numpy as np

    return np.ndarray


class ConstVT(VT):
    """A value known while tracing: Python scalars, None, strings, dtypes, ranges, slices of
    constants, NumPy scalar constants, types."""

    def __init__(self, value: Any, source: Any = None):
        self.value = value
        self.source = source

    def python_type(self) -> type:
        return type(self.value)

    def is_constant(self) -> bool:
        return True

    def constant(self) -> Any:
        return self.value

    def truth(self) -> bool:
        return bool(self.value)

    def __repr__(self) -> str:
        return f"ConstVT({self.value!r})"


class NullVT(VT):
    """The NULL CPython pushes before a callable (and LOAD_FAST_AND_CLEAR's unbound)."""

    def __repr__(self) -> str:
        return "NULL"


NULL = NullVT()


class SequenceVT(VT):
    """tuple or list of trackers. Lists are mutable: their identity is the tracker object."""

    def __init__(self, kind: type, items: list[VT], source: Any = None):
        assert kind in (tuple, list)
        self.kind = kind
        self.items = list(items)
        self.source = source
        self.mutated = False
        self.cls = kind  # the exact class (a named tuple's, for inputs)

    def python_type(self) -> type:
        return self.cls

    def truth(self) -> bool:
        return bool(self.items)

    def is_constant(self) -> bool:
        return all(i.is_constant() for i in self.items)

    def constant(self) -> Any:
        """The value (a fresh list for lists: only passed to calls that do not keep it)."""
        return self.kind(i.constant() for i in self.items)

    def __repr__(self) -> str:
        return f"{self.kind.__name__}VT({self.items})"


class DictVT(VT):
    """dict with constant keys."""

    def __init__(self, items: dict[Any, VT], source: Any = None):
        self.items = dict(items)
        self.source = source
        self.mutated = False

    def python_type(self) -> type:
        return dict

    def truth(self) -> bool:
        return bool(self.items)

    def __repr__(self) -> str:
        return f"DictVT({list(self.items)})"


class SliceVT(VT):
    def __init__(self, start: VT, stop: VT, step: VT):
        self.parts = (start, stop, step)

    def python_type(self) -> type:
        return slice

    def is_constant(self) -> bool:
        return all(p.is_constant() for p in self.parts)

    def constant(self) -> Any:
        return slice(*(p.constant() for p in self.parts))


class IteratorVT(VT):
    """An iterator over a sequence of trackers known while tracing (lists, tuples, ranges,
    zip/enumerate of those, dict keys, the rows of an array)."""

    def __init__(self, items: list[VT]):
        self.items = items
        self.index = 0

    def next(self) -> VT | None:
        if self.index >= len(self.items):
            return None
        self.index += 1
        return self.items[self.index - 1]


class CallableVT(VT):
    """A real callable the tracer knows how to handle: a builtin, NumPy function, operator,
    method descriptor, or a Python function to inline. ``self_vt`` is set for bound methods
    (``x.sum``, ``xs.append``)."""

    def __init__(self, fn: Any, source: Any = None, self_vt: VT | None = None):
        self.fn = fn
        self.source = source
        self.self_vt = self_vt

    def python_type(self) -> type:
        return type(self.fn)

    def is_constant(self) -> bool:
        return self.self_vt is None

    def constant(self) -> Any:
        if self.self_vt is not None:
            raise Unsupported("a bound method is not a constant")
        return self.fn

    def truth(self) -> bool:
        return True

    def __repr__(self) -> str:
        name = getattr(self.fn, "__qualname__", repr(self.fn))
        return f"CallableVT({name}{' bound' if self.self_vt is not None else ''})"


@dataclasses.dataclass
class CellVT(VT):
    """A closure cell created inside the traced code (MAKE_CELL) or read from a function's
    closure."""

    contents: VT | None = None


class FunctionVT(VT):
    """A function made by MAKE_FUNCTION while tracing (a nested def, lambda or 3.11
    comprehension): inlined when called; it cannot escape the graph."""

    def __init__(self, code: Any, globals_: dict, defaults: tuple, kwdefaults: dict | None,
                 closure: tuple[CellVT, ...], globals_source: Any = None):
        self.code = code
        self.globals = globals_
        self.globals_source = globals_source
        self.defaults = defaults
        self.kwdefaults = kwdefaults or {}
        self.closure = closure

    def python_type(self) -> type:
        import types

        return types.FunctionType

    def truth(self) -> bool:
        return True


class ObjectVT(VT):
    """A real Python object read from the inputs (a module, a user object): attribute reads
    go to the real object and are guarded through ``source``."""

    def __init__(self, obj: Any, source: Any = None):
        self.obj = obj
        self.source = source

    def python_type(self) -> type:
        return type(self.obj)

    def truth(self) -> bool:
        cls = type(self.obj)
        if not hasattr(cls, "__bool__") and not hasattr(cls, "__len__"):
            return True
        raise Unsupported(f"truth value of a {cls.__name__} object")

    def __repr__(self) -> str:
        return f"ObjectVT({type(self.obj).__name__})"
