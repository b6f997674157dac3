"""The benchmark runner (benchmarks/bench.py) cannot rot: a tiny run (one workload, smallest
size, no peers) writes JSON of the documented shape with dynajit's results equal to NumPy's;
every workload compiled by dynajit equals NumPy; the runner's result checks and target
verdicts judge what they claim to. Timed numbers are never asserted."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import dynajit

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))

import bench  # noqa: E402
import workloads  # noqa: E402

# The backend the runner defaults to.
BACKEND = "llvm"


@pytest.fixture(scope="module")
def smoke_report(tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("bench") / "bench.json"
    proc = subprocess.run(
        [sys.executable, "benchmarks/bench.py", "--quick", "--workloads", "gelu", "--sizes",
         "1000", "--dtypes", "float32", "--peers", "none", "--backend", BACKEND,
         "--json", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads(out.read_text())
    report["_stdout"] = proc.stdout
    return report


def test_smoke_run_json_has_every_section(smoke_report):
    report = smoke_report
    assert {"meta", "backend", "ceilings", "columns", "results", "compile", "targets"} <= set(
        report)
    assert report["backend"] == BACKEND
    assert report["meta"]["cores"] >= 1 and report["meta"]["cpu"]
    assert report["ceilings"]["copy"]["gbs"] > 0
    assert report["ceilings"]["matmul_flops"]["float32"] > 0
    assert list(report["columns"]) == ["numpy", "dynajit"]
    assert all(info["ready"] for info in report["columns"].values())
    # One regular case and one per-call-overhead case at 8 elements.
    sizes = sorted((r["size"], bool(r.get("overhead"))) for r in report["results"])
    assert sizes == [(bench.OVERHEAD_SIZE, True), (1000, False)]
    comp = report["compile"]
    assert comp["ops"] == 50 and comp["graphs"] == 1
    assert comp["cold_s"] > 0 and comp["warm_s"] > 0
    assert "gelu" in report["_stdout"] and "targets (issue 6)" in report["_stdout"]


def test_smoke_run_dynajit_equals_numpy_and_is_timed(smoke_report):
    for row in smoke_report["results"]:
        assert row["shapes"] == [[row["size"]]]
        assert row["bytes"] == 2 * 4 * row["size"]  # one float32 input read, one written
        for name in ("numpy", "dynajit"):
            cell = row["columns"][name]
            assert cell["status"] == "ok", (name, cell)
            assert 0 < cell["min"] <= cell["seconds"] and cell["samples"] >= 5


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", list(workloads.WORKLOADS))
def test_every_workload_compiled_by_dynajit_equals_numpy(name, dtype):
    workload = workloads.WORKLOADS[name]
    dynajit.reset()
    compiled = dynajit.compile(workload.fn, backend=BACKEND)
    # A backend failure must fail here, not fall back to eager NumPy (which equals NumPy).
    with dynajit.config.patch(raise_on_compile_error=True):
        for seed in (0, 1):  # fresh inputs on the second call: no value specialization
            inputs = workload.inputs(1000, dtype, seed)
            ok, reason = workloads.check(compiled(*inputs), workload.fn(*inputs))
            assert ok, reason


def test_workload_sizes_follow_the_element_count():
    for workload in workloads.WORKLOADS.values():
        for size in (1_000, 100_000):
            main = workload.inputs(size, "float32")[0]
            assert 0.9 * size <= main.size <= 1.1 * size, (workload.name, main.shape)
            assert main.dtype == np.float32


def test_check_rejects_wrong_dtype_values_and_unwritten_elements():
    ref = workloads.gelu(workloads.WORKLOADS["gelu"].inputs(1000, "float32")[0])
    assert workloads.check(ref.copy(), ref) == (True, "")
    assert not workloads.check(ref.astype(np.float64), ref)[0]
    poisoned = ref.copy()
    poisoned[17] = np.nan
    assert not workloads.check(poisoned, ref)[0]
    off = ref * np.float32(1.01)
    assert not workloads.check(off, ref)[0]


def test_judge_tells_promoted_from_wrong():
    ref = np.linspace(-1, 1, 64, dtype=np.float32)
    assert bench._judge(ref.astype(np.float64), ref)[0] == "promoted"
    assert bench._judge((ref + 1).astype(np.float64), ref)[0] == "wrong"
    assert bench._judge(ref[:-1], ref)[0] == "wrong"


def test_numpy_column_case_reports_floor_inputs_and_times():
    column = bench.COLUMNS["numpy"]()
    column.setup({})
    reply, warm = bench.run_case(column, {"workload": "softmax", "dtype": "float64",
                                          "size": 2048, "seed": 0}, bench.Timing(quick=True))
    assert reply["status"] == "ok" and reply["shapes"] == [[2, 1024]]
    assert reply["bytes"] == 2 * 8 * 2048 and reply["seconds"] > 0
    assert bench.time_call(warm, bench.Timing(quick=True))["seconds"] > 0  # a later round


def test_unsupported_peer_case_is_na_not_an_error():
    column = bench.COLUMNS["numexpr"]()
    column.ne = None  # never reached: softmax has no numexpr expression
    reply, warm = bench.run_case(column, {"workload": "softmax", "dtype": "float32",
                                          "size": 1024, "seed": 0}, bench.Timing(quick=True))
    assert reply["status"] == "n/a" and warm is None


def _cell(seconds: float | None, status: str = "ok") -> dict:
    return {"status": status, "seconds": seconds} if seconds else {"status": status}


def test_targets_judge_speedups_floors_and_overhead():
    row = {"workload": "gelu", "dtype": "float32", "size": 10_000_000, "bound": "memory",
           "columns": {"numpy": _cell(1.0), "dynajit": {**_cell(0.1), "over_floor": 1.2},
                       "jax": _cell(0.2), "numba": _cell(None, "n/a")}}
    slow = {**row, "workload": "softmax",
            "columns": {**row["columns"], "dynajit": {**_cell(0.3), "over_floor": 3.0}}}
    tiny = {"workload": "gelu", "dtype": "float32", "size": 8, "overhead": True,
            "columns": {"numpy": _cell(1e-6), "dynajit": _cell(3e-6)}}
    verdicts = {t["target"]: t["met"] for t in bench.targets(
        {"results": [row, slow, tiny], "compile": {"cold_s": 0.1, "warm_s": 0.001}})}
    assert verdicts["1e7 float32: faster than the fastest peer"] is False  # softmax 0.3 > 0.2
    assert verdicts["1e7 float32: >= 5x NumPy on GELU, softmax, layernorm, elementwise"] \
        is False
    assert verdicts["1e7 float32: memory-bound kernels within 1.5x of the bandwidth floor"] \
        is False
    assert verdicts["8 elements: per-call time within 2x of NumPy's"] is False
    assert verdicts["compile of a 50-op fused graph: cold <= 300 ms, warm <= 20 ms"] is True
    fast = {t["target"]: t["met"] for t in bench.targets({"results": [row]})}
    assert all(fast.values()) and len(fast) == 3
