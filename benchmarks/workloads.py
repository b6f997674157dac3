"""The benchmark workloads: plain NumPy functions (what dynajit, numba and torch.compile get,
unchanged), their `jax.numpy` ports, numexpr versions where numexpr can express them, and the
inputs, byte counts and flop counts the runner needs.

Each workload is sized by an element count (about 1e3, 1e5, 1e7); `Workload.inputs` picks
the shape whose main array has about that many elements. Inputs are standard normal draws
from a seeded generator, so every process of a run (one per peer) rebuilds the same arrays.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any

import numpy as np

ROW = 1024  # row length of softmax and layernorm, as in the issue
MLP_WIDTH = 256  # every layer of the MLP is this wide, so work grows with the batch
EPS = 1e-5


# --- the NumPy functions (the code users write; peers get them unchanged) -------------------

def gelu(x):
    return 0.5 * x * (1 + np.tanh(0.7978845608 * (x + 0.044715 * x**3)))


def softmax(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def layernorm(x, w, b):
    mu = x.mean(axis=-1, keepdims=True)
    xc = x - mu
    var = (xc * xc).mean(axis=-1, keepdims=True)
    return xc / np.sqrt(var + 1e-5) * w + b


def elementwise(a, b, c, d):
    return a * np.sin(b) + c * np.cos(d) - 0.5 * a * d


def mlp(x, w1, b1, w2, b2, w3, b3):
    h = np.maximum(x @ w1 + b1, 0.0)
    h = np.tanh(h @ w2 + b2)
    return h @ w3 + b3


def diffusion(u):
    k = 0.1
    out = u.copy()
    out[1:-1, 1:-1] = u[1:-1, 1:-1] + k * (
        u[:-2, 1:-1] + u[2:, 1:-1] + u[1:-1, :-2] + u[1:-1, 2:] - 4 * u[1:-1, 1:-1])
    return out


def fused50(x, y):
    """The compile-time probe: 50 pointwise ops (arithmetic, tanh, exp) that a fusing backend
    turns into one kernel: 7 iterations of 7 ops, then one add."""
    for _ in range(7):
        x = np.tanh(x * 1.01 + y) + x
        y = np.exp(x * -0.5) * y
    return x + y


# --- jax.numpy ports (jax arrays are immutable: the stencil writes with .at[].set) ----------

def jax_ports(jnp: Any) -> dict[str, Callable]:
    """The `jax.numpy` port of every workload, by workload name."""

    def j_gelu(x):
        return 0.5 * x * (1 + jnp.tanh(0.7978845608 * (x + 0.044715 * x**3)))

    def j_softmax(x):
        e = jnp.exp(x - x.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)

    def j_layernorm(x, w, b):
        mu = x.mean(axis=-1, keepdims=True)
        xc = x - mu
        var = (xc * xc).mean(axis=-1, keepdims=True)
        return xc / jnp.sqrt(var + 1e-5) * w + b

    def j_elementwise(a, b, c, d):
        return a * jnp.sin(b) + c * jnp.cos(d) - 0.5 * a * d

    def j_mlp(x, w1, b1, w2, b2, w3, b3):
        h = jnp.maximum(x @ w1 + b1, 0.0)
        h = jnp.tanh(h @ w2 + b2)
        return h @ w3 + b3

    def j_diffusion(u):
        k = 0.1
        inner = u[1:-1, 1:-1] + k * (
            u[:-2, 1:-1] + u[2:, 1:-1] + u[1:-1, :-2] + u[1:-1, 2:] - 4 * u[1:-1, 1:-1])
        return u.at[1:-1, 1:-1].set(inner)

    return {"gelu": j_gelu, "softmax": j_softmax, "layernorm": j_layernorm,
            "elementwise": j_elementwise, "mlp": j_mlp, "diffusion": j_diffusion}


# --- numexpr versions (None where numexpr cannot express the workload: row reductions with
# broadcasting back, matrix products) ------------------------------------------------------

def _ne(ne, expr: str, dtype: np.dtype, arrays: dict, **constants: float):
    # Float literals in a numexpr string are float64 and promote float32 arrays; constants
    # passed as scalars of the arrays' dtype keep NumPy's (NEP 50) result dtype.
    local = dict(arrays)
    local.update({k: dtype.type(v) for k, v in constants.items()})
    return ne.evaluate(expr, local_dict=local)


def _ne_gelu(ne, x):
    return _ne(ne, "h * x * (1 + tanh(c * (x + a * x**3)))", x.dtype, {"x": x},
               h=0.5, c=0.7978845608, a=0.044715)


def _ne_elementwise(ne, a, b, c, d):
    return _ne(ne, "a * sin(b) + c * cos(d) - h * a * d", a.dtype,
               {"a": a, "b": b, "c": c, "d": d}, h=0.5)


def _ne_diffusion(ne, u):
    # numexpr computes the interior from the five shifted views; the border is copied as
    # in the NumPy function.
    out = u.copy()
    out[1:-1, 1:-1] = _ne(ne, "m + k * (n + s + w + e - 4 * m)", u.dtype,
                          {"m": u[1:-1, 1:-1], "n": u[:-2, 1:-1], "s": u[2:, 1:-1],
                           "w": u[1:-1, :-2], "e": u[1:-1, 2:]}, k=0.1)
    return out


# --- inputs ---------------------------------------------------------------------------------

def _normal(rng: np.random.Generator, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    return rng.standard_normal(shape, dtype=np.float64).astype(dtype)


def _flat(size: int) -> tuple[int, ...]:
    return (size,)


def _rows(size: int) -> tuple[int, ...]:
    return (max(1, round(size / ROW)), ROW)


def _square(size: int) -> tuple[int, ...]:
    side = max(3, round(math.sqrt(size)))
    return (side, side)


def _batch(size: int) -> tuple[int, ...]:
    return (max(1, round(size / MLP_WIDTH)), MLP_WIDTH)


def _in_gelu(rng, size, dtype):
    return (_normal(rng, _flat(size), dtype),)


def _in_softmax(rng, size, dtype):
    return (_normal(rng, _rows(size), dtype),)


def _in_layernorm(rng, size, dtype):
    return (_normal(rng, _rows(size), dtype), 1 + 0.1 * _normal(rng, (ROW,), dtype),
            0.1 * _normal(rng, (ROW,), dtype))


def _in_elementwise(rng, size, dtype):
    return tuple(_normal(rng, _flat(size), dtype) for _ in range(4))


def _in_mlp(rng, size, dtype):
    width = MLP_WIDTH
    scale = dtype.type(1 / math.sqrt(width))  # keeps activations O(1) through the layers
    x = _normal(rng, _batch(size), dtype)
    layers = []
    for _ in range(3):
        layers += [_normal(rng, (width, width), dtype) * scale,
                   0.1 * _normal(rng, (width,), dtype)]
    return (x, *layers)


def _in_diffusion(rng, size, dtype):
    return (_normal(rng, _square(size), dtype),)


def _mlp_flops(inputs: tuple[np.ndarray, ...]) -> float:
    batch = inputs[0].shape[0]
    return float(sum(2 * batch * w.shape[0] * w.shape[1] for w in inputs[1::2]))


@dataclasses.dataclass(frozen=True)
class Workload:
    """One benchmark workload: the NumPy function and how to build and count its inputs."""

    name: str
    fn: Callable
    make_inputs: Callable[[np.random.Generator, int, np.dtype], tuple]
    numexpr_fn: Callable | None = None
    flops: Callable[[tuple], float] | None = None  # only where arithmetic can bound the time
    any_size: bool = False  # the shape is the element count itself (usable at 8 elements)

    def inputs(self, size: int, dtype: str | np.dtype, seed: int = 0) -> tuple:
        """Fresh inputs with about ``size`` elements in the main array, reproducible by seed."""
        rng = np.random.default_rng([seed, size, np.dtype(dtype).num])
        return self.make_inputs(rng, size, np.dtype(dtype))


WORKLOADS: dict[str, Workload] = {w.name: w for w in [
    Workload("gelu", gelu, _in_gelu, numexpr_fn=_ne_gelu, any_size=True),
    Workload("softmax", softmax, _in_softmax),
    Workload("layernorm", layernorm, _in_layernorm),
    Workload("elementwise", elementwise, _in_elementwise, numexpr_fn=_ne_elementwise,
             any_size=True),
    Workload("mlp", mlp, _in_mlp, flops=_mlp_flops),
    Workload("diffusion", diffusion, _in_diffusion, numexpr_fn=_ne_diffusion),
]}


def bytes_floor(inputs: tuple, output: np.ndarray) -> int:
    """Bytes a kernel must move at least: every input read once, the output written once."""
    return int(sum(np.asarray(a).nbytes for a in inputs) + np.asarray(output).nbytes)


def tolerance(dtype: np.dtype) -> float:
    """Relative tolerance of the result check: loose enough for other summation orders and
    math libraries (a few ulp through a handful of ops), tight enough that a wrong formula,
    a lost precision (float64 computed in float32) or an unwritten element fails."""
    return {np.dtype(np.float32): 2e-4, np.dtype(np.float64): 1e-9}.get(np.dtype(dtype), 1e-6)


def check(got: Any, expected: np.ndarray) -> tuple[bool, str]:
    """(ok, reason): dtype and shape equal NumPy's and values agree within `tolerance`.
    The absolute term scales with the largest reference value, so tiny elements near zero
    (GELU's negative tail) are judged against the result's scale."""
    got = np.asarray(got)
    if got.dtype != expected.dtype:
        return False, f"dtype {got.dtype} != {expected.dtype}"
    if got.shape != expected.shape:
        return False, f"shape {got.shape} != {expected.shape}"
    rtol = tolerance(expected.dtype)
    scale = float(np.max(np.abs(expected))) if expected.size else 0.0
    if not np.allclose(got, expected, rtol=rtol, atol=rtol * scale, equal_nan=True):
        err = np.abs(got.astype(np.float64) - expected) / max(scale, 1e-300)
        return False, f"max error {np.nanmax(err):.3g} x max|ref| (tolerance {rtol:g})"
    return True, ""
