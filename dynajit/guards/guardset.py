"""GuardSet: the ordered, de-duplicated guards of one cache entry, compiled to one Python
check function over the frame's flat positional arguments, with ``explain`` for the reasons
a call fails them."""

from __future__ import annotations

import builtins as _builtins_module
import inspect
import itertools
import linecache
import types
import weakref
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from dynajit.config import config
from dynajit.guards.codegen import Emitter, Namer
from dynajit.guards.kinds import ArrayGuard, Guard, IdGuard, NoAliasGuard
from dynajit.guards.source import (
    ClosureSource,
    FrameScope,
    GuardError,
    LocalSource,
    Source,
    SourceUnreadable,
)

_counter = itertools.count()
# Names of the generated module's own functions.
_RESERVED = frozenset({"guard", "__make_guard"})


def flat_arg_names(code: types.CodeType) -> tuple[str, ...]:
    """The names of ``code``'s argument slots in frame order: positional (including
    positional-only), keyword-only, then the ``*args`` tuple and the ``**kwargs`` dict."""
    n = code.co_argcount + code.co_kwonlyargcount
    n += bool(code.co_flags & inspect.CO_VARARGS) + bool(code.co_flags & inspect.CO_VARKEYWORDS)
    return code.co_varnames[:n]


def builtins_of(scope_globals: dict[str, Any]) -> dict[str, Any]:
    """The builtins dict a function with these globals gets, as CPython derives it."""
    b = scope_globals.get("__builtins__", _builtins_module)
    return b if isinstance(b, dict) else b.__dict__


class GuardSet:
    """The guards of one cache entry of one function.

    Built from the function's code (argument names and flat positions), globals, builtins
    and closure cells; the compiled check must only be used for frames of a function with
    the same globals dict and the same closure cells (``same_scope``), since it reads them
    directly.

    Example::

        gs = GuardSet.for_function(f)
        gs.add(ArrayGuard.of(LocalSource("x"), x))
        gs.add(IdGuard(GlobalSource("np"), np))
        check = gs.compile()          # def guard(x, y): ...
        check(x, y)                   # True / False, never raises
        gs.explain(x64, y)            # ["L['x'].dtype: expected float32, got float64"]
    """

    def __init__(self, code: types.CodeType, globals: dict[str, Any],
                 closure: tuple[Any, ...] | None = None,
                 builtins: dict[str, Any] | None = None, guards: Iterable[Guard] = ()):
        self.code = code
        self.globals = globals
        self.builtins = builtins_of(globals) if builtins is None else builtins
        self.closure: tuple[Any, ...] = () if closure is None else tuple(closure)
        if len(self.closure) != len(code.co_freevars):
            raise GuardError(f"{code.co_name}: closure has {len(self.closure)} cells, code has "
                             f"{len(code.co_freevars)} free variables")
        self.arg_names = flat_arg_names(code)
        self._guards: dict[Guard, int] = {}
        self._by_conflict: dict[tuple, Guard] = {}
        self._source_order: dict[Source, int] = {}
        self._compiled: Callable[..., bool] | None = None
        self._source_text: str | None = None
        self._checks: list[Callable[..., bool]] | None = None
        self.filename = ""
        self.extend(guards)

    @classmethod
    def for_function(cls, fn: types.FunctionType, guards: Iterable[Guard] = ()) -> GuardSet:
        return cls(fn.__code__, fn.__globals__, fn.__closure__, fn.__builtins__, guards)

    # -- building ----------------------------------------------------------------------------

    def add(self, guard: Guard) -> bool:
        """Add ``guard``; False if an equal guard is already there. Raises GuardError for a
        source this function does not have or a guard that contradicts one already added."""
        if guard in self._guards:
            return False
        for source in guard.sources:
            self._check_source(source)
        conflict = guard.conflict_key()
        if conflict is not None:
            other = self._by_conflict.get(conflict)
            if other is not None:
                raise GuardError(f"contradicting guards: {other} / {guard}")
            self._by_conflict[conflict] = guard
        for source in guard.sources:
            self._source_order.setdefault(source, len(self._source_order))
        self._guards[guard] = len(self._guards)
        self._compiled = self._source_text = self._checks = None
        return True

    def extend(self, guards: Iterable[Guard]) -> None:
        for g in guards:
            self.add(g)

    def _check_source(self, source: Source) -> None:
        root = source.root
        if isinstance(root, LocalSource) and root.var not in self.arg_names:
            raise GuardError(f"{source}: {root.var!r} is not an argument of "
                             f"{self.code.co_qualname} (arguments: {', '.join(self.arg_names)})")
        if isinstance(root, ClosureSource):
            free = self.code.co_freevars
            if not 0 <= root.index < len(free) or free[root.index] != root.var:
                raise GuardError(f"{source}: no free variable {root.var!r} at index "
                                 f"{root.index} of {self.code.co_qualname} {free}")

    def __iter__(self) -> Iterator[Guard]:
        """The guards in evaluation order: by source depth (a base before what is read from
        it), then grouped by source, type-like checks first; NoAliasGuards last."""
        def order(g: Guard) -> tuple:
            return (g.rank == NoAliasGuard.rank, max(s.depth for s in g.sources),
                    min(self._source_order[s] for s in g.sources), g.rank, self._guards[g])

        return iter(sorted(self._guards, key=order))

    def __len__(self) -> int:
        return len(self._guards)

    def __contains__(self, guard: object) -> bool:
        return guard in self._guards

    def __str__(self) -> str:
        return "\n".join(str(g) for g in self)

    def __repr__(self) -> str:
        return f"<GuardSet of {self.code.co_qualname}: {len(self)} guards>"

    @property
    def dead(self) -> bool:
        """True when an IdGuard's weakly held object has died: the set can never pass."""
        return any(isinstance(g, IdGuard) and g.dead for g in self._guards)

    def same_scope(self, fn: types.FunctionType) -> bool:
        """Whether the compiled check is valid for frames of ``fn``: same code, same globals
        dict, same closure cells (functions made by one ``def`` in different calls share
        code but not cells)."""
        cells = fn.__closure__ or ()
        return (fn.__code__ is self.code and fn.__globals__ is self.globals
                and len(cells) == len(self.closure)
                and all(a is b for a, b in zip(cells, self.closure)))

    # -- code generation ---------------------------------------------------------------------

    def _params(self, namer: Namer) -> dict[Source, str]:
        params = {}
        for i, name in enumerate(self.arg_names):
            ok = name.isidentifier() and name not in namer.taken
            params[LocalSource(name)] = namer.fresh(name if ok else f"arg{i}")
        return params

    def _emit(self, guards: list[Guard]
              ) -> tuple[list[str], dict[Source, str], dict[str, Any], str]:
        for g in guards:
            if isinstance(g, NoAliasGuard):
                arrays = {a.source for a in guards if isinstance(a, ArrayGuard)}
                missing = [str(s) for s in g.sources if s not in arrays]
                if missing:
                    raise GuardError(f"{g}: no ArrayGuard on {', '.join(missing)}")
        counting = self._emitter(None)
        for g in guards:
            g.emit(counting)
        em = self._emitter(counting.binding_plan())
        exprs = [g.emit(em) for g in guards]
        return exprs, em.params, em.consts, em.const(Exception, "Exception")

    def _emitter(self, plan: set | None) -> Emitter:
        namer = Namer(_RESERVED)
        return Emitter(self._params(namer), namer, self.globals, self.builtins, self.closure,
                       plan=plan)

    def _render(self) -> tuple[str, dict[str, Any]]:
        guards = list(self)
        exprs, params, consts, exc = self._emit(guards)
        co = self.code
        lines = [f"# guards of {co.co_qualname} ({co.co_filename}:{co.co_firstlineno})",
                 f"def __make_guard({', '.join(consts)}):",
                 f"    def guard({', '.join(params.values())}):"]
        if not guards:
            lines.append("        return True")
        else:
            lines += ["        try:", "            return ("]
            for i, (g, expr) in enumerate(zip(guards, exprs)):
                lines.append(f"                {'and ' if i else ''}{expr}  # {g}")
            lines += ["            )", f"        except {exc}:", "            return False"]
        lines.append("    return guard")
        return "\n".join(lines) + "\n", consts

    def compile(self) -> Callable[..., bool]:
        """The check function ``guard(<flat args>) -> bool``: every guard, short-circuited
        with ``and``; a missing attribute, key, global or cell makes it False, never an
        error (BaseExceptions such as KeyboardInterrupt propagate). Cached until a guard is
        added. The frame hook must not intercept its frames (mark its code *skip*)."""
        if self._compiled is None:
            text, consts = self._render()
            self.filename = f"<dynajit-guard-{next(_counter)}-{self.code.co_name}>"
            namespace: dict[str, Any] = {}
            exec(compile(text, self.filename, "exec"), namespace)
            fn = namespace["__make_guard"](**consts)
            if config.register_source:
                lines = text.splitlines(keepends=True)
                linecache.cache[self.filename] = (len(text), None, lines, self.filename)
                weakref.finalize(fn, linecache.cache.pop, self.filename, None)
            self._compiled, self._source_text = fn, text
        return self._compiled

    @property
    def source(self) -> str:
        """The generated Python source of the check function (for trace logs)."""
        self.compile()
        assert self._source_text is not None
        return self._source_text

    # -- explaining failures -----------------------------------------------------------------

    def _check_functions(self, guards: list[Guard]) -> list[Callable[..., bool]]:
        """One check per guard over its sources' values, from the same ``emit`` as the
        combined function, so a guard fails here exactly when it fails there."""
        most = max((len(g.sources) for g in guards), default=0)
        namer = Namer({f"v{i}" for i in range(most)} | {"__make_checks"})
        consts: dict[str, Any] = {}
        bodies = []
        for i, g in enumerate(guards):
            params = {s: f"v{j}" for j, s in enumerate(g.sources)}
            em = Emitter(params, namer, self.globals, self.builtins, self.closure,
                         plan=set(), consts=consts)
            expr = g.emit(em)
            exc = em.const(Exception, "Exception")
            bodies += [f"    def check_{i}({', '.join(params.values())}):",
                       f"        try:\n            return {expr}",
                       f"        except {exc}:\n            return False"]
        names = ", ".join(f"check_{i}" for i in range(len(guards)))
        text = "\n".join([f"def __make_checks({', '.join(consts)}):", *bodies,
                          f"    return [{names}]"]) + "\n"
        namespace: dict[str, Any] = {}
        exec(compile(text, f"{self.filename or '<dynajit-guard>'}-explain", "exec"), namespace)
        return namespace["__make_checks"](**consts)

    def explain(self, *args: Any) -> list[str]:
        """The reason of every failing guard for a call with these flat arguments, e.g.
        ``L['x'].shape: expected (128, 4), got (64, 4)``; empty iff ``compile()(*args)``.
        Guards on a source (or what is read from it) after one of its guards failed are not
        evaluated, as in the check function."""
        if len(args) != len(self.arg_names):
            raise TypeError(f"guard of {self.code.co_qualname} takes {len(self.arg_names)} "
                            f"arguments ({', '.join(self.arg_names)}), got {len(args)}")
        guards = list(self)
        if self._checks is None:
            self._checks = self._check_functions(guards)
        scope = FrameScope(dict(zip(self.arg_names, args)), self.globals, self.builtins,
                           self.closure)
        failed: set[Source] = set()
        reasons: list[str] = []
        for guard, check in zip(guards, self._checks):
            if any(_derived_from(s, failed) for s in guard.sources):
                continue
            try:
                values = [s.read(scope) for s in guard.sources]
            except SourceUnreadable as e:
                reasons.append(f"{e.source}: {e.reason}")
                failed.add(e.source)
                continue
            if not check(*values):
                reasons += guard.reasons(*values) or [f"{guard}: failed"]
                failed.update(guard.sources)
        return list(dict.fromkeys(reasons))


def _derived_from(source: Source, failed: set[Source]) -> bool:
    s: Source | None = source
    while s is not None:
        if s in failed:
            return True
        s = s.base
    return False
