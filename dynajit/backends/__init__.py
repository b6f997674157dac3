"""Backend registry. A backend is a callable ``backend(graph_module, example_inputs)`` that
returns a callable with the graph's signature. ``eager`` runs each op's NumPy
implementation."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dynajit.errors import BackendNotFound

Backend = Callable[[Any, list], Callable[..., Any]]
_BACKENDS: dict[str, Backend] = {}
_GPU_BACKENDS: set[str] = set()


def register_backend(name: str, backend: Backend | None = None, *, gpu: bool = False) -> Any:
    """Register ``backend`` under ``name`` (also usable as ``@register_backend("name")``).
    ``gpu=True`` says it takes GPU arrays (``__cuda_array_interface__``) as inputs.

    >>> @register_backend("noisy")
    ... def noisy(gm, example_inputs):
    ...     print(gm.code)
    ...     return gm.forward
    """
    def deco(fn: Backend) -> Backend:
        if not callable(fn):
            raise TypeError(f"backend {name!r} must be callable, got {type(fn).__name__}")
        _BACKENDS[name] = fn
        if gpu:
            _GPU_BACKENDS.add(name)
        return fn

    return deco(backend) if backend is not None else deco


def lookup_backend(backend: str | Backend) -> Backend:
    """A backend by name, or the callable itself (user backends may be passed directly)."""
    if callable(backend):
        return backend
    try:
        return _BACKENDS[backend]
    except KeyError:
        raise BackendNotFound(f"no backend named {backend!r}; available: "
                              f"{', '.join(list_backends())}") from None


def takes_gpu_arrays(backend: str | Backend) -> bool:
    """Whether a backend may be given GPU arrays: named GPU backends, and every backend
    passed as a callable (it decides itself)."""
    return callable(backend) or backend in _GPU_BACKENDS


def list_backends() -> list[str]:
    return sorted(_BACKENDS)


from dynajit.backends import eager as _eager  # noqa: E402,F401  (registers "eager")
from dynajit.backends import llvm as _llvm  # noqa: E402,F401  (registers "llvm")
from dynajit.backends import loopir as _loopir  # noqa: E402,F401  (registers "loopir")
from dynajit.backends import ptx as _ptx  # noqa: E402,F401  (registers "ptx")
