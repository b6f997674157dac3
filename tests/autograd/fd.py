"""Finite-difference checks of VJPs. A sampled NumPy call (from tests/ops/samplers) is
turned into float64 data (float and complex arrays get well-conditioned random values from
the op's domain; integer and bool arrays, such as indices, stay), bound into a graph, and
differentiated with ``gradients_for``; the VJP with a random cotangent u, dotted with a
random direction v, must equal the central difference of <u, f(x + h v)>."""

from __future__ import annotations

import contextlib
import dataclasses
import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np

from dynajit.autograd import gradients_for
from dynajit.autograd.emit import is_float
from dynajit.autograd.partition import extract
from dynajit.errors import Unsupported
from dynajit.graph import Graph, GraphModule, Node, TensorMeta
from dynajit.ops import OPS, bind, emit
from tests.ops.harness import Call

# Where each op's float inputs are drawn (magnitudes; random signs unless "positive").
DOMAINS: dict[str, tuple[float, float, bool]] = {
    **{name: (0.3, 2.0, True) for name in (
        "sqrt", "log", "log2", "log10", "log1p", "power", "float_power", "reciprocal")},
    "arccosh": (1.2, 3.0, True),
    **{name: (0.05, 0.8, False) for name in ("arcsin", "arccos", "arctanh")},
    "tan": (0.05, 1.2, False),
}
DEFAULT_DOMAIN = (0.3, 1.5, False)


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """NumPy's warnings off while sampled calls run (empty means, degrees of freedom)."""
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        yield


class Rejected(Exception):  # noqa: N818 - a signal: the example says nothing about the VJP
    """The sample is not a differentiable float64 call of the op under test."""


# Ops whose integer arguments mean something (indices, exponents, conditions): only these
# positions hold data, converted to float64; the other positions keep their values.
DATA_POSITIONS: dict[str, tuple[int, ...]] = {
    "getitem": (0,), "gather": (0,), "take": (0,), "take_along_axis": (0,),
    "setitem": (0, 2), "ldexp": (0,), "where": (1, 2), "repeat": (0,),
}


def to_float64(call: Call, op_name: str, domain: tuple[float, float, bool],
               rng: np.random.Generator) -> Call:
    """``call`` with its data arrays (every array, or those at ``DATA_POSITIONS``, and
    ``out=``) and NumPy scalars replaced by well-conditioned float64 values (one object by
    one replacement), complex literals by their real part and float ``dtype=`` by float64.
    Elsewhere, float and complex arrays become float64 too (other dtypes are kept)."""
    low, high, positive = domain
    seen: dict[int, Any] = {}
    data_positions = DATA_POSITIONS.get(op_name)

    def values(shape: tuple) -> np.ndarray:
        x = rng.uniform(low, high, size=shape)
        return x if positive else x * rng.choice([-1.0, 1.0], size=shape)

    def convert(v: Any, data: bool) -> Any:
        if isinstance(v, (np.ndarray, np.generic)) and (data or v.dtype.kind in "fc"):
            if id(v) not in seen:
                new = values(np.shape(v))
                seen[id(v)] = (np.float64(new) if isinstance(v, np.generic)
                               else np.asarray(new, dtype=np.float64))
            return seen[id(v)]
        if isinstance(v, complex):
            return v.real
        if isinstance(v, tuple):
            return tuple(convert(x, data) for x in v)
        if isinstance(v, list):
            return [convert(x, data) for x in v]
        return v

    args = tuple(convert(a, data_positions is None or i in data_positions)
                 for i, a in enumerate(call.args))
    kwargs = {}
    for key, value in call.kwargs.items():
        if key == "dtype" and _dtype_kind(value) in ("f", "c"):
            value = np.dtype(np.float64)
        kwargs[key] = convert(value, data_positions is None or key == "out")
    return Call(call.fn, args, kwargs, call.unsupported)


def _dtype_kind(value: Any) -> str | None:
    try:
        return None if value is None else np.dtype(value).kind
    except TypeError:
        return None  # an invalid dtype: the call raises


@dataclasses.dataclass
class Sample:
    graph: Graph
    inputs: list  # values of the placeholders, in order
    outputs: list[Node]  # the float values the call produced
    wrt: list[Node]  # float placeholders
    op_name: str


def bind_sample(call: Call) -> Sample:
    """The call as a graph (one placeholder per distinct array), or Rejected."""
    graph = Graph()
    placeholders: dict[int, Node] = {}
    inputs: list = []

    def to_node(v: Any) -> Any:
        if isinstance(v, (np.ndarray, np.generic)):
            if id(v) not in placeholders:
                placeholders[id(v)] = graph.placeholder(f"a{len(inputs)}", TensorMeta.of(v))
                inputs.append(v)
            return placeholders[id(v)]
        if isinstance(v, tuple):
            return tuple(to_node(x) for x in v)
        if isinstance(v, list):
            return [to_node(x) for x in v]
        if isinstance(v, dict):
            return {k: to_node(x) for k, x in v.items()}
        return v

    args, kwargs = to_node(call.args), to_node(call.kwargs)
    try:
        with _quiet():
            bound = bind(call.fn, args, kwargs)
            if bound is None or isinstance(bound, Node):
                raise Rejected("no op call")
            node = emit(graph, bound)
    except (Unsupported, Exception) as e:
        if isinstance(e, Rejected):
            raise
        raise Rejected(f"not a valid call: {e}") from None
    if isinstance(node.meta, tuple):
        outputs = [graph.call(OPS["tuple_item"], (node, i)) for i, m in enumerate(node.meta)
                   if is_float(m)]
    else:
        outputs = [node] if is_float(node.meta) else []
    wrt = [p for p in graph.placeholders if is_float(p.meta)]
    if not outputs or not wrt:
        raise Rejected("no float output or input")
    if any(o.meta.dtype != np.float64 for o in outputs) or any(
            np.dtype(n.kwargs["dtype"]) != np.float64 for n in graph.call_nodes()
            if n.kwargs.get("dtype") is not None):
        # Less precise than float64, or computed in integers (no gradient by definition).
        raise Rejected("a dtype= or out= other than float64")
    return Sample(graph, inputs, outputs, wrt, bound.op.name)


# Saw-tooth ops: with |x1 / x2| large their teeth are narrower than any difference step.
_SAWTOOTH = ("remainder", "fmod", "divmod")


def _check_quotient(sample: Sample) -> None:
    node = next((n for n in sample.graph.call_nodes() if n.target.name == sample.op_name),
                None)
    if node is None or sample.op_name not in _SAWTOOTH:
        return
    values = dict(zip(sample.graph.placeholders, sample.inputs))
    x1, x2 = (values.get(a, a) if isinstance(a, Node) else a for a in node.args)
    with np.errstate(all="ignore"):
        ratio = np.abs(np.asarray(x1, np.float64) / np.asarray(x2, np.float64))
    if ratio.size and not (ratio <= 100).all():
        raise Rejected("saw-tooth teeth narrower than the step")


def check_vjp(sample: Sample, rng: np.random.Generator, h: float = 1e-6,
              rtol: float = 1e-5) -> None:
    """Raises Rejected for samples at a kink or outside the op's domain, AssertionError for
    a wrong VJP."""
    graph = sample.graph
    _check_quotient(sample)
    try:
        with _quiet():
            GraphModule(extract(graph, graph.placeholders, sample.outputs))(*sample.inputs)
    except Exception as e:  # noqa: BLE001 - NumPy's run-time error (an index out of bounds)
        raise Rejected(f"the call raises {type(e).__name__}") from None
    tangents = [graph.placeholder(f"ct{i}", TensorMeta(o.meta.shape, o.meta.dtype))
                for i, o in enumerate(sample.outputs)]
    grads = gradients_for(graph, sample.outputs, tangents, sample.wrt)
    graph.output((*sample.outputs, *grads))
    graph.verify()
    for g, w in zip(grads, sample.wrt):
        assert g.meta == w.meta, f"gradient meta {g.meta} != input meta {w.meta}"
    gm = GraphModule(graph)
    u = [rng.standard_normal(t.meta.shape) for t in tangents]
    float_index = [i for i, p in enumerate(graph.placeholders[:len(sample.inputs)])
                   if p in sample.wrt]
    v = [rng.standard_normal(np.shape(sample.inputs[i])) for i in float_index]
    n_out = len(sample.outputs)

    def run(inputs: list) -> tuple:
        with _quiet():
            return gm(*inputs, *u)

    def objective(step: float) -> float:
        inputs = list(sample.inputs)
        for i, d in zip(float_index, v):
            inputs[i] = _as_like(sample.inputs[i] + step * d, sample.inputs[i])
        outs = run(inputs)[:n_out]
        return float(sum(np.sum(np.asarray(o, np.float64) * c) for o, c in zip(outs, u)))

    base = run(list(sample.inputs))
    values = [np.asarray(x, np.float64) for x in base]
    if not all(np.isfinite(x).all() for x in values):
        raise Rejected("non-finite value or gradient")
    analytic = float(sum(np.sum(g * d) for g, d in zip(values[n_out:], v)))
    # Rounding in f(x + h v) itself, amplified by 1/h: large outputs drown the difference.
    noise = 100 * np.finfo(np.float64).eps * float(sum(
        np.sum(np.abs(x * c)) for x, c in zip(values[:n_out], u))) / h
    if noise > 1e-3 * (1.0 + abs(analytic)):
        raise Rejected("outputs too large for a finite difference")
    fd1 = (objective(h) - objective(-h)) / (2 * h)
    # A kink (or a pole, or a saw-tooth like remainder's with teeth denser than h) between
    # the sample points: the difference quotient changes with the step.
    for fraction in (2, 64):
        step = h / fraction
        other = (objective(step) - objective(-step)) / (2 * step)
        if not np.isfinite(other) or abs(fd1 - other) > rtol * (1.0 + abs(fd1) + abs(
                other)) + noise * fraction:
            raise Rejected("near a kink or a pole")
    scale = 1.0 + abs(fd1) + abs(analytic)
    assert abs(fd1 - analytic) <= rtol * scale + noise, (
        f"VJP of {sample.op_name}: <vjp(u), v> = {analytic!r}, finite difference "
        f"{fd1!r}\n{graph}")


def _as_like(value: np.ndarray, like: Any) -> Any:
    return np.float64(value) if isinstance(like, np.generic) else np.asarray(value)
