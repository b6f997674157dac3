"""Benchmark runner. Each workload is a plain NumPy function; every variant runs side by
side in one process and is reported as a ratio against NumPy.

Today's variants: `numpy` (the function itself) and `eager-graph` (the function captured by
`symbolic_trace` and run by the eager backend's GraphModule), which measures what graph
execution costs over calling NumPy directly. Native backends join with their issues.

    python benchmarks/run.py            # full run
    python benchmarks/run.py --smoke    # one quick repetition (CI)
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import dynajit  # noqa: E402
from dynajit.capture import symbolic_trace  # noqa: E402
from dynajit.graph import GraphModule  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from workloads import gelu, softmax  # noqa: E402  (the same functions bench.py times)


def axpy(a, x, y):
    return a * x + y


def workloads(scale: int) -> list[tuple[str, Callable, tuple]]:
    rng = np.random.default_rng(0)
    big = rng.standard_normal(scale).astype(np.float32)
    rows = rng.standard_normal((scale // 1024, 1024)).astype(np.float32)
    tiny = rng.standard_normal(16).astype(np.float32)
    return [
        (f"gelu f32[{scale}]", gelu, (big,)),
        (f"softmax f32[{scale // 1024}, 1024]", softmax, (rows,)),
        ("axpy f32[16] (dispatch-bound)", axpy, (np.float32(2.0), tiny, tiny)),
    ]


def best_time(fn: Callable, args: tuple, repeat: int, number: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(number):
            fn(*args)
        times.append((time.perf_counter() - t0) / number)
    return min(times) if repeat < 5 else statistics.median(sorted(times)[: repeat // 2 + 1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, one repetition")
    ns = parser.parse_args(argv)
    scale, repeat = (1 << 14, 1) if ns.smoke else (1 << 22, 7)
    print(f"dynajit {dynajit.__version__}, numpy {np.__version__}, python "
          f"{sys.version.split()[0]}")
    print(f"{'workload':40} {'numpy':>12} {'eager-graph':>12} {'ratio':>8}")
    for name, fn, args in workloads(scale):
        gm = GraphModule(symbolic_trace(fn, *args).graph)
        with np.errstate(all="ignore"):
            expected, got = fn(*args), gm(*args)
        np.testing.assert_array_equal(got, expected)
        number = 1 if ns.smoke else max(1, int(0.05 / max(best_time(fn, args, 1, 1), 1e-7)))
        t_np = best_time(fn, args, repeat, number)
        t_gm = best_time(gm, args, repeat, number)
        print(f"{name:40} {t_np * 1e6:10.1f}us {t_gm * 1e6:10.1f}us {t_gm / t_np:7.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
