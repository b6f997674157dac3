"""The op registry: one ``OpDef`` per op, and the table from NumPy callables (functions,
ndarray methods, operators, attributes) to the binder that normalizes a call into
``Bound(op, args, kwargs)``. Arrays inside a call are graph ``Node``s; everything else is a
Python literal."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np

from dynajit.errors import Unsupported
from dynajit.graph.graph import Graph, Node
from dynajit.graph.meta import TensorMeta


@dataclasses.dataclass(eq=False)
class OpDef:
    """Everything that is true about one op. Identity is by object (one record per op).

    ``impl`` is the eager NumPy implementation over canonical arguments; ``meta_rule`` has
    the same signature with arrays replaced by TensorMetas and returns the output meta (a
    tuple of metas for multi-output ops), raising exactly what NumPy would raise. ``vjp`` and
    ``lowering`` are filled by the autograd and backend layers.
    """

    name: str
    family: str
    impl: Callable[..., Any]
    meta_rule: Callable[..., Any]
    doc: str = ""
    pointwise: bool = False
    reduction: bool = False
    view: bool = False  # NumPy returns a view of the first input (aliasing matters)
    recomputable: bool = False  # the partitioner may recompute instead of saving
    pure: bool = True  # no side effects: dead-code elimination may drop it
    deterministic: bool = True  # equal inputs give equal outputs: CSE may merge it
    differentiable: bool = True
    cost: int = 1
    # Multi-output ops: the Python container NumPy returns the results in (split: list).
    output_container: type = tuple
    vjp: Callable[..., Any] | None = None
    lowering: Callable[..., Any] | None = None
    # The NumPy callables (and attribute keys) whose calls bind to this op.
    captures: list[Any] = dataclasses.field(default_factory=list)

    def __repr__(self) -> str:
        return f"<op {self.name}>"


@dataclasses.dataclass
class Bound:
    """A normalized call: run ``op(*args, **kwargs)``; if ``out`` is set, the result is
    written into that array (``out=``, ``x += y``, slice assignment) with ``out_casting``."""

    op: OpDef
    args: tuple
    kwargs: dict
    out: Node | None = None
    out_casting: str = "same_kind"


OPS: dict[str, OpDef] = {}
_BINDERS: dict[Any, Callable[..., Bound]] = {}


def register(op: OpDef) -> OpDef:
    if op.name in OPS:
        raise ValueError(f"op {op.name!r} registered twice")
    OPS[op.name] = op
    return op


def is_registered(op: Any) -> bool:
    return isinstance(op, OpDef) and OPS.get(op.name) is op


def attribute(name: str) -> tuple[str, str]:
    """Capture key for an ndarray attribute read (``x.T``, ``x.real``)."""
    return ("ndarray attribute", name)


def binds(*callables: Any, op: OpDef | None = None) -> Callable:
    """Register the decorated function as the binder of each callable. The binder has
    NumPy's signature for that callable and returns a Bound (or raises Unsupported)."""

    def deco(binder: Callable[..., Bound]) -> Callable[..., Bound]:
        for fn in callables:
            if fn in _BINDERS:
                raise ValueError(f"{describe_callable(fn)} already has a binder")
            _BINDERS[fn] = binder
            if op is not None:
                op.captures.append(fn)
        return binder

    return deco


def _is_attribute_key(fn: Any) -> bool:
    return (type(fn) is tuple and len(fn) == 2 and isinstance(fn[0], str)
            and fn[0] == "ndarray attribute")


def describe_callable(fn: Any) -> str:
    if _is_attribute_key(fn):
        return f"ndarray.{fn[1]}"
    if isinstance(fn, np.ufunc):
        return f"np.{fn.__name__}"
    module = getattr(fn, "__module__", None) or ""
    qual = getattr(fn, "__qualname__", None) or getattr(fn, "__name__", repr(fn))
    if module == "_operator" or module == "operator":
        return f"operator.{qual}"
    if module == "builtins":
        return qual
    if qual.startswith("ndarray."):
        return qual
    if module.startswith("numpy"):
        return f"np.{fn.__name__}" if getattr(np, fn.__name__, None) is fn else f"{module}.{qual}"
    return f"{module}.{qual}"


def is_numpy_callable(fn: Any) -> bool:
    """Callables that belong to NumPy (so a missing registry entry means "unsupported"
    rather than "not an array operation")."""
    if isinstance(fn, np.ufunc):
        return True
    if _is_attribute_key(fn):
        return True
    objclass = getattr(fn, "__objclass__", None)
    if objclass is not None and isinstance(objclass, type) and issubclass(objclass, np.ndarray):
        return True
    owner = getattr(fn, "__self__", None)
    if isinstance(owner, (np.ufunc, np.ndarray)):
        return True
    return (getattr(fn, "__module__", None) or "").startswith("numpy")


def lookup(fn: Any) -> Callable[..., Bound] | None:
    try:
        return _BINDERS.get(fn)
    except TypeError:  # unhashable callable
        return None


def bind(fn: Any, args: tuple = (), kwargs: dict | None = None) -> Bound | Node | None:
    """Normalize a call of ``fn``. Returns a Bound call; an existing Node when the call
    returns an input unchanged (``np.asarray(x)``); None when no argument is an array or
    ``fn`` is not an array operation at all (the caller runs or inlines it). Raises
    Unsupported when it is a NumPy call dynajit cannot capture, and NumPy's own exception
    for invalid arguments."""
    kwargs = kwargs or {}
    binder = lookup(fn)
    if binder is None:
        if is_numpy_callable(fn):
            raise Unsupported(f"{describe_callable(fn)} has no entry in dynajit's op registry")
        return None
    _check_method_self(fn, args)
    return binder(*args, **kwargs)


def _check_method_self(fn: Any, args: tuple) -> None:
    """``np.ndarray.__add__(3, x)`` fails in Python's descriptor check; so does its bind."""
    objclass = getattr(fn, "__objclass__", None)
    if not (isinstance(objclass, type) and issubclass(objclass, np.ndarray)):
        return
    # NumPy scalars have the same operator methods with the same meaning, so a scalar
    # node is accepted as ``self`` (symbolic stand-ins forward both kinds here).
    self = args[0] if args else None
    if not (isinstance(self, Node) and isinstance(self.meta, TensorMeta)):
        name = getattr(fn, "__name__", "method")
        raise TypeError(f"descriptor '{name}' requires a 'numpy.ndarray' object but received "
                        f"a '{type(self).__name__}'")


def emit(graph: Graph, bound: Bound | Node) -> Node:
    """Add a bound call to ``graph``. With ``out``, the result node is the new value of the
    written array (the caller rebinds the array to it: graphs are functional)."""
    if isinstance(bound, Node):
        return bound
    node = graph.call(bound.op, bound.args, bound.kwargs)
    if bound.out is not None:
        from dynajit.ops.shape import COPY_INTO

        node = graph.call(COPY_INTO, (bound.out, node), {"casting": bound.out_casting})
    return node
