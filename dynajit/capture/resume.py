"""Resume functions: after a graph break at instruction I of a frame, the rest of the frame
runs in ``__resume_<function>_at_<offset>``, an ordinary function whose code is the original
code with a prologue that pushes the live stack values (its first arguments) and jumps to
the instruction after I. The live locals are its remaining arguments, under their own names.
The frame hook compiles it on its first call like any other frame. Resume functions are
cached per (code, offset, stack layout, live locals), so repeated breaks reach a fixed point.
"""

from __future__ import annotations

import dis
import inspect
import types
import weakref
from typing import Any

from bytecode import Bytecode, Instr, Label

from dynajit.errors import Unsupported

_CACHE: weakref.WeakKeyDictionary[types.CodeType, dict[tuple, types.CodeType]] = (
    weakref.WeakKeyDictionary())


def resume_name(code: types.CodeType, offset: int) -> str:
    return f"__resume_{code.co_name}_at_{offset}"


# resume code -> (the original code, number of prologue instructions before its body)
_ORIGIN: weakref.WeakKeyDictionary[types.CodeType, tuple[types.CodeType, int]] = (
    weakref.WeakKeyDictionary())


def origin_of(code: types.CodeType, offset: int) -> tuple[types.CodeType, int]:
    """The original code and offset that ``offset`` of ``code`` stands for: a resume
    function's instructions are the original's, after its prologue. So a break in a resume
    function resumes the *original* code, and one continuation reached by two paths is one
    resume function."""
    origin = _ORIGIN.get(code)
    if origin is None:
        return code, offset
    original, extra = origin
    index = [i.offset for i in dis.get_instructions(code)].index(offset)
    return original, list(dis.get_instructions(original))[index - extra].offset


def stack_arg_name(i: int) -> str:
    return f"__stack{i}"


def resume_code(code: types.CodeType, offset: int, stack_nulls: tuple[bool, ...],
                live_locals: tuple[str, ...]) -> types.CodeType:
    """The code of the resume function continuing ``code`` at instruction ``offset`` with a
    stack described by ``stack_nulls`` (True: a NULL slot, pushed by the prologue; False:
    a value passed as an argument) and the locals ``live_locals`` bound."""
    key = (offset, stack_nulls, live_locals)
    per_code = _CACHE.setdefault(code, {})
    cached = per_code.get(key)
    if cached is not None:
        return cached
    if code.co_cellvars:
        raise Unsupported(f"{code.co_name} has variables captured by inner functions; its "
                          "rest cannot be resumed after a graph break")
    bc = Bytecode.from_code(code, conserve_exception_block_stackdepth=True)
    # Locals whose names are not identifiers (pytest's rewritten asserts make "@py_assert1")
    # become arguments here, and entries are Python source: give them plain names.
    renamed = {name: f"__local{i}" for i, name in enumerate(code.co_varnames)
               if not name.isidentifier()}
    if renamed:
        for instr in bc:
            if isinstance(instr, Instr) and instr.name.endswith("_FAST") and \
                    instr.arg in renamed:
                instr.arg = renamed[instr.arg]
    target_index = [i.offset for i in dis.get_instructions(code)].index(offset)
    target = Label()
    seen = -1
    body: list[Any] = []
    prologue_at = None
    for item in bc:
        if isinstance(item, Instr):
            seen += 1
            if seen == target_index:
                body.append(target)
            body.append(item)
            if item.name == "RESUME" and prologue_at is None:
                prologue_at = len(body)
        else:
            body.append(item)
    if prologue_at is None:
        raise Unsupported(f"{code.co_name}: no RESUME instruction to resume after")
    line = code.co_firstlineno
    n_values = sum(1 for null in stack_nulls if not null)
    prologue: list[Any] = []
    value_index = 0
    for null in stack_nulls:
        if null:
            prologue.append(Instr("PUSH_NULL", lineno=line))
        else:
            prologue.append(Instr("LOAD_FAST", stack_arg_name(value_index), lineno=line))
            value_index += 1
    prologue.append(Instr("JUMP_FORWARD", target, lineno=line))
    body[prologue_at:prologue_at] = prologue
    bc.clear()
    bc.extend(body)
    bc.argnames = [stack_arg_name(i) for i in range(n_values)] + [
        renamed.get(name, name) for name in live_locals]
    bc.argcount = len(bc.argnames)
    bc.posonlyargcount = 0
    bc.kwonlyargcount = 0
    bc.flags = bc.flags & ~(inspect.CO_VARARGS | inspect.CO_VARKEYWORDS)
    bc.name = resume_name(code, offset)
    bc.qualname = bc.name
    try:
        new = bc.to_code(compute_exception_stack_depths=False)
    except Exception as e:  # noqa: BLE001 - e.g. bytecode's stack-size analysis gives up
        raise Unsupported(f"cannot build {bc.name}: {type(e).__name__}: {e}") from None
    per_code[key] = new
    _ORIGIN[new] = (code, len(prologue))
    return new


def resume_function(fn: types.FunctionType, offset: int, stack_nulls: tuple[bool, ...],
                    live_locals: tuple[str, ...]) -> types.FunctionType:
    """A function running the rest of ``fn`` from ``offset`` of its code (same globals and
    closure). When ``fn`` is itself a resume function, the new one continues the original
    code (see ``origin_of``)."""
    original, original_offset = origin_of(fn.__code__, offset)
    code = resume_code(original, original_offset, stack_nulls, live_locals)
    return _function_for(fn, code)


_FUNCTIONS: weakref.WeakKeyDictionary[types.CodeType, dict[int, types.FunctionType]] = (
    weakref.WeakKeyDictionary())


def _function_for(fn: types.FunctionType, code: types.CodeType) -> types.FunctionType:
    """One function object per (resume code, original function): the hook's cache is per
    code object, and closures of one ``def`` need their own cells."""
    per_code = _FUNCTIONS.setdefault(code, {})
    made = per_code.get(id(fn))
    if made is None or made.__closure__ is not fn.__closure__ or (
            made.__globals__ is not fn.__globals__):
        made = types.FunctionType(code, fn.__globals__, code.co_name, None, fn.__closure__)
        made.__qualname__ = code.co_qualname
        per_code[id(fn)] = made
    return made
