"""Output code: the Python function that replaces a traced frame. It reads the graph inputs
from their sources, calls the compiled graph, writes back in-place updates and other side
effects in the order Python would leave them, and rebuilds the return value with the same
Python structure (and the same objects, where eager code returns an input)."""

from __future__ import annotations

import itertools
import linecache
import re
import types
from typing import Any

import numpy as np

from dynajit.capture.context import TraceContext
from dynajit.capture.values import (
    VT,
    ArrayVT,
    CallableVT,
    CellVT,
    ConstVT,
    DictVT,
    NullVT,
    ObjectVT,
    SequenceVT,
    SliceVT,
)
from dynajit.errors import Unsupported
from dynajit.graph.graph import Node
from dynajit.guards.source import (
    AttrSource,
    ClosureSource,
    GlobalSource,
    ItemSource,
    LocalSource,
)

_counter = itertools.count()


class OutputCode:
    """Builds the entry function's source for one trace."""

    def __init__(self, ctx: TraceContext, fn: types.FunctionType, arg_names: tuple[str, ...]):
        self.ctx = ctx
        self.fn = fn
        self.arg_names = arg_names
        self.namespace: dict[str, Any] = {"__globals": fn.__globals__,
                                          "__closure": fn.__closure__ or (),
                                          "__copyto": np.copyto}
        self.outputs: list[Node] = []
        self._output_index: dict[Node, int] = {}
        self._k = 0
        # Every source the entry reads is read once, into a temporary, before the graph
        # runs and before any side effect (``o.a, o.b = o.b, o.a`` must see old values).
        self.reads: list[str] = []
        self._read_names: dict[Any, str] = {}
        self.builds: list[str] = []
        self._built_names: dict[int, str] = {}
        self.resume_names: list[str] = []  # resume functions a graph break calls

    # ------------------------------------------------------------------------- expressions
    def source_expr(self, source: Any) -> str:
        if isinstance(source, LocalSource):
            return source.var
        if isinstance(source, GlobalSource):
            return f"__globals[{source.var!r}]"
        if isinstance(source, ClosureSource):
            return f"__closure[{source.index}].cell_contents"
        if isinstance(source, AttrSource):
            return f"{self.source_expr(source.obj)}.{source.attr}"
        if isinstance(source, ItemSource):
            return f"{self.source_expr(source.obj)}[{source.key!r}]"
        raise Unsupported(f"no expression for source {source}")

    def read(self, source: Any) -> str:
        """A name holding the value of ``source`` as it was when the frame started."""
        if isinstance(source, LocalSource):
            return source.var  # arguments are never rebound by the entry
        name = self._read_names.get(source)
        if name is None:
            name = self._read_names[source] = f"__r{len(self._read_names)}"
            self.reads.append(f"{name} = {self.source_expr(source)}")
        return name

    def constant(self, value: Any) -> str:
        if value is None or isinstance(value, (bool, str)) or (
                type(value) is int) or (type(value) is float and np.isfinite(value)):
            return repr(value)
        name = f"__k{self._k}"
        self._k += 1
        self.namespace[name] = value
        return name

    def graph_output(self, node: Node) -> str:
        if node not in self._output_index:
            self._output_index[node] = len(self.outputs)
            self.outputs.append(node)
        return f"__o[{self._output_index[node]}]"

    def rebuild(self, vt: VT) -> str:
        """Python expression for the value ``vt`` stands for, after the graph has run."""
        if isinstance(vt, ArrayVT):
            if vt.source is not None:
                return self.read(vt.source)  # the input object itself (identity)
            if vt.node.kind == "constant":
                value = vt.node.target
                return f"{self.constant(value)}.copy()" if isinstance(
                    value, np.ndarray) else self.constant(value)
            return self.graph_output(vt.node)
        if isinstance(vt, ConstVT):
            return self.constant(vt.value)
        if isinstance(vt, SequenceVT):
            if vt.source is not None:
                return self.read(vt.source)
            inner = ", ".join(self.rebuild(i) for i in vt.items)
            if vt.kind is tuple:
                return f"({inner},)" if len(vt.items) == 1 else f"({inner})"
            return self._built(vt, f"[{inner}]")
        if isinstance(vt, DictVT):
            if vt.source is not None:
                return self.read(vt.source)
            return self._built(vt, "{" + ", ".join(
                f"{self.constant(k)}: {self.rebuild(v)}" for k, v in vt.items.items()) + "}")
        if isinstance(vt, SliceVT):
            return f"slice({', '.join(self.rebuild(p) for p in vt.parts)})"
        if isinstance(vt, ObjectVT):
            if vt.source is None:
                raise Unsupported("returning an object the trace created")
            return self.read(vt.source)
        if isinstance(vt, CallableVT) and vt.self_vt is None:
            return self.read(vt.source) if vt.source is not None else self.constant(
                vt.fn)
        if isinstance(vt, CallableVT):  # a bound method, e.g. x.item
            return f"{self.rebuild(vt.self_vt)}.{vt.fn.__name__}"
        raise Unsupported(f"cannot return {vt} from compiled code")

    def _built(self, vt: VT, expr: str) -> str:
        """A list or dict made by the traced code is built once, so every place that holds
        it holds the same object (a stack slot and a local, two outputs)."""
        name = self._built_names.get(id(vt))
        if name is None:
            name = self._built_names[id(vt)] = f"__b{len(self._built_names)}"
            self.builds.append(f"{name} = {expr}")
        return name

    # ------------------------------------------------------------------------- side effects
    def side_effect_lines(self) -> list[str]:
        lines = []
        for source, vt in self.ctx.inputs:
            if vt.node is not vt.original:
                lines.append(f"__copyto({self.read(source)}, "
                             f"{self.graph_output(vt.node)})")
        for vt in self.ctx.mutated_containers.values():
            if vt.source is None:
                continue
            target = self.read(vt.source)
            if isinstance(vt, SequenceVT):
                items = ", ".join(self._rebuild_item(i) for i in vt.items)
                lines.append(f"{target}[:] = [{items}]")
            else:
                items = ", ".join(f"{self.constant(k)}: {self._rebuild_item(v)}"
                                  for k, v in vt.items.items())
                lines.append(f"{target}.clear()")
                lines.append(f"{target}.update({{{items}}})")
        for obj, name, value in self.ctx.attr_stores.values():
            lines.append(f"{self.read(obj.source)}.{name} = {self._rebuild_item(value)}")
        for globals_source, name, value in self.ctx.global_stores.values():
            target = "__globals" if globals_source is None else self.read(globals_source)
            lines.append(f"{target}[{name!r}] = {self._rebuild_item(value)}")
        for cell, value in self.ctx.cell_stores.values():
            lines.append(f"{self.source_expr(cell.source)} = {self._rebuild_item(value)}")
        return lines

    def _rebuild_item(self, vt: VT) -> str:
        if isinstance(vt, CellVT):
            raise Unsupported("storing a closure cell")
        return self.rebuild(vt)

    # ------------------------------------------------------------------------- assembly
    def prepare(self, return_vt: VT) -> tuple[list[str], list[str]]:
        """Side-effect lines and the lines that end the entry; fills ``outputs`` (the
        graph's outputs, in order) as a by-product."""
        effects = self.side_effect_lines()
        return effects, [f"return {self.rebuild(return_vt)}"]

    def prepare_break(self, gb: Any) -> tuple[list[str], list[str]]:
        """For a graph break: side effects so far, then the breaking instruction run eagerly
        and a call of the resume function(s) that continue the frame after it."""
        from dynajit.capture.resume import resume_function

        effects = self.side_effect_lines()
        inst, stack, tracer = gb.inst, list(gb.stack), gb.tracer
        # A resume function's own stack arguments are dead once its prologue has run.
        locals_ = tuple(name for name in gb.locals if not name.startswith("__stack"))
        tail: list[str] = []
        result = "__res"

        def resume_call(offset: int, rest: list[VT], pushed: str | list[str] | None) -> str:
            rest = _unbind_methods(rest)
            pushed = [] if pushed is None else [pushed] if isinstance(pushed, str) else pushed
            nulls = tuple(isinstance(v, NullVT) for v in rest) + (False,) * len(pushed)
            fn = resume_function(self.fn, offset, nulls, locals_)
            self.resume_names.append(fn.__name__)
            args = [self.rebuild(v) for v in rest if not isinstance(v, NullVT)]
            args += pushed
            args += [self.rebuild(gb.locals[name]) for name in locals_]
            return f"{self.constant(fn)}({', '.join(args)})"

        op = inst.opname
        after = tracer.next_offset(inst)
        if op == "CALL":
            argc = inst.arg
            callee_slots, args = stack[len(stack) - argc - 2:len(stack) - argc], \
                stack[len(stack) - argc:]
            rest = stack[:len(stack) - argc - 2]
            first, second = callee_slots
            fn_vt, args = (second, args) if isinstance(first, NullVT) else (
                first, [second, *args])
            n_kw = len(gb.kw_names)
            pos, kws = args[:len(args) - n_kw], args[len(args) - n_kw:]
            parts = [self.rebuild(a) for a in pos]
            parts += [f"{k}={self.rebuild(v)}" for k, v in zip(gb.kw_names, kws)]
            at = self.user_line_caller(gb)
            tail.append(f"{result} = {at}({', '.join([self.rebuild(fn_vt), *parts])})")
            tail.append(f"return {resume_call(after, rest, result)}")
        elif op.startswith("POP_JUMP"):
            cond, rest = stack[-1], stack[:-1]
            test = (f"{self.rebuild(cond)} is None" if op.endswith("_NONE") and "NOT" not in op
                    else f"{self.rebuild(cond)} is not None" if op.endswith("NOT_NONE")
                    else self.rebuild(cond))
            jump_when = not op.endswith("FALSE")  # IF_TRUE, IF_NONE, IF_NOT_NONE jump on True
            taken, fallthrough = resume_call(inst.argval, rest, None), resume_call(after, rest,
                                                                                   None)
            tail.append(f"if {self.user_line_caller(gb)}(bool, {test}):")
            tail.append(f"    return {taken if jump_when else fallthrough}")
            tail.append(f"return {fallthrough if jump_when else taken}")
        elif op == "CALL_FUNCTION_EX":
            has_kwargs = bool(inst.arg & 1)
            n = 3 if has_kwargs else 2
            fn_vt, args_vt = stack[-n], stack[-n + 1]
            kwargs_expr = f", **{self.rebuild(stack[-1])}" if has_kwargs else ""
            rest = stack[:-n]
            if rest and isinstance(rest[-1], NullVT):
                rest = rest[:-1]
            tail.append(f"{result} = {self.user_line_caller(gb)}({self.rebuild(fn_vt)}, "
                        f"*{self.rebuild(args_vt)}{kwargs_expr})")
            tail.append(f"return {resume_call(after, rest, result)}")
        elif op == "BEFORE_WITH":
            # CPython's BEFORE_WITH: push the manager's bound __exit__, then __enter__()'s
            # result. The resume function starts inside the block, under the block's real
            # exception handler, and runs it (eagerly: see tracer guarded_offsets).
            at = self.user_line_caller(gb)
            tail.append(f"__mgr = {self.rebuild(stack[-1])}")
            tail.append(f"__exit = {self.constant(types.MethodType)}(type(__mgr).__exit__, "
                        "__mgr)")
            tail.append(f"{result} = {at}(type(__mgr).__enter__, __mgr)")
            tail.append(f"return {resume_call(after, stack[:-1], ['__exit', result])}")
        elif op == "BINARY_OP":
            from dynajit.capture.tracer import BINARY_OPERATORS

            fn = self.constant(BINARY_OPERATORS[inst.argrepr])
            a, b = (self.rebuild(v) for v in stack[-2:])
            tail.append(f"{result} = {self.user_line_caller(gb)}({fn}, {a}, {b})")
            tail.append(f"return {resume_call(after, stack[:-2], result)}")
        else:
            n_in, expr = _EAGER_INSTRUCTIONS[op](inst)
            operands = [self.rebuild(v) for v in stack[len(stack) - n_in:]]
            rest = stack[:len(stack) - n_in]
            tail.append(f"{result} = {expr(*operands)}")
            tail.append(f"return {resume_call(after, rest, result)}")
        return effects, tail

    def user_line_caller(self, gb: Any) -> str:
        """A function ``call(fn, *args, **kwargs)`` whose code sits at the user's file and
        line of the breaking instruction, with the user's globals: warnings it triggers,
        tracebacks through it and the warnings registry are the user's, as in eager code."""
        tracer, inst = gb.tracer, gb.inst
        line = inst.positions.lineno if inst.positions and inst.positions.lineno else (
            tracer.code.co_firstlineno)
        return self.constant(_caller_at(tracer.code.co_filename, line,
                                        self.fn.__code__.co_name, self.fn.__globals__))

    def assemble(self, effects: list[str], tail: list[str], compiled_graph: Any,
                 graph_module: Any) -> tuple[types.FunctionType, str]:
        input_exprs = [self.read(source) for source, _ in self.ctx.inputs]
        self.namespace["__compiled"] = compiled_graph
        self.namespace["__annotate"] = lambda e: annotate_exception(e, graph_module)
        safe = re.sub(r"\W", "_", self.fn.__code__.co_name)  # "<lambda>" is not a name
        name = f"__compiled_{safe}_{next(_counter)}"
        lines = [f"def {name}({', '.join(self.arg_names)}):"]
        lines += [f"    {line}" for line in self.reads]
        if self.outputs:
            lines.append("    try:")
            lines.append(f"        __o = __compiled({', '.join(input_exprs)})")
            lines.append("    except Exception as __e:")
            lines.append("        __annotate(__e)")
            lines.append("        raise")
        lines += [f"    {line}" for line in self.builds]
        lines += [f"    {line}" for line in effects]
        lines += [f"    {line}" for line in tail]
        source = "\n".join(lines) + "\n"
        filename = f"<dynajit-entry-{name}>"
        linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
        exec(compile(source, filename, "exec"), self.namespace)
        return self.namespace[name], source


def annotate_exception(exc: BaseException, graph_module: Any) -> None:
    """Name the user's line an exception raised by compiled code comes from: the graph
    line in the traceback maps to a node, whose ``source`` is the user's file:line."""
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == graph_module.filename:
            node = graph_module.node_at_line(tb.tb_lineno)
            if node is not None and node.source:
                exc.add_note(f"dynajit: raised by compiled code for {node.source} "
                             f"(graph node '{node.name}', op {node.target.name})")
            return
        tb = tb.tb_next


_CALLERS: dict[tuple, types.FunctionType] = {}


def _caller_at(filename: str, line: int, name: str, f_globals: dict) -> types.FunctionType:
    key = (filename, line, name, id(f_globals))
    caller = _CALLERS.get(key)
    if caller is None or caller.__globals__ is not f_globals:
        safe = re.sub(r"\W", "_", name) or "f"
        source = "\n" * (line - 1) + f"def {safe}(__fn, *a, **k): return __fn(*a, **k)\n"
        module = compile(source, filename, "exec")
        code = next(c for c in module.co_consts if isinstance(c, types.CodeType))
        caller = types.FunctionType(code, f_globals, safe)
        from dynajit import _hook

        if _hook.AVAILABLE:
            _hook.mark_skip(code)  # the user's module, but dynajit's glue: never compiled
        _CALLERS[key] = caller
    return caller


def _unbind_methods(stack: list[VT]) -> list[VT]:
    """``[NULL, x.clip]`` becomes ``[ndarray.clip, x]``: the same call for CPython, and the
    resume function then guards a stable function instead of a new bound method."""
    out = list(stack)
    for i in range(len(out) - 1):
        vt = out[i + 1]
        if isinstance(out[i], NullVT) and isinstance(vt, CallableVT) and \
                vt.self_vt is not None:
            out[i], out[i + 1] = CallableVT(vt.fn), vt.self_vt
    return out


# Instructions other than CALL and jumps that a graph break runs eagerly: operand count and
# the Python expression with the same meaning.
_EAGER_INSTRUCTIONS: dict[str, Any] = {
    "COMPARE_OP": lambda inst: (2, lambda a, b: f"({a} {inst.argval} {b})"),
    "BINARY_SUBSCR": lambda inst: (2, lambda a, b: f"{a}[{b}]"),
    "CONTAINS_OP": lambda inst: (2, lambda a, b: f"({a} {'not in' if inst.arg else 'in'} {b})"),
    "UNARY_NOT": lambda inst: (1, lambda a: f"(not {a})"),
    "UNARY_NEGATIVE": lambda inst: (1, lambda a: f"(-{a})"),
    "UNARY_INVERT": lambda inst: (1, lambda a: f"(~{a})"),
}
