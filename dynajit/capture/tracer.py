"""The symbolic bytecode interpreter. It runs a function's instructions over value trackers
(values.py): array operations go through the op registry into one Graph, Python values are
computed while tracing, user functions are inlined, and every assumption about the inputs
becomes a guard. Whatever it cannot follow raises Unsupported with the user's file:line;
the caller then runs the frame eagerly (graph breaks arrive with the graph-break issue).

Opcode differences between Python versions live in ``opcodes.py``."""

from __future__ import annotations

import dis
import operator
import types
from typing import Any

from dynajit.capture import opcodes
from dynajit.capture.context import TraceContext
from dynajit.capture.values import (
    NULL,
    VT,
    ArrayVT,
    CallableVT,
    CellVT,
    ConstVT,
    DictVT,
    FunctionVT,
    IteratorVT,
    NullVT,
    SequenceVT,
    SliceVT,
)
from dynajit.errors import Unsupported

BINARY_OPERATORS = {
    "+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv,
    "//": operator.floordiv, "%": operator.mod, "**": operator.pow, "@": operator.matmul,
    "<<": operator.lshift, ">>": operator.rshift, "&": operator.and_, "|": operator.or_,
    "^": operator.xor,
    "+=": operator.iadd, "-=": operator.isub, "*=": operator.imul, "/=": operator.itruediv,
    "//=": operator.ifloordiv, "%=": operator.imod, "**=": operator.ipow,
    "@=": operator.imatmul, "<<=": operator.ilshift, ">>=": operator.irshift,
    "&=": operator.iand, "|=": operator.ior, "^=": operator.ixor,
}
COMPARISONS = {"<": operator.lt, "<=": operator.le, "==": operator.eq, "!=": operator.ne,
               ">": operator.gt, ">=": operator.ge}

# Exception handlers that only restore locals and re-raise (3.12's inlined comprehensions).
_CLEANUP_OPS = {"SWAP", "POP_TOP", "STORE_FAST", "COPY", "NOP", "RERAISE"}


class _Return(Exception):
    def __init__(self, value: VT):
        self.value = value


class InstructionTracer:
    """Traces one code object (the compiled frame, or an inlined callee)."""

    def __init__(self, ctx: TraceContext, code: types.CodeType, f_globals: dict,
                 locals_: dict[str, VT], cells: dict[str, CellVT], depth: int = 0,
                 globals_source: Any = None):
        self.ctx = ctx
        self.code = code
        self.f_globals = f_globals
        self.globals_source = globals_source  # None: the compiled frame's own globals
        self.locals = locals_
        self.cells = cells
        self.depth = depth
        self.stack: list[VT] = []
        self.kw_names: tuple[str, ...] = ()
        self.instructions = list(dis.get_instructions(code))
        self.index_of = {inst.offset: i for i, inst in enumerate(self.instructions)}
        self.pc = 0
        self.current: dis.Instruction | None = None
        self.guarded_offsets = _offsets_inside_try(code, self.instructions)

    # ------------------------------------------------------------------------- driver
    def run(self) -> VT:
        self.ctx.tracers.append(self)
        root = self.depth == 0
        try:
            while True:
                inst = self.instructions[self.pc]
                self.current = inst
                self.pc += 1
                self.ctx.count_instruction(self)
                if inst.offset in self.guarded_offsets:
                    raise Unsupported("code inside a try/except/with block (an exception "
                                      "raised by compiled code could not be handled there)")
                handler = getattr(self, inst.opname, self._unsupported_opcode)
                if not root:
                    handler(inst)
                    continue
                # The compiled frame itself: remember the state before each instruction, so
                # that an instruction the trace cannot follow becomes a graph break.
                before = (list(self.stack), dict(self.locals), self.kw_names,
                          self.ctx.effect_version)
                try:
                    handler(inst)
                except Unsupported as e:
                    self._locate(e)
                    raise self.ctx.graph_break(self, inst, before, e) from None
        except _Return as r:
            return r.value
        except Unsupported as e:
            self._locate(e)
            raise
        finally:
            self.ctx.tracers.pop()

    def _unsupported_opcode(self, inst: Any) -> None:
        raise Unsupported(f"bytecode {inst.opname} is not supported")

    def _locate(self, e: Unsupported) -> None:
        """Name the innermost user line in the message, once."""
        if not getattr(e, "located", False):
            e.args = (f"{e.reason} ({self.location()})",)
            e.user_location = self.location()
            e.user_stack = [t.location() for t in self.ctx.tracers]
            e.user_frames = [(t.code.co_filename, _line(t), t.code.co_name)
                             for t in self.ctx.tracers]
            e.instruction = (f"{self.current.opname} {self.current.argrepr}".strip()
                             if self.current is not None else None)
            e.located = True

    def loop_ranges(self) -> list[tuple[int, int]]:
        """(start, end) offsets of every loop body (a backward jump's target to the jump)."""
        return [(inst.argval, inst.offset) for inst in self.instructions
                if "JUMP" in inst.opname and isinstance(inst.argval, int)
                and inst.argval <= inst.offset]

    def next_offset(self, inst: Any) -> int:
        return self.instructions[self.index_of[inst.offset] + 1].offset

    def location(self) -> str:
        line = None
        if self.current is not None and self.current.positions is not None:
            line = self.current.positions.lineno
        return f"{self.code.co_filename}:{line if line is not None else self.code.co_firstlineno}"

    def push(self, vt: VT) -> None:
        self.stack.append(vt)

    def pop(self) -> VT:
        return self.stack.pop()

    def popn(self, n: int) -> list[VT]:
        if n == 0:
            return []
        items = self.stack[-n:]
        del self.stack[-n:]
        return items

    def jump(self, target: int) -> None:
        index = self.index_of[target]
        if index < self.pc:
            self.ctx.note_backward_jump()
        self.pc = index

    # ------------------------------------------------------------------------- no-ops
    def NOP(self, inst: Any) -> None:
        pass

    RESUME = PRECALL = CACHE = EXTENDED_ARG = COPY_FREE_VARS = NOP

    # ------------------------------------------------------------------------- loads/stores
    def LOAD_CONST(self, inst: Any) -> None:
        self.push(ConstVT(inst.argval))

    def LOAD_FAST(self, inst: Any) -> None:
        try:
            self.push(self.locals[inst.argval])
        except KeyError:
            raise Unsupported(f"local variable {inst.argval!r} is read before it is "
                              "assigned") from None

    LOAD_FAST_CHECK = LOAD_FAST

    def LOAD_FAST_AND_CLEAR(self, inst: Any) -> None:
        self.push(self.locals.pop(inst.argval, NULL))

    def STORE_FAST(self, inst: Any) -> None:
        value = self.pop()
        if isinstance(value, NullVT):
            self.locals.pop(inst.argval, None)
        else:
            self.locals[inst.argval] = value

    def DELETE_FAST(self, inst: Any) -> None:
        self.locals.pop(inst.argval, None)

    def MAKE_CELL(self, inst: Any) -> None:
        if inst.argval not in self.cells:
            self.cells[inst.argval] = CellVT(self.locals.pop(inst.argval, None))

    def LOAD_CLOSURE(self, inst: Any) -> None:
        self.push(self.cells[inst.argval])

    def LOAD_DEREF(self, inst: Any) -> None:
        cell = self.cells.get(inst.argval)
        if cell is None or cell.contents is None:
            raise Unsupported(f"free variable {inst.argval!r} is read before it is assigned")
        self.push(cell.contents)

    def STORE_DEREF(self, inst: Any) -> None:
        cell = self.cells[inst.argval]
        if cell.source is not None:
            self.ctx.record_cell_store(cell, self.stack[-1])
        cell.contents = self.pop()

    def LOAD_GLOBAL(self, inst: Any) -> None:
        if opcodes.load_global_pushes_null(inst):
            self.push(NULL)
        self.push(self.ctx.load_global(self.f_globals, inst.argval, self.globals_source))

    def STORE_GLOBAL(self, inst: Any) -> None:
        self.ctx.store_global(self.f_globals, inst.argval, self.pop(), self.globals_source)

    def LOAD_ATTR(self, inst: Any) -> None:
        obj = self.pop()
        if opcodes.load_attr_is_method(inst):
            self.push(NULL)
        self.push(self.ctx.getattr(obj, inst.argval))

    def LOAD_METHOD(self, inst: Any) -> None:
        obj = self.pop()
        self.push(NULL)
        self.push(self.ctx.getattr(obj, inst.argval))

    def STORE_ATTR(self, inst: Any) -> None:
        obj = self.pop()
        value = self.pop()
        self.ctx.setattr(obj, inst.argval, value)

    # ------------------------------------------------------------------------- stack
    def POP_TOP(self, inst: Any) -> None:
        self.pop()

    def PUSH_NULL(self, inst: Any) -> None:
        self.push(NULL)

    def COPY(self, inst: Any) -> None:
        self.push(self.stack[-inst.arg])

    def SWAP(self, inst: Any) -> None:
        self.stack[-1], self.stack[-inst.arg] = self.stack[-inst.arg], self.stack[-1]

    def END_FOR(self, inst: Any) -> None:
        self.popn(2)

    # ------------------------------------------------------------------------- operators
    def BINARY_OP(self, inst: Any) -> None:
        b = self.pop()
        a = self.pop()
        self.push(self.ctx.call(CallableVT(BINARY_OPERATORS[inst.argrepr]), [a, b], {}))

    def COMPARE_OP(self, inst: Any) -> None:
        b = self.pop()
        a = self.pop()
        self.push(self.ctx.call(CallableVT(COMPARISONS[opcodes.compare_op(inst)]), [a, b], {}))

    def UNARY_NEGATIVE(self, inst: Any) -> None:
        self.push(self.ctx.call(CallableVT(operator.neg), [self.pop()], {}))

    def UNARY_POSITIVE(self, inst: Any) -> None:
        self.push(self.ctx.call(CallableVT(operator.pos), [self.pop()], {}))

    def UNARY_INVERT(self, inst: Any) -> None:
        self.push(self.ctx.call(CallableVT(operator.invert), [self.pop()], {}))

    def UNARY_NOT(self, inst: Any) -> None:
        self.push(ConstVT(not self.pop().truth()))

    def CALL_INTRINSIC_1(self, inst: Any) -> None:
        fn = opcodes.intrinsic_1(inst)
        self.push(self.ctx.call(CallableVT(fn), [self.pop()], {}))

    def IS_OP(self, inst: Any) -> None:
        b = self.pop()
        a = self.pop()
        result = self.ctx.is_same(a, b)
        self.push(ConstVT(result != bool(inst.arg)))

    def CONTAINS_OP(self, inst: Any) -> None:
        container = self.pop()
        item = self.pop()
        result = self.ctx.contains(container, item)
        self.push(ConstVT(result != bool(inst.arg)))

    # ------------------------------------------------------------------------- subscripts
    def BINARY_SUBSCR(self, inst: Any) -> None:
        index = self.pop()
        container = self.pop()
        self.push(self.ctx.getitem(container, index))

    def BINARY_SLICE(self, inst: Any) -> None:
        stop = self.pop()
        start = self.pop()
        container = self.pop()
        self.push(self.ctx.getitem(container, SliceVT(start, stop, ConstVT(None))))

    def STORE_SUBSCR(self, inst: Any) -> None:
        index = self.pop()
        container = self.pop()
        value = self.pop()
        self.ctx.setitem(container, index, value)

    def STORE_SLICE(self, inst: Any) -> None:
        stop = self.pop()
        start = self.pop()
        container = self.pop()
        value = self.pop()
        self.ctx.setitem(container, SliceVT(start, stop, ConstVT(None)), value)

    def DELETE_SUBSCR(self, inst: Any) -> None:
        index = self.pop()
        container = self.pop()
        self.ctx.delitem(container, index)

    # ------------------------------------------------------------------------- building
    def BUILD_TUPLE(self, inst: Any) -> None:
        self.push(SequenceVT(tuple, self.popn(inst.arg)))

    def BUILD_LIST(self, inst: Any) -> None:
        self.push(SequenceVT(list, self.popn(inst.arg)))

    def BUILD_MAP(self, inst: Any) -> None:
        flat = self.popn(2 * inst.arg)
        self.push(DictVT({self.ctx.key(flat[i]): flat[i + 1] for i in range(0, len(flat), 2)}))

    def BUILD_CONST_KEY_MAP(self, inst: Any) -> None:
        keys = self.pop().constant()
        values = self.popn(inst.arg)
        self.push(DictVT(dict(zip(keys, values))))

    def BUILD_SLICE(self, inst: Any) -> None:
        parts = self.popn(inst.arg)
        if len(parts) == 2:
            parts.append(ConstVT(None))
        self.push(SliceVT(*parts))

    def BUILD_STRING(self, inst: Any) -> None:
        parts = self.popn(inst.arg)
        self.push(ConstVT("".join(p.constant() for p in parts)))

    def FORMAT_VALUE(self, inst: Any) -> None:
        spec = self.pop().constant() if inst.arg & 0x04 else ""
        value = self.pop()
        if isinstance(value, ArrayVT):
            raise Unsupported("formatting an array value into a string needs its data")
        raw = value.constant()
        convert = {0: None, 1: str, 2: repr, 3: ascii}[inst.arg & 0x03]
        self.push(ConstVT(format(convert(raw) if convert else raw, spec)))

    def LIST_APPEND(self, inst: Any) -> None:
        value = self.pop()
        self.ctx.list_mutated(self.stack[-inst.arg]).items.append(value)

    def LIST_EXTEND(self, inst: Any) -> None:
        seq = self.pop()
        self.ctx.list_mutated(self.stack[-inst.arg]).items.extend(self.ctx.unpack(seq))

    def LIST_TO_TUPLE(self, inst: Any) -> None:
        self.push(SequenceVT(tuple, self.pop().items))

    def SET_ADD(self, inst: Any) -> None:
        raise Unsupported("sets are not supported while tracing")

    BUILD_SET = SET_UPDATE = SET_ADD

    def MAP_ADD(self, inst: Any) -> None:
        value = self.pop()
        key = self.pop()
        target = self.stack[-inst.arg]
        self.ctx.dict_mutated(target).items[self.ctx.key(key)] = value

    def DICT_UPDATE(self, inst: Any) -> None:
        other = self.pop()
        target = self.ctx.dict_mutated(self.stack[-inst.arg])
        if not isinstance(other, DictVT):
            raise Unsupported("dict update from a non-dict")
        target.items.update(other.items)

    DICT_MERGE = DICT_UPDATE

    def UNPACK_SEQUENCE(self, inst: Any) -> None:
        items = self.ctx.unpack(self.pop())
        if len(items) != inst.arg:
            raise Unsupported(f"unpacking {len(items)} values into {inst.arg} names "
                              "(ValueError in eager code)")
        self.stack.extend(reversed(items))

    def UNPACK_EX(self, inst: Any) -> None:
        before, after = inst.arg & 0xFF, inst.arg >> 8
        items = self.ctx.unpack(self.pop())
        if len(items) < before + after:
            raise Unsupported("not enough values to unpack (ValueError in eager code)")
        middle = SequenceVT(list, items[before:len(items) - after])
        out = items[:before] + [middle] + items[len(items) - after:]
        self.stack.extend(reversed(out))

    # ------------------------------------------------------------------------- control flow
    def JUMP_FORWARD(self, inst: Any) -> None:
        self.jump(inst.argval)

    JUMP_BACKWARD = JUMP_BACKWARD_NO_INTERRUPT = JUMP_ABSOLUTE = JUMP_FORWARD

    def _pop_jump(self, inst: Any, when: bool) -> None:
        if self.pop().truth() == when:
            self.jump(inst.argval)

    def POP_JUMP_IF_TRUE(self, inst: Any) -> None:
        self._pop_jump(inst, True)

    def POP_JUMP_IF_FALSE(self, inst: Any) -> None:
        self._pop_jump(inst, False)

    POP_JUMP_FORWARD_IF_TRUE = POP_JUMP_BACKWARD_IF_TRUE = POP_JUMP_IF_TRUE
    POP_JUMP_FORWARD_IF_FALSE = POP_JUMP_BACKWARD_IF_FALSE = POP_JUMP_IF_FALSE

    def _pop_jump_none(self, inst: Any, when_none: bool) -> None:
        value = self.pop()
        is_none = isinstance(value, ConstVT) and value.value is None
        if is_none == when_none:
            self.jump(inst.argval)

    def POP_JUMP_IF_NONE(self, inst: Any) -> None:
        self._pop_jump_none(inst, True)

    def POP_JUMP_IF_NOT_NONE(self, inst: Any) -> None:
        self._pop_jump_none(inst, False)

    POP_JUMP_FORWARD_IF_NONE = POP_JUMP_BACKWARD_IF_NONE = POP_JUMP_IF_NONE
    POP_JUMP_FORWARD_IF_NOT_NONE = POP_JUMP_BACKWARD_IF_NOT_NONE = POP_JUMP_IF_NOT_NONE

    def JUMP_IF_TRUE_OR_POP(self, inst: Any) -> None:
        if self.stack[-1].truth():
            self.jump(inst.argval)
        else:
            self.pop()

    def JUMP_IF_FALSE_OR_POP(self, inst: Any) -> None:
        if not self.stack[-1].truth():
            self.jump(inst.argval)
        else:
            self.pop()

    def GET_ITER(self, inst: Any) -> None:
        self.push(self.ctx.iterate(self.pop()))

    def FOR_ITER(self, inst: Any) -> None:
        it = self.stack[-1]
        if not isinstance(it, IteratorVT):
            raise Unsupported("iterating over a value the tracer cannot enumerate")
        value = it.next()
        if value is not None:
            self.push(value)
            return
        self.pop()
        self.jump(inst.argval)
        self.pc += opcodes.FOR_ITER_EXIT_SKIP

    def RETURN_VALUE(self, inst: Any) -> None:
        raise _Return(self.pop())

    def RETURN_CONST(self, inst: Any) -> None:
        raise _Return(ConstVT(inst.argval))

    # ------------------------------------------------------------------------- calls
    def KW_NAMES(self, inst: Any) -> None:
        self.kw_names = self.code.co_consts[inst.arg]

    def CALL(self, inst: Any) -> None:
        args = self.popn(inst.arg)
        second = self.pop()
        first = self.pop()
        if isinstance(first, NullVT):
            fn = second
        else:
            fn, args = first, [second, *args]
        kwargs: dict[str, VT] = {}
        if self.kw_names:
            n = len(self.kw_names)
            kwargs = dict(zip(self.kw_names, args[len(args) - n:]))
            args = args[:len(args) - n]
            self.kw_names = ()
        self.push(self.ctx.call(fn, args, kwargs))

    def CALL_FUNCTION_EX(self, inst: Any) -> None:
        kwargs_vt = self.pop() if inst.arg & 1 else DictVT({})
        args_vt = self.pop()
        fn = self.pop()
        if self.stack and isinstance(self.stack[-1], NullVT):
            self.pop()
        if not isinstance(kwargs_vt, DictVT):
            raise Unsupported("**kwargs from a non-dict")
        self.push(self.ctx.call(fn, self.ctx.unpack(args_vt), dict(kwargs_vt.items)))

    def MAKE_FUNCTION(self, inst: Any) -> None:
        code = self.pop().constant()
        closure = tuple(self.pop().items) if inst.arg & 0x08 else ()
        if inst.arg & 0x04:
            self.pop()  # annotations do not change what the function computes
        kwdefaults = self.pop() if inst.arg & 0x02 else None
        defaults = self.pop() if inst.arg & 0x01 else None
        self.push(FunctionVT(
            code, self.f_globals,
            tuple(defaults.items) if defaults is not None else (),
            dict(kwdefaults.items) if kwdefaults is not None else None,
            closure, self.globals_source,
        ))


def _line(tracer: InstructionTracer) -> int:
    inst = tracer.current
    if inst is not None and inst.positions is not None and inst.positions.lineno:
        return inst.positions.lineno
    return tracer.code.co_firstlineno


def _offsets_inside_try(code: types.CodeType, instructions: list) -> set[int]:
    """Offsets covered by an exception handler that does more than restore locals and
    re-raise (3.12's inlined comprehensions): try/except/finally and with blocks."""
    entries = dis._parse_exception_table(code) if code.co_exceptiontable else []
    if not entries:
        return set()
    by_offset = {inst.offset: i for i, inst in enumerate(instructions)}
    covered: set[int] = set()
    for entry in entries:
        i = by_offset.get(entry.target)
        cleanup = True
        while i is not None and i < len(instructions):
            name = instructions[i].opname
            if name not in _CLEANUP_OPS:
                cleanup = False
                break
            if name == "RERAISE":
                break
            i += 1
        if not cleanup:
            covered.update(inst.offset for inst in instructions
                           if entry.start <= inst.offset < entry.end)
    return covered

