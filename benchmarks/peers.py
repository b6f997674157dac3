"""Column adapters: how each contender turns a workload into a timed callable. Each runs in
its own worker process (bench.py), so torch.compile's and dynajit's frame evaluators never
meet and one crash loses one column.

An adapter's `setup()` imports the library (raising ImportError when it is not installed) and
returns its version; `prepare(workload, inputs)` returns a `Prepared` call, or raises
`PeerUnsupported` when the contender cannot run the workload (numexpr has no expression for
it, numba rejects the unchanged function).
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Callable
from typing import Any

import numpy as np
from workloads import Workload, jax_ports


class PeerUnsupported(Exception):
    """The contender cannot express or compile this workload; the table shows n/a."""


@dataclasses.dataclass
class Prepared:
    """A ready call: `run()` computes one result (waiting for it where the library is
    asynchronous); `to_numpy(result)` converts it for the check against NumPy."""

    run: Callable[[], Any]
    to_numpy: Callable[[Any], np.ndarray] = np.asarray
    # Build the same call for other inputs of the same shapes (the second correctness check
    # uses fresh inputs; a compiled call must not be specialized to values).
    rebind: Callable[[tuple], Callable[[], Any]] | None = None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:200]


class NumpyColumn:
    """The plain NumPy function: the reference every ratio is taken against."""

    name = "numpy"

    def setup(self, options: dict) -> dict:
        return {"version": np.__version__}

    def prepare(self, workload: Workload, inputs: tuple) -> Prepared:
        fn = workload.fn
        return Prepared(lambda: fn(*inputs), rebind=lambda new: lambda: fn(*new))


class DynajitColumn:
    """`dynajit.compile(fn, backend=B)` on the unchanged function, recompiled from scratch
    per case (`dynajit.reset()`), so the first call's time is the compile time."""

    name = "dynajit"

    def setup(self, options: dict) -> dict:
        import dynajit

        self.dynajit = dynajit
        self.backend = options.get("backend", "llvm")
        if self.backend not in dynajit.list_backends():
            raise ImportError(f"dynajit has no backend {self.backend!r} (available: "
                              f"{', '.join(dynajit.list_backends())})")
        # A backend failure must show as an error cell, not as eager NumPy's time under
        # dynajit's name (by default dynajit warns and runs the frame eagerly).
        dynajit.config.raise_on_compile_error = True
        info = {"version": dynajit.__version__, "backend": self.backend}
        threads = getattr(dynajit.config, "threads", None)
        if threads is not None:
            info["threads"] = threads
        return info

    def prepare(self, workload: Workload, inputs: tuple) -> Prepared:
        self.dynajit.reset()
        compiled = self.dynajit.compile(workload.fn, backend=self.backend)
        return Prepared(lambda: compiled(*inputs), rebind=lambda new: lambda: compiled(*new))


def _numba_reason(exc: BaseException) -> str:
    """The useful part of a numba typing error: its innermost reason and the user line."""
    text = str(exc)
    inner = re.findall(r"^\s*(?:TypingError|NumbaNotImplementedError): (.+)$", text, re.M)
    line = re.findall(r'File "workloads\.py", line (\d+)', text)
    if not inner:
        return _first_line(exc)
    return f"{inner[0].strip()}" + (f" (workloads.py line {line[-1]})" if line else "")


class NumbaColumn:
    """`numba.njit` on the unchanged function (no parallel=True: that would be a change)."""

    name = "numba"

    def setup(self, options: dict) -> dict:
        import numba

        self.numba = numba
        return {"version": numba.__version__, "threads": 1}

    def prepare(self, workload: Workload, inputs: tuple) -> Prepared:
        jitted = self.numba.njit(workload.fn)
        try:
            jitted.compile(tuple(self.numba.typeof(a) for a in inputs))
        except (self.numba.core.errors.TypingError,
                self.numba.core.errors.UnsupportedError) as e:
            raise PeerUnsupported(f"numba rejects the unchanged function: "
                                  f"{_numba_reason(e)}") from None
        return Prepared(lambda: jitted(*inputs), rebind=lambda new: lambda: jitted(*new))


class NumexprColumn:
    """`numexpr.evaluate` of an expression string written for the workload; workloads that
    numexpr cannot express (row reductions broadcast back, matrix products) are n/a."""

    name = "numexpr"

    def setup(self, options: dict) -> dict:
        import numexpr

        self.ne = numexpr
        return {"version": numexpr.__version__, "threads": numexpr.get_num_threads()}

    def prepare(self, workload: Workload, inputs: tuple) -> Prepared:
        if workload.numexpr_fn is None:
            raise PeerUnsupported("numexpr cannot express this workload")
        ne, fn = self.ne, workload.numexpr_fn
        return Prepared(lambda: fn(ne, *inputs), rebind=lambda new: lambda: fn(ne, *new))


class JaxColumn:
    """`jax.jit` of the workload's `jax.numpy` port, float64 enabled, inputs placed on the
    device beforehand; each call waits with `block_until_ready`."""

    name = "jax"

    def setup(self, options: dict) -> dict:
        import jax
        import jax.numpy as jnp

        jax.config.update("jax_enable_x64", True)  # else float64 inputs silently become f32
        self.jax = jax
        self.ports = jax_ports(jnp)
        return {"version": jax.__version__, "device": str(jax.devices()[0])}

    def prepare(self, workload: Workload, inputs: tuple) -> Prepared:
        jitted = self.jax.jit(self.ports[workload.name])

        def bind(args: tuple) -> Callable[[], Any]:
            placed = [self.jax.device_put(a) for a in args]
            return lambda: jitted(*placed).block_until_ready()

        return Prepared(bind(inputs), to_numpy=np.asarray, rebind=bind)


class TorchColumn:
    """`torch.compile(fn, dynamic=False)` on the unchanged NumPy function (torch traces NumPy
    calls itself); `torch._dynamo.reset()` per case so each size compiles afresh and no
    case is run past torch's recompile limit (which falls back to eager)."""

    name = "torch"

    def setup(self, options: dict) -> dict:
        # Compile in this process: inductor's default pool of compile subprocesses warms up
        # in the background and, on a small machine, steals cores from the timed calls.
        os.environ.setdefault("TORCHINDUCTOR_COMPILE_THREADS", "1")
        import torch
        import torch._dynamo

        self.torch = torch
        return {"version": torch.__version__, "threads": torch.get_num_threads()}

    def prepare(self, workload: Workload, inputs: tuple) -> Prepared:
        self.torch._dynamo.reset()
        compiled = self.torch.compile(workload.fn, dynamic=False)
        return Prepared(lambda: compiled(*inputs), rebind=lambda new: lambda: compiled(*new))


COLUMNS: dict[str, type] = {c.name: c for c in [
    NumpyColumn, DynajitColumn, NumbaColumn, NumexprColumn, JaxColumn, TorchColumn]}
PEERS = ["numba", "numexpr", "jax", "torch"]


def cpu_count() -> int:
    """Cores this process may run on (what the libraries' thread pools default to)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1
