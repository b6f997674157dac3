"""Shared pieces of the autograd tests: the registered built-in backends that can run here
(``ptx`` only with a GPU), a counting backend, and a fresh dynajit per test."""

from __future__ import annotations

from typing import Any

import pytest

import dynajit


def runnable_backends() -> list[str]:
    """Every backend dynajit itself registers (user ones left out), minus those this
    machine cannot run."""
    names = []
    for name in dynajit.list_backends():
        backend = dynajit.lookup_backend(name)
        if not (getattr(backend, "__module__", "") or "").startswith("dynajit."):
            continue
        if name == "ptx":
            from dynajit import cuda

            try:
                cuda.device_info()
            except cuda.CudaUnavailable:
                continue
        names.append(name)
    return names


class CountingBackend:
    """Compiles each graph with ``inner`` and keeps it: exact graph counts."""

    def __init__(self, inner: str = "eager"):
        self.inner = inner
        self.graphs: list[Any] = []
        self.__name__ = f"counting({inner})"

    def __call__(self, gm: Any, example_inputs: list) -> Any:
        self.graphs.append(gm)
        return dynajit.lookup_backend(self.inner)(gm, example_inputs)

    def op_names(self, index: int = -1) -> list[str]:
        return [n.target.name for n in self.graphs[index].graph.call_nodes()]


@pytest.fixture(autouse=True)
def fresh_dynajit():
    dynajit.reset()
    yield
    dynajit.reset()
