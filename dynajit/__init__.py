"""dynajit: a bytecode-level JIT for NumPy code."""

from dynajit import (
    autograd,  # noqa: F401  (attaches the VJP rules to the ops)
    ops,  # noqa: F401  (registers every op)
)
from dynajit.api import (
    compile,
    disable,
    grad,
    list_backends,
    lookup_backend,
    register_backend,
    reset,
    value_and_grad,
    vjp,
)
from dynajit.config import config
from dynajit.errors import CompileError, DynajitError, GraphError, Unsupported
from dynajit.trace.explain import explain

__version__ = "0.1.0"

__all__ = [
    "CompileError",
    "DynajitError",
    "GraphError",
    "Unsupported",
    "compile",
    "config",
    "disable",
    "explain",
    "grad",
    "list_backends",
    "lookup_backend",
    "register_backend",
    "reset",
    "value_and_grad",
    "vjp",
]
