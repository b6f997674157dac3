"""Accuracy and speed of dynajit's vectorized math (dynajit/backends/llvm/mathlib) for every
function and dtype: each routine is compiled as a real loop kernel and run on 10**7 inputs
(half uniform over the useful domain, half log-uniform magnitudes of both signs, plus special
values). Columns: max ulp against a correctly rounded reference (long double, 80-bit on x86;
for float32 inputs that is more than enough), max ulp against NumPy's own result, and time per
element of the kernel (one thread) and of the NumPy ufunc.

    python benchmarks/math_accuracy.py [out.json] [--n 10000000] [--only exp,log] [--md out.md]
    python benchmarks/math_accuracy.py --from-json out.json --md out.md   # re-render a run
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dynajit.backends.llvm import mathlib  # noqa: E402
from tests.backends.llvm.mathkernels import (  # noqa: E402
    error_scale,
    kernel,
    numpy_result,
    reference,
    sample_inputs,
    ulp_error,
)

CHUNK = 1_000_000


def max_ulps(name, dtype, args, ours):
    """(max ulp vs reference, its input, max ulp vs NumPy), measured chunk by chunk."""
    worst, where, vs_numpy = 0.0, None, 0.0
    for lo in range(0, len(ours), CHUNK):
        part = [a[lo : lo + CHUNK] for a in args]
        got = ours[lo : lo + CHUNK]
        scale = error_scale(name, *part)
        err = ulp_error(got, reference(name, *part), dtype, scale)
        i = int(np.argmax(err))
        if err[i] > worst or where is None:
            worst, where = float(err[i]), [float(a[i]) for a in part]
        theirs = numpy_result(name, *part).astype(np.longdouble)
        # a zero's sign may differ where the true result is a tiny value of either sign
        err_np = ulp_error(got, theirs, dtype, scale, signed_zeros=False)
        vs_numpy = max(vs_numpy, float(err_np.max()))
    return worst, where, vs_numpy


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def best_time(fn, args, repeat=3):
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn(*args)
        times.append(time.perf_counter() - t0)
    return min(times)


def markdown(meta: dict, rows: list[dict]) -> str:
    """The run as a markdown table (benchmarks/math_accuracy.md)."""
    lines = [
        "# Vectorized math: accuracy and speed",
        "",
        f"{meta['date']}, {meta['processor'] or meta['machine']}, Python {meta['python']}, "
        f"NumPy {meta['numpy']}; {rows[0]['n']:,} inputs per function and dtype "
        "(`python benchmarks/math_accuracy.py`). ulp columns: maximum error in units in the "
        "last place against the correctly rounded result (long-double reference) and against "
        "NumPy's own result. Times: one thread, per element, on the same arrays.",
        "",
        "| function | dtype | max ulp (reference) | max ulp (NumPy) | ns/element "
        "| NumPy ns/element | speedup |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        t_np = r["numpy_ns_per_element"]
        lines.append(
            f"| {r['function']} | {r['dtype']} | {r['max_ulp_reference']:.2f} | "
            f"{r['max_ulp_numpy']:.2f} | {r['ns_per_element']:.2f} | "
            + (f"{t_np:.2f} | {t_np / r['ns_per_element']:.1f}x |" if t_np else "- | - |")
        )
    return "\n".join(lines) + "\n"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("json", nargs="?", help="write the results here")
    ap.add_argument("--n", type=int, default=10_000_000, help="random inputs per function")
    ap.add_argument("--only", help="comma-separated function names")
    ap.add_argument("--md", help="also write the table as markdown here")
    ap.add_argument("--from-json", help="render a previous run's JSON instead of measuring")
    opts = ap.parse_args(argv)
    if opts.from_json:
        run = json.loads(Path(opts.from_json).read_text())
        text = markdown(run["meta"], run["rows"])
        if opts.md:
            Path(opts.md).write_text(text)
        else:
            print(text)
        return
    names = opts.only.split(",") if opts.only else list(mathlib.FUNCTIONS)
    rows = []
    header = (f"{'function':10} {'dtype':8} {'ulp/ref':>8} {'ulp/numpy':>10} "
              f"{'ns/elt':>7} {'numpy ns':>9} {'speedup':>8}  worst input")
    print(header)
    print("-" * len(header))
    cases = [(name, dt, False) for name in names for dt in (np.float32, np.float64)]
    # the short-range forms the llvm backend runs first (float32 sin/cos below 2**17)
    cases += [(name, np.float32, True) for name in names
              if mathlib.short_range_limit(name, np.float32) is not None]
    for name, dt, short in cases:
        args = sample_inputs(name, dt, opts.n)
        if short:
            limit = mathlib.short_range_limit(name, dt)
            args = tuple(a[np.abs(a) < limit] for a in args)
        k = kernel(name, dt, short)
        ours = k(*args)
        ulp_ref, where, ulp_np = max_ulps(name, dt, args, ours)
        n = len(ours)
        t_ours = best_time(k, args) / n * 1e9
        t_np = None
        if name != "erf":  # NumPy has no erf ufunc
            with np.errstate(all="ignore"):
                t_np = best_time(getattr(np, name), args) / n * 1e9
        label = f"{name}, |x| < 2^{int(np.log2(limit))}" if short else name
        row = {
            "function": label, "dtype": np.dtype(dt).name, "n": n,
            "max_ulp_reference": ulp_ref, "worst_input": where,
            "max_ulp_numpy": ulp_np, "ns_per_element": t_ours,
            "numpy_ns_per_element": t_np,
        }
        rows.append(row)
        np_col = f"{t_np:9.2f}" if t_np else f"{'-':>9}"
        sp_col = f"{t_np / t_ours:7.1f}x" if t_np else f"{'-':>8}"
        print(f"{label:10} {row['dtype']:8} {ulp_ref:8.3f} {ulp_np:10.3f} {t_ours:7.2f} "
              f"{np_col} {sp_col}  {where}", flush=True)
    meta = {"machine": platform.machine(), "processor": cpu_name(),
            "numpy": np.__version__, "python": platform.python_version(),
            "date": time.strftime("%Y-%m-%d")}
    if opts.json:
        Path(opts.json).write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))
    if opts.md:
        Path(opts.md).write_text(markdown(meta, rows))


if __name__ == "__main__":
    main()
