"""Helpers for the frame-hook tests: run a call with a callback set, and a callback that
records what it was asked."""

from __future__ import annotations

from dynajit import _hook


def run_hooked(callback, fn, *args, **kwargs):
    """Call ``fn`` with this thread's callback set to ``callback``. This frame starts before
    the callback is set, so only ``fn`` and what it calls are intercepted; the restoring
    ``set_callback`` is a C call, so nothing runs in between."""
    prev = _hook.set_callback(callback)
    try:
        return fn(*args, **kwargs)
    finally:
        _hook.set_callback(prev)


class Recorder:
    """A callback that records ``(function name, args)`` and returns ``result`` (None: run
    the frame normally)."""

    def __init__(self, result=None):
        self.calls = []
        self.result = result

    def __call__(self, func, args):
        self.calls.append((func.__name__, args))
        return self.result

    def names(self):
        return [name for name, _ in self.calls]
