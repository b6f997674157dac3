"""Small builders shared by the guard tests."""

from __future__ import annotations

from typing import Any

from dynajit.guards import Guard, GuardSet


def one(a):
    return a


def two(a, b):
    return a, b


def three(a, b, c):
    return a, b, c


FUNCTIONS = {1: one, 2: two, 3: three}


def run(guards: list[Guard], *args: Any) -> tuple[bool, list[str]]:
    """Compile ``guards`` for a function of ``len(args)`` arguments named a, b, c and return
    the check's verdict and the explanation for ``args``."""
    gs = GuardSet.for_function(FUNCTIONS[len(args)], guards)
    verdict = gs.compile()(*args)
    reasons = gs.explain(*args)
    assert verdict == (reasons == []), (verdict, reasons, gs.source)
    return verdict, reasons
