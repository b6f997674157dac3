"""Sample-call strategies for every registered op, merged from one module per op family.
``SAMPLERS[op_name]`` is a strategy of ``harness.Call``; ``INDIRECT`` names ops that are
exercised through other ops' samples (with where)."""

from tests.ops.samplers import creation, elementwise, indexing, linalg, reductions, shape

SAMPLERS: dict = {}
INDIRECT: dict = {}
for _module in (elementwise, reductions, shape, indexing, linalg, creation):
    for _name in _module.SAMPLERS:
        assert _name not in SAMPLERS, f"two samplers for op {_name}"
    SAMPLERS.update(_module.SAMPLERS)
    INDIRECT.update(getattr(_module, "INDIRECT", {}))
