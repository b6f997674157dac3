"""PTX of dynajit's own kernels for the tests, generated in a child process (an NVPTX
lowering failure aborts the process: DESIGN facts). Two sources of kernels:

- ``ufunc_kernels(dtype)``: one kernel per loop dtype with one stage per ufunc that the PTX
  target supports on it (every handler call the loop IR can emit, batched for ptxas);
- ``PROGRAMS``: small NumPy programs (the benchmark workloads, reductions, views,
  where/clip/astype) captured by dynajit and scheduled for the PTX target.

Run as a script, it prints JSON ``{name: [[kernel, shape, ptx], ...]}`` for the names given
(``python ptx_programs.py sm_90 softmax ufuncs:float32``)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[3]
LOOP_DTYPES = ("bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32",
               "uint64", "float32", "float64")


def ufunc_cases(dtype: str) -> list[tuple[str, int, np.dtype]]:
    """(ufunc, arity, result dtype) of every ufunc the PTX target supports on ``dtype``."""
    from dynajit.backends.loopir.handlers import LOOP_UFUNCS
    from dynajit.backends.ptx import PTXTarget

    target = PTXTarget()
    cases = []
    for name in LOOP_UFUNCS:
        if not target.supports(name, np.dtype(dtype)):
            continue
        ufunc = getattr(np, name)
        sample = np.ones(1, dtype)
        try:
            with np.errstate(all="ignore"):
                out = ufunc(*[sample] * ufunc.nin).dtype
        except TypeError:
            continue
        if out == np.dtype(dtype) or out == np.dtype(bool):
            cases.append((name, ufunc.nin, out))
    return cases


def ufunc_kernel(dtype: str):
    """One flat kernel with a stage per supported ufunc, each storing to its own buffer."""
    from dynajit.backends.loopir.ir import Buffer, Pointwise, ops
    from dynajit.backends.loopir.scheduler import Kernel, Stage

    dt = np.dtype(dtype)
    shape = (1000,)
    inputs = [Buffer(f"in{k}", shape, dt) for k in range(2)]
    stages = []
    for k, (name, nin, out) in enumerate(ufunc_cases(dtype)):
        def body(idx, name=name, nin=nin):
            args = [ops().load(b.name, b.index(idx), dt) for b in inputs[:nin]]
            return getattr(ops(), name)(*args, dtype=dt)

        stages.append(Stage(Pointwise(shape, out, body), Buffer(f"out{k}", shape, out), ()))
    return Kernel(f"ufuncs_{dtype}", shape, stages)


def _softmax(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _programs() -> dict:
    sys.path.insert(0, str(REPO))
    from benchmarks.workloads import WORKLOADS

    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 300)).astype(np.float32)
    i = rng.integers(-50, 50, (64, 300)).astype(np.int32)
    programs = {f"bench:{name}:{dt}": (w.fn, w.inputs(4096, dt))
                for name, w in WORKLOADS.items() if name != "mlp"
                for dt in ("float32", "float64")}
    programs.update({
        "sum_rows": (lambda a: a.sum(axis=1), (x,)),
        "mean_cols": (lambda a: a.mean(axis=0), (x,)),
        "full_sum": (lambda a: a.sum(), (x,)),
        "full_max_i32": (lambda a: a.max(), (i,)),
        "argmax_rows": (lambda a: np.argmax(a, axis=1), (x,)),
        "argmin_full": (lambda a: np.argmin(a), (i,)),
        "any_all": (lambda a: (np.any(a > 0, axis=1), np.all(a > -3)), (x,)),
        "prod_f64": (lambda a: np.prod(a.astype(np.float64) * 0.01 + 1.0, axis=0), (x,)),
        "transpose_add": (lambda a: a.T + 1.0, (x,)),
        "slice_flip": (lambda a: a[::-1, 2:50:3] * 2.0, (x,)),
        "where_clip_astype": (lambda a, b: np.where(a > 0, np.clip(a, -1, 1), b).astype(
            np.int16), (x, i)),
        "softmax_short_rows": (_softmax, (x[:, :8].copy(),)),
        "softmax_long_rows": (_softmax, (rng.standard_normal((3, 10_000)).astype(np.float32),)),
        "sin_cos_4": (lambda a, b, c, d: np.sin(a) * np.cos(b) + np.sin(c) * np.cos(d),
                      tuple(rng.standard_normal(5000) for _ in range(4))),
    })
    return programs


def program_kernels(name: str) -> list:
    fn, args = _programs()[name]
    return kernels_of(fn, *args)


def kernels_of(fn, *args) -> list:
    """The kernels the PTX target's schedule of ``fn(*args)`` has (no GPU needed)."""
    import dynajit
    from dynajit.backends.loopir.scheduler import KernelStep, schedule
    from dynajit.backends.ptx import PTXTarget

    found = []

    def backend(gm, example_inputs):
        sched = schedule(gm.graph, example_inputs, PTXTarget())
        found.extend(s.kernel for s in sched.steps if isinstance(s, KernelStep))
        return gm.forward

    dynajit.reset()
    dynajit.compile(fn, backend=backend)(*args)
    return found


def emit(arch: str, names: list[str]) -> dict:
    from dynajit.backends.ptx.codegen import build_kernel, compile_ptx

    result = {}
    for name in names:
        kernels = ([ufunc_kernel(name.split(":", 1)[1])] if name.startswith("ufuncs:")
                   else program_kernels(name))
        out = []
        for kernel in kernels:
            source = build_kernel(kernel, full_blocks=264)
            out.append([kernel.name, source.shape, compile_ptx(source.ir_text, arch)])
        result[name] = out
    return result


def program_names() -> list[str]:
    return list(_programs())


def ptx_of(arch: str, names: list[str]) -> dict:
    """``emit`` in a child process of this interpreter."""
    done = subprocess.run([sys.executable, __file__, arch, *names], capture_output=True,
                          text=True, timeout=300, cwd=REPO)
    if done.returncode != 0:
        raise RuntimeError(f"PTX generation failed (exit {done.returncode}):\n"
                           f"{done.stderr[-4000:]}")
    return json.loads(done.stdout)


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    json.dump(emit(sys.argv[1], sys.argv[2:]), sys.stdout)
