"""Partitioners: split a joint graph into a forward graph (primals -> forward outputs and
saved values) and a backward graph (saved values and tangents -> gradients).

``save_all`` saves every forward value the backward reads. ``min_cut`` chooses the saved
set with the smallest total size: a max-flow/min-cut (networkx) over the joint graph, each
value a node of capacity = its bytes, primal inputs and forward outputs free (they exist
anyway), so that cheap ops (the op record's ``recomputable`` flag) are recomputed in the
backward from what is saved. Never recomputed (forced into the forward): ops not
``recomputable`` (matrix products, prod, var, scans), nondeterministic ops, and reductions
whose inputs are more than ``config.recompute_reduction_ratio`` times their output."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Collection, Iterable, Sequence
from typing import Any

import networkx as nx

from dynajit.autograd.joint import JointGraph
from dynajit.config import config
from dynajit.errors import DynajitError
from dynajit.graph.graph import Graph, Node, map_nodes
from dynajit.graph.meta import TensorMeta, meta_str

PARTITIONERS = ("min_cut", "save_all")


@dataclasses.dataclass
class SavedValue:
    """One value the forward hands to the backward."""

    name: str
    meta: str
    nbytes: int
    kind: str  # "input", "output" (free: they exist anyway) or "intermediate"

    def as_record(self) -> dict:
        return dataclasses.asdict(self)


@dataclasses.dataclass
class Partition:
    """The result of a partitioner: two graphs and what passes between them."""

    method: str
    forward: Graph  # primals -> (*forward outputs, *saved)
    backward: Graph  # (*saved, *tangents) -> gradients
    saved: list[SavedValue]
    recomputed: list[str]  # forward ops the backward computes again (op names)
    forward_output_count: int

    @property
    def saved_bytes(self) -> int:
        """Bytes held only for the backward (intermediates; inputs and outputs are free)."""
        return sum(s.nbytes for s in self.saved if s.kind == "intermediate")

    @property
    def free_saved_bytes(self) -> int:
        return sum(s.nbytes for s in self.saved if s.kind != "intermediate")

    def as_record(self) -> dict:
        """The trace record of the decision (``dynajit_partition``)."""
        return {"partitioner": self.method, "saved_bytes": self.saved_bytes,
                "free_saved_bytes": self.free_saved_bytes,
                "saved": [s.as_record() for s in self.saved],
                "recomputed": self.recomputed,
                "forward_ops": len(self.forward.call_nodes()),
                "backward_ops": len(self.backward.call_nodes())}


def nbytes(meta: Any) -> int:
    if isinstance(meta, tuple):
        return sum(nbytes(m) for m in meta)
    return int(meta.nbytes) if isinstance(meta, TensorMeta) else 0


def partition(joint: JointGraph, method: str | None = None,
              mutated: Collection[Node] = ()) -> Partition:
    """Split ``joint`` with ``method`` (default ``config.partitioner``). ``mutated`` are
    primals the caller writes in place after the forward ran: saving one costs a copy, so
    it is not a free save."""
    method = method or config.partitioner
    if method not in PARTITIONERS:
        raise DynajitError(f"unknown partitioner {method!r}; choose one of "
                           f"{', '.join(PARTITIONERS)}")
    info = _Analysis(joint, set(mutated))
    saved = info.min_cut() if method == "min_cut" else info.save_all()
    return info.split(method, saved)


class _Analysis:
    """Which joint nodes the forward must compute, which depend on the tangents, and
    what each one costs to save."""

    def __init__(self, joint: JointGraph, mutated: set[Node]):
        self.joint = joint
        self.mutated = mutated
        self.nodes = [n for n in joint.graph.nodes if n.kind != "output"]
        self.tangent_dependent = _descendants(self.nodes, joint.tangents)
        self.forward_required = _ancestors(joint.forward_outputs)
        self.backward_required = _ancestors(joint.gradients)
        self.free = ({p for p in joint.primals if p not in mutated}
                     | set(joint.forward_outputs))

    def kind_of(self, node: Node) -> str:
        if node in self.joint.primals:
            return "input" if node in self.free else "intermediate"
        return "output" if node in self.free else "intermediate"

    # ------------------------------------------------------------------------- save_all
    def save_all(self) -> list[Node]:
        """Every forward value (the forward outputs' ancestors, plus readers of a
        multi-output value: tuples are never saved whole) that the backward reads."""
        forward = set(self.forward_required)
        for node in self.nodes:
            if (node.kind == "call" and node.target.name == "tuple_item"
                    and node.args[0] in forward and node not in self.tangent_dependent):
                forward.add(node)
        saved = []
        for node in self.nodes:
            if node not in forward or node.kind == "constant":
                continue
            readers = [u for u in node.users if u.kind != "output" and u not in forward]
            is_gradient = any(node is g for g in self.joint.gradients)
            if ((is_gradient or any(u in self.backward_required for u in readers))
                    and not isinstance(node.meta, tuple)):
                saved.append(node)
        return saved

    # ------------------------------------------------------------------------- min_cut
    def banned(self, node: Node) -> bool:
        """Ops the backward must never compute again."""
        op = node.target
        if not op.recomputable or not op.deterministic:
            return True
        if op.reduction:
            reads = sum(nbytes(i.meta) for i in node.inputs)
            return reads > config.recompute_reduction_ratio * max(nbytes(node.meta), 1)
        return False

    def min_cut(self) -> list[Node]:
        flow = nx.DiGraph()
        considered = self.forward_required | self.backward_required
        for node in self.nodes:
            if node not in considered:
                continue
            into, out = ("in", node), ("out", node)
            if isinstance(node.meta, tuple) or node in self.tangent_dependent or (
                    node.kind == "placeholder" and node not in self.joint.primals):
                capacity = math.inf  # never saved: tuples, backward values, tangents
            elif node in self.free:
                capacity = 0
            else:
                capacity = nbytes(node.meta)
            flow.add_edge(into, out, capacity=capacity)
            if node in self.joint.primals:
                flow.add_edge("source", into, capacity=math.inf)
            if node.kind == "call" and node in self.forward_required and self.banned(node):
                flow.add_edge("source", into, capacity=math.inf)
            if node in self.tangent_dependent and node in self.backward_required:
                flow.add_edge(into, "sink", capacity=math.inf)
            for user in node.users:
                if user in considered and user.kind != "output":
                    flow.add_edge(out, ("in", user), capacity=math.inf)
        for g in self.joint.gradients:  # a gradient that needs no tangent still comes out
            flow.add_edge(("out", g), "sink", capacity=math.inf)
        if "source" not in flow or "sink" not in flow:
            return []
        value, (reachable, _) = nx.minimum_cut(flow, "source", "sink")
        if value == math.inf:
            raise DynajitError("min_cut partitioner found no finite cut of the joint graph")
        return [n for n in self.nodes if n in considered and ("in", n) in reachable
                and ("out", n) not in reachable]

    # ------------------------------------------------------------------------- the split
    def split(self, method: str, saved: list[Node]) -> Partition:
        joint = self.joint
        fwd_outputs = list(joint.forward_outputs)
        forward = extract(joint.graph, joint.primals, fwd_outputs + saved)
        backward = extract(joint.graph, saved + joint.tangents, joint.gradients)
        inputs = set(saved) | set(joint.tangents)
        rebuilt = {n for n in _needed(joint.gradients, inputs)
                   if n.kind == "call" and n not in inputs and n in self.forward_required}
        recomputed = [n.target.name for n in self.nodes if n in rebuilt]
        values = [SavedValue(n.name, meta_str(n.meta), nbytes(n.meta), self.kind_of(n))
                  for n in saved]
        return Partition(method, forward, backward, values, recomputed, len(fwd_outputs))


def _descendants(nodes: Sequence[Node], roots: Iterable[Node]) -> set[Node]:
    found = set(roots)
    for node in nodes:
        if node not in found and any(i in found for i in node.inputs):
            found.add(node)
    return found


def _ancestors(roots: Iterable[Node]) -> set[Node]:
    return _needed(roots, set())


def _needed(roots: Iterable[Node], stops: set[Node]) -> set[Node]:
    """``roots`` and every node they read, not reading past ``stops``."""
    found: set[Node] = set()
    todo = list(roots)
    while todo:
        node = todo.pop()
        if node in found:
            continue
        found.add(node)
        if node not in stops:
            todo.extend(node.inputs)
    return found


def extract(graph: Graph, inputs: Sequence[Node], outputs: Sequence[Node]) -> Graph:
    """A new graph with placeholders for ``inputs`` (named as in ``graph``), the nodes of
    ``graph`` that ``outputs`` need from them, and ``outputs`` as its output tuple."""
    new = Graph()
    env: dict[Node, Node] = {}
    for node in inputs:
        if node not in env:
            env[node] = new.placeholder(node.name, node.meta)
    needed = _needed(outputs, set(inputs))
    for node in graph.nodes:
        if node not in needed or node in env:
            continue
        if node.kind == "placeholder":
            raise DynajitError(f"partition: '{node.name}' is needed but not an input of the "
                               "extracted graph")
        if node.kind == "constant":
            env[node] = new.constant(node.target, name=node.name)
        else:
            env[node] = new.call(node.target, map_nodes(node.args, env.__getitem__),
                                 map_nodes(node.kwargs, env.__getitem__), name=node.name,
                                 meta=node.meta)
            env[node].source = node.source
    new.output(tuple(env[o] for o in outputs))
    return new


__all__ = ["PARTITIONERS", "Partition", "SavedValue", "extract", "nbytes", "partition"]
