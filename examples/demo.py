"""dynajit demo: a small NumPy program (a two-layer MLP with layer norm, GELU and a
softmax cross-entropy loss) captured into a graph, checked, optimized, turned into Python
code, run by the eager backend, and compared with plain NumPy.

Run with `make demo`."""

from __future__ import annotations

import collections
import time

import numpy as np

import dynajit
from dynajit.capture import symbolic_trace
from dynajit.graph import (
    GraphModule,
    eliminate_common_subexpressions,
    eliminate_dead_code,
)


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

    t0 = time.perf_counter()
    traced = symbolic_trace(mlp_loss, *inputs)
    graph = traced.graph
    graph.verify()
    t1 = time.perf_counter()
    print(f"== captured graph ({len(graph.call_nodes())} op calls, "
          f"traced in {(t1 - t0) * 1e3:.1f} ms) ==")
    print(graph)

    removed = eliminate_common_subexpressions(graph) + eliminate_dead_code(graph)
    graph.verify()
    counts = collections.Counter(n.target.name for n in graph.call_nodes())
    print(f"\n== after CSE + DCE: {len(graph.call_nodes())} op calls ({removed} removed) ==")
    print(", ".join(f"{name} x{n}" for name, n in counts.most_common()))
    print(f"structural hash: {graph.structural_hash()[:16]}")

    gm = GraphModule(graph)
    print("\n== generated Python (eager backend) ==")
    print(gm.code)

    compiled = dynajit.lookup_backend("eager")(gm, list(inputs))
    got = compiled(*inputs)
    want = mlp_loss(*inputs)
    print("== result check against plain NumPy ==")
    for name, g, w in zip(("loss", "accuracy"), got, want):
        same = type(g) is type(w) and g.dtype == w.dtype and np.array_equal(g, w)
        print(f"{name:>9}: dynajit {g!r}  numpy {w!r}  {'identical' if same else 'DIFFERENT'}")
        if not same:
            raise SystemExit(f"demo failed: {name} differs from NumPy")
    print("\nThe graph ran op by op through NumPy (the eager backend); fused native "
          "backends and @dynajit.compile arrive with later issues.")


if __name__ == "__main__":
    main()
