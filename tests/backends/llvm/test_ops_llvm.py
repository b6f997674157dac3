"""The registry's property suite on the llvm backend: every op, over random shapes, dtypes,
layouts and arguments, compiled to kernels (or run as an extern where it has no loop form)
equals NumPy (``harness.assert_backend_result`` states the float bounds)."""

from __future__ import annotations

import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.ops.harness import check_call, registry_settings
from tests.ops.samplers import SAMPLERS

# Each example compiles kernels (cached by structure), so this tier samples fewer calls.
MAX_EXAMPLES = int(os.environ.get("DYNAJIT_TEST_BACKEND_EXAMPLES", "12"))


@pytest.mark.parametrize("op_name", sorted(SAMPLERS))
@registry_settings(MAX_EXAMPLES)
@given(data=st.data())
def test_op_matches_numpy_on_llvm(op_name, data):
    call = data.draw(SAMPLERS[op_name], label="call")
    check_call(call, backends=("llvm", "loopir"))
