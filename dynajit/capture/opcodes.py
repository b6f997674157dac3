"""Per-Python-version bytecode facts the tracer needs, in one place."""

from __future__ import annotations

import operator
import sys
from typing import Any

PY312 = sys.version_info >= (3, 12)

# 3.12's FOR_ITER, when exhausted, jumps past the END_FOR at its target; 3.11's lands on it.
FOR_ITER_EXIT_SKIP = 1 if PY312 else 0

# CALL_INTRINSIC_1 operands (3.12): 5 = unary +, 6 = list -> tuple.
_INTRINSIC_1 = {5: operator.pos, 6: tuple}


def load_global_pushes_null(inst: Any) -> bool:
    """LOAD_GLOBAL's low bit asks for a NULL before the global (3.11 and 3.12)."""
    return bool(inst.arg & 1)


def load_attr_is_method(inst: Any) -> bool:
    """3.12 folds LOAD_METHOD into LOAD_ATTR's low bit; 3.11 has a separate opcode."""
    return PY312 and bool(inst.arg & 1)


def compare_op(inst: Any) -> str:
    return inst.argval


def intrinsic_1(inst: Any) -> Any:
    from dynajit.errors import Unsupported

    fn = _INTRINSIC_1.get(inst.arg)
    if fn is None:
        raise Unsupported(f"CALL_INTRINSIC_1 {inst.argrepr} is not supported")
    return fn
