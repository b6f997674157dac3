"""GraphModule: a Graph turned into readable Python source (``def forward(self, x: "f32[4,
8]")``), compiled, registered with linecache so tracebacks show the generated lines, and
callable."""

from __future__ import annotations

import itertools
import linecache
import math
import types
from typing import Any

import numpy as np

from dynajit.graph.graph import Graph, Node
from dynajit.graph.meta import meta_str

_counter = itertools.count()


class _Source:
    """Collects generated lines and the objects they reference by name."""

    def __init__(self) -> None:
        self.globals: dict[str, Any] = {"dtype": np.dtype, "inf": math.inf, "nan": math.nan}
        self._ids: dict[int, str] = {}

    def name_for(self, obj: Any, hint: str) -> str:
        key = id(obj)
        if key not in self._ids:
            name = hint
            i = 0
            while name in self.globals:
                i += 1
                name = f"{hint}_{i}"
            self.globals[name] = obj
            self._ids[key] = name
        return self._ids[key]

    def literal(self, value: Any) -> str:
        if isinstance(value, Node):
            return value.name
        # Exact types: NumPy scalars subclass float/int but do not print as Python code.
        if value is None or value is Ellipsis or type(value) in (bool, int, str):
            return repr(value)
        if type(value) is float:
            if math.isnan(value):
                return "nan"
            if math.isinf(value):
                return "inf" if value > 0 else "-inf"
            return repr(value)
        if isinstance(value, tuple):
            inner = ", ".join(self.literal(v) for v in value)
            return f"({inner},)" if len(value) == 1 else f"({inner})"
        if isinstance(value, list):
            return "[" + ", ".join(self.literal(v) for v in value) + "]"
        if isinstance(value, dict):
            return "{" + ", ".join(f"{k!r}: {self.literal(v)}" for k, v in value.items()) + "}"
        if isinstance(value, slice):
            return (f"slice({self.literal(value.start)}, {self.literal(value.stop)}, "
                    f"{self.literal(value.step)})")
        if isinstance(value, np.dtype):
            return f"dtype({value.str!r})"
        # Anything whose repr does not round-trip (NumPy scalars, complex, objects) is
        # passed by reference.
        return self.name_for(value, "_lit")


def python_source(graph: Graph, impl_of: Any = None) -> tuple[str, dict[str, Any]]:
    """Source of ``forward`` for ``graph`` and the globals it needs. ``impl_of(op)`` picks
    the callable each op runs (default: the op's eager NumPy implementation). The globals
    include ``__line_nodes__``: line number -> the node computed on that line."""
    src = _Source()
    line_nodes: dict[int, Node] = {}
    params = ["self"] + [f'{p.name}: "{p.meta}"' for p in graph.placeholders]
    lines = [f"def forward({', '.join(params)}):"]
    for node in graph.nodes:
        if node.kind == "placeholder":
            continue
        if node.kind == "output":
            lines.append(f"    return {src.literal(node.args[0])}")
            continue
        if node.kind == "constant":
            rhs = f"self.constants[{node.name!r}]"
        else:
            fn = (impl_of or (lambda op: op.impl))(node.target)
            fname = src.name_for(fn, f"_op_{node.target.name}")
            parts = [src.literal(a) for a in node.args]
            parts += [f"{k}={src.literal(v)}" for k, v in node.kwargs.items()]
            rhs = f"{fname}({', '.join(parts)})"
        where = f"  # {meta_str(node.meta)}" + (f"  ({node.source})" if node.source else "")
        lines.append(f"    {node.name} = {rhs}{where}")
        line_nodes[len(lines)] = node
    if len(lines) == 1 or graph.output_node is None:
        lines.append("    return None")
    src.globals["__line_nodes__"] = line_nodes
    return "\n".join(lines) + "\n", src.globals


class GraphModule:
    """A compiled, callable form of a Graph. ``code`` is the generated source."""

    def __init__(self, graph: Graph, impl_of: Any = None, name: str = "forward"):
        self.graph = graph
        self.code, namespace = python_source(graph, impl_of)
        self.constants = {n.name: n.target for n in graph.nodes if n.kind == "constant"}
        self.filename = f"<dynajit-graph-{next(_counter)}-{name}>"
        from dynajit.config import config

        if config.register_source:
            lines = self.code.splitlines(keepends=True)
            linecache.cache[self.filename] = (len(self.code), None, lines, self.filename)
        exec(compile(self.code, self.filename, "exec"), namespace)
        # A bound method of the generated function: calling it costs one Python call.
        self.forward = types.MethodType(namespace["forward"], self)
        self.line_nodes: dict[int, Node] = namespace["__line_nodes__"]

    def __call__(self, *args: Any) -> Any:
        return self.forward(*args)

    def node_at_line(self, lineno: int) -> Node | None:
        """The node whose value line ``lineno`` of the generated source computes."""
        return self.line_nodes.get(lineno)

    def __del__(self) -> None:
        linecache.cache.pop(getattr(self, "filename", None), None)

    def __repr__(self) -> str:
        return f"GraphModule({self.filename})\n{self.code}"
