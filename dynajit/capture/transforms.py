"""Capture for the gradient transforms (``dynajit.grad``, ``value_and_grad``, ``vjp``):

* standalone, ``FunctionTrace`` traces the differentiated function with the bytecode tracer
  as one graph (a graph break is an error naming its site) and provides the pieces the
  autograd layer compiles around: the graph, the argument trackers, the entry function
  that replays side effects and rebuilds the result, and the guards;
* inside a compiled function, a transform call is traced into the enclosing graph: the
  function's nodes, then the backward nodes (``differentiate`` over just those nodes), so a
  training step compiles to one graph.

The autograd layer knows graphs only; this module is where transforms meet bytecode."""

from __future__ import annotations

import dataclasses
import inspect
import types
from typing import Any

from dynajit.autograd.emit import is_float
from dynajit.autograd.joint import gradients_for
from dynajit.autograd.pytree import TreeDef, flatten, unflatten
from dynajit.capture.context import TraceContext
from dynajit.capture.output import OutputCode
from dynajit.capture.values import VT, ArrayVT, ConstVT, DictVT, ObjectVT, SequenceVT
from dynajit.errors import Unsupported
from dynajit.graph.graph import Node
from dynajit.guards import AttrSource, flat_arg_names


@dataclasses.dataclass(frozen=True)
class TransformSpec:
    """What a transform computes: ``kind`` is "grad", "value_and_grad" or "vjp"."""

    kind: str
    argnums: int | tuple[int, ...] = 0
    has_aux: bool = False

    @property
    def argnum_list(self) -> tuple[int, ...]:
        return (self.argnums,) if isinstance(self.argnums, int) else tuple(self.argnums)


# ----------------------------------------------------------------------------- trees of VTs
def _vt_container(vt: Any) -> tuple[str, Any] | None:
    if isinstance(vt, SequenceVT) and vt.cls in (tuple, list):
        return ("tuple" if vt.kind is tuple else "list"), vt.items
    if isinstance(vt, DictVT):
        return "dict", vt.items
    return None


def vt_leaves(vt: VT) -> tuple[list[VT], TreeDef]:
    """The leaf trackers of a traced pytree (tuples, lists, dicts) and its structure."""
    return flatten(vt, _vt_container)


def vt_tree(tree: TreeDef, leaves: list[VT]) -> VT:
    """A tracker for a new pytree of ``tree``'s structure holding ``leaves``."""
    def build(t: TreeDef, it: Any) -> VT:
        if t.kind == "leaf":
            return next(it)
        items = [build(c, it) for c in t.children]
        if t.kind == "dict":
            return DictVT(dict(zip(t.keys, items)))
        return SequenceVT(tuple if t.kind == "tuple" else list, items)

    return build(tree, iter(leaves))


def check_differentiable(leaves: list[VT], what: str) -> list[ArrayVT]:
    """Every leaf must be a float array (or NumPy float scalar)."""
    out = []
    for leaf in leaves:
        if isinstance(leaf, ArrayVT) and is_float(leaf.meta):
            out.append(leaf)
            continue
        if isinstance(leaf, ArrayVT):
            raise Unsupported(f"{what} holds an array of dtype {leaf.meta.dtype}: only "
                              "floating-point arrays have gradients (integer and bool "
                              "arrays carry none; leave them out of argnums)")
        if isinstance(leaf, ConstVT) and isinstance(leaf.value, float):
            raise Unsupported(f"{what} is a Python float: pass np.float64(x) or an array "
                              "to differentiate with respect to it")
        raise Unsupported(f"{what} must be floating-point arrays or tuples, lists and dicts "
                          f"of them, got {leaf}")
    return out


def check_scalar_output(out: VT, what: str) -> ArrayVT:
    if not isinstance(out, ArrayVT):
        raise Unsupported(f"{what} must return a floating-point scalar (a 0-d array or NumPy "
                          f"scalar), got {out}")
    meta = out.meta
    if meta.shape != ():
        raise Unsupported(f"{what} must return a scalar, got an array of shape "
                          f"{tuple(meta.shape)} (use dynajit.vjp for non-scalar outputs, or "
                          "reduce it, e.g. with .sum())")
    if not is_float(meta):
        raise Unsupported(f"{what} must return a floating-point scalar, got dtype "
                          f"{meta.dtype}")
    return out


def split_aux(result: VT, has_aux: bool, what: str) -> tuple[VT, VT | None]:
    if not has_aux:
        return result, None
    if not (isinstance(result, SequenceVT) and len(result.items) == 2):
        raise Unsupported(f"{what} with has_aux=True must return a pair (output, aux), got "
                          f"{result}")
    return result.items[0], result.items[1]


# ----------------------------------------------------------------------------- standalone
class FunctionTrace:
    """``fn`` traced for these flat arguments as one graph (no graph break allowed)."""

    def __init__(self, fn: types.FunctionType, flat_args: tuple, what: str):
        from dynajit.capture.convert_frame import begin_trace
        from dynajit.capture.tracer import InstructionTracer

        self.fn = fn
        self.names = flat_arg_names(fn.__code__)
        ctx, locals_, cells = begin_trace(fn, flat_args)
        ctx.allow_breaks = False
        self.ctx: TraceContext = ctx
        self.arguments: dict[str, VT] = dict(locals_)
        # The positional arguments as passed (the parameters, then the *args items), with
        # their leaves taken now: the function may mutate its containers.
        code = fn.__code__
        positional = [self.arguments[name] for name in self.names[:code.co_argcount]]
        if code.co_flags & inspect.CO_VARARGS:
            varargs = self.arguments[self.names[code.co_argcount + code.co_kwonlyargcount]]
            positional += list(varargs.items)
        self.positional_leaves = [vt_leaves(vt) for vt in positional]
        try:
            self.result = InstructionTracer(ctx, fn.__code__, fn.__globals__, locals_,
                                            cells).run()
            ctx.check_written_inputs_disjoint()
        except Unsupported as e:
            raise capture_error(what, fn, e) from None
        self.output = OutputCode(ctx, fn, self.names)
        self._effects: list[str] = []
        self._tail: list[str] = []

    @property
    def graph(self) -> Any:
        return self.ctx.graph

    def forward_outputs(self, fallback: list[Node]) -> list[Node]:
        """The graph values the entry needs (the result's arrays, written-back inputs).
        When it needs none (the function returns an input as it is), ``fallback`` becomes
        one, so that the entry still runs the forward graph, which saves for the
        backward."""
        self._effects, self._tail = self.output.prepare(self.result)
        if not self.output.outputs:
            for node in fallback:
                self.output.graph_output(node)
        return list(self.output.outputs)

    def mutated_inputs(self) -> list[Node]:
        """Placeholders of inputs the function writes in place (the entry writes them back
        after the forward graph ran)."""
        return [vt.original for _, vt in self.ctx.inputs if vt.node is not vt.original]

    def entry(self, run_forward: Any, graph_module: Any) -> types.FunctionType:
        """The function of the flat arguments that runs ``run_forward(*inputs)`` (returning
        the forward outputs), writes back side effects and returns the function's value."""
        entry, _ = self.output.assemble(self._effects, self._tail, run_forward, graph_module)
        return entry

    def guards(self) -> Any:
        from dynajit.capture.guard_builder import build_guards

        return build_guards(self.ctx, self.fn)


def capture_error(what: str, fn: Any, error: Unsupported) -> Unsupported:
    """The error for a function a transform cannot capture whole: the break site (user
    file:line) and the reason."""
    site = getattr(error, "user_location", None) or (
        f"{fn.__code__.co_filename}:{fn.__code__.co_firstlineno}")
    reason = getattr(error, "reason", str(error))
    new = Unsupported(f"{what} needs {fn.__qualname__} as one graph, but its capture breaks "
                      f"at {site}: {reason}")
    new.user_location = site
    new.user_frames = getattr(error, "user_frames", None)
    return new


# ----------------------------------------------------------------------------- in a trace
class TransformVT(ObjectVT):
    """``dynajit.grad(fn, ...)`` (a real transform read from the inputs, or one created
    while tracing): calling it traces fn and its backward into the enclosing graph."""

    def __init__(self, spec: TransformSpec, fn_vt: VT, obj: Any = None, source: Any = None):
        super().__init__(obj, source)
        self.spec = spec
        self.fn_vt = fn_vt

    def python_type(self) -> type:
        return type(self.obj) if self.obj is not None else types.FunctionType

    def trace_call(self, ctx: TraceContext, args: list[VT], kwargs: dict[str, VT]) -> VT:
        spec = self.spec
        what = f"dynajit.{spec.kind}"
        argnums = spec.argnum_list
        if any(i >= len(args) or i < -len(args) for i in argnums):
            raise Unsupported(f"{what}: argnums={spec.argnums} but the function was called "
                              f"with {len(args)} positional argument(s)")
        args = list(args)
        trees, wrt = [], []
        for i in argnums:
            leaves, tree = vt_leaves(args[i])
            trees.append(tree)
            wrt.extend(check_differentiable(leaves, f"{what}: argument {i}"))
        args = _distinct_leaves(ctx, args, argnums, wrt)
        region, result = _traced(ctx, self.fn_vt, args, kwargs)
        out, aux = split_aux(result, spec.has_aux, f"{what}: the function")
        out = check_scalar_output(out, f"{what}: the function")
        seed = ctx.graph.call(_op("ones"), ((),), {"dtype": out.meta.dtype}, name="seed")
        grads = _gradients(ctx, [out.node], [seed], [v.node for v in wrt], region)
        grad_vts, it = [], iter(grads)
        for tree in trees:
            grad_vts.append(vt_tree(tree, [next(it) for _ in range(tree.leaf_count)]))
        grad_vt = grad_vts[0] if isinstance(spec.argnums, int) else SequenceVT(tuple, grad_vts)
        if spec.kind == "value_and_grad":
            return SequenceVT(tuple, [result, grad_vt])
        return SequenceVT(tuple, [grad_vt, aux]) if spec.has_aux else grad_vt


class VJPFunctionVT(ObjectVT):
    """The ``vjp_fn`` that ``dynajit.vjp`` returns inside a trace: calling it appends the
    backward of the traced function's nodes for the given cotangents."""

    def __init__(self, region: set[Node], outputs: list[ArrayVT], out_tree: TreeDef,
                 wrt: list[ArrayVT], trees: list[TreeDef]):
        super().__init__(None, None)
        self.region, self.outputs, self.out_tree = region, outputs, out_tree
        self.wrt, self.trees = wrt, trees

    def python_type(self) -> type:
        return types.FunctionType

    def trace_call(self, ctx: TraceContext, args: list[VT], kwargs: dict[str, VT]) -> VT:
        if len(args) != 1 or kwargs:
            raise Unsupported("the vjp function takes one argument: the cotangent, shaped "
                              "like the function's output")
        leaves, tree = vt_leaves(args[0])
        if tree != self.out_tree:
            raise Unsupported(f"vjp: the cotangent has structure {tree}, the output "
                              f"{self.out_tree}")
        cotangents = []
        for leaf, out in zip(leaves, self.outputs):
            if not isinstance(leaf, ArrayVT) or leaf.meta.shape != out.meta.shape:
                raise Unsupported(f"vjp: a cotangent must be an array of the output's shape "
                                  f"{tuple(out.meta.shape)}, got {leaf}")
            cotangents.append(leaf.node)
        grads = _gradients(ctx, [o.node for o in self.outputs], cotangents,
                           [w.node for w in self.wrt], self.region)
        it = iter(grads)
        return SequenceVT(tuple, [vt_tree(t, [next(it) for _ in range(t.leaf_count)])
                                  for t in self.trees])


def trace_vjp(ctx: TraceContext, fn_vt: VT, primals: list[VT], has_aux: bool) -> VT:
    """``dynajit.vjp(fn, *primals)`` inside a trace: (out, vjp_fn[, aux])."""
    trees, wrt = [], []
    for i, primal in enumerate(primals):
        leaves, tree = vt_leaves(primal)
        trees.append(tree)
        wrt.extend(check_differentiable(leaves, f"dynajit.vjp: primal {i}"))
    primals = _distinct_leaves(ctx, list(primals), range(len(primals)), wrt)
    region, result = _traced(ctx, fn_vt, primals, {})
    out, aux = split_aux(result, has_aux, "dynajit.vjp: the function")
    out_leaves, out_tree = vt_leaves(out)
    outputs = check_differentiable(out_leaves, "dynajit.vjp: the function's output")
    vjp_fn = VJPFunctionVT(region, outputs, out_tree, wrt, trees)
    return SequenceVT(tuple, [out, vjp_fn, aux] if has_aux else [out, vjp_fn])


def _traced(ctx: TraceContext, fn_vt: VT, args: list[VT], kwargs: dict[str, VT]
            ) -> tuple[set[Node], VT]:
    """Trace the call into the graph; returns the nodes it added and its result."""
    before = ctx.graph.last_node
    result = ctx.call(fn_vt, args, kwargs)
    return set(ctx.graph.nodes_after(before)), result


def _gradients(ctx: TraceContext, outputs: list[Node], cotangents: list[Node],
               wrt: list[Node], region: set[Node]) -> list[ArrayVT]:
    before = ctx.graph.last_node
    grads = gradients_for(ctx.graph, outputs, cotangents, wrt, region)
    where = ctx.location()
    for node in ctx.graph.nodes_after(before):
        node.source = node.source or where
    return [ArrayVT(g) for g in grads]


def _distinct_leaves(ctx: TraceContext, args: list[VT], argnums: Any,
                     wrt: list[ArrayVT]) -> list[VT]:
    """One array passed as two differentiated leaves gets a separate gradient for each:
    every occurrence after the first becomes a view of it (a reshape to its own shape), in
    ``wrt`` and in the arguments (replaced by position: it may be one tracker twice)."""
    seen: set[Node] = set()
    fresh: list[ArrayVT] = []
    for leaf in wrt:
        if leaf.node in seen:
            base = leaf.base or leaf
            view = (ctx.graph.call(_op("positive"), (leaf.node,)) if leaf.meta.scalar
                    else ctx.graph.call(_op("reshape"), (leaf.node, tuple(leaf.meta.shape))))
            base.has_views = True
            leaf = ArrayVT(view, base=base)
        seen.add(leaf.node)
        fresh.append(leaf)
    if all(a is b for a, b in zip(fresh, wrt)):
        return args
    wrt[:] = fresh
    it = iter(fresh)
    for i in argnums:
        _, tree = vt_leaves(args[i])
        args[i] = vt_tree(tree, [next(it) for _ in range(tree.leaf_count)])
    return args


def _op(name: str) -> Any:
    from dynajit.ops.registry import OPS

    return OPS[name]


# ----------------------------------------------------------------------------- hooks
def make_transform_hook(kind: str) -> Any:
    """The tracer's handler for a call of ``dynajit.grad``/``value_and_grad`` (building a
    transform) or ``dynajit.vjp`` (tracing right away) inside compiled code."""

    def hook(ctx: TraceContext, fn_vt: VT, args: list[VT], kwargs: dict[str, VT]) -> VT:
        options = {k: _constant(v, f"dynajit.{kind}: {k}=") for k, v in kwargs.items()}
        if not args:
            raise Unsupported(f"dynajit.{kind} needs the function to differentiate")
        if kind == "vjp":
            unknown = set(options) - {"has_aux", "backend", "partitioner"}
            if unknown:
                raise Unsupported(f"dynajit.vjp: unexpected keyword(s) {sorted(unknown)}")
            return trace_vjp(ctx, args[0], list(args[1:]), bool(options.get("has_aux")))
        if len(args) > 1:
            options.setdefault("argnums", _constant(args[1], f"dynajit.{kind}: argnums"))
        unknown = set(options) - {"argnums", "has_aux", "backend", "partitioner"}
        if unknown:
            raise Unsupported(f"dynajit.{kind}: unexpected keyword(s) {sorted(unknown)}")
        spec = TransformSpec(kind, normalize_argnums(options.get("argnums", 0)),
                             bool(options.get("has_aux", False)))
        return TransformVT(spec, args[0])

    return hook


def transform_object_call(obj: Any, ctx: TraceContext, fn_vt: ObjectVT, args: list[VT],
                          kwargs: dict[str, VT]) -> VT:
    """A transform object made outside the compiled code, called inside it."""
    ctx.guard("id", fn_vt.source, obj)
    inner = ctx.wrap(obj.fn, AttrSource(fn_vt.source, "fn") if fn_vt.source is not None
                     else None)
    return TransformVT(obj.spec, inner, obj, fn_vt.source).trace_call(ctx, args, kwargs)


def normalize_argnums(argnums: Any) -> int | tuple[int, ...]:
    if isinstance(argnums, bool) or not isinstance(argnums, (int, tuple, list)):
        raise TypeError(f"argnums must be an int or a tuple of ints, got {argnums!r}")
    if isinstance(argnums, int):
        return argnums
    if not argnums or not all(isinstance(i, int) and not isinstance(i, bool)
                              for i in argnums):
        raise TypeError(f"argnums must be an int or a non-empty tuple of ints, got "
                        f"{argnums!r}")
    return tuple(argnums)


def _constant(vt: VT, what: str) -> Any:
    if not vt.is_constant():
        raise Unsupported(f"{what} must be a constant")
    return vt.constant()


__all__ = ["FunctionTrace", "TransformSpec", "TransformVT", "VJPFunctionVT", "capture_error",
           "check_differentiable", "check_scalar_output", "make_transform_hook",
           "normalize_argnums", "split_aux", "trace_vjp", "transform_object_call",
           "unflatten", "vt_leaves", "vt_tree"]
