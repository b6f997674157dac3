"""Running a schedule on the GPU: every kernel is built (``codegen``), turned into PTX for the
device's architecture and loaded once at compile time with its parameter array already in
device memory; a call then only moves data it must and launches kernels on the legacy
default stream.

Data movement (documented in docs/gpu.md): NumPy inputs are copied to the device
(C-contiguous) and outputs copied back as NumPy arrays; inputs exposing
``__cuda_array_interface__`` are used in place and then every output is a
``dynajit.cuda.DeviceArray``. Steps that are not kernels (extern ops such as matmul, views
made by NumPy, NumPy scalars) run on the host: their device arguments are copied to the
host and their results copied to the device when a kernel reads them (a host round trip)."""

from __future__ import annotations

from typing import Any

import numpy as np

from dynajit import cuda
from dynajit.backends.loopir.scheduler import AllocStep, CallStep, KernelStep, Schedule, Var
from dynajit.backends.ptx.codegen import BLOCK, ENTRY, build_kernel, compile_ptx
from dynajit.cuda.module import PreparedLaunch
from dynajit.errors import CompileError
from dynajit.trace import structured

# Blocks per SM for grid-stride launches (enough resident warps to hide memory latency).
FLAT_BLOCKS_PER_SM = 8
ROW_BLOCKS_PER_SM = 8
FULL_BLOCKS_PER_SM = 4


def arch_of(info: Any) -> str:
    """The PTX target for a device: its own architecture up to sm_90 (newer GPUs run sm_90
    PTX through the driver's JIT)."""
    major, minor = info.compute_capability
    return "sm_90" if (major, minor) >= (9, 0) else f"sm_{major}{minor}"


def stand_in(x: Any) -> Any:
    """What the scheduler sees for an input: NumPy arrays become C-contiguous (they are
    copied in that layout), device arrays keep their element strides."""
    if isinstance(x, np.ndarray):
        return np.empty(x.shape, x.dtype)
    if hasattr(x, "__cuda_array_interface__"):
        d = cuda.as_device(x)
        item = d.dtype.itemsize
        if item and all(s % item == 0 for s in d.strides) and not d.is_c_contiguous:
            base = np.zeros(1, d.dtype)
            return np.lib.stride_tricks.as_strided(base, d.shape, d.strides, writeable=False)
        return np.empty(d.shape, d.dtype)
    return x


class _Launch:
    def __init__(self, step: KernelStep, info: Any, arch: str):
        kernel = step.kernel
        sms = info.multiprocessors
        full_blocks = 1
        if not kernel.outer and any(st.inner for st in kernel.stages):
            n = 1
            for s in kernel.stages[0].inner:
                n *= s
            full_blocks = max(1, min(-(-n // BLOCK), sms * FULL_BLOCKS_PER_SM))
        source = build_kernel(kernel, full_blocks)
        self.source = source
        self.ptx = compile_ptx(source.ir_text, arch)
        structured.artifact("dynajit_ptx", lambda: self.ptx)
        self.function = cuda.load_module(self.ptx).function(ENTRY)
        self.params = cuda.from_host(np.array(source.params + [0], np.int64))
        # the int64 after the parameters: nonzero once sin/cos/tan met a huge argument
        self.range_flag = cuda.DeviceArray((1,), np.int64, self.params.ptr + 8 * len(
            source.params), owner=self.params) if source.range_checked else None
        self.buffers = source.buffers
        per_sm = ROW_BLOCKS_PER_SM if source.shape == "rows" else FLAT_BLOCKS_PER_SM
        unit = source.rows_per_block if source.shape == "rows" else BLOCK
        self.grid = max(1, min(-(-source.total // unit), sms * per_sm))
        self.scratch = None
        if source.shape == "full":
            self.grid = source.blocks
            self.scratch = cuda.empty((3 * source.blocks,), np.int64)
            self.phases = (PreparedLaunch(self.function, self.grid, BLOCK),
                           PreparedLaunch(self.function, 1, BLOCK))
            # the arguments after the buffers: parameter array, scratch (, phase)
            self.fixed = [self.params.ptr, self.scratch.ptr]
        else:
            self.run = PreparedLaunch(self.function, self.grid, BLOCK)
            self.fixed = [self.params.ptr]

    def __call__(self, arrays: list[Any]) -> None:
        args = [a.ptr for a in arrays] + self.fixed
        if self.scratch is not None:
            self.phases[0](args + [0])
            self.phases[1](args + [1])
        elif self.source.total:
            self.run(args)


class PTXGraph:
    """The compiled form of one schedule; ``run(*inputs)`` is the backend's callable.
    ``eager`` (the graph's NumPy form) recomputes a call whose sin/cos/tan met an argument
    past the polynomials' range, which the GPU has no exact function for."""

    def __init__(self, sched: Schedule, example_inputs: list, eager: Any):
        self.eager = eager
        info = cuda.device_info()  # CudaUnavailable when there is no driver or GPU
        arch = arch_of(info)
        self.sched = sched
        self.layouts = [stand_in(x).strides if isinstance(x, np.ndarray)
                        or hasattr(x, "__cuda_array_interface__") else None
                        for x in example_inputs]
        self.launches: dict[int, _Launch] = {}
        self.constants: dict[str, tuple[Any, Any]] = {}
        for k, step in enumerate(sched.steps):
            if isinstance(step, KernelStep):
                self.launches[k] = _Launch(step, info, arch)
            elif isinstance(step, CallStep) and step.label == "constant" and not step.args:
                value = step.fn()
                dev = cuda.from_host(np.asarray(value, order="C")) if isinstance(
                    value, (np.ndarray, np.generic)) else None
                self.constants[step.var] = (value, dev)
        self.range_flags = [launch.range_flag for launch in self.launches.values()
                            if launch.range_flag is not None]

    # ---------------------------------------------------------------------------- moving
    def _input(self, x: Any, layout: Any) -> tuple[Any, bool]:
        if isinstance(x, np.ndarray):
            return cuda.from_host(np.asarray(x, order="C")), False
        if hasattr(x, "__cuda_array_interface__"):
            d = cuda.as_device(x)
            if layout is not None and d.strides != layout and d.size > 1:
                if layout != np.empty(d.shape, d.dtype).strides:
                    raise CompileError(f"a device input with strides {d.strides} reached a "
                                       f"kernel compiled for strides {layout}")
                d = cuda.from_host(d.to_host())  # a host round trip to C order
            return d, True
        return x, False

    @staticmethod
    def _host(v: Any) -> Any:
        return v.to_host() if isinstance(v, cuda.DeviceArray) else v

    def _device(self, name: str, env: dict[str, Any]) -> Any:
        if name in self.constants and self.constants[name][1] is not None:
            return self.constants[name][1]
        v = env[name]
        if not isinstance(v, cuda.DeviceArray):
            v = cuda.from_host(np.asarray(v, order="C"))
            env[name] = v
        return v

    def _resolve_host(self, value: Any, env: dict[str, Any]) -> Any:
        if isinstance(value, Var):
            return self._host(env[value.name])
        if isinstance(value, tuple):
            return tuple(self._resolve_host(v, env) for v in value)
        if isinstance(value, list):
            return [self._resolve_host(v, env) for v in value]
        if isinstance(value, dict):
            return {k: self._resolve_host(v, env) for k, v in value.items()}
        return value

    # ---------------------------------------------------------------------------- run
    def run(self, *inputs: Any) -> Any:
        env: dict[str, Any] = {}
        on_device = False
        for name, x, layout in zip(self.sched.inputs, inputs, self.layouts, strict=True):
            env[name], dev = self._input(x, layout)
            on_device = on_device or dev
        for k, step in enumerate(self.sched.steps):
            if isinstance(step, AllocStep):
                env[step.var] = env[step.reuse] if step.reuse else cuda.empty(step.shape,
                                                                               step.dtype)
            elif isinstance(step, KernelStep):
                launch = self.launches[k]
                launch([self._device(b, env) for b in launch.buffers])
            elif step.var in self.constants:
                env[step.var] = self.constants[step.var][0]
            elif (step.label == "contiguous" and isinstance(step.args[0], Var)
                  and isinstance(env[step.args[0].name], cuda.DeviceArray)
                  and env[step.args[0].name].is_c_contiguous):
                env[step.var] = env[step.args[0].name]
            else:
                args = self._resolve_host(step.args, env)
                kwargs = self._resolve_host(step.kwargs, env)
                env[step.var] = step.fn(*args, **kwargs)

        if self.range_flags and self._range_exceeded():
            return self._recompute_on_host(inputs, on_device)

        def out(v: Any) -> Any:
            if not isinstance(v, Var):
                return v
            value = env[v.name]
            if v.name in self.sched.scalar_outputs:
                return np.asarray(self._host(value))[()]
            if on_device:
                if isinstance(value, (np.ndarray, np.generic)):
                    return cuda.from_host(np.asarray(value, order="C"))
                return value
            return self._host(value)

        outs = self.sched.outputs
        return tuple(out(v) for v in outs) if isinstance(outs, tuple) else out(outs)

    def _range_exceeded(self) -> bool:
        """Read (and clear) the kernels' range flags; this waits for the kernels."""
        hit = False
        for flag in self.range_flags:
            if flag.to_host()[0]:
                flag.copy_from_host(np.zeros(1, np.int64))
                hit = True
        return hit

    def _recompute_on_host(self, inputs: tuple, on_device: bool) -> Any:
        result = self.eager(*[self._host(cuda.as_device(x)) if hasattr(
            x, "__cuda_array_interface__") else x for x in inputs])

        def back(v: Any) -> Any:
            if on_device and isinstance(v, np.ndarray):
                return cuda.from_host(v)
            return v

        return tuple(back(v) for v in result) if isinstance(result, tuple) else back(result)
