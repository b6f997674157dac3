"""Guard kinds: one assumption about the value(s) at a source each. A guard knows how to
write itself as a Python expression (``emit``, through the code generator's ``Emitter``),
how to say why a value fails it (``reasons``), and how to print itself for logs."""

from __future__ import annotations

import abc
import dataclasses
import types
import weakref
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from dynajit.guards import runtime
from dynajit.guards.source import GuardError, Source

if TYPE_CHECKING:
    from dynajit.guards.codegen import Emitter


class Guard(abc.ABC):
    """Base class. Guards compare by what they check (``key``), so a GuardSet keeps one of
    each; ``rank`` orders the guards on one source (type-like checks before ``len``)."""

    kind: ClassVar[str]
    rank: ClassVar[int] = 0

    @property
    def sources(self) -> tuple[Source, ...]:
        return (self.source,)  # type: ignore[attr-defined]

    @abc.abstractmethod
    def key(self) -> tuple:
        """What the guard checks: equal keys mean equal guards."""

    def conflict_key(self) -> tuple | None:
        """Guards with the same conflict key and a different ``key`` can never both hold
        (two dtypes for one array): a capture bug, which GuardSet reports."""
        return (self.kind, self.sources)

    @abc.abstractmethod
    def emit(self, em: Emitter) -> str:
        """A Python expression, true iff the guard holds. Read each source and derived value
        through ``em`` every time it is needed (``em`` binds repeated reads to one local)."""

    @abc.abstractmethod
    def reasons(self, *values: Any) -> list[str]:
        """Why ``values`` (one per source) fail this guard, one line per failed part; called
        only after the generated check said False."""

    @abc.abstractmethod
    def describe(self) -> str:
        """The guard in words, for logs (``str(guard)``)."""

    def __str__(self) -> str:
        return f"{self.kind:<9} {self.describe()}"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Guard) and type(other) is type(self) and other.key() == self.key()

    def __hash__(self) -> int:
        return hash((type(self), self.key()))


# -- helpers for messages ---------------------------------------------------------------------

def type_name(t: type, other: type | None = None) -> str:
    """``t``'s qualified name; with its module when ``other`` has the same name."""
    name = getattr(t, "__qualname__", repr(t))
    if other is not None and other is not t and getattr(other, "__qualname__", None) == name:
        return f"{t.__module__}.{name}"
    return name


def short_repr(obj: Any, limit: int = 80) -> str:
    if isinstance(obj, types.ModuleType):
        return f"<module {obj.__name__!r}>"
    qualname = getattr(obj, "__qualname__", None)
    if isinstance(qualname, str) and callable(obj):
        kind = "class" if isinstance(obj, type) else "function"
        module = getattr(obj, "__module__", None)
        return f"<{kind} {module}.{qualname}>" if module else f"<{kind} {qualname}>"
    text = repr(obj)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _value_text(value: Any, other: Any) -> str:
    if type(value) is not type(other):
        return f"{short_repr(value)} ({type_name(type(value), type(other))})"
    return short_repr(value)


def _hint(text: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in text).strip("_") or "value"


# -- kinds ------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True, eq=False)
class ArrayGuard(Guard):
    """The value is exactly an ``np.ndarray`` (subclasses fail) with this dtype, shape and
    strides class (see ``runtime.strides_class``), and, when ``writeable`` is not None, that
    writeability (guard it for inputs the compiled code writes into).

    Example: ``ArrayGuard.of(LocalSource("x"), np.zeros((128, 4), np.float32))`` is
    ``ArrayGuard(LocalSource("x"), np.dtype("float32"), (128, 4), "C")``.
    """

    source: Source
    dtype: np.dtype
    shape: tuple[int, ...]
    strides_class: runtime.StridesClass
    writeable: bool | None = None

    kind: ClassVar[str] = "ARRAY"

    def __post_init__(self) -> None:
        object.__setattr__(self, "dtype", runtime.canonical_dtype(self.dtype))
        object.__setattr__(self, "shape", tuple(int(n) for n in self.shape))
        try:
            cls = runtime.check_strides_class(self.strides_class)
        except ValueError as e:
            raise GuardError(str(e)) from None
        if isinstance(cls, tuple) and len(cls) != len(self.shape):
            raise GuardError(f"{self.source}: strides {cls} do not match shape {self.shape}")
        if isinstance(cls, tuple) and self.dtype.itemsize == 0:
            raise GuardError(f"{self.source}: element strides for a zero-size dtype")

    @classmethod
    def of(cls, source: Source, array: np.ndarray, *, writeable: bool | None = None
           ) -> ArrayGuard:
        """The guard that ``array`` passes. ``writeable=True`` also requires writeable
        arrays (raises GuardError if ``array`` is read-only)."""
        if writeable is not None and array.flags.writeable != writeable:
            raise GuardError(f"{source}: array writeable={array.flags.writeable}, "
                             f"guard asks {writeable}")
        return cls(source, array.dtype, array.shape, runtime.strides_class(array), writeable)

    def key(self) -> tuple:
        return (self.source, self.dtype, self.dtype.type, self.shape, self.strides_class,
                self.writeable)

    def emit(self, em: Emitter) -> str:
        # The first read binds the source (when it is not an argument); ``v`` is the name.
        first, v = em.value(self.source), em.value(self.source)
        d = em.const(self.dtype, _hint(self.dtype.name))
        parts = [
            f"{em.const(type, 'type')}({first}) is {em.const(np.ndarray, 'ndarray')}",
            f"({v}.dtype is {d} or {em.const(runtime.dtype_matches, 'dtype_matches')}"
            f"({v}.dtype, {d}))",
            f"{v}.shape == {self.shape!r}",
        ]
        mask = value = 0
        cls = self.strides_class
        if cls == runtime.C_CONTIGUOUS:
            mask = value = runtime.FLAG_C_CONTIGUOUS | runtime.FLAG_ALIGNED
        elif cls == runtime.UNALIGNED:
            fn = em.const(runtime.strides_class, "strides_class")
            parts.append(f"{fn}({v}) == {runtime.UNALIGNED!r}")
        else:
            byte_strides = tuple(s * self.dtype.itemsize for s in cls)
            parts.append(f"{v}.strides == {byte_strides!r}")
            mask = value = runtime.FLAG_ALIGNED
        if self.writeable is not None:
            mask |= runtime.FLAG_WRITEABLE
            value |= runtime.FLAG_WRITEABLE if self.writeable else 0
        if mask:
            parts.append(f"{em.flags(self.source)} & {mask:#x} == {value:#x}")
        return " and ".join(parts)

    def reasons(self, value: Any) -> list[str]:
        s = self.source
        if type(value) is not np.ndarray:
            return [f"type({s}): expected ndarray, got {type_name(type(value), np.ndarray)}"]
        out = []
        if not runtime.dtype_matches(value.dtype, self.dtype):
            got, want = str(value.dtype), str(self.dtype)
            if got == want:
                got, want = value.dtype.type.__name__, self.dtype.type.__name__
            out.append(f"{s}.dtype: expected {want}, got {got}")
        if value.shape != self.shape:
            out.append(f"{s}.shape: expected {self.shape}, got {value.shape}")
        got_cls = runtime.strides_class(value)
        if got_cls != self.strides_class:
            out.append(f"{s}.strides: expected "
                       f"{runtime.describe_strides_class(self.strides_class)}, "
                       f"got {runtime.describe_strides_class(got_cls)}")
        if self.writeable is not None and value.flags.writeable != self.writeable:
            out.append(f"{s}.flags.writeable: expected {self.writeable}, "
                       f"got {value.flags.writeable}")
        return out

    def describe(self) -> str:
        layout = runtime.describe_strides_class(self.strides_class)
        access = {None: "", True: ", writeable", False: ", read-only"}[self.writeable]
        return f"{self.source}: ndarray {self.dtype} {self.shape} {layout}{access}"


@dataclasses.dataclass(frozen=True, eq=False)
class DeviceArrayGuard(Guard):
    """The value is a GPU array of exactly this type whose ``__cuda_array_interface__``
    gives this typestr, shape and strides (``runtime.device_layout``). Its device pointer is
    not guarded: it is a graph input.

    Example: a CuPy ``float32`` array of shape (4, 8) passes ``DeviceArrayGuard(
    LocalSource("x"), cupy.ndarray, "<f4", (4, 8), None)``."""

    source: Source
    type_: type
    typestr: str
    shape: tuple[int, ...]
    strides: tuple[int, ...] | None

    kind: ClassVar[str] = "DEVICE"

    @classmethod
    def of(cls, source: Source, value: Any) -> DeviceArrayGuard:
        return cls(source, type(value), *runtime.device_layout(value))

    def key(self) -> tuple:
        return (self.source, id(self.type_), self.typestr, self.shape, self.strides)

    def emit(self, em: Emitter) -> str:
        t = em.const(self.type_, _hint(self.type_.__name__))
        layout = em.const(runtime.device_layout, "device_layout")
        want = (self.typestr, self.shape, self.strides)
        return (f"{em.const(type, 'type')}({em.value(self.source)}) is {t} and "
                f"{layout}({em.value(self.source)}) == {want!r}")

    def reasons(self, value: Any) -> list[str]:
        s = self.source
        if type(value) is not self.type_:
            return [f"type({s}): expected {type_name(self.type_, type(value))}, "
                    f"got {type_name(type(value), self.type_)}"]
        typestr, shape, strides = runtime.device_layout(value)
        out = []
        if typestr != self.typestr:
            out.append(f"{s}.dtype: expected {np.dtype(self.typestr)}, got {np.dtype(typestr)}")
        if shape != self.shape:
            out.append(f"{s}.shape: expected {self.shape}, got {shape}")
        if strides != self.strides:
            out.append(f"{s}.strides: expected {self.strides or 'C-contiguous'}, "
                       f"got {strides or 'C-contiguous'}")
        return out

    def describe(self) -> str:
        layout = "C-contiguous" if self.strides is None else f"byte strides {self.strides}"
        return (f"{self.source}: {self.type_.__name__} {np.dtype(self.typestr)} "
                f"{self.shape} {layout}")


@dataclasses.dataclass(frozen=True, eq=False)
class ScalarGuard(Guard):
    """The value is a NumPy scalar of exactly this dtype's scalar type (and, for parametric
    dtypes such as ``datetime64[s]`` or ``S5``, this dtype). Its value is not guarded: it is
    a graph input."""

    source: Source
    dtype: np.dtype

    kind: ClassVar[str] = "SCALAR"

    def __post_init__(self) -> None:
        object.__setattr__(self, "dtype", runtime.canonical_dtype(self.dtype))

    @classmethod
    def of(cls, source: Source, scalar: np.generic) -> ScalarGuard:
        if not isinstance(scalar, np.generic):
            raise GuardError(f"{source}: {type(scalar).__name__} is not a NumPy scalar")
        return cls(source, scalar.dtype)

    def _checks_dtype(self) -> bool:
        return not runtime.dtype_matches(np.dtype(self.dtype.type), self.dtype)

    def key(self) -> tuple:
        return (self.source, self.dtype, self.dtype.type)

    def emit(self, em: Emitter) -> str:
        t = em.const(self.dtype.type, _hint(self.dtype.type.__name__))
        text = f"{em.const(type, 'type')}({em.value(self.source)}) is {t}"
        if self._checks_dtype():
            fn = em.const(runtime.dtype_matches, "dtype_matches")
            d = em.const(self.dtype, _hint(self.dtype.name))
            text += f" and {fn}({em.value(self.source)}.dtype, {d})"
        return text

    def reasons(self, value: Any) -> list[str]:
        want = self.dtype.type
        if type(value) is not want:
            return [f"type({self.source}): expected {type_name(want, type(value))}, "
                    f"got {type_name(type(value), want)}"]
        return [f"{self.source}.dtype: expected {self.dtype}, got {value.dtype}"]

    def describe(self) -> str:
        return f"{self.source}: numpy scalar {self.dtype}"


@dataclasses.dataclass(frozen=True, eq=False)
class TypeGuard(Guard):
    """``type(value) is type_`` (exact identity: a subclass fails). The type is held
    strongly, so its identity cannot be reused by another class."""

    source: Source
    type_: type

    kind: ClassVar[str] = "TYPE"

    def key(self) -> tuple:
        return (self.source, id(self.type_))

    def emit(self, em: Emitter) -> str:
        t = em.const(self.type_, _hint(self.type_.__name__))
        return f"{em.const(type, 'type')}({em.value(self.source)}) is {t}"

    def reasons(self, value: Any) -> list[str]:
        got = type(value)
        return [f"type({self.source}): expected {type_name(self.type_, got)}, "
                f"got {type_name(got, self.type_)}"]

    def describe(self) -> str:
        t = self.type_
        name = t.__qualname__ if t.__module__ == "builtins" else f"{t.__module__}.{t.__qualname__}"
        return f"type({self.source}) is {name}"


# Objects compared by identity that need no reference: singletons.
_SINGLETONS = {id(None): "None", id(True): "True", id(False): "False"}


class IdGuard(Guard):
    """``value is obj``: a module, function or other object the trace resolved a global,
    attribute or closure cell to. ``obj`` is held weakly when it allows it; once it dies
    the guard fails forever (and ``dead`` is True, so the cache may drop the entry)."""

    kind: ClassVar[str] = "ID"

    def __init__(self, source: Source, obj: Any):
        self.source = source
        self._id = id(obj)
        self._text = short_repr(obj)
        self._strong: Any = None
        self._ref: weakref.ref | None = None
        if self._id not in _SINGLETONS:
            try:
                self._ref = weakref.ref(obj)
            except TypeError:
                self._strong = obj

    @property
    def obj(self) -> Any:
        """The object, or None once a weakly held object has died."""
        return self._ref() if self._ref is not None else self._strong

    @property
    def dead(self) -> bool:
        return self._ref is not None and self._ref() is None

    def key(self) -> tuple:
        return (self.source, self._id)

    def emit(self, em: Emitter) -> str:
        v = em.value(self.source)
        if self._id in _SINGLETONS:
            return f"{v} is {_SINGLETONS[self._id]}"
        if self._ref is not None:
            ref = em.const(self._ref, "ref_" + _hint(getattr(self.obj, "__name__", "obj")))
            return f"{v} is {ref}() is not None"
        hint = "obj_" + _hint(getattr(self._strong, "__name__", ""))
        return f"{v} is {em.const(self._strong, hint)}"

    def reasons(self, value: Any) -> list[str]:
        if self.dead:
            return [f"{self.source}: expected {self._text} (garbage-collected), "
                    f"got {short_repr(value)}"]
        return [f"{self.source}: expected {self._text}, got {short_repr(value)}"]

    def describe(self) -> str:
        return f"{self.source} is {self._text}" + (" (dead)" if self.dead else "")

    def __repr__(self) -> str:
        return f"IdGuard({self.source!r}, {self._text})"


# Values an EqualsGuard accepts: immutable, compared by value.
_CONSTANT_TYPES = (type(None), bool, int, float, complex, str, bytes, type(Ellipsis), slice,
                   range, np.generic, np.dtype)


def _is_constant(value: Any) -> bool:
    if isinstance(value, (tuple, frozenset)):
        return all(_is_constant(v) for v in value)
    return isinstance(value, _CONSTANT_TYPES)


@dataclasses.dataclass(frozen=True, eq=False)
class EqualsGuard(Guard):
    """The value equals a constant and has exactly its type (recursively for tuples):
    ``1``, ``1.0`` and ``True`` differ, as do ``0.0`` and ``-0.0``; NaN equals NaN.
    Constants are immutable values (None, bool, int, float, complex, str, bytes, Ellipsis,
    slice, range, NumPy scalars and dtypes, tuples and frozensets of those); mutable
    containers are guarded through their items (LenGuard, DictKeysGuard, ItemSource)."""

    source: Source
    value: Any

    kind: ClassVar[str] = "EQUALS"

    def __post_init__(self) -> None:
        if not _is_constant(self.value):
            raise GuardError(f"{self.source}: EqualsGuard needs an immutable constant, got "
                             f"{type(self.value).__name__} (guard its type and items instead)")

    def key(self) -> tuple:
        return (self.source, type(self.value), _ExactKey(self.value))

    def emit(self, em: Emitter) -> str:
        v, c = em.value(self.source), self.value
        if c is None or c is True or c is False:
            return f"{v} is {c!r}"
        if c is Ellipsis:
            return f"{v} is {em.const(Ellipsis, 'Ellipsis')}"
        t = type(c)
        head = f"{em.const(type, 'type')}({v}) is {em.const(t, _hint(t.__name__))}"
        plain = t in (int, str, bytes) or (t is float and c == c and c != 0.0 and
                                            abs(c) != float("inf"))
        if plain:
            return f"{head} and {em.value(self.source)} == {c!r}"
        fn = em.const(runtime.exact_equal, "exact_equal")
        return f"{head} and {fn}({em.value(self.source)}, {em.const(c, 'const')})"

    def reasons(self, value: Any) -> list[str]:
        return [f"{self.source}: expected {_value_text(self.value, value)}, "
                f"got {_value_text(value, self.value)}"]

    def describe(self) -> str:
        return f"{self.source} == {short_repr(self.value)} ({type(self.value).__name__})"


class _ExactKey:
    """Hashable wrapper comparing with ``exact_equal`` (so 1 and True stay two guards)."""

    __slots__ = ("value",)

    def __init__(self, value: Any):
        self.value = value

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _ExactKey) and runtime.exact_equal(self.value, other.value)

    def __hash__(self) -> int:
        return _exact_hash(self.value)


def _exact_hash(value: Any) -> int:
    """A hash consistent with ``exact_equal`` (NaN's own hash is per object)."""
    if isinstance(value, (float, complex, np.generic)):
        return hash((type(value), repr(value)))
    if isinstance(value, tuple):
        return hash((tuple, *map(_exact_hash, value)))
    if isinstance(value, frozenset):
        return hash((frozenset, frozenset(map(_exact_hash, value))))
    if isinstance(value, slice):
        return hash((slice, _exact_hash((value.start, value.stop, value.step))))
    return hash((type(value), value))


@dataclasses.dataclass(frozen=True, eq=False)
class LenGuard(Guard):
    """``len(value) == n``. Put a TypeGuard on the same source too: ``len`` of an unknown
    type runs its code."""

    source: Source
    n: int

    kind: ClassVar[str] = "LEN"
    rank: ClassVar[int] = 1

    def key(self) -> tuple:
        return (self.source, self.n)

    def emit(self, em: Emitter) -> str:
        return f"{em.const(len, 'len')}({em.value(self.source)}) == {self.n!r}"

    def reasons(self, value: Any) -> list[str]:
        try:
            got: Any = len(value)
        except Exception:
            got = f"{type(value).__name__} without len"
        return [f"{self.source}: expected len {self.n}, got {got}"]

    def describe(self) -> str:
        return f"len({self.source}) == {self.n}"


@dataclasses.dataclass(frozen=True, eq=False)
class DictKeysGuard(Guard):
    """The mapping's keys, in iteration order, equal ``keys`` with exactly their types. Put
    a TypeGuard(dict) on the same source too."""

    source: Source
    keys: tuple

    kind: ClassVar[str] = "DICT_KEYS"
    rank: ClassVar[int] = 1

    def __post_init__(self) -> None:
        object.__setattr__(self, "keys", tuple(self.keys))

    def key(self) -> tuple:
        return (self.source, self.keys, tuple(map(type, self.keys)))

    def emit(self, em: Emitter) -> str:
        tup = em.const(tuple, "tuple")
        key_types = em.const(tuple(map(type, self.keys)), "key_types")
        return (f"{tup}({em.value(self.source)}) == {em.const(self.keys, 'keys')} and "
                f"{tup}({em.const(map, 'map')}({em.const(type, 'type')}, "
                f"{em.value(self.source)})) == {key_types}")

    def reasons(self, value: Any) -> list[str]:
        try:
            got = tuple(value)
        except Exception:
            return [f"{self.source}: expected keys {self.keys}, "
                    f"got {type(value).__name__} (not iterable)"]
        if got == self.keys:
            want_t = ", ".join(type(k).__name__ for k in self.keys)
            got_t = ", ".join(type(k).__name__ for k in got)
            return [f"{self.source}: expected key types ({want_t}), got ({got_t})"]
        return [f"{self.source}: expected keys {self.keys}, got {got}"]

    def describe(self) -> str:
        return f"keys({self.source}) == {self.keys}"


class NoAliasGuard(Guard):
    """No two of the arrays at ``sources`` can share memory (``runtime.arrays_disjoint``:
    distinct objects with disjoint byte extents; interleaved views count as overlapping).
    Every source needs an ArrayGuard in the same set, which runs first. The fast path: each
    array owns its data (distinct allocations) and they are distinct objects."""

    kind: ClassVar[str] = "NO_ALIAS"
    rank: ClassVar[int] = 9

    def __init__(self, sources: Sequence[Source]):
        sources = tuple(dict.fromkeys(sources))
        if len(sources) < 2:
            raise GuardError("NoAliasGuard needs at least two distinct sources")
        self._sources = sources

    @property
    def sources(self) -> tuple[Source, ...]:
        return self._sources

    def key(self) -> tuple:
        return (frozenset(self._sources),)

    def conflict_key(self) -> None:
        return None

    def emit(self, em: Emitter) -> str:
        flags = " & ".join(em.flags(s) for s in self._sources)
        vals = [em.value(s) for s in self._sources]
        distinct = [f"{a} is not {b}" for i, a in enumerate(vals) for b in vals[i + 1:]]
        fn = em.const(runtime.arrays_disjoint, "arrays_disjoint")
        return (f"({flags} & {runtime.FLAG_OWNDATA:#x} and {' and '.join(distinct)} "
                f"or {fn}({', '.join(em.value(s) for s in self._sources)}))")

    def reasons(self, *values: Any) -> list[str]:
        out = []
        for i, (sa, a) in enumerate(zip(self._sources, values)):
            for sb, b in zip(self._sources[i + 1:], values[i + 1:]):
                if a is b:
                    out.append(f"{sa} and {sb}: expected no shared memory, got the same array")
                elif not runtime.arrays_disjoint(a, b):
                    out.append(f"{sa} and {sb}: expected no shared memory, got overlapping "
                               "memory")
        return out

    def describe(self) -> str:
        return "no shared memory between " + ", ".join(map(str, self._sources))

    def __repr__(self) -> str:
        return f"NoAliasGuard({list(self._sources)!r})"
