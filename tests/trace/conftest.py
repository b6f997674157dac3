"""Fixtures for the trace tests: a fresh dynajit per test, and a trace directory that only
this test writes to (``config.trace_dir`` patched to it)."""

from __future__ import annotations

from pathlib import Path

import pytest

import dynajit
from dynajit.config import config


@pytest.fixture(autouse=True)
def fresh_dynajit():
    """A fresh dynajit whose default backend is eager: these tests pin the capture layer's
    exact record sequences (the llvm backend adds its own records, tested with it)."""
    dynajit.reset()
    with config.patch(default_backend="eager"):
        yield
    dynajit.reset()


@pytest.fixture
def trace_dir(tmp_path: Path):
    """A fresh directory the structured trace goes to during the test."""
    directory = tmp_path / "trace"
    with config.patch(trace_dir=str(directory)):
        yield directory
