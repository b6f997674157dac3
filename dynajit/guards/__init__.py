"""Guards: what a compiled entry assumed about its inputs, checked before it runs.

Sources name values relative to a frame (``L['x']``, ``G['np']``, ``C['k']``,
``L['self'].w``, ``L['params']['w0']``); guard kinds state one assumption each; a GuardSet
compiles an entry's guards to one fast check over the frame's flat positional arguments and
explains failures for the recompile log. See docs/guards.md."""

from dynajit.guards.guardset import GuardSet, builtins_of, flat_arg_names
from dynajit.guards.kinds import (
    ArrayGuard,
    DeviceArrayGuard,
    DictKeysGuard,
    EqualsGuard,
    Guard,
    IdGuard,
    LenGuard,
    NoAliasGuard,
    ScalarGuard,
    TypeGuard,
)
from dynajit.guards.runtime import C_CONTIGUOUS, UNALIGNED, arrays_disjoint, strides_class
from dynajit.guards.source import (
    AttrSource,
    ClosureSource,
    GlobalSource,
    GuardError,
    ItemSource,
    LocalSource,
    Source,
    SourceUnreadable,
)

__all__ = [
    "C_CONTIGUOUS",
    "UNALIGNED",
    "ArrayGuard",
    "DeviceArrayGuard",
    "AttrSource",
    "ClosureSource",
    "DictKeysGuard",
    "EqualsGuard",
    "GlobalSource",
    "Guard",
    "GuardError",
    "GuardSet",
    "IdGuard",
    "ItemSource",
    "LenGuard",
    "LocalSource",
    "NoAliasGuard",
    "ScalarGuard",
    "Source",
    "SourceUnreadable",
    "TypeGuard",
    "arrays_disjoint",
    "builtins_of",
    "flat_arg_names",
    "strides_class",
]
