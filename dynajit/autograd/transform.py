"""The gradient transforms: ``grad``, ``value_and_grad`` and ``vjp``.

Called from plain Python, a transform captures the function with the bytecode tracer (one
graph, no break), builds the joint forward+backward graph, partitions it, and compiles the
forward and the backward graph with the backend; compiled pairs are cached per input
signature (the guards of the trace: shapes, dtypes, pytree structure, constants, globals).
Called inside ``@dynajit.compile`` code, a transform is traced into the enclosing graph
instead (see ``dynajit/capture/transforms.py``)."""

from __future__ import annotations

import functools
import inspect
import threading
import types
import weakref
from collections.abc import Callable
from typing import Any

import numpy as np

from dynajit.autograd.joint import JointGraph, build_joint
from dynajit.autograd.partition import Partition, partition
from dynajit.autograd.pytree import TreeDef, flatten, unflatten
from dynajit.backends import lookup_backend
from dynajit.capture import transforms as capture
from dynajit.capture.transforms import TransformSpec, normalize_argnums
from dynajit.config import config
from dynajit.errors import CompileError, Unsupported
from dynajit.graph.codegen import GraphModule
from dynajit.graph.passes import eliminate_common_subexpressions, eliminate_dead_code
from dynajit.guards import flat_arg_names
from dynajit.trace import logs, structured
from dynajit.trace.metrics import CompileMetrics


class _Signature:
    """How a call's arguments map to the flat argument slots of the function traced: a
    plain function, a method's function (``self`` passed first), or any other callable
    through a one-line wrapper made once per callable (so its caches are shared)."""

    def __init__(self, func: types.FunctionType):
        self.func = func
        code = func.__code__
        self.names = flat_arg_names(code)
        self.simple = not (code.co_flags & (inspect.CO_VARARGS | inspect.CO_VARKEYWORDS)
                           or code.co_kwonlyargcount)
        self.signature = inspect.signature(func)

    def flat(self, bound: tuple, args: tuple, kwargs: dict) -> tuple:
        args = bound + tuple(args)
        if self.simple and not kwargs and len(args) == len(self.names):
            return args
        call = self.signature.bind(*args, **kwargs)
        call.apply_defaults()
        return tuple(call.arguments[name] for name in self.names)


def _target(fn: Callable) -> tuple[Any, tuple]:
    """The object the compiled pairs are cached on, and the arguments bound to it (a
    ``dynajit.compile`` wrapper is differentiated through the function it wraps)."""
    if isinstance(fn, types.MethodType) and isinstance(fn.__func__, types.FunctionType):
        func = fn.__func__
        return getattr(func, "_dynajit_original", func), (fn.__self__,)
    fn = getattr(fn, "_dynajit_original", fn) if isinstance(fn, types.FunctionType) else fn
    if not callable(fn):
        raise TypeError(f"expected a callable to differentiate, got {type(fn).__name__}")
    return fn, ()


def _wrap_callable(fn: Callable) -> types.FunctionType:
    def call(*args: Any, **kwargs: Any) -> Any:
        return fn(*args, **kwargs)

    call.__qualname__ = getattr(fn, "__qualname__", type(fn).__name__)
    return call


# ----------------------------------------------------------------------------- compiled pair
_SAVED = threading.local()


class _Compiled:
    """The compiled forward and backward graphs of one trace, and its guards."""

    def __init__(self, spec: TransformSpec, sig: _Signature, flat: tuple, positional: int,
                 offset: int, backend: Any, method: str):
        self.spec = spec
        self.backend = backend
        self.code = sig.func.__code__
        self.compile_id = structured.new_compile_id(self.code)
        with structured.compile_context(self.compile_id):
            metrics = CompileMetrics(self.code, backend)
            structured.record("dynamo_start",
                              lambda: {"stack": structured.user_stack(self.code)})
            try:
                self._build(sig, flat, positional, offset, method, metrics)
            except BaseException as e:
                if metrics.fail_type is None:
                    metrics.fail("error", type(e).__name__, str(e),
                                 _site(getattr(e, "user_location", None)))
                if isinstance(e, Unsupported):
                    _record_capture_error(self.code, e)
                raise
            finally:
                structured.record("compilation_metrics", metrics.as_record)

    def _build(self, sig: _Signature, flat: tuple, positional: int, offset: int,
               method: str, metrics: CompileMetrics) -> None:
        spec = self.spec
        what = f"dynajit.{spec.kind}"
        metrics.start_phase("trace")
        trace = capture.FunctionTrace(sig.func, flat, what)
        argnums = spec.argnum_list
        for i in argnums:
            if not -positional <= i < positional:
                raise Unsupported(f"{what}: argnums={spec.argnums} but the function was "
                                  f"called with {positional} positional argument(s)")
        self.trees: list[TreeDef] = []
        wrt = []
        for i in argnums:
            leaves, tree = trace.positional_leaves[offset + i % positional]
            self.trees.append(tree)
            wrt += capture.check_differentiable(leaves, f"{what}: argument {i}")
        out, _ = capture.split_aux(trace.result, spec.has_aux, f"{what}: the function")
        if spec.kind == "vjp":
            out_leaves, self.out_tree = capture.vt_leaves(out)
            outputs = capture.check_differentiable(out_leaves, f"{what}: the function's output")
        else:
            outputs = [capture.check_scalar_output(out, f"{what}: the function")]
            self.out_tree = TreeDef("leaf")
        self.out_metas = [o.meta for o in outputs]
        metrics.end_phase()
        metrics.start_phase("passes")
        forward_outputs = trace.forward_outputs([o.node for o in outputs])
        joint = build_joint(trace.graph, forward_outputs, [o.node for o in outputs],
                            [w.original for w in wrt])
        joint = _simplified(joint)
        joint.graph.verify()
        metrics.graph = joint.graph
        mutated = trace.mutated_inputs()
        self.partition: Partition = partition(joint, method, mutated)
        self._record(joint)
        metrics.end_phase()
        metrics.start_phase("backend")
        self.forward_module = GraphModule(self.partition.forward, name=f"{self.code.co_name}_fw")
        self.backward_module = GraphModule(self.partition.backward,
                                           name=f"{self.code.co_name}_bw")
        compiled_forward = _compile(self.backend, self.forward_module,
                                    list(trace.ctx.input_values), self.code)
        metrics.end_phase()
        metrics.start_phase("output_code")
        n_out = self.partition.forward_output_count
        # Saved values that alias an input the entry writes back in place must be copies.
        placeholders = self.partition.forward.placeholders
        written = [i for i, p in enumerate(placeholders)
                   if any(p.name == m.name for m in mutated)]

        def run_forward(*inputs: Any) -> Any:
            outs = compiled_forward(*inputs)
            saved = list(outs[n_out:])
            for i in written:
                for k, value in enumerate(saved):
                    if isinstance(value, np.ndarray) and np.may_share_memory(value, inputs[i]):
                        saved[k] = value.copy()
            _SAVED.value = saved
            return outs[:n_out]

        self.entry = trace.entry(run_forward, self.forward_module)
        metrics.end_phase()
        metrics.start_phase("guards")
        self.guards = trace.guards()
        self.guard = self.guards.compile()
        metrics.guard_count = len(self.guards)
        structured.record("dynamo_guards",
                          payload=lambda: [{"code": str(g)} for g in self.guards])
        metrics.end_phase()
        self._backward: Any = None

    def _record(self, joint: JointGraph) -> None:
        p = self.partition
        structured.record("aot_joint_graph", payload=lambda: str(joint.graph))
        structured.record("aot_forward_graph", payload=lambda: str(p.forward))
        structured.record("aot_backward_graph", payload=lambda: str(p.backward))
        structured.artifact("dynajit_partition", p.as_record, encoding="json")
        logs.log("graph", lambda: f"{self.code.co_qualname}: {p.method} saves "
                 f"{p.saved_bytes} bytes ({len(p.saved)} values), recomputes "
                 f"{len(p.recomputed)} op(s)")

    def forward(self, flat: tuple) -> tuple[Any, list]:
        """Run the entry: the function's value (side effects written back) and the values
        saved for the backward."""
        result = self.entry(*flat)
        return result, _SAVED.__dict__.pop("value")

    def backward(self, saved: list, tangents: list) -> tuple:
        if self._backward is None:
            with structured.compile_context(self.compile_id):
                self._backward = _compile(self.backend, self.backward_module,
                                          [*saved, *tangents], self.code)
        return self._backward(*saved, *tangents)

    def tangents_like(self, cotangent: Any, what: str) -> list:
        """The flat cotangents of a vjp call, checked against the output's structure and
        shapes and cast to its dtypes."""
        leaves, tree = flatten(cotangent)
        if tree != self.out_tree:
            raise ValueError(f"{what}: the cotangent has structure {tree}, the function's "
                             f"output {self.out_tree}")
        out = []
        for leaf, meta in zip(leaves, self.out_metas):
            value = np.asarray(leaf)
            if value.shape != tuple(meta.shape):
                raise ValueError(f"{what}: a cotangent of shape {value.shape} for an output "
                                 f"of shape {tuple(meta.shape)}")
            out.append(value.astype(meta.dtype, copy=False))
        return out


def _simplified(joint: JointGraph) -> JointGraph:
    """CSE and DCE over the joint graph; the node lists are read back from its output."""
    eliminate_common_subexpressions(joint.graph)
    eliminate_dead_code(joint.graph)
    values = list(joint.graph.output_node.args[0])
    n = len(joint.forward_outputs)
    return JointGraph(joint.graph, joint.primals, joint.tangents, values[:n], values[n:])


def _compile(backend: Any, gm: GraphModule, example_inputs: list, code: types.CodeType) -> Any:
    try:
        return lookup_backend(backend)(gm, example_inputs)
    except Exception as e:
        raise CompileError(f"backend {backend!r} failed on {gm.filename} of "
                           f"{code.co_name}: {type(e).__name__}: {e}") from e


def _site(location: str | None) -> tuple[str, int] | None:
    if not location:
        return None
    filename, _, line = location.rpartition(":")
    return (filename, int(line)) if line.isdigit() else None


def _record_capture_error(code: types.CodeType, error: Unsupported) -> None:
    """A break inside a differentiated function, recorded like a frame's graph break (the
    transform raises it: there is no eager fallback for a gradient)."""
    site = getattr(error, "user_location", None) or f"{code.co_filename}:{code.co_firstlineno}"
    frames = getattr(error, "user_frames", None) or []

    def text() -> str:
        lines = [f"Graph break in user code at {site}", f"Graph Break Reason: {error}",
                 "Action: raised to the caller (a gradient transform needs one graph)",
                 "User code traceback:"]
        for filename, line, name in frames:
            lines.append(f'  File "{filename}", line {line}, in {name}')
            source = logs.source_line(filename, line)
            if source:
                lines.append(f"    {source}")
        return "\n".join(lines) + "\n"

    structured.artifact("dynamo_graph_break_reason", text)


# ----------------------------------------------------------------------------- caches
class _FunctionCache:
    """The compiled pairs of one callable, per (spec, backend, partitioner)."""

    def __init__(self, owner: Any):
        func = owner if isinstance(owner, types.FunctionType) else _wrap_callable(owner)
        self.signature = _Signature(func)
        self.entries: dict[tuple, list[_Compiled]] = {}

    def entry(self, spec: TransformSpec, flat: tuple, positional: int, offset: int,
              backend: Any, method: str) -> _Compiled:
        """The pair whose guards pass for ``flat``, or a new one (the oldest dropped past
        ``config.cache_size_limit``)."""
        sig = self.signature
        key = (spec, backend if isinstance(backend, str) else id(backend), method)
        entries = self.entries.setdefault(key, [])
        for entry in entries:
            if entry.guard(*flat):
                return entry
        with _LOCK:
            if entries:
                reasons = entries[-1].guards.explain(*flat)
                logs.log("recompiles", lambda: f"recompiling the {spec.kind} of "
                         f"{sig.func.__qualname__}: " + "; ".join(reasons))
            entry = _Compiled(spec, sig, flat, positional, offset, backend, method)
            entries.append(entry)
            del entries[:-max(config.cache_size_limit, 1)]
        return entry


# Held weakly on functions; NumPy's functions and ufuncs cannot be weakly referenced (and
# live as long as the process): those are held here.
_CACHES: weakref.WeakKeyDictionary[Any, _FunctionCache] = weakref.WeakKeyDictionary()
_UNWEAKABLE: dict[Any, _FunctionCache] = {}
_LOCK = threading.RLock()


def _cache_of(owner: Any) -> _FunctionCache:
    try:
        cache = _CACHES.get(owner)
        table: Any = _CACHES
    except TypeError:
        cache = _UNWEAKABLE.get(owner)
        table = _UNWEAKABLE
    if cache is None:
        with _LOCK:
            cache = table[owner] = _FunctionCache(owner)
    return cache


def _entry_for(fn: Callable, spec: TransformSpec, args: tuple, kwargs: dict, backend: Any,
               method: str) -> tuple[_Compiled, tuple]:
    owner, bound = _target(fn)
    cache = _cache_of(owner)
    flat = cache.signature.flat(bound, args, kwargs)
    return cache.entry(spec, flat, len(args), len(bound), backend, method), flat


def reset() -> None:
    """Forget every compiled gradient (``dynajit.reset()``)."""
    _CACHES.clear()
    _UNWEAKABLE.clear()


# ----------------------------------------------------------------------------- transforms
class GradTransform:
    """``dynajit.grad(fn)`` / ``dynajit.value_and_grad(fn)``: a callable with ``fn``'s
    arguments. See ``grad`` for what it returns."""

    def __init__(self, fn: Callable, spec: TransformSpec, backend: Any = None,
                 partitioner: str | None = None):
        if not callable(fn):
            raise TypeError(f"dynajit.{spec.kind} expects a callable, got "
                            f"{type(fn).__name__}")
        self.fn = fn
        self.spec = spec
        self.backend = backend
        self.partitioner = partitioner
        # Not __module__: a NumPy function's would make the tracer take this for NumPy's.
        functools.update_wrapper(self, fn, assigned=("__name__", "__qualname__", "__doc__"),
                                 updated=())

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        spec = self.spec
        entry, flat = _entry_for(self.fn, spec, args, kwargs, self._backend(),
                                 self.partitioner or config.partitioner)
        result, saved = entry.forward(flat)
        seed = [np.ones((), dtype=entry.out_metas[0].dtype)]
        grads = _rebuild(entry, entry.backward(saved, seed), spec.argnums)
        if spec.kind == "value_and_grad":
            return result, grads
        return (grads, result[1]) if spec.has_aux else grads

    def _backend(self) -> Any:
        return self.backend if self.backend is not None else config.default_backend

    def with_options(self, **options: Any) -> GradTransform:
        """The same transform with another ``backend`` or ``partitioner``."""
        fields = {"backend": self.backend, "partitioner": self.partitioner, **options}
        return GradTransform(self.fn, self.spec, **fields)

    def __repr__(self) -> str:
        return f"<dynajit.{self.spec.kind} of {getattr(self.fn, '__qualname__', self.fn)}>"

    # Inside compiled code the tracer calls this instead of tracing __call__.
    def _dynajit_trace_call(self, ctx: Any, fn_vt: Any, args: list, kwargs: dict) -> Any:
        return capture.transform_object_call(self, ctx, fn_vt, args, kwargs)

    _dynajit_transform = True


def _rebuild(entry: _Compiled, grads: tuple, argnums: Any) -> Any:
    trees, it = [], iter(grads)
    for tree in entry.trees:
        trees.append(unflatten(tree, [next(it) for _ in range(tree.leaf_count)]))
    return trees[0] if isinstance(argnums, int) else tuple(trees)


def grad(fn: Callable, argnums: int | tuple[int, ...] = 0, has_aux: bool = False, *,
         backend: Any = None, partitioner: str | None = None) -> GradTransform:
    """The gradient of ``fn`` (which returns a floating-point scalar) with respect to its
    positional argument(s) ``argnums``: arrays, or tuples, lists and dicts of arrays (a
    parameters dict gets a dict of gradients). With ``has_aux``, ``fn`` returns
    ``(value, aux)`` and the result is ``(gradients, aux)``.

    >>> def loss(params, x):
    ...     return np.sum((x @ params["w"] + params["b"]) ** 2)
    >>> g = dynajit.grad(loss)(params, x)      # {"w": ..., "b": ...}

    ``fn`` is captured as one graph (a graph break raises ``dynajit.Unsupported`` naming
    its site); the forward and backward graphs run on ``backend`` (default
    ``config.default_backend``), split by ``partitioner`` (default ``config.partitioner``).
    Inside ``@dynajit.compile`` code the gradient becomes part of the compiled graph.
    """
    return GradTransform(fn, TransformSpec("grad", normalize_argnums(argnums), bool(has_aux)),
                         backend, partitioner)


def value_and_grad(fn: Callable, argnums: int | tuple[int, ...] = 0, has_aux: bool = False,
                   *, backend: Any = None, partitioner: str | None = None) -> GradTransform:
    """Like ``grad``, returning ``(value, gradients)`` (``((value, aux), gradients)`` with
    ``has_aux``): one forward pass gives both.

    >>> loss, grads = dynajit.value_and_grad(loss_fn)(params, x, y)
    """
    return GradTransform(fn, TransformSpec("value_and_grad", normalize_argnums(argnums),
                                           bool(has_aux)), backend, partitioner)


class VJPFunction:
    """The backward half of ``dynajit.vjp``: call it with a cotangent shaped like the
    output to get one gradient per primal. It holds the values the forward saved."""

    def __init__(self, entry: _Compiled, saved: list):
        self._entry = entry
        self._saved = saved

    def __call__(self, cotangent: Any) -> tuple:
        entry = self._entry
        tangents = entry.tangents_like(cotangent, "vjp function")
        grads = entry.backward(self._saved, tangents)
        return _rebuild(entry, grads, tuple(range(len(entry.trees))))


def vjp(fn: Callable, *primals: Any, has_aux: bool = False, backend: Any = None,
        partitioner: str | None = None) -> tuple:
    """``fn(*primals)`` and its vector-Jacobian product: returns ``(out, vjp_fn)`` (``(out,
    vjp_fn, aux)`` with ``has_aux``), where ``vjp_fn(cotangent)`` returns a tuple with the
    gradient of ``<cotangent, fn(*primals)>`` for each primal. The output may be any pytree
    of floating-point arrays.

    >>> y, pullback = dynajit.vjp(np.tanh, x)
    >>> (dx,) = pullback(np.ones_like(y))

    ``vjp_fn`` reads the saved values of the forward pass, which may include the primal
    arrays themselves: do not write into them before calling it.
    """
    spec = TransformSpec("vjp", tuple(range(len(primals))) or 0, bool(has_aux))
    if not primals:
        raise TypeError("dynajit.vjp needs at least one primal to differentiate")
    entry, flat = _entry_for(fn, spec, primals, {},
                             backend if backend is not None else config.default_backend,
                             partitioner or config.partitioner)
    result, saved = entry.forward(flat)
    pullback = VJPFunction(entry, saved)
    if has_aux:
        return result[0], pullback, result[1]
    return result, pullback


grad._dynajit_trace_call = capture.make_transform_hook("grad")
value_and_grad._dynajit_trace_call = capture.make_transform_hook("value_and_grad")
vjp._dynajit_trace_call = capture.make_transform_hook("vjp")

__all__ = ["GradTransform", "VJPFunction", "grad", "reset", "value_and_grad", "vjp"]
