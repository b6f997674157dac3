"""Registry-driven property tests: every registered op, over random shapes, dtypes, layouts
and arguments, has a meta rule equal to what NumPy returns and a GraphModule equal to NumPy
(exact, NaN-aware). A new op is tested by being registered: it needs a sampler, or a reason
in INDIRECT."""

from __future__ import annotations

import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dynajit.ops import OPS
from tests.ops.harness import check_call, registry_settings
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
