"""The benchmark runner of issue 6: dynajit against NumPy and every installed peer (numba,
numexpr, jax, torch.compile), side by side in one run, plus this machine's copy bandwidth,
each large workload's time over its bandwidth floor, per-call overhead at 8 elements and
cold/warm compile time of a 50-op fused graph. Prints a table; `--json` writes everything.

    python benchmarks/bench.py                      # full run (sizes 1e3, 1e5, 1e7)
    python benchmarks/bench.py --quick              # CI smoke: small sizes, short timing
    python benchmarks/bench.py --backend eager      # dynajit column with another backend
    python benchmarks/bench.py --workloads gelu --sizes 1000 --peers none --json out.json

Every column runs in its own worker process (torch.compile installs its own frame evaluator,
and a crash loses one column, not the run); the main process sends each case to every worker
in turn, so all columns of one row are measured within seconds of each other. Workers check
each result against NumPy (dtype, shape, values) on the timed inputs and on fresh ones.
"""

from __future__ import annotations

import argparse
import datetime
import gc
import json
import os
import platform
import select
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # run from a checkout: the repository's dynajit

from peers import COLUMNS, PEERS, PeerUnsupported, cpu_count  # noqa: E402
from workloads import WORKLOADS, bytes_floor, check, fused50  # noqa: E402

FULL_SIZES = [1_000, 100_000, 10_000_000]
QUICK_SIZES = [1_000, 100_000]
OVERHEAD_SIZE = 8  # per-call overhead is measured on the size-agnostic workloads at this size
CASE_TIMEOUT_S = 900  # one case, compile included (torch.compile takes tens of seconds)


# --- timing ---------------------------------------------------------------------------------

class Timing:
    """How long to measure. A sample is `number` back-to-back calls lasting at least
    `sample_s`; the result is the median per-call time of at least `min_samples` samples,
    taking more while `budget_s` lasts."""

    def __init__(self, quick: bool):
        self.sample_s = 0.005 if quick else 0.02
        self.budget_s = 0.15 if quick else 1.0
        self.min_samples = 5 if quick else 7
        self.max_samples = 200


def time_call(run: Callable[[], object], timing: Timing) -> dict:
    """Median seconds per call of `run` (already warm), with the spread of the samples."""

    def sample(number: int) -> float:
        t0 = time.perf_counter()
        for _ in range(number):
            run()
        return time.perf_counter() - t0

    enabled = gc.isenabled()
    gc.disable()  # as timeit does: a collection inside one sample is noise, not the kernel
    try:
        number = 1
        t = sample(1)
        while t < timing.sample_s and number < 1 << 22:
            number = max(number * 2, int(number * timing.sample_s / max(t, 1e-9) * 1.2))
            t = sample(number)
        samples = [t / number]
        start = time.perf_counter()
        while len(samples) < timing.min_samples or (
                time.perf_counter() - start < timing.budget_s
                and len(samples) < timing.max_samples):
            samples.append(sample(number) / number)
    finally:
        if enabled:
            gc.enable()
    samples.sort()
    quart = max(1, len(samples) // 4)
    return {"seconds": statistics.median(samples), "min": samples[0],
            "q1": samples[quart - 1], "q3": samples[-quart], "samples": len(samples),
            "number": number}


# --- worker side ----------------------------------------------------------------------------

def run_case(column, request: dict, timing: Timing) -> tuple[dict, Callable | None]:
    """One case in a worker: build inputs, prepare, first call (compile), check, time, check
    again on fresh inputs. Returns the reply (status ok / promoted / wrong / n/a / error) and
    the warm call where it was timed (later rounds time it again)."""
    workload = WORKLOADS[request["workload"]]
    size, dtype, seed = request["size"], request["dtype"], request["seed"]
    inputs = workload.inputs(size, dtype, seed)
    expected = workload.fn(*inputs)
    reply: dict = {"shapes": [list(np.shape(a)) for a in inputs],
                   "bytes": bytes_floor(inputs, expected),
                   "flops": workload.flops(inputs) if workload.flops else None}
    try:
        prepared = column.prepare(workload, inputs)
        t0 = time.perf_counter()
        got = prepared.to_numpy(prepared.run())
        reply["first_call_s"] = time.perf_counter() - t0
    except PeerUnsupported as e:
        return {**reply, "status": "n/a", "reason": str(e)}, None
    except Exception as e:  # noqa: BLE001 - a peer's failure is a table cell, not a crash
        return {**reply, "status": "error", "reason": f"{type(e).__name__}: {e}"[:300]}, None
    status, reason = _judge(got, expected)
    if status == "wrong":
        return {**reply, "status": status, "reason": reason}, None
    try:
        reply.update(time_call(prepared.run, timing))
        fresh = workload.inputs(size, dtype, seed + 1)
        fresh_status, fresh_reason = _judge(prepared.to_numpy(prepared.rebind(fresh)()),
                                            workload.fn(*fresh))
    except Exception as e:  # noqa: BLE001 - as above: a failing later call is a cell too
        return {**reply, "status": "error", "reason": f"{type(e).__name__}: {e}"[:300]}, None
    if fresh_status == "wrong":
        status, reason = "wrong", f"on fresh inputs: {fresh_reason}"
    return {**reply, "status": status, "reason": reason}, prepared.run


def _judge(got, expected: np.ndarray) -> tuple[str, str]:
    """ok; promoted (right values in another dtype: numba computes float32 code with float64
    constants in float64); or wrong."""
    ok, reason = check(got, expected)
    if ok:
        return "ok", ""
    got = np.asarray(got)
    if got.dtype != expected.dtype and got.shape == expected.shape:
        ok_values, value_reason = check(got.astype(expected.dtype), expected)
        if ok_values:
            return "promoted", f"result dtype {got.dtype}, NumPy's {expected.dtype}"
        reason = f"{reason}; {value_reason}"
    return "wrong", reason


def worker_main(name: str, options: dict) -> int:
    """Serve cases for one column: a JSON request per stdin line, a JSON reply per line on
    the original stdout. Library output (torch, jax warnings) goes to stderr instead."""
    proto = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    column = COLUMNS[name]()
    timing = Timing(options.get("quick", False))
    try:
        info = column.setup(options)
    except ImportError as e:
        proto.write(json.dumps({"ready": False, "reason": f"not installed: {e}"}) + "\n")
        proto.flush()
        return 0
    info.setdefault("threads", cpu_count())
    proto.write(json.dumps({"ready": True, **info}) + "\n")
    proto.flush()
    warm: Callable | None = None  # the last case's timed call, kept for its later rounds
    for line in sys.stdin:
        request = json.loads(line)
        if request.get("retime"):
            reply = time_call(warm, timing) if warm else {"status": "error",
                                                          "reason": "nothing to time again"}
        else:
            warm = None  # free the previous case's inputs first
            reply, warm = run_case(column, request, timing)
        proto.write(json.dumps(reply) + "\n")
        proto.flush()
    return 0


class Worker:
    """The main process's handle on one column's worker process."""

    def __init__(self, name: str, options: dict, log_dir: Path):
        self.name = name
        self.options = options
        self.log_path = log_dir / f"{name}.log"
        self.info: dict = {}
        self.restarts = 0
        self.proc: subprocess.Popen | None = None
        self._start()

    def _start(self) -> None:
        cmd = [sys.executable, str(HERE / "bench.py"), "--worker", self.name,
               "--worker-options", json.dumps(self.options)]
        log = open(self.log_path, "a")  # the child keeps its own descriptor
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=log, text=True, bufsize=1)
        log.close()
        hello = self._read(300)
        if hello is None:
            self.info = {"ready": False, "reason": f"worker did not start ({self._tail()})"}
            self.stop()
        else:
            self.info = hello

    @property
    def ready(self) -> bool:
        return bool(self.info.get("ready")) and self.proc is not None

    def _read(self, timeout: float) -> dict | None:
        assert self.proc is not None and self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        line = self.proc.stdout.readline() if ready else ""
        return json.loads(line) if line else None

    def _tail(self) -> str:
        try:
            lines = self.log_path.read_text(errors="replace").strip().splitlines()
        except OSError:
            return "no log"
        return " | ".join(lines[-3:])[-300:] or f"see {self.log_path}"

    def run(self, request: dict) -> dict:
        """Send one case; a worker that dies or hangs is restarted (twice at most) for the
        next case, and this case is reported as an error with its log's last lines."""
        if not self.ready:
            if self.restarts >= 2 or not self.info.get("crashed"):
                return {"status": "missing", "reason": self.info.get("reason", "")}
            self.restarts += 1
            self._start()
            if not self.ready:
                return {"status": "missing", "reason": self.info.get("reason", "")}
        assert self.proc is not None and self.proc.stdin is not None
        try:
            self.proc.stdin.write(json.dumps(request) + "\n")
            self.proc.stdin.flush()
            reply = self._read(CASE_TIMEOUT_S)
        except (BrokenPipeError, ValueError):
            reply = None
        if reply is None:
            why = "timed out" if self.proc.poll() is None else f"exited {self.proc.poll()}"
            reason = f"worker {why}: {self._tail()}"
            self.stop()
            self.info = {"ready": False, "crashed": True, "reason": reason}
            return {"status": "error", "reason": reason}
        return reply

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self.proc = None


# --- machine ceilings -----------------------------------------------------------------------

def best_time(fn: Callable[[], object], repeats: int) -> float:
    """Fastest of `repeats` runs: a ceiling is what the machine can do, and on a shared
    machine every slower run is someone else's load, not a lower ceiling."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def copy_bandwidth(nbytes: int, repeats: int) -> dict:
    """Bytes read + written per second by a large `np.copyto`, on one thread and split over
    every core (np.copyto releases the GIL). Buffers are touched first so page faults stay
    out of the numbers; the size is well past the last-level cache."""
    src = np.random.default_rng(0).random(nbytes // 8)
    dst = np.empty_like(src)
    np.copyto(dst, src)
    threads = cpu_count()
    bounds = np.linspace(0, src.size, threads + 1).astype(int)

    def parallel(pool: ThreadPoolExecutor) -> None:
        list(pool.map(lambda i: np.copyto(dst[bounds[i]:bounds[i + 1]],
                                          src[bounds[i]:bounds[i + 1]]), range(threads)))

    one = best_time(lambda: np.copyto(dst, src), repeats)
    with ThreadPoolExecutor(threads) as pool:
        parallel(pool)
        many = best_time(lambda: parallel(pool), repeats)
    moved = 2 * src.nbytes
    return {"bytes": moved, "gbs_1thread": moved / one / 1e9,
            f"gbs_{threads}threads": moved / many / 1e9, "threads": threads,
            "gbs": max(moved / one, moved / many) / 1e9}


def matmul_rate(dtype: str, n: int, repeats: int) -> float:
    """FLOP/s of NumPy's matmul (its BLAS) at n x n: the compute ceiling for the MLP."""
    rng = np.random.default_rng(0)
    a, b = (rng.standard_normal((n, n)).astype(dtype) for _ in range(2))
    a @ b
    return 2 * n**3 / best_time(lambda: a @ b, repeats)


# --- compile-time probe ---------------------------------------------------------------------

def _warm_up(x):
    return x + 1


def probe_compile_main(options: dict) -> int:
    """In a fresh process (DYNAJIT_CACHE_DIR set by the parent): time the first call of the
    50-op fused graph minus a warm call's time. Prints one JSON line."""
    proto = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    import dynajit

    dynajit.config.raise_on_compile_error = True  # never time an eager fallback as a compile
    rng = np.random.default_rng(0)
    x, y = (rng.standard_normal(1000).astype(np.float32) for _ in range(2))
    expected = fused50(x, y)  # NumPy's own first-call costs stay out of the number
    # Process start-up (imports, the LLVM target machine and JIT engine) is paid once per
    # process, by any first compile: timed apart, so the number is the graph's compile.
    t0 = time.perf_counter()
    dynajit.compile(_warm_up, backend=options["backend"])(x)
    init = time.perf_counter() - t0
    compiled = dynajit.compile(fused50, backend=options["backend"])
    t0 = time.perf_counter()
    got = compiled(x, y)
    first = time.perf_counter() - t0
    warm = time_call(lambda: compiled(x, y), Timing(quick=True))["seconds"]
    ok, reason = check(got, expected)
    ops: list[int] = []

    def count(gm, example_inputs):
        ops.append(len(gm.graph.call_nodes()))
        return gm.forward

    dynajit.reset()
    dynajit.compile(fused50, backend=count)(x, y)
    proto.write(json.dumps({"first_call_s": first, "call_s": warm, "process_init_s": init,
                            "compile_s": max(first - warm, 0.0), "ops": sum(ops),
                            "graphs": len(ops), "ok": ok, "reason": reason}) + "\n")
    proto.flush()
    return 0


def compile_times(backend: str, rounds: int, log_dir: Path) -> dict:
    """Cold (fresh process, empty cache dir) and warm (second fresh process, same dir)
    compile time of the 50-op graph; the median over `rounds` fresh cache dirs."""
    cold, warm, init, last = [], [], [], {}
    for _ in range(rounds):
        with tempfile.TemporaryDirectory(prefix="dynajit-cache-") as cache:
            for bucket in (cold, warm):
                env = {**os.environ, "DYNAJIT_CACHE_DIR": cache}
                proc = subprocess.run(
                    [sys.executable, str(HERE / "bench.py"), "--probe-compile",
                     "--worker-options", json.dumps({"backend": backend})],
                    env=env, capture_output=True, text=True, timeout=600)
                if proc.returncode != 0 or not proc.stdout.strip():
                    (log_dir / "probe.log").write_text(proc.stderr)
                    tail = " | ".join(proc.stderr.strip().splitlines()[-3:])[-300:]
                    return {"error": f"probe exited {proc.returncode}: {tail}"}
                last = json.loads(proc.stdout.strip().splitlines()[-1])
                if not last["ok"]:
                    return {"error": f"compiled result differs from NumPy: {last['reason']}"}
                bucket.append(last["compile_s"])
                init.append(last["process_init_s"])
    return {"backend": backend, "ops": last["ops"], "graphs": last["graphs"],
            "rounds": rounds, "cold_s": statistics.median(cold),
            "warm_s": statistics.median(warm), "cold_all_s": cold, "warm_all_s": warm,
            "call_s": last["call_s"], "process_init_s": statistics.median(init)}


# --- the run --------------------------------------------------------------------------------

def machine_info() -> dict:
    model = platform.processor() or platform.machine()
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
        model = next((line.split(":", 1)[1].strip() for line in out.splitlines()
                      if line.startswith("Model name")), model)
    except (OSError, subprocess.SubprocessError):
        pass
    return {"date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
            "cpu": model, "cores": cpu_count(), "python": sys.version.split()[0],
            "numpy": np.__version__, "platform": platform.platform(),
            "loadavg_start": list(os.getloadavg())}


def cases(args: argparse.Namespace) -> list[dict]:
    sizes = args.sizes or (QUICK_SIZES if args.quick else FULL_SIZES)
    out = []
    for size in sorted(sizes):
        for name in args.workloads:
            for dtype in args.dtypes:
                out.append({"workload": name, "dtype": dtype, "size": size, "seed": 0})
    if not args.no_overhead:
        for name in args.workloads:
            if WORKLOADS[name].any_size:
                out += [{"workload": name, "dtype": dtype, "size": OVERHEAD_SIZE, "seed": 0,
                         "overhead": True} for dtype in args.dtypes]
    return out


def run(args: argparse.Namespace) -> dict:
    columns = ["numpy", "dynajit", *args.peers]
    info = machine_info()
    print(f"dynajit bench: {info['cpu']}, {info['cores']} cores, python {info['python']}, "
          f"numpy {info['numpy']}, {info['date']}", flush=True)
    big = 64 << 20 if args.quick else 512 << 20
    ceilings = {"copy": copy_bandwidth(big, 3 if args.quick else 10),
                "matmul_flops": {dt: matmul_rate(dt, 512 if args.quick else 1024,
                                                 3 if args.quick else 7)
                                 for dt in args.dtypes}}
    print(f"copy bandwidth (read + write) {ceilings['copy']['gbs']:.1f} GB/s", flush=True)
    options = {"backend": args.backend, "quick": args.quick}
    results = []
    with tempfile.TemporaryDirectory(prefix="dynajit-bench-") as tmp:
        log_dir = Path(tmp)
        workers = {name: Worker(name, options, log_dir) for name in columns}
        for name, worker in workers.items():
            state = "ready" if worker.ready else worker.info.get("reason", "not ready")
            print(f"  {name:8} {state} {worker.info.get('version', '')}", flush=True)
        try:
            for case in cases(args):
                row = dict(case)
                row["columns"] = measure_row(case, workers, args.rounds, args.quick)
                first = next((c for c in row["columns"].values() if "bytes" in c), {})
                row.update({k: first.get(k) for k in ("shapes", "bytes", "flops")})
                results.append(row)
                print(_progress(row), flush=True)
        finally:
            for worker in workers.values():
                worker.stop()
        compile_result = ({} if args.no_compile_time else
                          compile_times(args.backend, 1 if args.quick else 3, log_dir))
    info["loadavg_end"] = list(os.getloadavg())
    report = {"meta": info, "backend": args.backend, "quick": args.quick,
              "ceilings": ceilings, "columns": {n: workers[n].info for n in columns},
              "results": results, "compile": compile_result}
    _add_floors(report)
    report["targets"] = targets(report)
    return report


def measure_row(case: dict, workers: dict[str, Worker], rounds: int, quick: bool) -> dict:
    """Every column's cell for one case. Round 1 compiles, checks and times; each later
    round times the warm call again, in reversed column order, and the round with the
    lowest median counts: load from other processes on a shared machine comes in bursts,
    and this gives each column more than one chance at a quiet moment."""
    cells: dict[str, dict] = {}
    names = list(workers)
    for rnd in range(rounds):
        for name in names if rnd % 2 == 0 else names[::-1]:
            # Let the previous worker's thread pools (OpenMP, BLAS, XLA) stop spinning.
            time.sleep(0.02 if quick else 0.1)
            if rnd == 0:
                cells[name] = workers[name].run(case)
                cells[name]["rounds_s"] = [cells[name]["seconds"]] if "seconds" in \
                    cells[name] else []
            elif "seconds" in cells[name]:
                again = workers[name].run({**case, "retime": True})
                if "seconds" in again:
                    cells[name]["rounds_s"].append(again["seconds"])
                    if again["seconds"] < cells[name]["seconds"]:
                        cells[name].update(again)
    return {name: cells[name] for name in names}


def _progress(row: dict) -> str:
    parts = []
    for name, cell in row["columns"].items():
        value = f"{cell['seconds'] * 1e3:.3f}ms" if "seconds" in cell else cell["status"]
        parts.append(f"{name}={value}")
    return f"  {row['workload']} {row['dtype']} {row['size']}: " + " ".join(parts)


def _add_floors(report: dict) -> None:
    """Each case's floor: bytes that must move over the copy bandwidth, or for matrix work
    its flops over NumPy's matmul rate, whichever is larger; and every column's time over
    it."""
    bandwidth = report["ceilings"]["copy"]["gbs"] * 1e9
    for row in report["results"]:
        if row.get("bytes") is None:
            continue
        floor = row["bytes"] / bandwidth
        bound = "memory"
        rate = report["ceilings"]["matmul_flops"].get(row["dtype"])
        if row.get("flops") and rate and row["flops"] / rate > floor:
            floor, bound = row["flops"] / rate, "compute"
        row["floor_s"], row["bound"] = floor, bound
        for cell in row["columns"].values():
            if "seconds" in cell:
                cell["over_floor"] = cell["seconds"] / floor


# --- report ---------------------------------------------------------------------------------

SPEEDUP_WORKLOADS = ("gelu", "softmax", "layernorm", "elementwise")  # >= 5x NumPy at 1e7


def fmt_time(seconds: float) -> str:
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}" if seconds < 100 * scale else \
                f"{seconds / scale:.0f} {unit}"
    return f"{seconds * 1e9:.0f} ns"


def cell_text(cell: dict) -> str:
    """A table cell: the median time, or why there is none. '*' marks a result in another
    dtype than NumPy's (right values)."""
    status = cell.get("status")
    if status in ("ok", "promoted"):
        return fmt_time(cell["seconds"]) + ("*" if status == "promoted" else "")
    return {"wrong": "WRONG", "n/a": "n/a", "error": "error", "missing": "-"}.get(status, "?")


def timed(cell: dict | None) -> float | None:
    """The cell's time where it counts (a result equal to NumPy's values)."""
    if cell and cell.get("status") in ("ok", "promoted"):
        return cell["seconds"]
    return None


def fastest_peer(row: dict) -> tuple[str, float] | None:
    times = [(name, timed(cell)) for name, cell in row["columns"].items()
             if name not in ("numpy", "dynajit")]
    times = [(name, t) for name, t in times if t is not None]
    return min(times, key=lambda nt: nt[1]) if times else None


def _ratio(numerator: float | None, denominator: float | None) -> str:
    if numerator is None or denominator is None:
        return "-"
    return f"{numerator / denominator:.2f}x"


def _table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(h.ljust(w) if i < 3 else h.rjust(w)
                       for i, (h, w) in enumerate(zip(header, widths)))]
    lines.append("  ".join("-" * w for w in widths))
    for r in rows:
        lines.append("  ".join(c.ljust(w) if i < 3 else c.rjust(w)
                               for i, (c, w) in enumerate(zip(r, widths))))
    return "\n".join(lines)


def _shape(row: dict) -> str:
    shapes = row.get("shapes") or [[row["size"]]]
    return "x".join(str(d) for d in shapes[0])


def print_report(report: dict) -> None:
    """The tables: times per column with dynajit's speed-up over NumPy and over the fastest
    peer; time over the floor at the largest size; per-call overhead at 8 elements; compile
    times; the issue's targets."""
    columns = list(report["columns"])
    dj = "dynajit"
    rows = [r for r in report["results"] if not r.get("overhead")]
    print()
    meta, copy = report["meta"], report["ceilings"]["copy"]
    versions = ", ".join(f"{n} {i.get('version', '')}" if i.get("ready") else f"{n} (absent)"
                         for n, i in report["columns"].items())
    print(f"{meta['date']}  {meta['cpu']}, {meta['cores']} cores, python {meta['python']}")
    print(f"columns: {versions}; dynajit backend {report['backend']!r}")
    print(f"copy bandwidth {copy['gbs']:.1f} GB/s (read + write; 1 thread "
          f"{copy['gbs_1thread']:.1f}); matmul " + ", ".join(
              f"{dt} {rate / 1e9:.0f} GFLOP/s"
              for dt, rate in report["ceilings"]["matmul_flops"].items()))
    load = meta["loadavg_start"][0], meta.get("loadavg_end", [float("nan")])[0]
    print(f"load average {load[0]:.1f} at the start, {load[1]:.1f} at the end on "
          f"{meta['cores']} cores (other processes' load slows the multi-threaded columns)")
    print("speed-ups are the other's time over dynajit's: above 1x dynajit is faster\n")
    header = ["workload", "dtype", "shape", *columns, "vs numpy", "vs best peer"]
    table = []
    for r in rows:
        best = fastest_peer(r)
        cells = [cell_text(r["columns"][c]) for c in columns]
        table.append([r["workload"], r["dtype"], _shape(r), *cells,
                      _ratio(timed(r["columns"]["numpy"]), timed(r["columns"][dj])),
                      f"{_ratio(best[1], timed(r['columns'][dj]))} {best[0]}" if best else "-"])
    print(_table(header, table))
    largest = max((r["size"] for r in rows), default=0)
    # In-cache sizes have no meaningful bandwidth floor: only the largest size past 1e6.
    floor_rows = [r for r in rows if r["size"] == largest >= 1_000_000 and r.get("floor_s")]
    if floor_rows:
        size = f"{largest:.0e}".replace("e+0", "e")
        print(f"\ntime over floor at {size} elements (floor: bytes read + written at "
              "copy bandwidth; compute-bound: flops at NumPy's matmul rate)")
        table = [[r["workload"], r["dtype"], f"{r['bound']} {fmt_time(r['floor_s'])}",
                  *[f"{c['over_floor']:.2f}" if timed(c) else cell_text(c)
                    for c in (r["columns"][n] for n in columns)]] for r in floor_rows]
        print(_table(["workload", "dtype", "floor", *columns], table))
    tiny = [r for r in report["results"] if r.get("overhead")]
    if tiny:
        print(f"\nper-call time at {OVERHEAD_SIZE} elements (target: dynajit within 2x NumPy)")
        table = [[r["workload"], r["dtype"], _shape(r),
                  *[cell_text(r["columns"][c]) for c in columns],
                  _ratio(timed(r["columns"][dj]), timed(r["columns"]["numpy"]))]
                 for r in tiny]
        print(_table(["workload", "dtype", "shape", *columns, "dynajit/numpy"], table))
    comp = report.get("compile") or {}
    if "error" in comp:
        print(f"\ncompile time: {comp['error']}")
    elif comp:
        print(f"\ncompile time of a {comp['ops']}-op fused graph ({comp['graphs']} graph, "
              f"median of {comp['rounds']}): cold {fmt_time(comp['cold_s'])} (target 300 ms), "
              f"warm from disk cache {fmt_time(comp['warm_s'])} (target 20 ms); once per "
              f"process before the first compile (imports, LLVM set-up): "
              f"{fmt_time(comp['process_init_s'])}")
    notes: dict[tuple[str, str, str], list[str]] = {}
    for r in report["results"]:
        for name, c in r["columns"].items():
            if c.get("status") not in ("ok", "missing") and c.get("reason"):
                cases_of = notes.setdefault((name, c["status"], c["reason"]), [])
                case = f"{r['workload']} {r['dtype']}"
                if case not in cases_of:
                    cases_of.append(case)
    if notes:
        print("\nnotes (* = right values in another dtype than NumPy's):")
        for (name, status, reason), where in notes.items():
            print(f"  {name} {status} on {', '.join(where)}: {reason}")
    if report.get("targets"):
        print("\ntargets (issue 6)")
        for t in report["targets"]:
            mark = {True: "met ", False: "MISS", None: "n/a "}[t["met"]]
            print(f"  [{mark}] {t['target']}: {t['detail']}")


def targets(report: dict) -> list[dict]:
    """The issue's targets that this run's cases can decide, each met, missed or undecided
    (dynajit has no valid time) with the numbers behind it."""
    out: list[dict] = []
    rows = [r for r in report["results"] if not r.get("overhead")]

    def add(target: str, checks: list[tuple[str, bool | None]]) -> None:
        if checks:
            met = None if any(ok is None for _, ok in checks) else all(ok for _, ok in checks)
            out.append({"target": target, "met": met,
                        "detail": "; ".join(text for text, _ in checks)})

    def versus(row: dict, other: float | None, factor: float = 1.0) -> bool | None:
        """dynajit at least `factor` times faster than `other` (None: undecidable)."""
        mine = timed(row["columns"]["dynajit"])
        return None if mine is None or other is None else other >= factor * mine

    def np_time(row: dict) -> float | None:
        return timed(row["columns"]["numpy"])

    def speedup(row: dict) -> str:
        return _ratio(np_time(row), timed(row["columns"]["dynajit"]))

    large = [r for r in rows if r["size"] >= 5_000_000 and r["dtype"] == "float32"]
    checks = []
    for r in large:
        best = fastest_peer(r)
        if best is not None:
            checks.append((f"{r['workload']} {_ratio(best[1], timed(r['columns']['dynajit']))}"
                           f" vs {best[0]}", versus(r, best[1])))
    add("1e7 float32: faster than the fastest peer", checks)
    add("1e7 float32: >= 5x NumPy on GELU, softmax, layernorm, elementwise",
        [(f"{r['workload']} {speedup(r)}", versus(r, np_time(r), 5.0))
         for r in large if r["workload"] in SPEEDUP_WORKLOADS])
    checks = []
    for r in large:
        if r.get("bound") == "memory":
            over = r["columns"]["dynajit"].get("over_floor")
            checks.append((f"{r['workload']} " + (f"{over:.2f}" if over else "-"),
                           None if over is None else over <= 1.5))
    add("1e7 float32: memory-bound kernels within 1.5x of the bandwidth floor", checks)
    add("1e5: faster than NumPy on every workload",
        [(f"{r['workload']} {r['dtype']} {speedup(r)}", versus(r, np_time(r)))
         for r in rows if 50_000 <= r["size"] <= 500_000])
    checks = []
    for r in report["results"]:
        if r.get("overhead"):
            mine = timed(r["columns"]["dynajit"])
            checks.append((f"{r['workload']} {r['dtype']} {_ratio(mine, np_time(r))}",
                           None if mine is None or np_time(r) is None
                           else mine <= 2 * np_time(r)))
    add(f"{OVERHEAD_SIZE} elements: per-call time within 2x of NumPy's", checks)
    comp = report.get("compile") or {}
    if "cold_s" in comp:
        add("compile of a 50-op fused graph: cold <= 300 ms, warm <= 20 ms",
            [(f"cold {fmt_time(comp['cold_s'])}", comp["cold_s"] <= 0.3),
             (f"warm {fmt_time(comp['warm_s'])}", comp["warm_s"] <= 0.02)])
    return out


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="CI smoke: sizes 1e3 and 1e5, short timing, one compile round")
    parser.add_argument("--json", metavar="PATH", help="write every number to this file")
    parser.add_argument("--backend", default="llvm", help="dynajit backend (default llvm)")
    parser.add_argument("--workloads", default=",".join(WORKLOADS),
                        help=f"comma list of {', '.join(WORKLOADS)}")
    parser.add_argument("--dtypes", default="float32,float64")
    parser.add_argument("--sizes", default="", help="comma list of element counts")
    parser.add_argument("--peers", default="all",
                        help=f"comma list of {', '.join(PEERS)}, or all, or none")
    parser.add_argument("--rounds", type=int, default=None,
                        help="timing rounds per case, best median counts (default: 2, "
                             "quick: 1)")
    parser.add_argument("--no-overhead", action="store_true",
                        help="skip the 8-element per-call overhead cases")
    parser.add_argument("--no-compile-time", action="store_true",
                        help="skip the cold/warm compile-time probe")
    parser.add_argument("--worker", choices=sorted(COLUMNS), help=argparse.SUPPRESS)
    parser.add_argument("--probe-compile", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--worker-options", default="{}", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.rounds is None:
        args.rounds = 1 if args.quick else 2
    args.workloads = [w for w in args.workloads.split(",") if w]
    unknown = sorted(set(args.workloads) - set(WORKLOADS))
    args.dtypes = [d for d in args.dtypes.split(",") if d]
    args.sizes = [int(float(s)) for s in args.sizes.split(",") if s]
    peers = {"all": PEERS, "none": []}.get(args.peers, args.peers.split(","))
    unknown += sorted(set(peers) - set(PEERS))
    if unknown:
        parser.error(f"unknown workload or peer: {', '.join(unknown)}")
    args.peers = [p for p in PEERS if p in peers]
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    options = json.loads(args.worker_options)
    if args.worker:
        return worker_main(args.worker, options)
    if args.probe_compile:
        return probe_compile_main(options)
    report = run(args)
    print_report(report)
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1) + "\n")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
