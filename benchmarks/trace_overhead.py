"""What the structured trace costs, off and on, measured side by side in one process:

1. the compiled-call hot path (a cache hit, checked in C; and a closure, looked up in
   Python) with tracing off and on: records are never written per call, so these match;
2. one ``trace.record`` call with tracing off (the guard every later stage pays), against
   an empty Python call;
3. a compile (trace + passes + eager backend + guards + output code) of a 3-op and a 200-op
   function with the trace calls stubbed out (no-ops: what compiling cost before tracing
   existed, less the metrics bookkeeping), with tracing off, and with tracing on (seven
   records written to a file, with payloads).

    python benchmarks/trace_overhead.py
"""

from __future__ import annotations

import contextlib
import sys
import tempfile
import time
from pathlib import Path
from unittest import mock

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import dynajit  # noqa: E402
from dynajit import trace  # noqa: E402
from dynajit.config import config  # noqa: E402
from dynajit.trace import logs, structured  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from capture_overhead import per_call, small  # noqa: E402  (the same timing and workload)


def make_closure(k):
    def scaled(x, y, z):
        return x * y + z * k
    return scaled


def chain200(x):
    for _ in range(100):
        x = x * 1.0001 + 0.5
    return x


def compile_time(fn, args, trace_dir, rounds=15):
    """Best first-call time of ``dynajit.compile(fn)`` (a fresh compile every round)."""
    best = float("inf")
    with config.patch(trace_dir=trace_dir):
        for _ in range(rounds):
            dynajit.reset()
            compiled = dynajit.compile(fn)
            t0 = time.perf_counter()
            compiled(*args)
            best = min(best, time.perf_counter() - t0)
    return best


def empty(*args, **kwargs):
    return None


def positional(*args):
    return None


@contextlib.contextmanager
def stubbed():
    """The trace and log calls of convert_frame replaced by no-ops."""
    cid = structured.CompileId(0, 0)
    with mock.patch.object(structured, "record", empty), \
            mock.patch.object(structured, "artifact", empty), \
            mock.patch.object(logs, "log", empty), \
            mock.patch.object(structured, "new_compile_id", lambda code: cid), \
            mock.patch.object(structured, "compile_context", lambda c: contextlib.nullcontext()):
        yield


def main() -> None:
    x = np.ones(8, np.float32)
    y, z = x + 1, x + 2
    directory = tempfile.mkdtemp(prefix="dynajit_trace_bench_")
    print(f"python {sys.version.split()[0]}, numpy {np.__version__}; trace files in {directory}")

    print("\n1. compiled-call hot path (cache hit), tracing off vs on")
    for label, fn in (("cache hit (C guard)", small), ("closure (Python lookup)",
                                                        make_closure(2.0))):
        compiled = dynajit.compile(fn)
        results = {}
        for state in ("off", "on", "off ", "on "):  # interleaved: drift shows up as noise
            with config.patch(trace_dir=directory if state.strip() == "on" else None):
                compiled(x, y, z)  # compiles once per trace setting at most
                t = per_call(compiled, (x, y, z))
            results[state.strip()] = min(results.get(state.strip(), t), t)
        print(f"   {label:26s} off {results['off'] * 1e6:6.3f} us   on {results['on'] * 1e6:6.3f}"
              f" us   difference {(results['on'] - results['off']) * 1e9:+6.0f} ns")

    print("\n2. one trace.record() with tracing off")
    with config.patch(trace_dir=None):
        t_record = per_call(trace.record, ("dynamo_output_graph", empty, empty),
                            number=200000)
        t_empty = per_call(positional, ("dynamo_output_graph", empty, empty), number=200000)
    print(f"   trace.record(kind, lazy, lazy): {t_record * 1e9:5.0f} ns  "
          f"(an empty Python call with the same arguments: {t_empty * 1e9:5.0f} ns)")

    print("\n3. compile (first call): trace calls stubbed out, tracing off, tracing on "
          "(best of 2 x 15)")
    for label, fn, args in (("3-op function", small, (x, y, z)),
                            ("200-op function", chain200, (x,))):
        best = {"stubbed": float("inf"), "off": float("inf"), "on": float("inf")}
        for _ in range(2):
            with stubbed():
                best["stubbed"] = min(best["stubbed"], compile_time(fn, args, None))
            best["off"] = min(best["off"], compile_time(fn, args, None))
            best["on"] = min(best["on"], compile_time(fn, args, directory))
        stub, off, on = best["stubbed"], best["off"], best["on"]
        print(f"   {label:16s} stubbed {stub * 1e3:6.2f} ms   off {off * 1e3:6.2f} ms "
              f"({(off - stub) * 1e6:+4.0f} us)   on {on * 1e3:6.2f} ms "
              f"({(on - off) * 1e3:+5.2f} ms, {(on / off - 1) * 100:+5.1f} %)")
    size = sum(p.stat().st_size for p in Path(directory).iterdir())
    print(f"\n   trace written: {size / 1024:.0f} KiB in {len(list(Path(directory).iterdir()))} "
          "file(s)")


if __name__ == "__main__":
    main()
