"""dynajit demo: a small NumPy program (a two-layer MLP with layer norm, GELU and a
softmax cross-entropy loss) compiled with @dynajit.compile: its bytecode is traced into one
guarded graph, fused into native kernels by the llvm backend (matmuls stay NumPy's BLAS),
compared with plain NumPy, timed against it, and recompiled when an input's dtype changes.

Run with `make demo`."""

from __future__ import annotations

import collections
import time

import numpy as np

import dynajit
from dynajit.backends.llvm import LLVMTarget
from dynajit.backends.loopir.scheduler import describe, schedule
from dynajit.capture import convert_frame


def layer_norm(x, eps=1e-5):
    mu = x.mean(axis=-1, keepdims=True)
    var = ((x - mu) ** 2).mean(axis=-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps)


def gelu(x):
    return 0.5 * x * (1.0 + np.tanh(0.7978845608 * (x + 0.044715 * x**3)))


def mlp_loss(x, w1, b1, w2, b2, labels_onehot):
    h = gelu(layer_norm(x @ w1 + b1))
    logits = h @ w2 + b2
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    loss = -(labels_onehot * log_probs).sum(axis=1).mean()
    accuracy = (logits.argmax(axis=1) == labels_onehot.argmax(axis=1)).mean()
    return loss, accuracy


def make_inputs(batch: int, dtype: type) -> tuple:
    rng = np.random.default_rng(0)
    d_in, d_hidden, classes = 64, 128, 10
    x = rng.standard_normal((batch, d_in)).astype(dtype)
    w1 = (rng.standard_normal((d_in, d_hidden)) / np.sqrt(d_in)).astype(dtype)
    b1 = np.zeros(d_hidden, dtype)
    w2 = (rng.standard_normal((d_hidden, classes)) / np.sqrt(d_hidden)).astype(dtype)
    b2 = np.zeros(classes, dtype)
    labels = np.eye(classes, dtype=dtype)[rng.integers(0, classes, batch)]
    return x, w1, b1, w2, b2, labels


def main() -> None:
    inputs = make_inputs(256, np.float32)
    x = inputs[0]

    print(f"dynajit {dynajit.__version__}: {len(dynajit.ops.OPS)} ops in the registry, "
          f"backends: {', '.join(dynajit.list_backends())}\n")

    # A backend that shows what it is given, then compiles it with the llvm backend.
    graphs = []
    schedules = []

    def showing_backend(gm, example_inputs):
        graphs.append(gm)
        schedules.append(describe(schedule(gm.graph, example_inputs, LLVMTarget())))
        return dynajit.lookup_backend("llvm")(gm, example_inputs)

    compiled = dynajit.compile(mlp_loss, backend=showing_backend)
    t0 = time.perf_counter()
    got = compiled(*inputs)
    t1 = time.perf_counter()
    (gm,) = graphs
    graph = gm.graph
    counts = collections.Counter(n.target.name for n in graph.call_nodes())
    print(f"== @dynajit.compile captured 1 graph of {len(graph.call_nodes())} ops "
          f"(first call, tracing + compiling: {(t1 - t0) * 1e3:.1f} ms) ==")
    print(", ".join(f"{name} x{n}" for name, n in counts.most_common()))
    print(graph)

    entry = convert_frame.cache_of(mlp_loss.__code__).entries[0]
    print("\n== guards (checked before every call) ==")
    print(entry.guards)
    print("\n== kernels and extern steps (llvm backend) ==")
    print(schedules[0])
    print("== entry code (replaces the function's frame) ==")
    print(entry.entry_source)

    want = mlp_loss(*inputs)
    print("== result check against plain NumPy ==")
    for name, g, w in zip(("loss", "accuracy"), got, want):
        # Kernels sum in vector partial sums, NumPy pairwise: the last bits may differ.
        same = (type(g) is type(w) and g.dtype == w.dtype
                and np.allclose(g, w, rtol=1e-5, atol=0))
        print(f"{name:>9}: dynajit {g!r}  numpy {w!r}  {'equal' if same else 'DIFFERENT'}")
        if not same:
            raise SystemExit(f"demo failed: {name} differs from NumPy")

    compiled(*inputs)
    after_second = len(graphs)
    compiled(x.astype(np.float64), *inputs[1:])
    cache = convert_frame.cache_of(mlp_loss.__code__)
    print(f"\nsecond call: cache hit (graphs compiled: {after_second}); with a float64 x: "
          f"recompiled because {cache.recompile_reasons[-1][0]} (graphs compiled: "
          f"{len(graphs)})")
    big = make_inputs(4096, np.float32)
    fast = dynajit.compile(mlp_loss)
    fast(*big)
    t_numpy = _best(lambda: mlp_loss(*big))
    t_dynajit = _best(lambda: fast(*big))
    print(f"\nbatch 4096: NumPy {t_numpy * 1e3:.2f} ms, dynajit {t_dynajit * 1e3:.2f} ms "
          f"({t_numpy / t_dynajit:.1f}x); benchmarks/bench.py has the full comparison.")


def _best(fn, repeat: int = 7) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


if __name__ == "__main__":
    main()
