"""Every differentiable op's VJP against central finite differences in float64, driven
from the registry with the op samplers of tests/ops (float data replaced by well-conditioned
float64 values); an op marked differentiable without a rule fails."""

from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import dynajit.autograd  # noqa: F401  (attaches the rules)
from dynajit.autograd.rules import no_gradient
from dynajit.ops import OPS
from tests.autograd.fd import DEFAULT_DOMAIN, DOMAINS, Rejected, bind_sample, check_vjp, to_float64
from tests.autograd.strategies import advanced_getitem_calls, fill_calls
from tests.ops.harness import registry_settings
from tests.ops.samplers import SAMPLERS
from tests.ops.samplers.indexing import setitem_calls

MAX_EXAMPLES = int(os.environ.get("DYNAJIT_VJP_EXAMPLES", "12"))

# Ops without a sampler of their own, and the samples that differentiate through them.
COVERED_BY = {
    "copy_into": "every out= and in-place sample of the ufuncs (add, multiply, ...)",
    "tuple_item": "the multi-output samples: divmod, frexp, modf, split",
}
# The op samplers, with focused strategies mixed in where they rarely reach a float path.
STRATEGIES = {**SAMPLERS, "setitem": setitem_calls(),
              "gather": st.one_of(advanced_getitem_calls(), SAMPLERS["gather"]),
              "full": st.one_of(fill_calls(), SAMPLERS["full"]),
              "full_like": st.one_of(fill_calls(), SAMPLERS["full_like"])}
DIFFERENTIABLE = sorted(name for name, op in OPS.items() if op.differentiable)


def test_every_differentiable_op_has_a_rule_and_a_check():
    missing = [name for name in DIFFERENTIABLE if OPS[name].vjp is None]
    assert not missing, f"differentiable ops without a VJP rule: {missing}"
    unchecked = [name for name in DIFFERENTIABLE if name not in STRATEGIES
                 and name not in COVERED_BY]
    assert not unchecked, f"differentiable ops no test differentiates: {unchecked}"


def test_non_differentiable_ops_have_no_rule():
    assert [name for name, op in OPS.items() if not op.differentiable and op.vjp] == []


@pytest.mark.parametrize("op_name", [n for n in DIFFERENTIABLE if n in STRATEGIES])
@registry_settings(MAX_EXAMPLES)
@given(data=st.data())
def test_vjp_matches_finite_differences(op_name, data):
    call = data.draw(STRATEGIES[op_name], label="call")
    seed = data.draw(st.integers(0, 2**32 - 1), label="seed")
    rng = np.random.default_rng(seed)
    zero_rule = OPS[op_name].vjp is no_gradient
    try:
        sample = bind_sample(to_float64(call, op_name, DOMAINS.get(op_name, DEFAULT_DOMAIN),
                                         rng))
        if sample.op_name != op_name:
            raise Rejected("the call bound to another op")
        check_vjp(sample, rng)
    except Rejected:
        # Ops that never produce floats (comparisons, bitwise ops) have nothing to check.
        assume(zero_rule)
