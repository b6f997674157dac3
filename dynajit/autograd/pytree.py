"""Pytrees of the gradient API: tuples, lists and dicts nesting arrays (a parameters dict, a
list of layers). A ``TreeDef`` is the structure without the leaves; gradients come back in
the structure of the arguments they belong to."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any


@dataclasses.dataclass(frozen=True)
class TreeDef:
    """``kind`` is "leaf", "tuple", "list" or "dict"; ``keys`` the dict's keys in order;
    ``children`` the sub-structures."""

    kind: str
    children: tuple[TreeDef, ...] = ()
    keys: tuple = ()

    @property
    def leaf_count(self) -> int:
        return 1 if self.kind == "leaf" else sum(c.leaf_count for c in self.children)

    def __str__(self) -> str:
        if self.kind == "leaf":
            return "*"
        inner = ", ".join(f"{k!r}: {c}" if self.kind == "dict" else str(c)
                          for k, c in zip(self.keys or [None] * len(self.children),
                                          self.children))
        return {"tuple": f"({inner})", "list": f"[{inner}]", "dict": f"{{{inner}}}"}[self.kind]


def flatten(value: Any, is_node: Callable[[Any], Any] | None = None) -> tuple[list, TreeDef]:
    """The leaves of ``value`` (depth first, dict values in key order) and its structure.
    ``is_node(v)`` returns ``("tuple"|"list", items)`` or ``("dict", mapping)`` for
    containers and None for leaves (default: Python tuples, lists and dicts)."""
    is_node = is_node or python_container
    leaves: list = []

    def walk(v: Any) -> TreeDef:
        container = is_node(v)
        if container is None:
            leaves.append(v)
            return TreeDef("leaf")
        kind, items = container
        if kind == "dict":
            return TreeDef("dict", tuple(walk(x) for x in items.values()), tuple(items))
        return TreeDef(kind, tuple(walk(x) for x in items))

    return leaves, walk(value)


def python_container(value: Any) -> tuple[str, Any] | None:
    if type(value) is tuple:
        return "tuple", value
    if type(value) is list:
        return "list", value
    if type(value) is dict:
        return "dict", value
    return None


def unflatten(tree: TreeDef, leaves: list) -> Any:
    """The Python value of structure ``tree`` holding ``leaves``."""
    it = iter(leaves)

    def build(t: TreeDef) -> Any:
        if t.kind == "leaf":
            return next(it)
        items = [build(c) for c in t.children]
        if t.kind == "dict":
            return dict(zip(t.keys, items))
        return tuple(items) if t.kind == "tuple" else items

    return build(tree)


__all__ = ["TreeDef", "flatten", "python_container", "unflatten"]
