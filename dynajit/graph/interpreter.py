"""Interpreter: runs a Graph node by node. Subclass and override ``call_op`` (or
``run_node``) to evaluate with something other than each op's NumPy implementation."""

from __future__ import annotations

from typing import Any

from dynajit.graph.graph import Graph, Node, map_nodes


class Interpreter:
    def __init__(self, graph: Graph):
        self.graph = graph
        self.env: dict[Node, Any] = {}

    def run(self, *inputs: Any) -> Any:
        placeholders = self.graph.placeholders
        if len(inputs) != len(placeholders):
            raise TypeError(f"graph takes {len(placeholders)} inputs, got {len(inputs)}")
        self.env = dict(zip(placeholders, inputs))
        # Free values as soon as their last user has run, like generated code does.
        last_use = {}
        for node in self.graph.nodes:
            for arg in node.inputs:
                last_use[arg] = node
        result = None
        for node in self.graph.nodes:
            if node.kind == "placeholder":
                continue
            value = self.run_node(node)
            if node.kind == "output":
                result = value
            else:
                self.env[node] = value
            for arg in node.inputs:
                if last_use.get(arg) is node and arg.kind != "placeholder":
                    self.env.pop(arg, None)
        return result

    def fetch(self, value: Any) -> Any:
        return map_nodes(value, lambda n: self.env[n])

    def run_node(self, node: Node) -> Any:
        if node.kind == "constant":
            return node.target
        args, kwargs = self.fetch(node.args), self.fetch(node.kwargs)
        if node.kind == "output":
            return args[0]
        return self.call_op(node, args, kwargs)

    def call_op(self, node: Node, args: tuple, kwargs: dict) -> Any:
        return node.target.impl(*args, **kwargs)
