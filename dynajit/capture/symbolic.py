"""``symbolic_trace(fn, *example_inputs)``: run ``fn`` once with SymbolicArray stand-ins
for its array arguments and record every NumPy operation into a Graph through the op
registry. It sees only what NumPy's dispatch protocols and Python's operators show it, so
control flow that depends on array values cannot be traced (it raises Unsupported with the
place); the bytecode tracer handles those with graph breaks."""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Callable
from typing import Any

import numpy as np

from dynajit.errors import Unsupported
from dynajit.graph.graph import Graph, Node
from dynajit.graph.meta import TensorMeta
from dynajit.ops.registry import attribute, bind, describe_callable, emit, lookup
from dynajit.ops.shape import TUPLE_ITEM


def _user_location() -> str:
    """file:line of the innermost frame outside dynajit (where the user's code is)."""
    frame = sys._getframe(1)
    while frame is not None and frame.f_globals.get("__name__", "").startswith("dynajit."):
        frame = frame.f_back
    if frame is None:
        return "<unknown>"
    return f"{frame.f_code.co_filename}:{frame.f_lineno}"


class SymbolicArray:
    """Stands for an ndarray (or NumPy scalar) while tracing; holds the graph node whose
    value it is. In-place updates rebind it to a new node (graphs are functional)."""

    __array_priority__ = 1000

    def __init__(self, tracer: _Tracer, node: Node):
        self._tracer = tracer
        self.node = node

    # Static facts come from the meta.
    shape = property(lambda self: self.node.meta.shape)
    dtype = property(lambda self: self.node.meta.dtype)
    ndim = property(lambda self: self.node.meta.ndim)
    size = property(lambda self: self.node.meta.size)

    def __len__(self) -> int:
        if not self.shape:
            raise TypeError("len() of unsized object")
        return self.shape[0]

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    def __array_ufunc__(self, ufunc: np.ufunc, method: str, *inputs: Any, **kwargs: Any):
        if method != "__call__":
            raise Unsupported(f"np.{ufunc.__name__}.{method} is not supported "
                              f"({_user_location()})")
        return self._tracer.call(ufunc, inputs, kwargs)

    def __array_function__(self, func: Any, types: Any, args: tuple, kwargs: dict):
        return self._tracer.call(func, args, kwargs)

    def __getattr__(self, name: str) -> Any:
        if lookup(attribute(name)) is not None:
            return self._tracer.call(attribute(name), (self,), {})
        method = getattr(np.ndarray, name, None)
        if method is not None and callable(method):
            return lambda *args, **kwargs: self._tracer.call(method, (self, *args), kwargs)
        raise AttributeError(f"'ndarray' object has no attribute {name!r}")

    def _data_dependent(self, what: str) -> Any:
        raise Unsupported(f"{what} of an array value depends on the data and cannot be traced "
                          f"symbolically ({_user_location()})")

    def __bool__(self) -> bool:
        return self._data_dependent("bool()")

    def __float__(self) -> float:
        return self._data_dependent("float()")

    def __int__(self) -> int:
        return self._data_dependent("int()")

    def __index__(self) -> int:
        return self._data_dependent("using as an index")

    def __complex__(self) -> complex:
        return self._data_dependent("complex()")

    def __array__(self, *args: Any, **kwargs: Any) -> np.ndarray:
        return self._data_dependent("conversion to a concrete ndarray")

    def __repr__(self) -> str:
        return f"SymbolicArray({self.node.name}: {self.node.meta})"

    __hash__ = None  # like ndarray


def _install_dunders() -> None:
    """Every ndarray operator dunder the registry can bind forwards to the registry."""
    for name in dir(np.ndarray):
        if not (name.startswith("__") and name.endswith("__")):
            continue
        if name in vars(SymbolicArray) or name in ("__getattribute__", "__setattr__",
                                                    "__init__", "__new__", "__class__"):
            continue
        method = getattr(np.ndarray, name)
        if lookup(method) is None:
            continue

        def forward(self: SymbolicArray, *args: Any, _m: Any = method) -> Any:
            return self._tracer.call(_m, (self, *args), {})

        forward.__name__ = name
        setattr(SymbolicArray, name, forward)


@dataclasses.dataclass
class TraceResult:
    graph: Graph
    output_structure: Any  # the outputs' Python structure, with nodes in place of arrays


class _Tracer:
    def __init__(self) -> None:
        self.graph = Graph()

    def wrap(self, node: Node) -> Any:
        if isinstance(node.meta, tuple):
            items = [self.wrap(self.graph.call(TUPLE_ITEM, (node, i)))
                     for i in range(len(node.meta))]
            return node.target.output_container(items)
        return SymbolicArray(self, node)

    def to_graph_value(self, value: Any) -> Any:
        if isinstance(value, SymbolicArray):
            return value.node
        if isinstance(value, (np.ndarray, np.generic)):
            return self.graph.constant(value)
        if isinstance(value, tuple):
            return tuple(self.to_graph_value(v) for v in value)
        if isinstance(value, list):
            return [self.to_graph_value(v) for v in value]
        if isinstance(value, dict):
            return {k: self.to_graph_value(v) for k, v in value.items()}
        return value

    def call(self, fn: Any, args: tuple, kwargs: dict) -> Any:
        g_args, g_kwargs = self.to_graph_value(tuple(args)), self.to_graph_value(dict(kwargs))
        try:
            bound = bind(fn, g_args, g_kwargs)
        except Unsupported as e:
            raise Unsupported(f"{e.reason} ({_user_location()})") from None
        if bound is None:
            raise Unsupported(f"{describe_callable(fn)}: no array argument to trace "
                              f"({_user_location()})")
        before = self.graph.last_node
        node = emit(self.graph, bound)
        where = _user_location()
        for new in self.graph.nodes_after(before):
            new.source = new.source or where
        if getattr(bound, "out", None) is not None:
            target = next(a for a in (*args, *kwargs.values())
                          if isinstance(a, SymbolicArray) and a.node is bound.out)
            target.node = node  # the written array now holds the new value
            return target
        return self.wrap(node)


def symbolic_trace(fn: Callable[..., Any], *example_inputs: Any) -> TraceResult:
    """Trace ``fn`` on ``example_inputs`` (ndarrays or NumPy scalars become graph inputs
    with their shapes and dtypes; anything else is passed through as a constant).

    >>> r = symbolic_trace(lambda x: np.tanh(x) * 2, np.ones((2, 3), np.float32))
    >>> print(r.graph)
    graph(x0: f32[2, 3]):
      %tanh = tanh(%x0) : f32[2, 3]
      %multiply = multiply(%tanh, 2) : f32[2, 3]
      return %multiply
    """
    tracer = _Tracer()
    args: list[Any] = []
    inputs: list[SymbolicArray] = []
    for i, value in enumerate(example_inputs):
        if isinstance(value, (np.ndarray, np.generic)):
            proxy = SymbolicArray(tracer, tracer.graph.placeholder(f"x{i}",
                                                                   TensorMeta.of(value)))
            inputs.append(proxy)
            args.append(proxy)
        else:
            args.append(value)
    result = fn(*args)
    for proxy in inputs:
        if proxy.node.kind != "placeholder":
            raise Unsupported(f"symbolic_trace: {fn.__qualname__} writes into its input "
                              f"{proxy.node.name}; in-place updates of inputs need "
                              "dynajit.compile")
    structure = tracer.to_graph_value(result)
    tracer.graph.output(structure)
    return TraceResult(tracer.graph, structure)


_install_dunders()
