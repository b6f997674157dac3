"""dynajit's public API: ``compile``, ``disable``, ``reset``, the backend registry and the
gradient transforms (``grad``, ``value_and_grad``, ``vjp``: see ``dynajit/autograd``)."""

from __future__ import annotations

import contextlib
import functools
import os
import sys
import sysconfig
import threading
import traceback
import types
import warnings
from collections.abc import Callable
from typing import Any

from dynajit import _hook
from dynajit.autograd.transform import grad, value_and_grad, vjp
from dynajit.backends import list_backends, lookup_backend, register_backend
from dynajit.errors import DynajitError

__all__ = ["compile", "disable", "grad", "list_backends", "lookup_backend", "register_backend",
           "reset", "value_and_grad", "vjp"]


def _skipped_prefixes() -> tuple[str, ...]:
    """Files whose frames are never compiled: dynajit itself, the standard library, and
    the libraries dynajit builds on."""
    paths = {os.path.dirname(os.path.abspath(__file__))}
    for key in ("stdlib", "platstdlib"):
        paths.add(sysconfig.get_paths()[key])
    for module in ("numpy", "llvmlite", "networkx", "bytecode", "_pytest", "pytest",
                   "pluggy", "hypothesis"):
        mod = sys.modules.get(module)
        if mod is not None and getattr(mod, "__file__", None):
            paths.add(os.path.dirname(os.path.abspath(mod.__file__)))
    return tuple(sorted(p + os.sep for p in paths))


_SKIP_PREFIXES: tuple[str, ...] | None = None


_SKIP_MODULES = frozenset({"dynajit", "numpy", "llvmlite", "networkx", "bytecode", "_pytest",
                           "pytest", "pluggy", "hypothesis"}) | frozenset(sys.stdlib_module_names)


def _should_skip_function(func: Any) -> bool:
    """Frames dynajit never compiles: by the function's module (this catches code that
    standard modules generate at run time, e.g. namedtuple methods, whose file is
    "<string>"), then by file."""
    module = getattr(func, "__module__", None) or ""
    if module.partition(".")[0] in _SKIP_MODULES:
        return True
    if module not in sys.modules:
        # Code generated into a private namespace (namedtuple methods, dynajit's own
        # generated functions): not user code.
        return True
    return _should_skip(func.__code__)


def _should_skip(code: types.CodeType) -> bool:
    global _SKIP_PREFIXES
    filename = code.co_filename
    if filename.startswith(("<dynajit", "<frozen")):
        return True
    if _SKIP_PREFIXES is None:
        _SKIP_PREFIXES = _skipped_prefixes()
    return os.path.abspath(filename).startswith(_SKIP_PREFIXES)


class _Callback:
    """The frame hook's callback for one ``compile`` configuration."""

    def __init__(self, backend: Any, fullgraph: bool):
        self.backend = backend
        self.fullgraph = fullgraph

    def __call__(self, func: Any, args: tuple) -> Any:
        try:
            return self._entry_for(func, args)
        except DynajitError:
            raise  # Unsupported under fullgraph, or a configured compile error
        except Exception as e:  # noqa: BLE001 - a dynajit bug must not become the user's error
            from dynajit.config import config

            if config.raise_on_compile_error:
                raise
            from dynajit import trace

            trace.artifact("dynamo_error", "".join(traceback.format_exception(e)))
            warnings.warn(f"dynajit: internal error while compiling "
                          f"{getattr(func, '__qualname__', func)}: {type(e).__name__}: {e}; "
                          "running it eagerly", stacklevel=2)
            _hook.mark_skip(func.__code__)
            return None

    def _entry_for(self, func: Any, args: tuple) -> Any:
        from dynajit.capture import convert_frame

        code = func.__code__
        if not isinstance(func, types.FunctionType) or _should_skip_function(func):
            _hook.mark_skip(code)
            return None
        if code.co_freevars:
            # Closures share their code object but not their cells, and the hook's cache
            # is per code object: look entries up here, per function scope.
            entry = convert_frame.lookup(func, args)
            if entry is not None:
                return entry.entry
        entry = convert_frame.compile_frame(func, args, self.backend, self.fullgraph)
        if entry is None:
            if convert_frame.cache_of(code).failure is not None:
                _hook.mark_skip(code)  # never compilable: stop asking
            return None
        _hook.mark_skip(entry.entry.__code__)
        _hook.mark_skip(entry.guard.__code__)
        if not code.co_freevars:
            cache = convert_frame.cache_of(code)
            _hook.set_entries(code, [(e.guard, e.entry) for e in cache.entries])
        return entry.entry


def compile(fn: Callable | None = None, *, backend: str | Callable | None = None,
            fullgraph: bool = False, dynamic: bool | None = None,
            options: dict | None = None) -> Any:
    """Compile a NumPy function: its frames are traced into guarded graphs run by
    ``backend``; whatever cannot be traced runs eagerly, so results equal eager NumPy.

    >>> @dynajit.compile
    ... def gelu(x):
    ...     return 0.5 * x * (1.0 + np.tanh(0.79788456 * (x + 0.044715 * x**3)))

    ``fullgraph=True`` raises ``dynajit.Unsupported`` (with the user's file:line) instead of
    falling back. ``backend`` is a registered name (default ``config.default_backend``,
    "llvm": fused native kernels; "eager" runs each op with NumPy) or a callable
    ``backend(graph_module, example_inputs) -> callable``.
    """
    if fn is None:
        return functools.partial(compile, backend=backend, fullgraph=fullgraph,
                                 dynamic=dynamic, options=options)
    if not _hook.AVAILABLE:
        raise DynajitError(_hook.UNAVAILABLE_REASON)
    if dynamic:
        raise ValueError("dynajit.compile: dynamic=True (symbolic shapes) is not supported "
                         "yet; shapes are specialized and guarded")
    if options:
        raise ValueError(f"dynajit.compile: no backend options are supported yet, got "
                         f"{sorted(options)}")
    if backend is None:
        from dynajit.config import config

        backend = config.default_backend
    lookup_backend(backend)  # an unknown name fails here, not at the first call
    if isinstance(fn, types.MethodType):
        return types.MethodType(compile(fn.__func__, backend=backend, fullgraph=fullgraph),
                                fn.__self__)
    if not isinstance(fn, types.FunctionType):
        raise TypeError(f"dynajit.compile expects a Python function or method, got "
                        f"{type(fn).__name__}")
    callback = _Callback(backend, fullgraph)

    @functools.wraps(fn)
    def compiled(*args: Any, **kwargs: Any) -> Any:
        if _DISABLED.depth:
            return fn(*args, **kwargs)
        prior = _hook.set_callback(callback)
        try:
            return fn(*args, **kwargs)
        finally:
            _hook.set_callback(prior)

    _hook.mark_skip(compiled.__code__)
    compiled._dynajit_original = fn  # type: ignore[attr-defined]
    return compiled


class _DisabledDepth(threading.local):
    """How many ``dynajit.disable`` blocks this thread is in. A class attribute gives the
    default: ``getattr`` with a default on a missing thread-local attribute costs ~0.5 µs, a
    quarter of a warm call."""

    depth = 0


_DISABLED = _DisabledDepth()


class _Disable(contextlib.ContextDecorator):
    """Run a block or function eagerly, compiled functions called inside included."""

    def __enter__(self) -> _Disable:
        _DISABLED.depth += 1
        self._prior = _hook.set_callback(None) if _hook.AVAILABLE else None
        return self

    def __exit__(self, *exc: Any) -> None:
        _DISABLED.depth -= 1
        if _hook.AVAILABLE:
            _hook.set_callback(self._prior)


def disable(fn: Callable | None = None) -> Any:
    """``@dynajit.disable`` or ``with dynajit.disable():`` runs the code eagerly, and so
    does everything it calls."""
    if fn is None:
        return _Disable()

    @functools.wraps(fn)
    def eager(*args: Any, **kwargs: Any) -> Any:
        with _Disable():  # one per call: it keeps the callback it replaced (recursion, threads)
            return fn(*args, **kwargs)

    if _hook.AVAILABLE:
        _hook.mark_skip(eager.__code__)
    eager._dynajit_disabled = True  # type: ignore[attr-defined]
    return eager


def reset() -> None:
    """Forget every compiled entry and every "run eagerly" decision, and give the llvm
    backend's unused pooled host buffers back to the system."""
    from dynajit.autograd import transform
    from dynajit.backends.llvm.pool import host_pool
    from dynajit.capture import convert_frame

    for code in list(convert_frame._CACHES.keys()):
        _hook.set_entries(code, None)  # also clears a "run eagerly" skip mark
    convert_frame.reset()
    transform.reset()
    host_pool.release()
