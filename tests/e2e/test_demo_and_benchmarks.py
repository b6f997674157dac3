"""Whole programs: the demo runs end to end and checks itself; the benchmark runner's smoke
pass works (so `benchmarks/` cannot rot)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str) -> str:
    proc = subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def test_demo_runs_and_matches_numpy():
    out = run("examples/demo.py")
    assert "@dynajit.compile captured 1 graph" in out and "kernel1: loops" in out
    assert "recompiled because L['x'].dtype" in out
    assert out.count("  equal\n") == 2 and "DIFFERENT" not in out


def test_benchmark_runner_smoke_pass():
    out = run("benchmarks/run.py", "--smoke")
    assert "gelu" in out and "softmax" in out
