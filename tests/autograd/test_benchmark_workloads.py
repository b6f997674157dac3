"""The issue's two training workloads (benchmarks/autograd.py): dynajit's gradients equal the
hand-written NumPy backward (1e-5 relative in float32, 1e-10 in float64) on every runnable
backend, and min_cut saves fewer bytes than save_all on both."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from tests.autograd.conftest import runnable_backends

_PATH = Path(__file__).resolve().parents[2] / "benchmarks" / "autograd.py"
_spec = importlib.util.spec_from_file_location("dynajit_benchmark_autograd", _PATH)
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)


@pytest.mark.parametrize("backend", runnable_backends())
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("workload", ["mlp", "block"])
def test_gradients_equal_the_hand_written_backward(workload, dtype, backend):
    errors = bench.check_gradients(workload, dtype, backend)  # asserts the tolerance
    assert set(errors) == set(bench.WORKLOADS[workload][2](np.random.default_rng(0),
                                                            dtype)[0])


@pytest.mark.parametrize("workload", ["mlp", "block"])
def test_min_cut_saves_less_than_save_all(workload):
    records = bench.saved_bytes(workload, np.float32)
    assert 0 < records["min_cut"]["saved_bytes"] < records["save_all"]["saved_bytes"]


def test_the_runner_prints_its_tables():
    out = bench.main(["--quick", "--no-timing", "--dtypes", "float32", "--backends", "eager",
                      "--workloads", "mlp"])
    assert out == 0
