"""docs/ops.md is generated from the registry and must be current; every op's coverage
example is meaningful (accepts at least one dtype)."""

from __future__ import annotations

from pathlib import Path

from dynajit.ops import OPS
from dynajit.ops.docs import dtype_coverage, render

DOC = Path(__file__).resolve().parents[2] / "docs" / "ops.md"


def test_ops_md_is_generated_from_the_current_registry():
    assert DOC.read_text() == render() + "\n", "docs/ops.md is stale: run `make docs`"


def test_every_op_coverage_example_accepts_some_dtype():
    for name, op in OPS.items():
        coverage = dtype_coverage(op)
        if name == "tuple_item":
            assert coverage is None
            continue
        assert coverage is not None and any(coverage), f"{name}: no dtype accepted"
