"""The public capture API: ``compile``'s arguments and errors, backends by name or callable,
compiler errors that never become the user's, and ``dynajit.config.patch``."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import dynajit
from dynajit.errors import BackendNotFound
from tests.capture.conftest import CountingBackend, assert_same, cache_of


def affine(x, w, b=1.0, *, scale=2.0):
    return (x @ w + b) * scale


def test_config_patch_is_reachable_from_the_package():
    before = dynajit.config.cache_size_limit
    with dynajit.config.patch(cache_size_limit=2):
        assert dynajit.config.cache_size_limit == 2
    assert dynajit.config.cache_size_limit == before


def test_backend_by_registered_name():
    backend = CountingBackend()
    dynajit.register_backend("capture_tests_counting", backend)
    compiled = dynajit.compile(affine, backend="capture_tests_counting")
    x, w = np.ones((2, 3)), np.arange(6.0).reshape(3, 2)
    assert_same(compiled(x, w), affine(x, w))
    assert backend.frame_count == 1 and backend.op_counts == [3]


def test_default_backend_is_llvm_from_config_read_at_use():
    seen = []
    dynajit.register_backend("capture_tests_recorder",
                             lambda gm, ex: seen.append(gm) or gm.forward)
    compiled = dynajit.compile(affine)
    x, w = np.ones((2, 3)), np.arange(6.0).reshape(3, 2)
    assert_same(compiled(x, w, 0.5, scale=3.0), affine(x, w, 0.5, scale=3.0))
    assert len(cache_of(affine).entries) == 1
    assert dynajit.config.default_backend == "llvm"
    dynajit.reset()
    with dynajit.config.patch(default_backend="capture_tests_recorder"):
        compiled = dynajit.compile(affine)
    compiled(x, w)
    assert len(seen) == 1


def test_example_inputs_are_the_call_arrays():
    backend = CountingBackend()
    compiled = dynajit.compile(affine, backend=backend)
    x, w = np.ones((2, 3)), np.arange(6.0).reshape(3, 2)
    compiled(x, w)
    (inputs,) = backend.example_inputs
    assert len(inputs) == 2 and inputs[0] is x and inputs[1] is w


def test_unknown_backend_fails_at_compile_time():
    with pytest.raises(BackendNotFound, match="no_such_backend"):
        dynajit.compile(affine, backend="no_such_backend")


@pytest.mark.parametrize("bad", [42, np.add, print])
def test_compile_rejects_non_functions(bad):
    with pytest.raises(TypeError):
        dynajit.compile(bad)


def test_dynamic_and_options_are_refused_clearly():
    with pytest.raises(ValueError, match="dynamic"):
        dynajit.compile(affine, dynamic=True)
    with pytest.raises(ValueError, match="options"):
        dynajit.compile(affine, options={"fast": True})


def test_wrapper_keeps_the_functions_identity():
    compiled = dynajit.compile(affine)
    assert compiled.__name__ == "affine" and compiled.__wrapped__ is affine
    assert compiled.__doc__ == affine.__doc__


def _broken_backend(gm, example_inputs):
    raise RuntimeError("backend exploded")


def test_backend_error_warns_and_runs_eagerly():
    compiled = dynajit.compile(affine, backend=_broken_backend)
    x, w = np.ones((2, 3)), np.arange(6.0).reshape(3, 2)
    with pytest.warns(UserWarning, match="backend exploded"):
        got = compiled(x, w)
    assert_same(got, affine(x, w))
    assert "backend exploded" in cache_of(affine).failure
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # decided once: no warning on every call
        assert_same(compiled(x, w), affine(x, w))


def test_raise_on_compile_error_raises_compile_error():
    from dynajit.config import patch

    compiled = dynajit.compile(affine, backend=_broken_backend)
    with patch(raise_on_compile_error=True):
        with pytest.raises(dynajit.CompileError, match="backend exploded"):
            compiled(np.ones((2, 3)), np.ones((3, 2)))
    from dynajit import _hook

    assert _hook.get_callback() is None


def test_unsupported_is_not_raised_without_fullgraph():
    def branchy(x):
        if x.sum() > 0:
            return x
        return -x

    compiled = dynajit.compile(branchy)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a graph break is normal: no warning
        assert_same(compiled(np.ones(2)), branchy(np.ones(2)))
        assert_same(compiled(-np.ones(2)), branchy(-np.ones(2)))
    cache = cache_of(branchy)
    assert cache.failure is None and len(cache.entries) == 1  # broke at the `if`
