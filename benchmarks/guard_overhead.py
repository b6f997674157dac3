"""Time per call of a compiled guard set, the check a warm cache hit pays before the
compiled entry runs. Workloads: three C-contiguous float32 arrays (type, dtype, shape,
layout, no aliasing), the same with strided views, and a mixed set (arrays, a global module,
a float global, a closure constant, an attribute and dict items).

    python benchmarks/guard_overhead.py            # full run
    python benchmarks/guard_overhead.py --smoke    # one quick repetition (CI)

Times are this thread's CPU time (best of several repetitions, minus an empty call), so
other processes on a busy machine do not inflate them; on an idle machine they equal wall
time.
"""

from __future__ import annotations

import argparse
import sys
import time
import timeit
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dynajit.guards import (  # noqa: E402
    ArrayGuard,
    AttrSource,
    ClosureSource,
    DictKeysGuard,
    EqualsGuard,
    GlobalSource,
    GuardSet,
    IdGuard,
    ItemSource,
    LocalSource,
    NoAliasGuard,
    TypeGuard,
)

SCALE = 2.0


def three(x, y, z):
    return x * y + z


class Layer:
    def __init__(self) -> None:
        self.w = np.ones((64, 64), np.float32)


def make_mixed():
    k = 3

    def mixed(x, layer, params):
        return np.tanh(x @ layer.w + params["b"]) * SCALE * k

    return mixed


def array_set(fn, arrays: dict[str, np.ndarray]) -> GuardSet:
    gs = GuardSet.for_function(fn)
    for name, a in arrays.items():
        gs.add(ArrayGuard.of(LocalSource(name), a))
    gs.add(NoAliasGuard([LocalSource(n) for n in arrays]))
    return gs


def workloads() -> list[tuple[str, GuardSet, tuple]]:
    rng = np.random.default_rng(0)
    x, y, z = (rng.standard_normal((128, 4)).astype(np.float32) for _ in range(3))
    base = rng.standard_normal((3, 128, 8)).astype(np.float32)
    xv, yv, zv = base[0, :, ::2], base[1, :, ::2], base[2, :, ::2]
    mixed = make_mixed()
    layer, params = Layer(), {"w": np.ones(64, np.float32), "b": np.zeros(64, np.float32)}
    xm = np.ones((8, 64), np.float32)
    gm = GuardSet.for_function(mixed)
    L = LocalSource
    gm.extend([
        ArrayGuard.of(L("x"), xm),
        TypeGuard(L("layer"), Layer),
        TypeGuard(L("params"), dict),
        DictKeysGuard(L("params"), tuple(params)),
        ArrayGuard.of(AttrSource(L("layer"), "w"), layer.w),
        ArrayGuard.of(ItemSource(L("params"), "b"), params["b"]),
        IdGuard(GlobalSource("np"), np),
        IdGuard(AttrSource(GlobalSource("np"), "tanh"), np.tanh),
        EqualsGuard(GlobalSource("SCALE"), SCALE),
        EqualsGuard(ClosureSource("k", 0), 3),
    ])
    return [
        ("3 C-contiguous arrays + no-alias", array_set(three, {"x": x, "y": y, "z": z}),
         (x, y, z)),
        ("3 strided views of one buffer + no-alias",
         array_set(three, {"x": xv, "y": yv, "z": zv}), (xv, yv, zv)),
        ("mixed: 3 arrays, attr, items, globals, closure", gm, (xm, layer, params)),
    ]


def per_call_ns(fn, args: tuple, number: int, repeat: int) -> float:
    timer = time.thread_time
    best = min(timeit.repeat(lambda: fn(*args), number=number, repeat=repeat, timer=timer))
    empty = min(timeit.repeat(lambda: None, number=number, repeat=repeat, timer=timer))
    return (best - empty) / number * 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="one quick repetition")
    opts = parser.parse_args()
    number, repeat = (1000, 1) if opts.smoke else (200_000, 9)
    print(f"Python {sys.version.split()[0]}, NumPy {np.__version__}")
    for name, gs, args in workloads():
        check = gs.compile()
        assert check(*args), gs.explain(*args)
        print(f"{name:50s} {per_call_ns(check, args, number, repeat):7.0f} ns/call "
              f"({len(gs)} guards)")


if __name__ == "__main__":
    main()
