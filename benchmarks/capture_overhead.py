"""Capture-layer costs, measured side by side in one process:

1. cache-hit overhead: a compiled 3-argument function on 8-element arrays (eager backend)
   against calling its generated graph directly (what the hook, guard and output code add);
2. trace time of a 200-op function, excluding the backend (the eager backend's cost is
   building a GraphModule, which is included and reported separately).

    python benchmarks/capture_overhead.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import dynajit  # noqa: E402
from dynajit.capture import convert_frame  # noqa: E402


def per_call(fn, args, number=20000, repeat=7):
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(number):
            fn(*args)
        best = min(best, (time.perf_counter() - t0) / number)
    return best


def small(x, y, z):
    return x * y + z


def chain200(x):
    for _ in range(100):
        x = x * 1.0001 + 0.5
    return x


def main() -> None:
    x = np.ones(8, np.float32)
    y, z = x + 1, x + 2
    compiled = dynajit.compile(small)
    compiled(x, y, z)
    entry = convert_frame.cache_of(small.__code__).entries[0]
    graph = entry.graph_module.forward
    t_eager = per_call(small, (x, y, z))
    t_graph = per_call(graph, (x, y, z))
    t_compiled = per_call(compiled, (x, y, z))
    print(f"python {sys.version.split()[0]}, numpy {np.__version__}")
    print(f"plain NumPy function          {t_eager * 1e6:7.2f} us")
    print(f"generated graph called direct {t_graph * 1e6:7.2f} us")
    print(f"compiled function (cache hit) {t_compiled * 1e6:7.2f} us")
    print(f"cache-hit overhead            {(t_compiled - t_graph) * 1e6:7.2f} us  "
          "(target <= 5 us)")

    traced = []

    def timing_backend(gm, example_inputs):
        traced.append(len(gm.graph.call_nodes()))
        return gm.forward

    times = []
    for _ in range(5):
        dynajit.reset()
        fn = dynajit.compile(chain200, backend=timing_backend)
        t0 = time.perf_counter()
        fn(x)
        times.append(time.perf_counter() - t0)
    entry = convert_frame.cache_of(chain200.__code__).entries[0]
    print(f"trace + compile of a {traced[-1]}-op function: {min(times) * 1e3:.1f} ms "
          f"(entry reports {entry.compile_seconds * 1e3:.1f} ms; target <= 100 ms)")


if __name__ == "__main__":
    main()
