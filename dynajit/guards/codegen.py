"""The guard code generator's naming layer. An ``Emitter`` gives guards expressions for
sources (``x``, ``G['np']``, ``self_w``), derived reads (``x.flags.num``) and constants
(closure variables of the generated function). Code is emitted twice: a first pass counts
the reads each guard makes; the second binds every value read more than once to a local with
``:=`` at its first (leftmost, hence first evaluated) use, so each source is read once."""

from __future__ import annotations

import keyword
from collections import Counter
from typing import Any

from dynajit.guards.source import (
    AttrSource,
    ClosureSource,
    GlobalSource,
    ItemSource,
    LocalSource,
    Source,
)

# A read key: ("value", source) or ("flags", source) for ``source.flags.num``.
ReadKey = tuple[str, Source]


class Namer:
    """Unique Python identifiers in one generated function's namespace."""

    def __init__(self, taken: set[str] = frozenset()):
        self.taken = set(taken)

    def fresh(self, hint: str) -> str:
        base = "".join(c if c.isascii() and (c.isalnum() or c == "_") else "_" for c in hint)
        base = base or "v"
        if base[0].isdigit():
            base = "_" + base
        name, i = base, 0
        while name in self.taken or keyword.iskeyword(name):
            i += 1
            name = f"{base}_{i}"
        self.taken.add(name)
        return name


def _literal(key: Any) -> str | None:
    """``repr(key)`` when it evaluates back to an equal key of the same type, else None."""
    if key is None or type(key) in (bool, int, str, bytes):
        return repr(key)
    if type(key) is tuple:
        parts = [_literal(k) for k in key]
        if all(p is not None for p in parts):
            return f"({parts[0]},)" if len(parts) == 1 else f"({', '.join(parts)})"  # type: ignore[arg-type]
    return None


class Emitter:
    """Expressions for one generated function.

    ``params`` maps the sources the function receives as parameters to their names (the
    frame's arguments, or a per-guard check's values). ``plan`` is None in the counting pass,
    else the set of read keys to bind to locals (from ``binding_plan`` of the counting pass).
    """

    def __init__(self, params: dict[Source, str], namer: Namer, scope_globals: dict[str, Any],
                 scope_builtins: dict[str, Any], closure: tuple[Any, ...],
                 plan: set[ReadKey] | None = None, consts: dict[str, Any] | None = None):
        self.params = params
        self.namer = namer
        self.globals = scope_globals
        self.builtins = scope_builtins
        self.closure = closure
        self.plan = plan
        self.consts: dict[str, Any] = {} if consts is None else consts
        self._const_names = {id(v): k for k, v in self.consts.items()}
        self._bound: dict[ReadKey, str] = {}
        self.uses: Counter[ReadKey] = Counter()

    # -- what guards call --------------------------------------------------------------------

    def value(self, source: Source) -> str:
        """An expression for the source's value (binding it on first use if planned)."""
        self.uses["value", source] += 1
        return self._ref(("value", source))

    def flags(self, source: Source) -> str:
        """An expression for ``<source>.flags.num`` (NumPy's flag bits, one int)."""
        self.uses["flags", source] += 1
        return self._ref(("flags", source))

    def const(self, obj: Any, hint: str) -> str:
        """The name of a closure variable holding ``obj``."""
        name = self._const_names.get(id(obj))
        if name is None:
            name = self.namer.fresh(hint)
            self.consts[name] = obj
            self._const_names[id(obj)] = name
        return name

    # -- planning ----------------------------------------------------------------------------

    def binding_plan(self) -> set[ReadKey]:
        """After the counting pass: the read keys evaluated more than once. A key's count is
        its direct uses plus one per use of each derived key that is not itself bound."""
        keys: set[ReadKey] = set()
        for key in self.uses:
            keys.add(key)
            source = key[1]
            if key[0] == "flags":
                keys.add(("value", source))
            while source.base is not None:
                source = source.base
                keys.add(("value", source))
        total: Counter[ReadKey] = Counter(self.uses)
        for key in sorted(keys, key=_depth, reverse=True):
            parent = _parent(key)
            if parent is not None:
                total[parent] += 1 if total[key] >= 2 else total[key]
        return {k for k in keys
                if total[k] >= 2 and not (k[0] == "value" and k[1] in self.params)}

    # -- internals ---------------------------------------------------------------------------

    def _ref(self, key: ReadKey) -> str:
        name = self._bound.get(key)
        if name is not None:
            return name
        expr = self._expr(key)
        if self.plan is not None and key in self.plan:
            name = self.namer.fresh(_hint(key))
            self._bound[key] = name
            return f"({name} := {expr})"
        return expr

    def _expr(self, key: ReadKey) -> str:
        kind, s = key
        if s in self.params:
            base = self.params[s]
            return f"{base}.flags.num" if kind == "flags" else base
        if kind == "flags":
            return f"{self._ref(('value', s))}.flags.num"
        if isinstance(s, GlobalSource):
            g = self.const(self.globals, "G")
            if s.var in self.globals:
                return f"{g}[{s.var!r}]"
            b = self.const(self.builtins, "B")
            return f"({g}[{s.var!r}] if {s.var!r} in {g} else {b}[{s.var!r}])"
        if isinstance(s, ClosureSource):
            return f"{self.const(self.closure[s.index], 'cell_' + s.var)}.cell_contents"
        if isinstance(s, AttrSource):
            return f"{self._ref(('value', s.obj))}.{s.attr}"
        if isinstance(s, ItemSource):
            key_text = _literal(s.key)
            if key_text is None:
                key_text = self.const(s.key, "key")
            return f"{self._ref(('value', s.obj))}[{key_text}]"
        raise TypeError(f"cannot read {s!r} here")


def _depth(key: ReadKey) -> int:
    return key[1].depth * 2 + (1 if key[0] == "flags" else 0)


def _parent(key: ReadKey) -> ReadKey | None:
    if key[0] == "flags":
        return ("value", key[1])
    base = key[1].base
    return None if base is None else ("value", base)


def _hint(key: ReadKey) -> str:
    kind, s = key
    text = _source_hint(s)
    return f"{text}_flags" if kind == "flags" else text


def _source_hint(s: Source) -> str:
    if isinstance(s, LocalSource):
        return s.var
    if isinstance(s, GlobalSource):
        return "g_" + s.var
    if isinstance(s, ClosureSource):
        return "c_" + s.var
    if isinstance(s, AttrSource):
        return f"{_source_hint(s.obj)}_{s.attr}"
    if isinstance(s, ItemSource):
        return f"{_source_hint(s.obj)}_{s.key}"
    return "v"

