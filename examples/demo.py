"""dynajit demo: a small NumPy program (a two-layer MLP with layer norm, GELU and a
softmax cross-entropy loss) compiled with @dynajit.compile: its bytecode is traced into one
guarded graph, turned into Python code, run by the eager backend, compared with plain NumPy,
and recompiled when an input's dtype changes.

Run with `make demo`."""

from __future__ import annotations

import collections
import time

import numpy as np

import dynajit
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


def main() -> None:
    rng = np.random.default_rng(0)
    batch, d_in, d_hidden, classes = 256, 64, 128, 10
    x = rng.standard_normal((batch, d_in)).astype(np.float32)
    w1 = (rng.standard_normal((d_in, d_hidden)) / np.sqrt(d_in)).astype(np.float32)
    b1 = np.zeros(d_hidden, np.float32)
    w2 = (rng.standard_normal((d_hidden, classes)) / np.sqrt(d_hidden)).astype(np.float32)
    b2 = np.zeros(classes, np.float32)
    labels = np.eye(classes, dtype=np.float32)[rng.integers(0, classes, batch)]
    inputs = (x, w1, b1, w2, b2, labels)

    print(f"dynajit {dynajit.__version__}: {len(dynajit.ops.OPS)} ops in the registry, "
          f"backends: {', '.join(dynajit.list_backends())}\n")

    # A backend that shows what it is given, then runs the graph with NumPy (eager).
    graphs = []

    def showing_backend(gm, example_inputs):
        graphs.append(gm)
        return dynajit.lookup_backend("eager")(gm, example_inputs)

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
    print("\n== generated graph code (eager backend) ==")
    print(gm.code)
    print("== entry code (replaces the function's frame) ==")
    print(entry.entry_source)

    want = mlp_loss(*inputs)
    print("== result check against plain NumPy ==")
    for name, g, w in zip(("loss", "accuracy"), got, want):
        same = type(g) is type(w) and g.dtype == w.dtype and np.array_equal(g, w)
        print(f"{name:>9}: dynajit {g!r}  numpy {w!r}  {'identical' if same else 'DIFFERENT'}")
        if not same:
            raise SystemExit(f"demo failed: {name} differs from NumPy")

    compiled(*inputs)
    after_second = len(graphs)
    compiled(x.astype(np.float64), *inputs[1:])
    cache = convert_frame.cache_of(mlp_loss.__code__)
    print(f"\nsecond call: cache hit (graphs compiled: {after_second}); with a float64 x: "
          f"recompiled because {cache.recompile_reasons[-1][0]} (graphs compiled: "
          f"{len(graphs)})")
    print("\nGraphs run op by op through NumPy (the eager backend); fused native "
          "backends arrive with later issues.")


if __name__ == "__main__":
    main()
