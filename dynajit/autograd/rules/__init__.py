"""VJP rules, one module per op family, attached to the op records (``OPS[name].vjp``) when
this package is imported.

A rule is ``rule(e: Emitter, node: Node, g) -> iterable of (input, thunk)``: ``node`` is the
forward call, ``g`` its cotangent (a Node; for a multi-output op a tuple with one cotangent
or None per output), and each pair names an input of ``node`` and a zero-argument function
that emits the cotangent contribution for it. The walker calls a thunk only when that input
needs a gradient, then fits the result to the input's shape and dtype (``Emitter.fit``: sums
over broadcast dimensions, casts), so rules may return broadcast-shaped or
differently-typed cotangents. Inputs that are Python literals or non-float values are
skipped by the walker; an op whose outputs carry no gradient in a direction yields no pair
for it (a zero contribution)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from typing import Any

from dynajit.graph.graph import Node
from dynajit.ops.registry import OPS

Rule = Callable[..., Iterable[tuple[Any, Callable[[], Any]]]]
RULES: dict[str, Rule] = {}


@dataclasses.dataclass
class TupleCotangent:
    """The cotangent one ``tuple_item`` reader contributes to output ``index`` of a
    multi-output op."""

    index: int
    value: Node


def vjp_rule(*names: str) -> Callable[[Rule], Rule]:
    """Register the decorated rule for the ops ``names`` (ops this NumPy lacks are
    skipped: the vector gufuncs are optional)."""

    def deco(rule: Rule) -> Rule:
        for name in names:
            if name in RULES:
                raise ValueError(f"op {name!r} has two VJP rules")
            RULES[name] = rule
        return rule

    return deco


def no_gradient(e: Any, node: Node, g: Any) -> Iterable[tuple[Any, Callable[[], Any]]]:
    """Piecewise-constant ops (floor, sign, comparisons, ...): every input's cotangent is
    zero, so no contribution."""
    return ()


def attach() -> None:
    """Fill ``OPS[name].vjp`` from the rule tables (idempotent)."""
    for name, rule in RULES.items():
        op = OPS.get(name)
        if op is not None:
            op.vjp = rule


from dynajit.autograd.rules import (  # noqa: E402  (each module registers its rules)
    creation,
    elementwise,
    indexing,
    linalg,
    reductions,
    shape,
)

__all__ = ["RULES", "TupleCotangent", "attach", "creation", "elementwise", "indexing",
           "linalg", "no_gradient", "reductions", "shape", "vjp_rule"]
