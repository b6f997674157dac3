"""Registry-driven property tests: every registered op, over random shapes, dtypes, layouts
and arguments, has a meta rule equal to what NumPy returns and a GraphModule equal to NumPy
(exact, NaN-aware). A new op is tested by being registered: it needs a sampler, or a reason
in INDIRECT."""

from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from dynajit.ops import OPS
from tests.ops.harness import Call, check_call, registry_settings
from tests.ops.samplers import INDIRECT, SAMPLERS

# Examples per op; raise it locally for a deeper search (e.g. DYNAJIT_TEST_EXAMPLES=500).
MAX_EXAMPLES = int(os.environ.get("DYNAJIT_TEST_EXAMPLES", "40"))


def test_every_op_has_a_sampler_or_a_reason():
    missing = sorted(set(OPS) - set(SAMPLERS) - set(INDIRECT))
    assert not missing, f"ops without samples: {missing}"
    stale = sorted((set(SAMPLERS) | set(INDIRECT)) - set(OPS))
    assert not stale, f"samples for unknown ops: {stale}"


@pytest.mark.parametrize("op_name", sorted(SAMPLERS))
@registry_settings(MAX_EXAMPLES)
@given(data=st.data())
def test_op_matches_numpy(op_name, data):
    call = data.draw(SAMPLERS[op_name], label="call")
    check_call(call)


@pytest.mark.parametrize("out_dtype", [np.float64, np.complex128])
def test_float32_math_into_a_wider_out_is_held_to_float32_ulps(out_dtype):
    """NumPy computes tan of float32 in float32 and casts into out=; its strided and
    contiguous loops differ by an ulp of float32, which is 5e8 ulps of float64 (a flaky
    failure the registry draws found)."""
    x = np.array([0.0, 2.0], np.float32)[::-1]
    check_call(Call(np.tan, (x,), {"out": np.zeros(2, out_dtype)[::-1]}))
