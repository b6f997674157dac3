"""GPU arrays (anything exposing ``__cuda_array_interface__``) are traced like ndarrays:
graph inputs with their shape and dtype, guarded by a DEVICE guard on type, typestr, shape
and strides. Checked without a GPU through a stand-in class and a user backend; a CPU
backend refuses them with a clear error."""

from __future__ import annotations

import numpy as np
import pytest

import dynajit
from dynajit.errors import CompileError
from dynajit.guards import DeviceArrayGuard, LocalSource


class FakeGPUArray:
    """Only the interface: what the tracer may read of a GPU array."""

    def __init__(self, shape, dtype, strides=None):
        self.shape, self.dtype = tuple(shape), np.dtype(dtype)
        self._strides = strides

    def __setitem__(self, index, value):  # eager code may write into it
        pass

    @property
    def __cuda_array_interface__(self):
        return {"shape": self.shape, "typestr": self.dtype.str, "strides": self._strides,
                "data": (0x1000, False), "version": 3}


class Recorder:
    def __init__(self):
        self.calls = []

    def __call__(self, gm, example_inputs):
        self.calls.append((gm, example_inputs))
        return lambda *args: args[:1]  # the graph's one output: its first input


def _softmax(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def test_gpu_arrays_become_graph_inputs_with_their_meta():
    dynajit.reset()
    backend = Recorder()
    x = FakeGPUArray((4, 8), np.float32)
    result = dynajit.compile(_softmax, backend=backend)(x)
    (gm, examples), = backend.calls
    assert examples == [x] and result is x
    placeholder, = gm.graph.placeholders
    assert placeholder.meta.shape == (4, 8) and placeholder.meta.dtype == np.float32


def test_gpu_array_guards_recompile_on_layout_and_type_changes():
    dynajit.reset()
    backend = Recorder()
    f = dynajit.compile(lambda x: x * 2.0 + 1.0, backend=backend)
    f(FakeGPUArray((4, 8), np.float32))
    f(FakeGPUArray((4, 8), np.float32))  # same layout: the entry is reused
    assert len(backend.calls) == 1
    f(FakeGPUArray((4, 9), np.float32))
    f(FakeGPUArray((4, 8), np.float64))
    f(FakeGPUArray((4, 8), np.float32, strides=(64, 8)))
    f(np.ones((4, 8), np.float32))
    assert len(backend.calls) == 5


def test_device_guard_explains_each_mismatch():
    guard = DeviceArrayGuard.of(LocalSource("x"), FakeGPUArray((2, 3), np.float32))
    assert guard.reasons(FakeGPUArray((2, 3), np.float32)) == []
    why = guard.reasons(FakeGPUArray((3, 3), np.int32, strides=(12, 4)))
    assert any("dtype: expected float32, got int32" in r for r in why)
    assert any("shape: expected (2, 3), got (3, 3)" in r for r in why)
    assert any("strides" in r for r in why)
    assert "type(L['x'])" in guard.reasons(np.zeros((2, 3), np.float32))[0]
    assert "FakeGPUArray float32 (2, 3) C-contiguous" in guard.describe()


def test_a_cpu_backend_refuses_gpu_arrays_naming_the_input_and_the_fix():
    dynajit.reset()
    f = dynajit.compile(lambda x: x + 1.0, backend="llvm")
    with dynajit.config.patch(raise_on_compile_error=True), pytest.raises(
            CompileError, match=r"L\['x'\] is a GPU array.*backend='ptx'"):
        f(FakeGPUArray((3,), np.float32))
    np.testing.assert_array_equal(f(np.zeros(3, np.float32)), np.ones(3, np.float32))


def test_writes_into_a_gpu_input_are_reported_not_traced():
    dynajit.reset()

    def inplace(x):
        x[0] = 1.0
        return x

    explanation = dynajit.explain(inplace)(FakeGPUArray((3,), np.float32))
    assert "GPU array and the function writes into it" in str(explanation)
