"""Sources: where a guarded value comes from, relative to one frame. A source prints the way
messages and logs name it (``L['x']``, ``G['np']``, ``C['k']``, ``L['self'].w``,
``L['params']['w0']``) and knows how to read its value from a frame's arguments, globals,
builtins and closure. The guard code generator turns the same sources into expressions."""

from __future__ import annotations

import abc
import dataclasses
from typing import Any

from dynajit.errors import DynajitError


class GuardError(DynajitError):
    """A guard or guard set was built wrongly (an unknown argument, conflicting guards on one
    source, a value that cannot be a constant). Raised to the capture layer, never to user
    code at call time: a guard that cannot hold is False, not an error."""


class SourceUnreadable(Exception):
    """Reading a source failed (missing attribute, key or global, empty cell). ``source``
    is the source whose read failed, which may be a base of the one asked for."""

    def __init__(self, source: Source, reason: str):
        super().__init__(f"{source}: {reason}")
        self.source = source
        self.reason = reason


@dataclasses.dataclass(frozen=True)
class FrameScope:
    """What a source is read from: the flat positional arguments by name, and the function's
    globals, builtins and closure cells."""

    args: dict[str, Any]
    globals: dict[str, Any]
    builtins: dict[str, Any]
    closure: tuple[Any, ...]


class Source(abc.ABC):
    """Base class. Subclasses are frozen dataclasses: hashable, compared by value, printed
    as they are named in messages (``str(source)``)."""

    @property
    def name(self) -> str:
        """The source as messages name it, e.g. ``L['self'].w``."""
        return str(self)

    @property
    def base(self) -> Source | None:
        """The source this one is read from, or None for a root (local, global, closure)."""
        return None

    @property
    def depth(self) -> int:
        """Number of attribute/item steps from the root: guards on a base run first."""
        return 0 if self.base is None else self.base.depth + 1

    @property
    def root(self) -> Source:
        return self if self.base is None else self.base.root

    @abc.abstractmethod
    def read(self, scope: FrameScope) -> Any:
        """The source's value in ``scope``; raises SourceUnreadable when it has none."""


@dataclasses.dataclass(frozen=True)
class LocalSource(Source):
    """An argument of the frame, by name: ``L['x']``. Only argument slots can be guarded:
    the guard runs before the frame does, when other locals do not exist yet."""

    var: str

    def __str__(self) -> str:
        return f"L[{self.var!r}]"

    def read(self, scope: FrameScope) -> Any:
        return scope.args[self.var]


@dataclasses.dataclass(frozen=True)
class GlobalSource(Source):
    """What ``LOAD_GLOBAL`` finds for a name: the function's globals, then its builtins:
    ``G['np']``."""

    var: str

    def __str__(self) -> str:
        return f"G[{self.var!r}]"

    def read(self, scope: FrameScope) -> Any:
        if self.var in scope.globals:
            return scope.globals[self.var]
        if self.var in scope.builtins:
            return scope.builtins[self.var]
        raise SourceUnreadable(self, "missing (not in globals or builtins)")


@dataclasses.dataclass(frozen=True)
class ClosureSource(Source):
    """The contents of closure cell ``index`` (the position of ``var`` in the code's
    ``co_freevars``): ``C['k']``."""

    var: str
    index: int

    def __str__(self) -> str:
        return f"C[{self.var!r}]"

    def read(self, scope: FrameScope) -> Any:
        try:
            return scope.closure[self.index].cell_contents
        except ValueError:
            raise SourceUnreadable(self, "missing (empty cell)") from None


@dataclasses.dataclass(frozen=True)
class AttrSource(Source):
    """An attribute of another source: ``L['self'].w``."""

    obj: Source
    attr: str

    def __post_init__(self) -> None:
        if not self.attr.isidentifier():
            raise GuardError(f"AttrSource: {self.attr!r} is not an identifier")

    @property
    def base(self) -> Source:
        return self.obj

    def __str__(self) -> str:
        return f"{self.obj}.{self.attr}"

    def read(self, scope: FrameScope) -> Any:
        value = self.obj.read(scope)
        try:
            return getattr(value, self.attr)
        except Exception as e:
            raise SourceUnreadable(self, f"missing ({type(e).__name__}: {e})") from None


@dataclasses.dataclass(frozen=True)
class ItemSource(Source):
    """An item of another source, by a constant key or index: ``L['params']['w0']``,
    ``L['xs'][2]``. The key must be hashable."""

    obj: Source
    key: Any

    def __post_init__(self) -> None:
        try:
            hash(self.key)
        except TypeError:
            raise GuardError(f"ItemSource: key {self.key!r} is not hashable") from None

    @property
    def base(self) -> Source:
        return self.obj

    def __str__(self) -> str:
        return f"{self.obj}[{self.key!r}]"

    def read(self, scope: FrameScope) -> Any:
        value = self.obj.read(scope)
        try:
            return value[self.key]
        except Exception as e:
            raise SourceUnreadable(self, f"missing ({type(e).__name__}: {e})") from None
