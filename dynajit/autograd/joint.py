"""Reverse-mode differentiation as a table walk: ``differentiate`` walks a graph's nodes
backwards from the outputs and appends, for every node on a path from the inputs being
differentiated, its op's VJP rule applied to the cotangent accumulated for it.
``build_joint`` makes the joint forward+backward graph the partitioners split."""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Sequence
from typing import Any

import numpy as np

from dynajit.autograd.emit import Emitter, carries_gradient, is_float
from dynajit.autograd.rules import TupleCotangent
from dynajit.errors import Unsupported
from dynajit.graph.graph import Graph, Node
from dynajit.graph.meta import TensorMeta


def differentiate(graph: Graph, outputs: Sequence[Node], cotangents: Sequence[Node | None],
                  wrt: Sequence[Node], region: Collection[Node] | None = None
                  ) -> list[Node | None]:
    """Append to ``graph`` the nodes computing, for each node of ``wrt``, the sum over
    ``outputs`` of cotangent · ∂output/∂wrt (None where no differentiable path joins
    them). Only nodes of ``region`` (default: every node) are differentiated through;
    values from outside it, and non-float values, count as constants. Cotangents are
    fitted to each value's shape and dtype; results have ``wrt``'s shape and dtype (not
    necessarily its scalar-ness: see ``Emitter.finalize``)."""
    e = Emitter(graph)
    nodes = graph.nodes
    inside = set(nodes) if region is None else set(region)
    targets = set(wrt)
    active: set[Node] = {t for t in targets if carries_gradient(t.meta)}
    for node in nodes:
        if (node.kind == "call" and node in inside and node not in targets
                and carries_gradient(node.meta) and _computes_in_float(node)
                and any(i in active for i in node.inputs)):
            active.add(node)
    needed = {o for o in outputs if o in active}
    for node in reversed(nodes):
        if node in needed and node not in targets:
            needed.update(i for i in node.inputs if i in active)
    cts: dict[Node, Any] = {}
    for out, ct in zip(outputs, cotangents):
        if out in needed and ct is not None:
            _accumulate(e, cts, out, e.fit(ct, out.meta))
    for node in reversed(nodes):
        if node not in needed or node in targets or node not in cts:
            continue
        g = cts.pop(node)
        if isinstance(node.meta, tuple):
            g = tuple(g)
        op = node.target
        if not op.differentiable or op.vjp is None:
            what = "is marked not differentiable" if not op.differentiable else (
                "has no VJP rule")
            where = f" (from {node.source})" if node.source else ""
            raise Unsupported(f"cannot differentiate through op '{op.name}'{where}: it {what}")
        for inp, thunk in op.vjp(e, node, g):
            if not isinstance(inp, Node) or inp not in needed:
                continue
            ct = thunk()
            if ct is None:
                continue
            if isinstance(ct, TupleCotangent):
                _accumulate_item(e, cts, inp, ct)
            else:
                _accumulate(e, cts, inp, e.fit(ct, inp.meta))
    return [cts.get(w) for w in wrt]


def _computes_in_float(node: Node) -> bool:
    """A ``dtype=`` other than a float makes the op compute in integers or bools (then
    cast): piecewise constant, so no gradient flows through it."""
    dtype = node.kwargs.get("dtype")
    return dtype is None or np.dtype(dtype).kind == "f"


def _accumulate(e: Emitter, cts: dict, node: Node, ct: Node) -> None:
    previous = cts.get(node)
    cts[node] = ct if previous is None else e.add(previous, ct)


def _accumulate_item(e: Emitter, cts: dict, node: Node, ct: TupleCotangent) -> None:
    parts = cts.setdefault(node, [None] * len(node.meta))
    meta = node.meta[ct.index]
    if not is_float(meta):
        return
    value = e.fit(ct.value, meta)
    previous = parts[ct.index]
    parts[ct.index] = value if previous is None else e.add(previous, value)


def gradients_for(graph: Graph, outputs: Sequence[Node], cotangents: Sequence[Node | None],
                  wrt: Sequence[Node], region: Collection[Node] | None = None) -> list[Node]:
    """``differentiate``, with zeros where there is no path and every result of exactly
    its input's meta (NumPy scalar for a scalar input, ndarray for an array input)."""
    e = Emitter(graph)
    grads = differentiate(graph, outputs, cotangents, wrt, region)
    return [e.zeros_like(w.meta) if g is None else e.finalize(g, w.meta)
            for g, w in zip(grads, wrt)]


@dataclasses.dataclass
class JointGraph:
    """One graph computing the forward outputs and the gradients: placeholders are the
    primals then one tangent (cotangent seed) per differentiated output; the output tuple
    is the forward outputs then one gradient per differentiated input."""

    graph: Graph
    primals: list[Node]
    tangents: list[Node]
    forward_outputs: list[Node]
    gradients: list[Node]


def build_joint(forward: Graph, forward_outputs: Sequence[Node], differentiated: Sequence[Node],
                wrt: Sequence[Node]) -> JointGraph:
    """Turn ``forward`` (placeholders, then calls, no output node yet) into the joint graph:
    a tangent placeholder per node of ``differentiated`` (outputs to differentiate, among
    the forward values), the backward nodes, and the output node."""
    if forward.output_node is not None:
        raise ValueError("build_joint expects a graph without its output node")
    primals = forward.placeholders
    tangents = []
    first_call = next((n for n in forward.nodes if n.kind != "placeholder"), None)
    for i, out in enumerate(differentiated):
        meta = TensorMeta(out.meta.shape, out.meta.dtype)
        if first_call is None:
            tangents.append(forward.placeholder(f"tangent_{i}", meta))
        else:
            with forward.inserting_before(first_call):
                tangents.append(forward.placeholder(f"tangent_{i}", meta))
    grads = gradients_for(forward, differentiated, tangents, wrt)
    forward.output((*forward_outputs, *grads))
    return JointGraph(forward, list(primals), tangents, list(forward_outputs), grads)


def ones_seed(meta: TensorMeta) -> np.ndarray:
    """The cotangent seed of a scalar output for ``grad``: 1 of its dtype (a 0-d array)."""
    return np.ones(meta.shape, dtype=meta.dtype)


__all__ = ["JointGraph", "build_joint", "differentiate", "gradients_for", "ones_seed"]
