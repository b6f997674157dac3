"""Issue 7's benchmark: two training steps, a 784-256-256-10 MLP (batch 256, ReLU, softmax
cross-entropy) and a transformer-style block (layernorm, single-head attention with softmax,
GELU MLP; sequence 128, width 256), each written once in plain NumPy.

For each it reports the bytes the forward saves for the backward under ``min_cut`` and
``save_all``, checks dynajit's gradients against a hand-written NumPy backward (relative
error max|g - h| / max|h| per parameter: at most 1e-5 in float32, 1e-10 in float64), and
times one training step (gradients + SGD update):

  numpy         the hand-written forward and backward
  dynajit vg    ``dynajit.value_and_grad(loss, backend=B)`` then a NumPy update
  dynajit step  ``@dynajit.compile`` of the whole step (value_and_grad and update: one graph)
  jax           ``jax.jit`` of ``jax.value_and_grad`` of the jax.numpy port plus the update,
                where jax is installed (``jax_enable_x64`` for float64)

    python benchmarks/autograd.py                    # float32 and float64, llvm and eager
    python benchmarks/autograd.py --quick --dtypes float32 --backends eager
    python benchmarks/autograd.py --md /tmp/autograd.md   # then paste into benchmarks/README.md

Times are medians of repeated steps on a warm cache (compile excluded, reported apart), the
best of ``--rounds`` rounds in which the contenders take turns.
"""

from __future__ import annotations

import argparse
import datetime
import functools
import gc
import math
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the checkout's dynajit

import dynajit  # noqa: E402

MLP_SIZES = (784, 256, 256, 10)
MLP_BATCH = 256
SEQUENCE, WIDTH, HIDDEN = 128, 256, 1024
LR = 1e-3
TOLERANCE = {np.dtype(np.float32): 1e-5, np.dtype(np.float64): 1e-10}


# ----------------------------------------------------------------------------- MLP
def make_mlp_loss(xp: Any) -> Callable:
    """The MLP's mean cross-entropy over a batch, in the array module ``xp``."""

    def mlp_loss(params, x, y):
        h1 = xp.maximum(x @ params["w1"] + params["b1"], 0.0)
        h2 = xp.maximum(h1 @ params["w2"] + params["b2"], 0.0)
        z = h2 @ params["w3"] + params["b3"]
        z = z - xp.max(z, axis=1, keepdims=True)
        logp = z - xp.log(xp.sum(xp.exp(z), axis=1, keepdims=True))
        return -xp.sum(y * logp) / x.shape[0]

    return mlp_loss


mlp_loss = make_mlp_loss(np)


def mlp_value_and_grad(params, x, y):
    """The hand-written backward of ``mlp_loss``."""
    a1 = x @ params["w1"] + params["b1"]
    h1 = np.maximum(a1, 0.0)
    a2 = h1 @ params["w2"] + params["b2"]
    h2 = np.maximum(a2, 0.0)
    z = h2 @ params["w3"] + params["b3"]
    z = z - np.max(z, axis=1, keepdims=True)
    e = np.exp(z)
    s = np.sum(e, axis=1, keepdims=True)
    logp = z - np.log(s)
    n = x.shape[0]
    loss = -np.sum(y * logp) / n
    dlogp = -y / n
    dz = dlogp - (e / s) * np.sum(dlogp, axis=1, keepdims=True)
    da2 = (dz @ params["w3"].T) * (a2 > 0)
    da1 = (da2 @ params["w2"].T) * (a1 > 0)
    grads = {"w1": x.T @ da1, "b1": da1.sum(axis=0), "w2": h1.T @ da2, "b2": da2.sum(axis=0),
             "w3": h2.T @ dz, "b3": dz.sum(axis=0)}
    return loss, grads


def mlp_data(rng: np.random.Generator, dtype: Any) -> tuple:
    params = {}
    for i, (n_in, n_out) in enumerate(zip(MLP_SIZES, MLP_SIZES[1:]), 1):
        params[f"w{i}"] = (rng.standard_normal((n_in, n_out)) / math.sqrt(n_in)).astype(dtype)
        params[f"b{i}"] = (0.1 * rng.standard_normal(n_out)).astype(dtype)
    x = rng.standard_normal((MLP_BATCH, MLP_SIZES[0])).astype(dtype)
    y = np.eye(MLP_SIZES[-1], dtype=dtype)[rng.integers(0, MLP_SIZES[-1], MLP_BATCH)]
    return params, x, y


# ----------------------------------------------------------------------------- block
def make_block_loss(xp: Any) -> Callable:
    """A pre-layernorm transformer block on one sequence and a squared-error loss."""

    def layernorm(x, g, b):
        mu = xp.mean(x, axis=-1, keepdims=True)
        xc = x - mu
        var = xp.mean(xc * xc, axis=-1, keepdims=True)
        return xc / xp.sqrt(var + 1e-5) * g + b

    def gelu(u):
        return 0.5 * u * (1.0 + xp.tanh(0.7978845608028654 * (u + 0.044715 * u * u * u)))

    def block_loss(p, x, target):
        h = layernorm(x, p["ln1_g"], p["ln1_b"])
        q, k, v = h @ p["wq"], h @ p["wk"], h @ p["wv"]
        s = (q @ k.T) * (1.0 / math.sqrt(x.shape[-1]))
        e = xp.exp(s - xp.max(s, axis=-1, keepdims=True))
        att = e / xp.sum(e, axis=-1, keepdims=True)
        x1 = x + (att @ v) @ p["wo"] + p["bo"]
        h2 = layernorm(x1, p["ln2_g"], p["ln2_b"])
        out = x1 + gelu(h2 @ p["w1"] + p["c1"]) @ p["w2"] + p["c2"]
        return xp.mean((out - target) ** 2)

    return block_loss


block_loss = make_block_loss(np)


def _layernorm_forward(x, g, b):
    xc = x - np.mean(x, axis=-1, keepdims=True)
    rstd = 1.0 / np.sqrt(np.mean(xc * xc, axis=-1, keepdims=True) + 1e-5)
    xhat = xc * rstd
    return xhat * g + b, (xhat, rstd)


def _layernorm_backward(dy, g, cache):
    xhat, rstd = cache
    dxhat = dy * g
    dx = rstd * (dxhat - np.mean(dxhat, axis=-1, keepdims=True)
                 - xhat * np.mean(dxhat * xhat, axis=-1, keepdims=True))
    return dx, np.sum(dy * xhat, axis=0), np.sum(dy, axis=0)


def block_value_and_grad(p, x, target):
    """The hand-written backward of ``block_loss``."""
    c = 0.7978845608028654
    h, ln1 = _layernorm_forward(x, p["ln1_g"], p["ln1_b"])
    q, k, v = h @ p["wq"], h @ p["wk"], h @ p["wv"]
    scale = 1.0 / math.sqrt(x.shape[-1])
    s = (q @ k.T) * scale
    e = np.exp(s - np.max(s, axis=-1, keepdims=True))
    att = e / np.sum(e, axis=-1, keepdims=True)
    ctx = att @ v
    x1 = x + ctx @ p["wo"] + p["bo"]
    h2, ln2 = _layernorm_forward(x1, p["ln2_g"], p["ln2_b"])
    u = h2 @ p["w1"] + p["c1"]
    t = np.tanh(c * (u + 0.044715 * u * u * u))
    act = 0.5 * u * (1.0 + t)
    out = x1 + act @ p["w2"] + p["c2"]
    loss = np.mean((out - target) ** 2)
    dout = 2.0 * (out - target) / out.size
    g = {"w2": act.T @ dout, "c2": dout.sum(axis=0)}
    dact = dout @ p["w2"].T
    du = dact * (0.5 * (1.0 + t) + 0.5 * u * (1.0 - t * t) * c * (1.0 + 3 * 0.044715 * u * u))
    g["w1"], g["c1"] = h2.T @ du, du.sum(axis=0)
    dx1, g["ln2_g"], g["ln2_b"] = _layernorm_backward(du @ p["w1"].T, p["ln2_g"], ln2)
    dx1 = dx1 + dout
    g["wo"], g["bo"] = ctx.T @ dx1, dx1.sum(axis=0)
    dctx = dx1 @ p["wo"].T
    datt = dctx @ v.T
    ds = att * (datt - np.sum(datt * att, axis=-1, keepdims=True)) * scale
    dq, dk, dv = ds @ k, ds.T @ q, att.T @ dctx
    g["wq"], g["wk"], g["wv"] = h.T @ dq, h.T @ dk, h.T @ dv
    dh = dq @ p["wq"].T + dk @ p["wk"].T + dv @ p["wv"].T
    _, g["ln1_g"], g["ln1_b"] = _layernorm_backward(dh, p["ln1_g"], ln1)
    return loss, g


def block_data(rng: np.random.Generator, dtype: Any) -> tuple:
    def w(n_in, n_out):
        return (rng.standard_normal((n_in, n_out)) / math.sqrt(n_in)).astype(dtype)

    def vec(n, mean=0.0):
        return (mean + 0.1 * rng.standard_normal(n)).astype(dtype)

    params = {"ln1_g": vec(WIDTH, 1.0), "ln1_b": vec(WIDTH), "wq": w(WIDTH, WIDTH),
              "wk": w(WIDTH, WIDTH), "wv": w(WIDTH, WIDTH), "wo": w(WIDTH, WIDTH),
              "bo": vec(WIDTH), "ln2_g": vec(WIDTH, 1.0), "ln2_b": vec(WIDTH),
              "w1": w(WIDTH, HIDDEN), "c1": vec(HIDDEN), "w2": w(HIDDEN, WIDTH),
              "c2": vec(WIDTH)}
    x = rng.standard_normal((SEQUENCE, WIDTH)).astype(dtype)
    target = rng.standard_normal((SEQUENCE, WIDTH)).astype(dtype)
    return params, x, target


WORKLOADS = {
    "mlp": (mlp_loss, mlp_value_and_grad, mlp_data, make_mlp_loss,
            f"MLP {'-'.join(map(str, MLP_SIZES))}, batch {MLP_BATCH}"),
    "block": (block_loss, block_value_and_grad, block_data, make_block_loss,
              f"transformer block, sequence {SEQUENCE}, width {WIDTH}"),
}


# ----------------------------------------------------------------------------- measures
def relative_errors(got: dict, expected: dict) -> dict[str, float]:
    """max|g - h| / max|h| for each parameter."""
    return {k: float(np.max(np.abs(got[k].astype(np.float64) - expected[k]))
                     / max(float(np.max(np.abs(expected[k]))), 1e-300)) for k in expected}


def check_gradients(name: str, dtype: Any, backend: str) -> dict[str, float]:
    """dynajit's value and gradients against the hand-written backward; returns the
    relative error per parameter (raises AssertionError past the tolerance)."""
    loss, by_hand, data, _, _ = WORKLOADS[name]
    params, x, y = data(np.random.default_rng(0), dtype)
    value, grads = dynajit.value_and_grad(loss, backend=backend)(params, x, y)
    expected_value, expected = by_hand(params, x, y)
    tol = TOLERANCE[np.dtype(dtype)]
    errors = relative_errors(grads, expected)
    for k, err in errors.items():
        assert grads[k].dtype == np.dtype(dtype), f"{name} {k}: dtype {grads[k].dtype}"
        assert err <= tol, f"{name} {dtype} {backend}: {k} relative error {err:.3g} > {tol}"
    assert abs(value - expected_value) <= tol * abs(expected_value)
    return errors


def saved_bytes(name: str, dtype: Any) -> dict[str, dict]:
    """The partition records of both partitioners (from ``dynajit.explain``)."""
    loss, _, data, _, _ = WORKLOADS[name]
    params, x, y = data(np.random.default_rng(0), dtype)
    out = {}
    for method in ("min_cut", "save_all"):
        report = dynajit.explain(dynajit.value_and_grad(loss, partitioner=method))(params, x, y)
        out[method] = report.partitions[0][2]
    return out


def median_time(run: Callable[[], Any], budget_s: float, min_runs: int) -> float:
    run()
    gc_was = gc.isenabled()
    gc.disable()
    try:
        times: list[float] = []
        start = time.perf_counter()
        while len(times) < min_runs or time.perf_counter() - start < budget_s:
            t0 = time.perf_counter()
            run()
            times.append(time.perf_counter() - t0)
            if len(times) >= 500:
                break
    finally:
        if gc_was:
            gc.enable()
    return statistics.median(times)


def _sgd(params: dict, grads: dict) -> None:
    for k in params:
        params[k] -= LR * grads[k]


def step_numpy(name: str) -> Callable:
    _, by_hand, _, _, _ = WORKLOADS[name]

    def step(params, x, y):
        value, grads = by_hand(params, x, y)
        _sgd(params, grads)
        return value

    return step


def step_value_and_grad(name: str, backend: str) -> Callable:
    vg = dynajit.value_and_grad(WORKLOADS[name][0], backend=backend)

    def step(params, x, y):
        value, grads = vg(params, x, y)
        _sgd(params, grads)
        return value

    return step


def step_compiled(name: str, backend: str) -> Callable:
    loss = WORKLOADS[name][0]

    @dynajit.compile(backend=backend, fullgraph=True)
    def step(params, x, y):
        value, grads = dynajit.value_and_grad(loss)(params, x, y)
        for k in params:
            params[k] -= LR * grads[k]
        return value

    return step


def step_jax(name: str, dtype: Any) -> Callable | None:
    try:
        import jax
        import jax.numpy as jnp
    except ImportError:
        return None
    jax.config.update("jax_enable_x64", True)
    loss = WORKLOADS[name][3](jnp)
    vg = jax.value_and_grad(loss)

    @jax.jit
    def update(params, x, y):
        value, grads = vg(params, x, y)
        return value, jax.tree_util.tree_map(lambda p, g: p - LR * g, params, grads)

    state: dict[str, Any] = {}

    def step(params, x, y):
        if "params" not in state:
            state["params"] = jax.device_put(params)
            state["x"], state["y"] = jax.device_put(x), jax.device_put(y)
        value, state["params"] = update(state["params"], state["x"], state["y"])
        value.block_until_ready()
        return value

    return step


def time_steps(name: str, dtype: Any, backends: list[str], budget_s: float, min_runs: int,
               rounds: int) -> dict[str, tuple[float, float]]:
    """Step time (s) and first-call time (s, compile included) per contender. The contenders
    take turns over ``rounds`` rounds (the order reversed every other round), each keeping
    its best median: load from other processes comes in bursts."""
    data = WORKLOADS[name][2]
    dynajit.reset()  # first calls include the compile (the llvm kernel disk cache stays)
    contenders: dict[str, Callable] = {"numpy": step_numpy(name)}
    for backend in backends:
        contenders[f"dynajit vg ({backend})"] = step_value_and_grad(name, backend)
        contenders[f"dynajit step ({backend})"] = step_compiled(name, backend)
    jax_step = step_jax(name, dtype)
    if jax_step is not None:
        contenders["jax"] = jax_step
    first, calls = {}, {}
    for label, step in contenders.items():
        params, x, y = data(np.random.default_rng(1), dtype)
        t0 = time.perf_counter()
        with dynajit.config.patch(raise_on_compile_error=True):
            step(params, x, y)
        first[label] = time.perf_counter() - t0
        calls[label] = functools.partial(step, params, x, y)
    best = dict.fromkeys(contenders, math.inf)
    for r in range(rounds):
        for label in (list(contenders) if r % 2 == 0 else list(contenders)[::-1]):
            best[label] = min(best[label], median_time(calls[label], budget_s / rounds,
                                                       min_runs))
    return {label: (best[label], first[label]) for label in contenders}


def _fmt_time(seconds: float) -> str:
    if seconds >= 1:
        return f"{seconds:.2f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds * 1e6:.0f} us"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dtypes", default="float32,float64")
    parser.add_argument("--backends", default="llvm,eager")
    parser.add_argument("--workloads", default="mlp,block")
    parser.add_argument("--quick", action="store_true", help="short timing (CI smoke)")
    parser.add_argument("--no-timing", action="store_true")
    parser.add_argument("--rounds", type=int, default=3, help="timing rounds (best kept)")
    parser.add_argument("--md", help="also write the tables to this Markdown file")
    args = parser.parse_args(argv)
    dtypes = [np.dtype(d) for d in args.dtypes.split(",")]
    backends = [b for b in args.backends.split(",") if b]
    names = args.workloads.split(",")
    budget, min_runs = (0.2, 3) if args.quick else (3.0, 5)
    now = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    lines = [f"dynajit autograd benchmark: {platform.processor() or platform.machine()}, "
             f"{os.cpu_count()} cores, python {platform.python_version()}, numpy "
             f"{np.__version__}, {now}",
             f"load average at start: {os.getloadavg()[0]:.2f}", ""]
    lines += ["saved for the backward (intermediates; inputs and outputs are free saves)", "",
              "| workload | dtype | min_cut | save_all | min_cut / save_all | min_cut "
              "recomputes |", "|---|---|---|---|---|---|"]
    for name in names:
        for dtype in dtypes:
            rec = saved_bytes(name, dtype)
            mc, sa = rec["min_cut"], rec["save_all"]
            recomputed = ", ".join(sorted(set(mc["recomputed"]))) or "nothing"
            lines.append(f"| {name} | {dtype} | {mc['saved_bytes'] / 2**20:.2f} MiB "
                         f"({len(mc['saved'])} values) | {sa['saved_bytes'] / 2**20:.2f} MiB "
                         f"({len(sa['saved'])} values) | "
                         f"{mc['saved_bytes'] / max(sa['saved_bytes'], 1):.2f} | "
                         f"{recomputed} |")
    lines += ["", "largest relative gradient error against the hand-written backward "
              "(max|g - h| / max|h|; limits 1e-5 float32, 1e-10 float64)", "",
              "| workload | dtype | " + " | ".join(backends) + " |",
              "|---|---|" + "---|" * len(backends)]
    for name in names:
        for dtype in dtypes:
            errs = [max(check_gradients(name, dtype, b).values()) for b in backends]
            lines.append(f"| {name} | {dtype} | " + " | ".join(f"{e:.2g}" for e in errs) + " |")
    if not args.no_timing:
        lines += ["", "training step (gradients + SGD update), median; first call (compile "
                  "included) in parentheses", ""]
        header = None
        for name in names:
            for dtype in dtypes:
                results = time_steps(name, dtype, backends, budget, min_runs,
                                     1 if args.quick else args.rounds)
                if header is None:
                    header = list(results)
                    lines += ["| workload | dtype | " + " | ".join(header) + " |",
                              "|---|---|" + "---|" * len(header)]
                cells = [f"{_fmt_time(results[c][0])} ({_fmt_time(results[c][1])})"
                         if c in results else "-" for c in header]
                lines.append(f"| {name} | {dtype} | " + " | ".join(cells) + " |")
        lines += ["", f"load average at end: {os.getloadavg()[0]:.2f}"]
    text = "\n".join(lines)
    print(text)
    if args.md:
        Path(args.md).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
