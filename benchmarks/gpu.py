"""GPU benchmark for ``backend="ptx"`` in one go (needs an NVIDIA GPU; run on an H100 through
``benchmarks/gpu_device.sh``, see docs/gpu.md). It

1. runs the GPU tests (``pytest -m gpu tests/backends/ptx tests/cuda``, the op property
   suite on ``backend="ptx"`` among them) unless ``--no-tests``;
2. measures device-to-device copy bandwidth (``cuMemcpy`` of 1 GiB through CuPy when
   installed, else a dynajit identity kernel);
3. times each benchmark workload at 1e7 and 1e8 elements on dynajit (device inputs, so no
   host copies are timed), CuPy eager and PyTorch eager (when installed): the steady-state
   wall time per call and the device time of one call (events); checks dynajit's results
   for NumPy and device inputs against the NumPy reference (sizes up to 1e7), and reports
   achieved bandwidth (the workload's minimum bytes over dynajit's device time) as a
   fraction of the copy bandwidth.

Prints a table and writes JSON (``--json``, default ``gpu-results.json``). Every peer and
step that fails is recorded with its error instead of stopping the run.

    python benchmarks/gpu.py --sizes 1e7 1e8 --dtype float32
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
import traceback
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.workloads import WORKLOADS, bytes_floor, check  # noqa: E402


def _time(fn: Any, sync: Any, repeat: int, budget: float = 0.005) -> float:
    """Median seconds per call of ``fn()`` in steady state: calls are issued back to back in
    batches of about ``budget`` seconds with the device synchronized around each batch, so
    the host's launch overhead overlaps device work as it does in a real program (and shows
    when it is the larger of the two)."""
    fn()
    sync()
    t0 = time.perf_counter()
    fn()
    sync()
    once = time.perf_counter() - t0
    batch = max(1, min(1000, int(budget / max(once, 1e-7))))
    times = []
    for _ in range(repeat):
        sync()
        t0 = time.perf_counter()
        for _ in range(batch):
            fn()
        sync()
        times.append((time.perf_counter() - t0) / batch)
    return float(np.median(times))


def _gpu_time(fn: Any, cuda: Any, repeat: int) -> float:
    """Median device seconds of one call: events on the legacy default stream (where
    dynajit, CuPy and PyTorch queue their work by default) around it, so host overhead
    between the events counts only where the device waits for it."""
    start, end = cuda.Event(), cuda.Event()
    fn()
    times = []
    for _ in range(repeat):
        cuda.synchronize()
        start.record()
        fn()
        end.record()
        end.synchronize()
        times.append(start.elapsed_ms(end) / 1e3)
    return float(np.median(times))


def copy_bandwidth(cuda: Any, nbytes: int = 1 << 30) -> float:
    """Device-to-device copy bandwidth in bytes/s (read + write counted)."""
    try:
        import cupy

        a = cupy.empty(nbytes // 4, cupy.float32)
        b = cupy.empty_like(a)
        t = _time(lambda: b.__setitem__(Ellipsis, a), cupy.cuda.runtime.deviceSynchronize, 10)
        return 2 * nbytes / t
    except ImportError:
        src = cuda.empty((nbytes // 4,), np.float32)
        t = _time(lambda: src.copy(), cuda.synchronize, 10)
        return 2 * nbytes / t


def _peers() -> dict[str, Any]:
    peers = {}
    try:
        import cupy

        peers["cupy"] = (cupy, cupy.asarray, cupy.cuda.runtime.deviceSynchronize)
    except ImportError:
        pass
    try:
        import torch

        if torch.cuda.is_available():
            peers["torch"] = (torch, lambda a: torch.from_numpy(a).cuda(), torch.cuda.synchronize)
    except ImportError:
        pass
    return peers


def _torch_fn(name: str) -> Any:
    """PyTorch eager versions of the workloads (its fused softmax and layer_norm where it
    has them)."""
    import torch

    def diffusion(u):
        out = u.clone()
        out[1:-1, 1:-1] = u[1:-1, 1:-1] + 0.1 * (
            u[:-2, 1:-1] + u[2:, 1:-1] + u[1:-1, :-2] + u[1:-1, 2:] - 4 * u[1:-1, 1:-1])
        return out

    fns = {
        "gelu": lambda x: 0.5 * x * (1 + torch.tanh(0.7978845608 * (x + 0.044715 * x**3))),
        "softmax": lambda x: torch.softmax(x, dim=-1),
        "layernorm": lambda x, w, b: torch.nn.functional.layer_norm(x, x.shape[-1:], w, b,
                                                                    1e-5),
        "elementwise": lambda a, b, c, d: a * torch.sin(b) + c * torch.cos(d) - 0.5 * a * d,
        "diffusion": diffusion,
    }
    return fns[name]


def bench_workload(name: str, size: int, dtype: str, cuda: Any, peers: dict,
                   repeat: int, verify: bool) -> dict:
    import dynajit
    import dynajit.backends.ptx  # noqa: F401  (registers "ptx")

    w = WORKLOADS[name]
    host = w.inputs(size, dtype)
    row: dict[str, Any] = {"workload": name, "size": size, "dtype": dtype}
    reference = w.fn(*host) if verify else None
    # every workload's output has the shape and dtype of its first input
    row["bytes"] = bytes_floor(host, host[0])
    try:
        dev = [cuda.from_host(a) if isinstance(a, np.ndarray) else a for a in host]
        dynajit.reset()
        compiled = dynajit.compile(w.fn, backend="ptx")
        out = compiled(*host)  # compile (NumPy inputs: copied in and out)
        if verify:
            row["dynajit_ok"], row["dynajit_check"] = check(out, reference)
        got = compiled(*dev)  # compile for device inputs: outputs stay on the device
        if verify:
            ok, why = check(got.to_host(), reference)
            row["dynajit_ok"] = row["dynajit_ok"] and ok
            row["dynajit_check"] += f"; device inputs: {why}"
        t = _time(lambda: compiled(*dev), cuda.synchronize, repeat)
        row["dynajit_s"] = t
        row["dynajit_gpu_s"] = _gpu_time(lambda: compiled(*dev), cuda, repeat)
    except Exception as exc:  # noqa: BLE001 - recorded, the run goes on
        row["dynajit_error"] = f"{type(exc).__name__}: {exc}"
        row["dynajit_trace"] = traceback.format_exc(limit=5)
    for peer, (_mod, to_dev, sync) in peers.items():
        try:
            args = [to_dev(a) if isinstance(a, np.ndarray) else a for a in host]
            fn = w.fn if peer == "cupy" else _torch_fn(name)
            row[f"{peer}_s"] = _time(lambda fn=fn, args=args: fn(*args), sync, repeat)
            row[f"{peer}_gpu_s"] = _gpu_time(lambda fn=fn, args=args: fn(*args), cuda, repeat)
        except Exception as exc:  # noqa: BLE001
            row[f"{peer}_error"] = f"{type(exc).__name__}: {exc}"
    return row


def profile_calls(name: str, dtype: str, cuda: Any) -> None:
    """Where a compiled call's host time goes (cProfile over 500 calls, device inputs)."""
    import cProfile
    import pstats

    import dynajit

    w = WORKLOADS[name]
    dev = [cuda.from_host(a) for a in w.inputs(100_000, dtype)]
    dynajit.reset()
    compiled = dynajit.compile(w.fn, backend="ptx")
    compiled(*dev)
    cuda.synchronize()
    prof = cProfile.Profile()
    prof.enable()
    for _ in range(500):
        compiled(*dev)
    cuda.synchronize()
    prof.disable()
    pstats.Stats(prof).sort_stats("tottime").print_stats(18)


def tune(settings: list[str], sizes: list[float], dtype: str, workloads: list[str], cuda: Any,
         bw: float, repeat: int) -> list[dict]:
    """Device time of dynajit's kernels under each value of code-generation constants of
    ``dynajit.backends.ptx.codegen`` (``--tune UNROLL_FLAT=1,2,4``): how the defaults were
    chosen, rerun on the GPU at hand."""
    import itertools

    import dynajit
    from dynajit.backends.ptx import codegen

    names = [item.split("=")[0] for item in settings]
    choices = [[int(v) for v in item.split("=")[1].split(",")] for item in settings]
    saved = {n: getattr(codegen, n) for n in names}
    rows = []
    try:
        for combo in itertools.product(*choices):
            for n, v in zip(names, combo):
                setattr(codegen, n, v)
            label = " ".join(f"{n}={v}" for n, v in zip(names, combo))
            for size in sizes:
                for name in workloads:
                    w = WORKLOADS[name]
                    dev = [cuda.from_host(a) for a in w.inputs(int(size), dtype)]
                    dynajit.reset()
                    compiled = dynajit.compile(w.fn, backend="ptx")
                    t = _gpu_time(lambda c=compiled, d=dev: c(*d), cuda, repeat)
                    nbytes = sum(a.nbytes for a in dev) + dev[0].nbytes
                    rows.append({"setting": label, "workload": name, "size": size,
                                 "gpu_s": t, "fraction_of_copy": nbytes / t / bw})
                    print(f"tune {label:<32}{name:<12}{size:>8.0e}{t * 1e3:>9.3f}ms"
                          f"{nbytes / t / bw:>6.0%}")
    finally:
        for n, v in saved.items():
            setattr(codegen, n, v)
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", nargs="+", type=float, default=[1e7, 1e8])
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--workloads", nargs="+", default=[n for n in WORKLOADS if n != "mlp"])
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--no-tests", action="store_true")
    parser.add_argument("--json", default="gpu-results.json")
    parser.add_argument("--tune", nargs="+", metavar="NAME=V1,V2",
                        help="only time dynajit under values of ptx codegen constants")
    parser.add_argument("--profile", metavar="WORKLOAD",
                        help="also profile 500 host-side calls of this workload at 1e5")
    args = parser.parse_args()

    from dynajit import cuda

    info = cuda.device_info()
    results: dict[str, Any] = {"device": info.name, "arch": info.arch, "rows": []}
    if not args.no_tests:
        done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-m", "gpu", "-p",
                               "no:cacheprovider", "tests/backends/ptx", "tests/cuda"],
                              cwd=REPO, capture_output=True, text=True)
        results["tests"] = {"rc": done.returncode, "tail": done.stdout[-3000:]}
        print(done.stdout[-1500:])
    bw = copy_bandwidth(cuda)
    results["copy_bandwidth"] = bw
    print(f"{info.name} ({info.arch}): device copy {bw / 1e9:.0f} GB/s")
    if args.tune:
        results["tune"] = tune(args.tune, args.sizes, args.dtype, args.workloads, cuda, bw,
                               args.repeat)
        Path(args.json).write_text(json.dumps(results, indent=1, default=str))
        return 0
    peers = _peers()
    names = ["dynajit", *peers]
    print("per call, ms: wall (steady state, host included) / device (events); %copy is "
          "dynajit's bytes over its device time against the copy bandwidth")
    print(f"{'workload':<12}{'size':>8}" + "".join(f"{n:>18}" for n in names)
          + f"{'%copy':>7}  check")
    for size in args.sizes:
        for name in args.workloads:
            row = bench_workload(name, int(size), args.dtype, cuda, peers, args.repeat,
                                 verify=size <= 1e7)
            results["rows"].append(row)
            t = row.get("dynajit_gpu_s")
            frac = row["bytes"] / t / bw if t else float("nan")
            row["fraction_of_copy"] = frac
            cells = "".join(
                f"{row[n + '_s'] * 1e3:>9.3f}/{row[n + '_gpu_s'] * 1e3:<8.3f}"
                if n + "_gpu_s" in row else f"{'error':>18}" for n in names)
            print(f"{name:<12}{size:>8.0e}{cells}{frac:>7.0%}  "
                  f"{row.get('dynajit_check', row.get('dynajit_error', ''))}")
            Path(args.json).write_text(json.dumps(results, indent=1, default=str))
    if args.profile:
        profile_calls(args.profile, args.dtype, cuda)
    return 0


if __name__ == "__main__":
    sys.exit(main())
