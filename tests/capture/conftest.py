"""Fixtures and checks for the capture tests: a counting backend (exact graph and op counts,
so a silent eager fallback fails), a fresh dynajit per test, and the comparison of a
compiled call against eager execution (values, dtypes, Python types, identity of returned
inputs, side effects on the inputs)."""

from __future__ import annotations

import dataclasses
import types
from typing import Any

import numpy as np
import pytest

import dynajit
from dynajit import _hook
from dynajit.capture import convert_frame


class CountingBackend:
    """A user backend ``(gm, example_inputs) -> gm.forward`` that records every graph it
    is given."""

    def __init__(self) -> None:
        self.graphs: list[Any] = []
        self.example_inputs: list[list] = []

    def __call__(self, gm: Any, example_inputs: list) -> Any:
        placeholders = [n for n in gm.graph.nodes if n.kind == "placeholder"]
        assert len(placeholders) == len(example_inputs), (
            f"{len(example_inputs)} example inputs for {len(placeholders)} placeholders")
        self.graphs.append(gm)
        self.example_inputs.append(list(example_inputs))
        return gm.forward

    @property
    def frame_count(self) -> int:
        return len(self.graphs)

    @property
    def op_counts(self) -> list[int]:
        return [len(gm.graph.call_nodes()) for gm in self.graphs]

    def op_names(self, index: int = -1) -> list[str]:
        return [n.target.name for n in self.graphs[index].graph.call_nodes()]

    def describe(self) -> str:
        return "\n\n".join(gm.code for gm in self.graphs) or "(no graph)"


@pytest.fixture
def counting_backend() -> CountingBackend:
    return CountingBackend()


@pytest.fixture(autouse=True)
def fresh_dynajit():
    """Every test starts with no compiled entries and leaves the hook uninstalled."""
    dynajit.reset()
    yield
    dynajit.reset()
    if _hook.AVAILABLE:
        assert _hook.get_callback() is None
        assert _hook.active_threads() == 0
        assert not _hook.is_installed()


def cache_of(fn: Any) -> Any:
    """The capture cache of a (compiled or plain) function's code object."""
    fn = getattr(fn, "_dynajit_original", fn)
    fn = getattr(fn, "__func__", fn)
    return convert_frame.cache_of(fn.__code__)


@dataclasses.dataclass
class Args:
    """The arguments of one call, built fresh for each run."""

    args: tuple
    kwargs: dict

    def __init__(self, *args: Any, **kwargs: Any):
        self.args = args
        self.kwargs = kwargs


def _is_user_object(value: Any) -> bool:
    return hasattr(value, "__dict__") and not isinstance(value, (
        type, types.FunctionType, types.MethodType, types.ModuleType, types.BuiltinFunctionType,
        np.ufunc))


def assert_same(got: Any, expected: Any, where: str = "result") -> None:
    """Exactly equal, with the same Python types, containers, dtypes and shapes."""
    assert type(got) is type(expected), (
        f"{where}: type {type(got).__name__} != eager {type(expected).__name__}")
    if isinstance(expected, (tuple, list)):
        assert len(got) == len(expected), f"{where}: length {len(got)} != {len(expected)}"
        for i, (g, e) in enumerate(zip(got, expected)):
            assert_same(g, e, f"{where}[{i}]")
    elif isinstance(expected, dict):
        assert list(got) == list(expected), f"{where}: keys {list(got)} != {list(expected)}"
        for k in expected:
            assert_same(got[k], expected[k], f"{where}[{k!r}]")
    elif isinstance(expected, (np.ndarray, np.generic)):
        assert got.dtype == expected.dtype, f"{where}: dtype {got.dtype} != {expected.dtype}"
        assert np.shape(got) == np.shape(expected), (
            f"{where}: shape {np.shape(got)} != {np.shape(expected)}")
        np.testing.assert_array_equal(got, expected, err_msg=where, strict=True)
    elif isinstance(expected, float) and expected != expected:
        assert got != got, f"{where}: {got!r} != nan"
    elif _is_user_object(expected):
        assert_same(vars(got), vars(expected), f"{where}.__dict__")
    else:
        assert got == expected, f"{where}: {got!r} != {expected!r}"


def leaf_paths(value: Any, path: str = "", out: dict | None = None) -> dict[int, str]:
    """id -> path of every mutable object reachable from ``value`` (arrays, lists, dicts,
    user objects): what a result may legitimately share with the inputs."""
    out = {} if out is None else out
    if id(value) in out:
        return out
    if isinstance(value, (np.ndarray, list, dict)) or _is_user_object(value):
        out[id(value)] = path
    if isinstance(value, (tuple, list)):
        for i, v in enumerate(value):
            leaf_paths(v, f"{path}[{i}]", out)
    elif isinstance(value, dict):
        for k, v in value.items():
            leaf_paths(v, f"{path}[{k!r}]", out)
    elif _is_user_object(value):
        for k, v in vars(value).items():
            leaf_paths(v, f"{path}.{k}", out)
    return out


def assert_same_identity(got: Any, expected: Any, got_inputs: Any, expected_inputs: Any,
                         where: str = "result") -> None:
    """A result object that eager code takes from its inputs is the same input object in
    the compiled result (``compiled(x) is x``); a fresh eager object is fresh compiled."""
    want = leaf_paths(expected_inputs).get(id(expected))
    have = leaf_paths(got_inputs).get(id(got))
    if isinstance(expected, (np.ndarray, list, dict)) or want is not None:
        assert have == want, (f"{where}: eager returns input {want or '(a new object)'}, "
                              f"compiled returns {have or '(a new object)'}")
    if isinstance(expected, np.ndarray) and isinstance(got, np.ndarray):
        want_shared = _shared_with(expected, expected_inputs)
        have_shared = _shared_with(got, got_inputs)
        assert have_shared == want_shared, (
            f"{where}: eager shares memory with inputs {want_shared or '(none)'}, compiled "
            f"with {have_shared or '(none)'} (a view where eager copies, or the reverse)")
    if isinstance(expected, (tuple, list)) and isinstance(got, (tuple, list)):
        for i, (g, e) in enumerate(zip(got, expected)):
            assert_same_identity(g, e, got_inputs, expected_inputs, f"{where}[{i}]")
    elif isinstance(expected, dict) and isinstance(got, dict):
        for k in expected:
            if k in got:
                assert_same_identity(got[k], expected[k], got_inputs, expected_inputs,
                                     f"{where}[{k!r}]")


def _shared_with(array: np.ndarray, inputs: Any) -> list[str]:
    """Paths of the input arrays whose memory ``array`` shares (views of the inputs)."""
    found = []
    arrays: list[tuple[str, np.ndarray]] = []
    _collect_arrays(inputs, "", arrays)
    for path, candidate in arrays:
        if np.shares_memory(array, candidate):
            found.append(path)
    return found


def _collect_arrays(value: Any, path: str, out: list, seen: set | None = None) -> None:
    seen = set() if seen is None else seen
    if id(value) in seen:
        return
    seen.add(id(value))
    if isinstance(value, np.ndarray):
        out.append((path, value))
    elif isinstance(value, (tuple, list)):
        for i, v in enumerate(value):
            _collect_arrays(v, f"{path}[{i}]", out, seen)
    elif isinstance(value, dict):
        for k, v in value.items():
            _collect_arrays(v, f"{path}[{k!r}]", out, seen)
    elif _is_user_object(value):
        for k, v in vars(value).items():
            _collect_arrays(v, f"{path}.{k}", out, seen)
