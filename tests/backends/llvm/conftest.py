"""Fixtures of the llvm backend's tests."""

from __future__ import annotations

import pytest


@pytest.fixture
def wrappers(monkeypatch):
    """Every ``CompiledGraph`` (generated wrapper) made while the test runs, in order."""
    from dynajit.backends.llvm import runtime

    made = []
    init = runtime.CompiledGraph.__init__

    def capture(self, *args, **kwargs):
        init(self, *args, **kwargs)
        made.append(self)

    monkeypatch.setattr(runtime.CompiledGraph, "__init__", capture)
    return made
