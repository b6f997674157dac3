"""Graph passes: dead-code elimination, common-subexpression elimination and shape
propagation. Each takes a Graph, changes it in place, and returns what it changed."""

from __future__ import annotations

from typing import Any

import numpy as np

from dynajit.graph.graph import Graph, Node, map_nodes
from dynajit.graph.meta import TensorMeta


def eliminate_dead_code(graph: Graph) -> int:
    """Erase pure call nodes and constants whose values nobody reads. Returns the count."""
    removed = 0
    for node in reversed(graph.nodes):
        if node.users or node.kind not in ("call", "constant"):
            continue
        if node.kind == "call" and not node.target.pure:
            continue
        graph.erase_node(node)
        removed += 1
    return removed


def _key(value: Any) -> Any:
    """A hashable key for a node's arguments (nodes by identity, literals by type+value)."""
    if isinstance(value, Node):
        return ("node", id(value))
    if isinstance(value, (tuple, list)):
        return (type(value).__name__, tuple(_key(v) for v in value))
    if isinstance(value, dict):
        return ("dict", tuple((k, _key(v)) for k, v in value.items()))
    if isinstance(value, slice):
        return ("slice", _key(value.start), _key(value.stop), _key(value.step))
    if isinstance(value, np.ndarray):
        return ("array", id(value))
    try:
        hash(value)
    except TypeError:
        return ("object", id(value))
    # type is part of the key: 1, 1.0 and True are equal in Python but not to NumPy.
    return (type(value), value)


def eliminate_common_subexpressions(graph: Graph) -> int:
    """Merge call nodes with the same deterministic op, arguments and meta. Returns the
    number of nodes removed."""
    seen: dict[Any, Node] = {}
    removed = 0
    for node in graph.nodes:
        if node.kind != "call" or not node.target.deterministic or not node.target.pure:
            continue
        key = (id(node.target), _key(node.args), _key(node.kwargs))
        first = seen.get(key)
        if first is None:
            seen[key] = node
            continue
        node.replace_all_uses_with(first)
        graph.erase_node(node)
        removed += 1
    return removed


def propagate_shapes(graph: Graph, input_metas: list[TensorMeta] | None = None) -> None:
    """Recompute every call node's meta from its op's rule, optionally after giving the
    placeholders new metas (e.g. to specialize a graph to other input shapes)."""
    if input_metas is not None:
        placeholders = graph.placeholders
        if len(input_metas) != len(placeholders):
            raise ValueError(f"expected {len(placeholders)} input metas, got "
                             f"{len(input_metas)}")
        for p, m in zip(placeholders, input_metas):
            p.meta = m
    for node in graph.nodes:
        if node.kind == "call":
            node.meta = node.target.meta_rule(*map_nodes(node.args, _meta),
                                              **map_nodes(node.kwargs, _meta))


def _meta(node: Node) -> Any:
    return node.meta
