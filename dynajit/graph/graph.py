"""The graph IR: a closed, ordered list of nodes. Node kinds are placeholder (an input),
constant (an array captured by value), call (target = an op record from ``dynajit.ops``) and
output (the single return). Arguments are nodes or Python literals nested in tuples, lists and
dicts; every node carries its meta (a TensorMeta, or a tuple of them for multi-output ops)."""

from __future__ import annotations

import contextlib
import hashlib
import inspect
import keyword
import re
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from dynajit.errors import GraphError
from dynajit.graph.meta import TensorMeta, meta_str

KINDS = ("placeholder", "constant", "call", "output")
# Names generated code uses for itself (see codegen._Source).
_RESERVED = frozenset({"self", "dtype", "inf", "nan"})


def map_nodes(value: Any, fn: Callable[[Node], Any]) -> Any:
    """Rebuild ``value`` (nested tuples/lists/dicts/slices) with every Node replaced by
    ``fn(node)``."""
    if isinstance(value, Node):
        return fn(value)
    if isinstance(value, tuple):
        return tuple(map_nodes(v, fn) for v in value)
    if isinstance(value, list):
        return [map_nodes(v, fn) for v in value]
    if isinstance(value, dict):
        return {k: map_nodes(v, fn) for k, v in value.items()}
    if isinstance(value, slice):
        return slice(map_nodes(value.start, fn), map_nodes(value.stop, fn),
                     map_nodes(value.step, fn))
    return value


def iter_nodes(value: Any) -> Iterator[Node]:
    """Every Node inside ``value``, in order."""
    if isinstance(value, Node):
        yield value
    elif isinstance(value, (tuple, list)):
        for v in value:
            yield from iter_nodes(v)
    elif isinstance(value, dict):
        for v in value.values():
            yield from iter_nodes(v)
    elif isinstance(value, slice):
        yield from iter_nodes((value.start, value.stop, value.step))


class Node:
    """One value in a Graph. Create nodes through Graph methods, not directly."""

    __slots__ = ("graph", "name", "kind", "target", "args", "kwargs", "meta", "users",
                 "source", "_prev", "_next", "_erased")

    def __init__(self, graph: Graph, name: str, kind: str, target: Any,
                 args: tuple, kwargs: dict, meta: Any):
        self.graph = graph
        self.name = name
        self.kind = kind
        self.target = target
        self.args = args
        self.kwargs = kwargs
        self.meta = meta
        self.users: dict[Node, None] = {}
        # Where the value came from in user code ("file.py:12"), filled by capture.
        self.source: str | None = None
        self._prev: Node = self
        self._next: Node = self
        self._erased = False

    @property
    def inputs(self) -> list[Node]:
        """Distinct nodes this node reads, in first-use order."""
        return list(dict.fromkeys(iter_nodes((self.args, self.kwargs))))

    def describe(self) -> str:
        what = self.target.name if self.kind == "call" and hasattr(self.target, "name") else ""
        return f"node '{self.name}' ({self.kind}{' ' + what if what else ''})"

    def replace_all_uses_with(self, new: Node) -> list[Node]:
        """Make every user of this node read ``new`` instead; returns the changed users."""
        if new is self:
            return []
        changed = list(self.users)
        for user in changed:
            user._set_args(map_nodes(user.args, lambda n: new if n is self else n),
                           map_nodes(user.kwargs, lambda n: new if n is self else n))
        return changed

    def _set_args(self, args: tuple, kwargs: dict) -> None:
        for old in self.inputs:
            old.users.pop(self, None)
        self.args, self.kwargs = args, kwargs
        for new in self.inputs:
            new.users[self] = None

    def __repr__(self) -> str:
        return f"%{self.name}"


def _literal_text(value: Any) -> str:
    if isinstance(value, Node):
        return f"%{value.name}"
    if isinstance(value, tuple):
        inner = ", ".join(_literal_text(v) for v in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    if isinstance(value, list):
        return "[" + ", ".join(_literal_text(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k!r}: {_literal_text(v)}" for k, v in value.items()) + "}"
    if isinstance(value, slice):
        return (f"slice({_literal_text(value.start)}, {_literal_text(value.stop)}, "
                f"{_literal_text(value.step)})")
    if isinstance(value, np.dtype):
        return value.name
    if isinstance(value, np.ndarray):
        return f"<{TensorMeta.of(value)} array>"
    if value is Ellipsis:
        return "..."
    return repr(value)


class Graph:
    """An ordered, closed graph of Nodes with exactly one output node at the end."""

    def __init__(self) -> None:
        self._root = Node(self, "__root__", "root", None, (), {}, None)
        self._names: set[str] = set()
        self._insert_before = self._root  # new nodes go right before this node
        self._len = 0

    # ----------------------------------------------------------------------------- building
    def placeholder(self, name: str, meta: TensorMeta) -> Node:
        return self._create("placeholder", name, None, (), {}, meta)

    def constant(self, value: np.ndarray | np.generic, name: str = "const") -> Node:
        value = value if isinstance(value, np.generic) else np.asarray(value)
        return self._create("constant", name, value, (), {}, TensorMeta.of(value))

    def call(self, op: Any, args: tuple = (), kwargs: dict | None = None, *,
             name: str | None = None, meta: Any = None) -> Node:
        """Add a call of op record ``op``; its meta comes from the op's rule unless given."""
        kwargs = dict(kwargs or {})
        if meta is None:
            meta = op.meta_rule(*map_nodes(args, _meta_of), **map_nodes(kwargs, _meta_of))
        return self._create("call", name or op.name, op, tuple(args), kwargs, meta)

    def output(self, value: Any) -> Node:
        if self.output_node is not None:
            raise GraphError("graph already has an output node")
        return self._create("output", "output", None, (value,), {}, None)

    def _create(self, kind: str, name: str, target: Any, args: tuple, kwargs: dict,
                meta: Any) -> Node:
        for n in iter_nodes((args, kwargs)):
            if n.graph is not self or n._erased:
                raise GraphError(f"{n.describe()} is not a live node of this graph")
        node = Node(self, self._unique_name(name), kind, target, (), {}, meta)
        node._set_args(args, kwargs)
        before = self._insert_before
        node._prev, node._next = before._prev, before
        before._prev._next = node
        before._prev = node
        self._len += 1
        return node

    def _unique_name(self, base: str) -> str:
        base = re.sub(r"\W", "_", base) or "v"
        if (base[0].isdigit() or keyword.iskeyword(base) or base in _RESERVED
                or base.startswith(("_op_", "_lit"))):
            base = f"{base}_"
        name, i = base, 0
        while name in self._names:
            i += 1
            name = f"{base}_{i}"
        self._names.add(name)
        return name

    @contextlib.contextmanager
    def inserting_before(self, node: Node) -> Iterator[None]:
        saved, self._insert_before = self._insert_before, node
        try:
            yield
        finally:
            self._insert_before = saved

    @contextlib.contextmanager
    def inserting_after(self, node: Node) -> Iterator[None]:
        with self.inserting_before(node._next):
            yield

    def erase_node(self, node: Node) -> None:
        if node.graph is not self or node._erased:
            raise GraphError(f"{node.describe()} is not a live node of this graph")
        if node.users:
            users = ", ".join(f"'{u.name}'" for u in node.users)
            raise GraphError(f"cannot erase {node.describe()}: still used by {users}")
        node._set_args((), {})
        node._prev._next = node._next
        node._next._prev = node._prev
        node._erased = True
        self._len -= 1

    # ----------------------------------------------------------------------------- reading
    @property
    def nodes(self) -> list[Node]:
        """A snapshot of the nodes in order (safe to mutate the graph while iterating)."""
        out, n = [], self._root._next
        while n is not self._root:
            out.append(n)
            n = n._next
        return out

    def __len__(self) -> int:
        return self._len

    @property
    def last_node(self) -> Node | None:
        last = self._root._prev
        return None if last is self._root else last

    def nodes_after(self, node: Node | None) -> list[Node]:
        """The nodes after ``node`` (all nodes when None), in order."""
        out, n = [], (node or self._root)._next
        while n is not self._root:
            out.append(n)
            n = n._next
        return out

    @property
    def placeholders(self) -> list[Node]:
        return [n for n in self.nodes if n.kind == "placeholder"]

    @property
    def output_node(self) -> Node | None:
        last = self._root._prev
        return last if last.kind == "output" else None

    def call_nodes(self) -> list[Node]:
        return [n for n in self.nodes if n.kind == "call"]

    # ----------------------------------------------------------------------------- checking
    def verify(self) -> None:
        """Check structure and re-run every op's shape/dtype rule; raise GraphError naming
        the first offending node."""
        from dynajit.ops.registry import OpDef, is_registered

        seen: set[Node] = set()
        nodes = self.nodes
        for i, node in enumerate(nodes):
            where = node.describe()
            if node.kind not in KINDS:
                raise GraphError(f"{where}: unknown node kind {node.kind!r}")
            for arg in node.inputs:
                if arg._erased:
                    raise GraphError(f"{where}: uses erased node '{arg.name}'")
                if arg.graph is not self:
                    raise GraphError(f"{where}: uses node '{arg.name}' of another graph")
                if arg not in seen:
                    raise GraphError(f"{where}: uses '{arg.name}' before it is defined "
                                     "(cycle or misordered nodes)")
                if node not in arg.users:
                    raise GraphError(f"{where}: missing from the users of '{arg.name}'")
                if arg.kind == "output":
                    raise GraphError(f"{where}: reads the output node")
            if node.kind == "output":
                if i != len(nodes) - 1:
                    raise GraphError(f"{where}: the output node must be last")
            elif node.kind == "call":
                self._verify_call(node, OpDef, is_registered)
            elif node.kind in ("placeholder", "constant") and not isinstance(
                    node.meta, TensorMeta):
                raise GraphError(f"{where}: has no TensorMeta")
            seen.add(node)
        if not nodes or nodes[-1].kind != "output":
            raise GraphError("graph has no output node")

    def _verify_call(self, node: Node, opdef_type: type, is_registered: Callable) -> None:
        where = node.describe()
        op = node.target
        if not isinstance(op, opdef_type) or not is_registered(op):
            raise GraphError(f"{where}: target {op!r} is not a registered op")
        try:
            inspect.signature(op.impl).bind(*node.args, **node.kwargs)
        except TypeError as e:
            raise GraphError(f"{where}: wrong arguments for op '{op.name}': {e}") from None
        try:
            expected = op.meta_rule(*map_nodes(node.args, _meta_of),
                                    **map_nodes(node.kwargs, _meta_of))
        except Exception as e:
            raise GraphError(f"{where}: shape/dtype rule of '{op.name}' failed: "
                             f"{type(e).__name__}: {e}") from None
        if expected != node.meta:
            raise GraphError(f"{where}: recorded meta {meta_str(node.meta)} but the rule of "
                             f"'{op.name}' gives {meta_str(expected)}")

    # ----------------------------------------------------------------------------- text
    def __str__(self) -> str:
        params = ", ".join(f"{p.name}: {p.meta}" for p in self.placeholders)
        lines = [f"graph({params}):"]
        for node in self.nodes:
            if node.kind == "placeholder":
                continue
            if node.kind == "output":
                lines.append(f"  return {_literal_text(node.args[0])}")
            elif node.kind == "constant":
                lines.append(f"  %{node.name} = constant {node.meta}")
            else:
                parts = [_literal_text(a) for a in node.args]
                parts += [f"{k}={_literal_text(v)}" for k, v in node.kwargs.items()]
                lines.append(f"  %{node.name} = {node.target.name}({', '.join(parts)})"
                             f" : {meta_str(node.meta)}")
        return "\n".join(lines)

    def structural_hash(self) -> str:
        """A hash of what the graph computes: ops, argument structure, literals, metas and
        constant bytes. Independent of node names, so it can key caches."""
        index = {n: i for i, n in enumerate(self.nodes)}
        h = hashlib.sha256()

        def lit(value: Any) -> str:
            if isinstance(value, Node):
                return f"#{index[value]}"
            if isinstance(value, (tuple, list)):
                return f"{type(value).__name__}(" + ",".join(lit(v) for v in value) + ")"
            if isinstance(value, dict):
                return "dict(" + ",".join(f"{k!r}:{lit(v)}" for k, v in value.items()) + ")"
            if isinstance(value, slice):
                return f"slice({lit(value.start)},{lit(value.stop)},{lit(value.step)})"
            if isinstance(value, np.dtype):
                return f"dtype({value.str})"
            return f"{type(value).__name__}:{value!r}"

        for node in self.nodes:
            target = node.target.name if node.kind == "call" else ""
            h.update(f"{node.kind}|{target}|{lit(node.args)}|{lit(node.kwargs)}|"
                     f"{meta_str(node.meta)}\n".encode())
            if node.kind == "constant":
                h.update(np.ascontiguousarray(node.target).tobytes())
        return h.hexdigest()


def _meta_of(node: Node) -> Any:
    return node.meta
