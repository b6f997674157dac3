"""Micro-benchmark of dynajit's frame hook: nanoseconds per call of a trivial Python function
with no hook, with the hook installed and the function's code marked skip, with the hook
installed only for another thread, and with a cached (guard, entry) hit. The overhead target
for the skip path is <= 100 ns per call.

    python benchmarks/hook_overhead.py            # full run
    python benchmarks/hook_overhead.py --smoke    # one quick repetition (CI)
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dynajit import _hook  # noqa: E402


def trivial(x):
    return x


def entry(x):
    return x


def guard(x):
    return True


def timed_loop(fn, n):
    """ns for n calls of fn(1); the loop costs the same in every variant."""
    t0 = time.perf_counter_ns()
    for _ in range(n):
        fn(1)
    return time.perf_counter_ns() - t0


def never_called(func, args):
    raise AssertionError(f"the callback ran for {func.__name__}: the skip path is broken")


def ns_per_call(n, callback=None):
    """ns per call of trivial(1), with this thread's callback set to ``callback``."""
    prev = _hook.set_callback(callback)
    try:
        return timed_loop(trivial, n) / n
    finally:
        _hook.set_callback(prev)


def other_thread_hooked(n):
    """ns per call while another thread holds a callback: the evaluator is installed but this
    thread's callback is None."""
    ready, done = threading.Event(), threading.Event()

    def hold():
        _hook.set_callback(_hook.RUN_ONLY)  # no entries cached: its own frames run normally
        ready.set()
        done.wait()
        _hook.set_callback(None)

    holder = threading.Thread(target=hold)
    holder.start()
    ready.wait()
    try:
        return ns_per_call(n)
    finally:
        done.set()
        holder.join()


def cached_hit(n):
    """ns per call when trivial's cached guard passes and its entry runs instead."""
    _hook.set_entries(trivial.__code__, [(guard, entry)])
    try:
        return ns_per_call(n, _hook.RUN_ONLY)
    finally:
        _hook.mark_skip(trivial.__code__)  # replaces the entries, as it was before


VARIANTS = {
    "no hook": ns_per_call,
    "hook, code marked skip": lambda n: ns_per_call(n, never_called),
    "hook for another thread only": other_thread_hooked,
    "hook, cached guard+entry hit": cached_hit,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="one quick repetition")
    args = parser.parse_args()
    n, repeats = (20_000, 1) if args.smoke else (1_000_000, 15)
    if not _hook.AVAILABLE:
        print(f"frame hook unavailable: {_hook.UNAVAILABLE_REASON}")
        return

    for fn in (timed_loop, trivial, entry):
        _hook.mark_skip(fn.__code__)
    # Round-robin, keeping each variant's fastest run, so load changes hit all alike.
    best = dict.fromkeys(VARIANTS, float("inf"))
    for _ in range(repeats):
        for label, measure in VARIANTS.items():
            best[label] = min(best[label], measure(n))

    version = ".".join(map(str, sys.version_info[:3]))
    print(f"Python {version}, {n} calls per run, best of {repeats} interleaved runs")
    baseline = best["no hook"]
    for label, ns in best.items():
        print(f"  {label:<32} {ns:7.1f} ns/call   overhead {ns - baseline:+7.1f} ns")


if __name__ == "__main__":
    main()
