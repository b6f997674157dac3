"""The graph IR: Graph and Node, TensorMeta, the GraphModule code generator, an
Interpreter, and graph passes."""

from dynajit.graph.codegen import GraphModule
from dynajit.graph.graph import Graph, Node, iter_nodes, map_nodes
from dynajit.graph.interpreter import Interpreter
from dynajit.graph.meta import TensorMeta
from dynajit.graph.passes import (
    eliminate_common_subexpressions,
    eliminate_dead_code,
    propagate_shapes,
)

__all__ = [
    "Graph",
    "GraphModule",
    "Interpreter",
    "Node",
    "TensorMeta",
    "eliminate_common_subexpressions",
    "eliminate_dead_code",
    "iter_nodes",
    "map_nodes",
    "propagate_shapes",
]
