"""The op registry: one record per NumPy operation (see registry.OpDef), grouped by family.
Importing this package registers every op."""

from dynajit.ops import creation, elementwise, indexing, linalg, reductions, shape  # noqa: F401
from dynajit.ops.registry import OPS, Bound, OpDef, bind, binds, emit, is_registered, lookup

__all__ = ["OPS", "Bound", "OpDef", "bind", "binds", "emit", "is_registered", "lookup"]
