"""Compiler errors fail the loop IR and llvm tests: a silent fallback to eager code would
pass every comparison with NumPy while testing nothing. (The PTX tests check their own
fallbacks.)"""

import pytest

import dynajit


@pytest.fixture(autouse=True)
def _raise_on_compile_error(request):
    if "ptx" in request.node.path.parts:
        yield
        return
    with dynajit.config.patch(raise_on_compile_error=True):
        yield
