"""Turns the assumptions a trace recorded (``TraceContext.guards``) into the GuardSet of the
cache entry."""

from __future__ import annotations

import types

from dynajit.capture.context import TraceContext
from dynajit.guards import (
    ArrayGuard,
    DeviceArrayGuard,
    DictKeysGuard,
    EqualsGuard,
    GuardSet,
    IdGuard,
    LenGuard,
    NoAliasGuard,
    ScalarGuard,
    TypeGuard,
)


def build_guards(ctx: TraceContext, fn: types.FunctionType) -> GuardSet:
    guards = GuardSet.for_function(fn)
    written = {id(vt) for _, vt in ctx.inputs if vt.node is not vt.original}
    array_sources = []
    for spec in ctx.guards.values():
        kind, source, value = spec.kind, spec.source, spec.value
        if kind == "array":
            vt = ctx.tracker_of_source(source)
            writes = vt is not None and id(vt) in written
            guards.add(ArrayGuard.of(source, value, writeable=True if writes else None))
            array_sources.append(source)
        elif kind == "device_array":
            guards.add(DeviceArrayGuard.of(source, value))
            array_sources.append(source)
        elif kind == "scalar":
            guards.add(ScalarGuard.of(source, value))
        elif kind == "equals":
            guards.add(EqualsGuard(source, value))
        elif kind == "type":
            guards.add(TypeGuard(source, value))
        elif kind == "len":
            guards.add(LenGuard(source, value))
        elif kind == "dict_keys":
            guards.add(DictKeysGuard(source, value))
        elif kind == "id":
            guards.add(IdGuard(source, value))
        else:
            raise AssertionError(f"unknown guard kind {kind}")
    # Aliasing only changes results when the graph writes into an input: then the entry
    # requires its array inputs to be disjoint (the trace checked that they were).
    if written and len(array_sources) > 1:
        guards.add(NoAliasGuard(array_sources))
    return guards
