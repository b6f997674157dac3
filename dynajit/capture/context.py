"""State shared by every frame of one trace (the compiled frame and its inlined callees):
the graph, the inputs and guards, the object identities seen, and side effects to replay.
It also holds the semantics of calls, attributes, subscripts and iteration over trackers."""

from __future__ import annotations

import builtins
import inspect
import operator
import types
from typing import Any

import numpy as np

from dynajit.capture.values import (
    VT,
    ArrayVT,
    CallableVT,
    CellVT,
    ConstVT,
    DictVT,
    FunctionVT,
    IteratorVT,
    NullVT,
    ObjectVT,
    SequenceVT,
    SliceVT,
)
from dynajit.errors import Unsupported
from dynajit.graph.graph import Graph, Node
from dynajit.graph.meta import TensorMeta
from dynajit.guards.runtime import is_device_array
from dynajit.guards.source import (
    AttrSource,
    GlobalSource,
    ItemSource,
)
from dynajit.ops.registry import attribute, bind, describe_callable, emit, is_numpy_callable
from dynajit.ops.shape import COPY_INTO, TUPLE_ITEM

_CONSTANT_TYPES = (bool, int, float, complex, str, bytes, type(None), range, slice,
                   type(Ellipsis), np.dtype)
_GENERATOR_FLAGS = (inspect.CO_GENERATOR | inspect.CO_COROUTINE | inspect.CO_ASYNC_GENERATOR
                    | inspect.CO_ITERABLE_COROUTINE)
_STATIC_ARRAY_ATTRS = {"shape", "dtype", "ndim", "size", "itemsize", "nbytes"}
_UNSAFE_BUILTINS = {print, input, open, exec, eval, compile, id, globals, locals, vars,
                    setattr, delattr, iter, next, breakpoint, memoryview, super, object}
_FOLDABLE_BUILTINS = {
    abs, all, any, bool, complex, divmod, float, int, len, max, min, pow, round, sum, str,
    repr, format, tuple, sorted, range, slice, isinstance, issubclass, type, hash, ord, chr,
    getattr, hasattr, callable, list, dict, reversed, zip, enumerate,
}


class GuardSpec:
    """One assumption: kind in {"array", "scalar", "type", "id", "equals", "len",
    "dict_keys", "same", "distinct"}; ``value`` is what was seen."""

    __slots__ = ("kind", "source", "value")

    def __init__(self, kind: str, source: Any, value: Any):
        self.kind, self.source, self.value = kind, source, value

    def __repr__(self) -> str:
        return f"GuardSpec({self.kind}, {self.source}, {self.value!r})"


class TraceContext:
    def __init__(self, fn: types.FunctionType, config: Any):
        self.fn = fn
        self.config = config
        self.graph = Graph()
        self.guards: dict[tuple, GuardSpec] = {}
        self.inputs: list[tuple[Any, ArrayVT]] = []  # graph placeholders in order
        self.input_values: list[Any] = []  # their values in this call (example inputs)
        self._by_id: dict[int, tuple[Any, VT]] = {}
        self._keepalive: list[Any] = []
        self._by_source: dict[Any, VT] = {}
        self.attr_stores: dict[tuple[int, str], tuple[ObjectVT, str, VT]] = {}
        self.global_stores: dict[tuple[Any, str], tuple[Any, str, VT]] = {}
        self.cell_stores: dict[int, tuple[CellVT, VT]] = {}
        self.mutated_containers: dict[int, VT] = {}
        self.instructions = 0
        self.in_loop = False
        # Bumped by every side effect the output code would replay; a graph break is only
        # taken when the failing instruction made none (its effects would run twice).
        self.effect_version = 0
        self.allow_breaks = True
        self.tracers: list[Any] = []  # the InstructionTracers running, innermost last

    def location(self) -> str | None:
        return self.tracers[-1].location() if self.tracers else None

    # ------------------------------------------------------------------------- budget
    def count_instruction(self, tracer: Any) -> None:
        self.instructions += 1
        if self.instructions > self.config.max_trace_instructions:
            raise Unsupported(f"more than config.max_trace_instructions "
                              f"({self.config.max_trace_instructions}) bytecode instructions "
                              "traced (a long Python loop)")

    def note_backward_jump(self) -> None:
        self.in_loop = True

    def _check_unroll(self) -> None:
        if self.in_loop and len(self.graph) > self.config.unroll_limit:
            raise Unsupported(f"a loop unrolled past config.unroll_limit "
                              f"({self.config.unroll_limit}) graph nodes; the graph would "
                              "grow with the trip count")

    # ------------------------------------------------------------------------- guards
    def guard(self, kind: str, source: Any, value: Any) -> None:
        if source is not None:
            self.guards.setdefault((kind, source), GuardSpec(kind, source, value))

    # ------------------------------------------------------------------------- wrapping
    def wrap(self, value: Any, source: Any, guarded: bool = True) -> VT:
        """The tracker for a real value read from ``source``, with the guards that make
        reusing the trace safe."""
        if source is not None and source in self._by_source:
            return self._by_source[source]
        vt = self._wrap(value, source if guarded else None)
        if source is not None:
            self._by_source[source] = vt
        return vt

    def _wrap(self, value: Any, source: Any) -> VT:
        seen = self._by_id.get(id(value))
        # Arrays read through two sources become two graph inputs (reads do not care about
        # aliasing; writes are checked in check_written_inputs_disjoint). Other mutable
        # objects must keep one identity.
        mutable = isinstance(value, (list, dict)) or not isinstance(
            value, (*_CONSTANT_TYPES, np.ndarray, np.generic, tuple, type,
                    types.FunctionType, types.BuiltinFunctionType, types.ModuleType,
                    np.ufunc)) and not is_numpy_callable(value) and not is_device_array(value)
        if seen is not None and mutable:
            first_source, vt = seen
            if first_source is not None and source is not None and first_source != source:
                raise input_dependent(f"{source} is the same object as {first_source} "
                                      "(one mutable object reached two ways is not "
                                      "supported yet)")
            return vt
        vt = self._new_tracker(value, source)
        if mutable:
            self._by_id[id(value)] = (source, vt)
            self._keepalive.append(value)
        return vt

    def _new_tracker(self, value: Any, source: Any) -> VT:
        if type(value) is np.ndarray:
            if value.dtype.kind not in "biufc":
                raise input_dependent(f"{source}: arrays of dtype {value.dtype} are not "
                                      "supported")
            self.guard("array", source, value)
            return self._input(value, source)
        if is_device_array(value):
            meta = TensorMeta.of(value)
            if meta.dtype.kind not in "biufc":
                raise input_dependent(f"{source}: GPU arrays of dtype {meta.dtype} are not "
                                      "supported")
            self.guard("device_array", source, value)
            return self._input(value, source)
        if isinstance(value, np.ndarray):
            raise input_dependent(f"{source}: ndarray subclass {type(value).__name__} is "
                                  "not supported")
        if isinstance(value, np.generic) and value.dtype.kind in "biufc":
            self.guard("scalar", source, value)
            return self._input(value, source)
        if isinstance(value, _CONSTANT_TYPES):
            self.guard("equals", source, value)
            return ConstVT(value, source)
        if type(value) in (tuple, list) or _is_namedtuple(value):
            self.guard("type", source, type(value))
            self.guard("len", source, len(value))
            items = [self.wrap(v, ItemSource(source, i) if source is not None else None)
                     for i, v in enumerate(value)]
            vt = SequenceVT(list if type(value) is list else tuple, items, source)
            vt.cls = type(value)  # a named tuple keeps its class for isinstance()
            return vt
        if type(value) is dict:
            if not all(isinstance(k, (str, int)) for k in value):
                raise Unsupported(f"{source}: dict keys must be str or int")
            self.guard("type", source, dict)
            self.guard("dict_keys", source, tuple(value))
            return DictVT({k: self.wrap(v, ItemSource(source, k) if source is not None else None)
                           for k, v in value.items()}, source)
        if isinstance(value, (types.FunctionType, types.BuiltinFunctionType, np.ufunc, type,
                              types.MethodDescriptorType, types.WrapperDescriptorType,
                              types.MethodWrapperType)) or is_numpy_callable(value) or (
                                  callable(value) and not hasattr(value, "__dict__")):
            self.guard("id", source, value)
            return CallableVT(value, source)
        if isinstance(value, types.MethodType):
            self.guard("type", source, types.MethodType)
            obj = self.wrap(value.__self__, AttrSource(source, "__self__") if source else None)
            func = self.wrap(value.__func__, AttrSource(source, "__func__") if source else None)
            return CallableVT(func.fn if isinstance(func, CallableVT) else value.__func__,
                              func.source, self_vt=obj)
        if isinstance(value, types.ModuleType):
            self.guard("id", source, value)
            return ObjectVT(value, source)
        self.guard("type", source, type(value))
        return ObjectVT(value, source)

    def _input(self, value: Any, source: Any) -> ArrayVT:
        name = _placeholder_name(source, len(self.inputs))
        node = self.graph.placeholder(name, TensorMeta.of(value))
        vt = ArrayVT(node, source)
        self.inputs.append((source, vt))
        self.input_values.append(value)
        return vt

    def array_constant(self, value: Any) -> VT:
        if isinstance(value, (np.ndarray, np.generic)) and value.dtype.kind in "biufc":
            return ArrayVT(self.graph.constant(value))
        return ConstVT(value)

    def tracker_of_source(self, source: Any) -> VT | None:
        return self._by_source.get(source)

    def check_written_inputs_disjoint(self) -> None:
        """In-place writes into inputs are only traced when no two array inputs overlap in
        memory (the entry then guards that with NoAliasGuard)."""
        written = [vt for _, vt in self.inputs if vt.node is not vt.original]
        if not written:
            return
        for (source, vt), value in zip(self.inputs, self.input_values):
            if vt.node is not vt.original and is_device_array(value):
                raise input_dependent(f"{source} is a GPU array and the function writes "
                                      "into it (in-place writes into GPU inputs are not "
                                      "supported yet)")
            if vt.node is not vt.original and not value.flags.writeable:
                raise input_dependent(f"{source} is read-only and the function writes into "
                                      "it (eager code raises ValueError)")
        arrays = [v for v in self.input_values if isinstance(v, np.ndarray)]
        for i, a in enumerate(arrays):
            for b in arrays[i + 1:]:
                if np.shares_memory(a, b):
                    raise input_dependent("an input array written in place overlaps another "
                                          "input array (aliasing is not modelled yet)")

    # ------------------------------------------------------------------------- globals
    def load_global(self, f_globals: dict, name: str, globals_source: Any) -> VT:
        key = (globals_source, name)
        if key in self.global_stores:
            return self.global_stores[key][2]
        if name in f_globals:
            src = GlobalSource(name) if globals_source is None else ItemSource(globals_source, name)
            return self.wrap(f_globals[name], src)
        if hasattr(builtins, name):
            return CallableVT(getattr(builtins, name)) if callable(
                getattr(builtins, name)) else ConstVT(getattr(builtins, name))
        raise Unsupported(f"name {name!r} is not defined (NameError in eager code)")

    def store_global(self, f_globals: dict, name: str, value: VT, globals_source: Any) -> None:
        self.global_stores[(globals_source, name)] = (globals_source, name, value)
        self.effect_version += 1

    # ------------------------------------------------------------------------- attributes
    def getattr(self, obj: VT, name: str) -> VT:
        if isinstance(obj, ArrayVT):
            return self._array_attr(obj, name)
        if isinstance(obj, ObjectVT):
            stored = self.attr_stores.get((id(obj.obj), name))
            if stored is not None:
                return stored[2]
            return self._object_attr(obj, name)
        if isinstance(obj, (SequenceVT, DictVT)):
            method = getattr(obj.python_type(), name, None)
            if method is None:
                raise Unsupported(f"{obj.python_type().__name__} has no attribute {name!r}")
            return CallableVT(method, self_vt=obj)
        if isinstance(obj, ConstVT):
            try:
                value = getattr(obj.value, name)
            except AttributeError as e:
                raise Unsupported(f"{e} (AttributeError in eager code)") from None
            if callable(value) and not isinstance(value, type):
                return CallableVT(value)
            return ConstVT(value)
        if isinstance(obj, CallableVT) and obj.self_vt is None:
            return self.wrap(getattr(obj.fn, name), AttrSource(obj.source, name)
                             if obj.source is not None else None)
        raise Unsupported(f"attribute {name!r} of {obj}")

    def _array_attr(self, obj: ArrayVT, name: str) -> VT:
        if name in _STATIC_ARRAY_ATTRS:
            meta = obj.meta
            return ConstVT(meta.dtype.itemsize if name == "itemsize" else getattr(meta, name))
        if name in ("T", "mT", "real", "imag"):
            return self.call(CallableVT(attribute(name)), [obj], {})
        method = getattr(np.ndarray, name, None)
        if method is None or not callable(method):
            raise Unsupported(f"ndarray attribute {name!r} is not supported")
        if obj.meta.scalar:
            # NumPy scalar methods are not in the registry: calling one is a graph break.
            scalar_method = getattr(obj.meta.dtype.type, name, None)
            if scalar_method is None:
                raise Unsupported(f"NumPy scalars have no attribute {name!r}")
            return CallableVT(scalar_method, self_vt=obj)
        return CallableVT(method, self_vt=obj)

    def _object_attr(self, obj: ObjectVT, name: str) -> VT:
        target = obj.obj
        src = AttrSource(obj.source, name) if obj.source is not None else None
        if isinstance(target, types.ModuleType):
            try:
                value = getattr(target, name)
            except AttributeError as e:
                raise Unsupported(f"{e} (AttributeError in eager code)") from None
            # Module attributes are treated as constants (not guarded): rebinding e.g.
            # np.tanh after compiling is not detected (see docs/capture.md). An object read
            # this way keeps its source so a graph break can hand it on (sys.stderr).
            vt = self.wrap(value, src, guarded=False)
            if isinstance(vt, ObjectVT) and vt.source is None:
                vt.source = src
            return vt
        cls_attr = inspect.getattr_static(type(target), name, None)
        if isinstance(cls_attr, property):
            raise Unsupported(f"property {type(target).__name__}.{name} is not supported")
        instance_dict = getattr(target, "__dict__", {})
        if name not in instance_dict and isinstance(cls_attr, types.FunctionType):
            # A method: the object's type is guarded, so the class attribute is fixed; the
            # instance's own attribute names are guarded too, so an instance attribute
            # shadowing the method later is noticed.
            if obj.source is not None and hasattr(target, "__dict__"):
                self.guard("dict_keys", AttrSource(obj.source, "__dict__"),
                           tuple(instance_dict))
            return CallableVT(cls_attr, AttrSource(AttrSource(obj.source, "__class__"), name)
                              if obj.source is not None else None, self_vt=obj)
        if name not in instance_dict and isinstance(cls_attr, (staticmethod, classmethod)):
            raise Unsupported(f"{type(target).__name__}.{name}: static/class methods are "
                              "not supported")
        try:
            value = getattr(target, name)
        except AttributeError as e:
            raise Unsupported(f"{e} (AttributeError in eager code)") from None
        return self.wrap(value, src)

    def setattr(self, obj: VT, name: str, value: VT) -> None:
        if not isinstance(obj, ObjectVT) or isinstance(obj.obj, types.ModuleType):
            raise Unsupported(f"storing attribute {name!r} on {obj}")
        if obj.source is None:
            raise Unsupported(f"storing attribute {name!r} on an object without a source")
        self.attr_stores[(id(obj.obj), name)] = (obj, name, value)
        self.effect_version += 1

    # ------------------------------------------------------------------------- subscripts
    def getitem(self, container: VT, index: VT) -> VT:
        if isinstance(container, ArrayVT):
            return self.call(CallableVT(operator.getitem), [container, index], {})
        if isinstance(container, SequenceVT):
            key = index.constant()
            try:
                picked = container.items[key]
            except IndexError as e:
                raise Unsupported(f"{e} (IndexError in eager code)") from None
            except TypeError as e:
                raise Unsupported(f"{e} (TypeError in eager code)") from None
            return SequenceVT(container.kind, picked) if isinstance(key, slice) else picked
        if isinstance(container, DictVT):
            key = index.constant()
            if key not in container.items:
                raise Unsupported(f"key {key!r} is not in the dict (KeyError in eager code)")
            return container.items[key]
        if isinstance(container, ConstVT):
            if isinstance(index, ArrayVT):
                raise Unsupported("indexing a Python value with an array value")
            return self._fold(operator.getitem, [container, index], {})
        raise Unsupported(f"subscript of {container}")

    def setitem(self, container: VT, index: VT, value: VT) -> None:
        if isinstance(container, ArrayVT):
            self.call(CallableVT(operator.setitem), [container, index, value], {})
            return
        if isinstance(container, SequenceVT) and container.kind is list:
            key = index.constant()
            items = self.list_mutated(container).items
            if isinstance(key, slice):
                items[key] = self.unpack(value)
            else:
                try:
                    items[key] = value
                except IndexError as e:
                    raise Unsupported(f"{e} (IndexError in eager code)") from None
            return
        if isinstance(container, DictVT):
            self.dict_mutated(container).items[self.key(index)] = value
            return
        raise Unsupported(f"item assignment on {container}")

    def delitem(self, container: VT, index: VT) -> None:
        if isinstance(container, SequenceVT) and container.kind is list:
            del self.list_mutated(container).items[index.constant()]
        elif isinstance(container, DictVT):
            self.dict_mutated(container).items.pop(self.key(index))
        else:
            raise Unsupported(f"del on {container}")

    def key(self, vt: VT) -> Any:
        key = vt.constant()
        try:
            hash(key)
        except TypeError:
            raise Unsupported(f"unhashable dict key {key!r}") from None
        return key

    def list_mutated(self, vt: VT) -> SequenceVT:
        if not (isinstance(vt, SequenceVT) and vt.kind is list):
            raise Unsupported(f"list operation on {vt}")
        vt.mutated = True
        self.mutated_containers[id(vt)] = vt
        self.effect_version += 1
        return vt

    def dict_mutated(self, vt: VT) -> DictVT:
        if not isinstance(vt, DictVT):
            raise Unsupported(f"dict operation on {vt}")
        vt.mutated = True
        self.mutated_containers[id(vt)] = vt
        self.effect_version += 1
        return vt

    # ------------------------------------------------------------------------- iteration
    def unpack(self, vt: VT) -> list[VT]:
        if isinstance(vt, SequenceVT):
            return list(vt.items)
        if isinstance(vt, IteratorVT):
            rest = vt.items[vt.index:]
            vt.index = len(vt.items)
            return rest
        if isinstance(vt, DictVT):
            return [ConstVT(k) for k in vt.items]
        if isinstance(vt, ConstVT):
            try:
                return [ConstVT(v) for v in vt.value]
            except TypeError as e:
                raise Unsupported(f"{e} (TypeError in eager code)") from None
        if isinstance(vt, ArrayVT):
            if vt.meta.ndim == 0:
                raise Unsupported("iteration over a 0-d array (TypeError in eager code)")
            return [self.getitem(vt, ConstVT(i)) for i in range(vt.meta.shape[0])]
        raise Unsupported(f"cannot iterate over {vt}")

    def iterate(self, vt: VT) -> IteratorVT:
        if isinstance(vt, IteratorVT):
            return vt
        return IteratorVT(self.unpack(vt))

    def is_same(self, a: VT, b: VT) -> bool:
        if (isinstance(a, ArrayVT) and isinstance(b, ArrayVT) and a is not b
                and a.source is not None and b.source is not None):
            raise Unsupported(f"`is` between input arrays {a.source} and {b.source} (their "
                              "identity is not guarded)")
        if isinstance(a, ConstVT) and isinstance(b, ConstVT):
            return a.value is b.value
        if isinstance(a, ObjectVT) and isinstance(b, ObjectVT):
            return a.obj is b.obj
        if isinstance(a, CallableVT) and isinstance(b, CallableVT):
            return a.fn is b.fn and a.self_vt is b.self_vt
        return a is b

    def contains(self, container: VT, item: VT) -> bool:
        if isinstance(container, DictVT):
            return self.key(item) in container.items
        if isinstance(item, ArrayVT) or isinstance(container, ArrayVT):
            raise Unsupported("`in` with array values depends on the data")
        items = self.unpack(container)
        target = item.constant()
        return any(i.is_constant() and i.constant() == target for i in items) if all(
            i.is_constant() for i in items) else _unsupported("`in` over non-constant items")

    # ------------------------------------------------------------------------- calls
    def call(self, fn: VT, args: list[VT], kwargs: dict[str, VT]) -> VT:
        if isinstance(fn, FunctionVT):
            return self.inline(fn.code, fn.globals, list(fn.defaults), dict(fn.kwdefaults),
                               list(fn.closure), args, kwargs, fn.globals_source)
        traced = getattr(fn, "trace_call", None)  # gradient transforms (transforms.py)
        if traced is not None:
            return traced(self, args, kwargs)
        if isinstance(fn, ObjectVT):
            hook = inspect.getattr_static(type(fn.obj), "_dynajit_trace_call", None)
            if hook is not None:
                return hook(fn.obj, self, fn, args, kwargs)
            call = inspect.getattr_static(type(fn.obj), "__call__", None)
            if isinstance(call, types.FunctionType):
                self.guard("dict_keys", AttrSource(fn.source, "__dict__"),
                           tuple(getattr(fn.obj, "__dict__", {})))
                return self.inline_function(call, AttrSource(AttrSource(
                    fn.source, "__class__"), "__call__") if fn.source is not None else None,
                    [fn, *args], kwargs)
            raise Unsupported(f"calling a {type(fn.obj).__name__} object")
        if not isinstance(fn, CallableVT):
            raise Unsupported(f"calling {fn}")
        target = fn.fn
        if getattr(target, "_dynajit_disabled", False):
            raise Unsupported(f"{target.__qualname__} is marked @dynajit.disable")
        original = getattr(target, "_dynajit_original", None)
        if original is not None:  # a dynajit.compile wrapper: trace what it wraps
            return self.inline_function(original, AttrSource(fn.source, "_dynajit_original")
                                        if fn.source is not None else None, args, kwargs)
        if isinstance(target, types.FunctionType) and fn.self_vt is None:
            hook = target.__dict__.get("_dynajit_trace_call")  # dynajit.grad, vjp, ...
            if hook is not None:
                return hook(self, fn, args, kwargs)
        if target in _SEQUENCE_OPERATORS and len(args) == 2 and any(
                isinstance(a, SequenceVT) for a in args):
            return self._sequence_operator(target, args)
        if fn.self_vt is not None:
            if isinstance(fn.self_vt, (SequenceVT, DictVT)):
                return self._container_method(fn.self_vt, target, args, kwargs)
            args = [fn.self_vt, *args]
        special = _SPECIAL_CALLS.get(target)
        if special is not None:
            return special(self, args, kwargs)
        if isinstance(target, types.FunctionType) and not is_numpy_callable(target):
            return self.inline_function(target, fn.source, args, kwargs)
        if _has_array(args) or _has_array(list(kwargs.values())) or (
                is_numpy_callable(target) and _lookup_ok(target)):
            result = self._registry_call(target, args, kwargs)
            if result is not None:
                return result
        if all(a.is_constant() for a in args) and all(v.is_constant() for v in
                                                       kwargs.values()):
            return self._fold(target, args, kwargs)
        raise Unsupported(f"call to {describe_callable(target)} is not supported while tracing")

    def _sequence_operator(self, target: Any, args: list[VT]) -> VT:
        """``+``/``*``/``+=`` on lists and tuples: Python's semantics, item by item."""
        a, b = args
        if target in (operator.add, operator.iadd) and isinstance(a, SequenceVT) and \
                isinstance(b, SequenceVT) and a.kind is b.kind:
            if target is operator.iadd and a.kind is list:
                self.list_mutated(a).items.extend(b.items)
                return a
            return SequenceVT(a.kind, a.items + b.items)
        if target in (operator.iadd,) and isinstance(a, SequenceVT) and a.kind is list:
            self.list_mutated(a).items.extend(self.unpack(b))
            return a
        if target in (operator.mul, operator.imul):
            seq, times = (a, b) if isinstance(a, SequenceVT) else (b, a)
            if isinstance(times, ConstVT) and type(times.value) is int:
                return SequenceVT(seq.kind, seq.items * times.value)
        raise Unsupported(f"{describe_callable(target)} on {a} and {b}")

    def _registry_call(self, target: Any, args: list[VT], kwargs: dict[str, VT]) -> VT | None:
        g_args = tuple(_to_graph(a) for a in args)
        g_kwargs = {k: _to_graph(v) for k, v in kwargs.items()}
        try:
            bound = bind(target, g_args, g_kwargs)
        except Unsupported:
            raise
        except Exception as e:  # noqa: BLE001 - NumPy's own error for these arguments
            raise Unsupported(f"{describe_callable(target)} raised {type(e).__name__}: {e} "
                              "(eager code raises it too)") from None
        if bound is None:
            return None
        if isinstance(bound, Node):
            return _find_tracker(bound, args, kwargs) or ArrayVT(bound)
        before = self.graph.last_node
        try:
            node = emit(self.graph, bound)
        except Unsupported:
            raise
        except Exception as e:  # noqa: BLE001
            raise Unsupported(f"{describe_callable(target)} raised {type(e).__name__}: {e} "
                              "(eager code raises it too)") from None
        self._check_unroll()
        where = self.location()
        for new in self.graph.nodes_after(before):
            new.source = new.source or where
        if bound.out is not None:
            out_vt = _find_tracker(bound.out, args, kwargs)
            if out_vt is None:
                raise Unsupported("out= target is not a traced array")
            if out_vt.base is not None or out_vt.has_views:
                raise Unsupported("writing into an array that is a view or has views "
                                  "(aliasing is not modelled yet)")
            out_vt.node = node
            self.effect_version += 1
            return out_vt
        return self._wrap_result(node, bound.op, args)

    def _wrap_result(self, node: Node, op: Any, args: list[VT]) -> VT:
        if isinstance(node.meta, tuple):
            items = [ArrayVT(self.graph.call(TUPLE_ITEM, (node, i)))
                     for i in range(len(node.meta))]
            return SequenceVT(list if op.output_container is list else tuple, items)
        base = None
        if op.view:
            first = next((a for a in args if isinstance(a, ArrayVT)), None)
            if first is not None:
                base = first.base or first
                base.has_views = True
        return ArrayVT(node, base=base)

    def _fold(self, target: Any, args: list[VT], kwargs: dict[str, VT]) -> VT:
        if not _foldable(target):
            raise Unsupported(f"call to {describe_callable(target)} has side effects or is "
                              "not supported while tracing")
        try:
            value = target(*[a.constant() for a in args],
                           **{k: v.constant() for k, v in kwargs.items()})
        except Unsupported:
            raise
        except Exception as e:  # noqa: BLE001
            raise Unsupported(f"{describe_callable(target)} raised {type(e).__name__}: {e} "
                              "(eager code raises it too)") from None
        return self._from_python(value)

    def _from_python(self, value: Any) -> VT:
        if isinstance(value, (np.ndarray, np.generic)):
            return self.array_constant(value)
        if isinstance(value, (list, tuple)) and type(value) in (list, tuple):
            return SequenceVT(type(value), [self._from_python(v) for v in value])
        if isinstance(value, (map, filter, zip, enumerate, reversed)) or inspect.isgenerator(
                value):
            return IteratorVT([self._from_python(v) for v in value])
        if isinstance(value, dict):
            return DictVT({k: self._from_python(v) for k, v in value.items()})
        if callable(value) and not isinstance(value, type):
            return CallableVT(value)
        return ConstVT(value)

    def _container_method(self, obj: VT, method: Any, args: list[VT],
                          kwargs: dict[str, VT]) -> VT:
        name = method.__name__
        if isinstance(obj, SequenceVT):
            if obj.kind is list and name in ("append", "extend", "insert", "pop", "clear",
                                             "reverse"):
                items = self.list_mutated(obj).items
                if name == "append":
                    items.append(args[0])
                elif name == "extend":
                    items.extend(self.unpack(args[0]))
                elif name == "insert":
                    items.insert(args[0].constant(), args[1])
                elif name == "pop":
                    return items.pop(args[0].constant() if args else -1)
                elif name == "clear":
                    items.clear()
                else:
                    items.reverse()
                return ConstVT(None)
            if name == "copy":
                return SequenceVT(obj.kind, obj.items)
            if name in ("index", "count") and all(i.is_constant() for i in obj.items):
                values = [i.constant() for i in obj.items]
                return ConstVT(getattr(values, name)(*[a.constant() for a in args]))
        if isinstance(obj, DictVT):
            if name == "keys":
                return SequenceVT(tuple, [ConstVT(k) for k in obj.items])
            if name == "values":
                return SequenceVT(tuple, list(obj.items.values()))
            if name == "items":
                return SequenceVT(tuple, [SequenceVT(tuple, [ConstVT(k), v])
                                          for k, v in obj.items.items()])
            if name == "get":
                key = self.key(args[0])
                return obj.items.get(key, args[1] if len(args) > 1 else ConstVT(None))
            if name == "copy":
                return DictVT(obj.items)
            if name in ("update", "pop", "setdefault", "clear"):
                items = self.dict_mutated(obj).items
                if name == "update":
                    other = args[0] if args else DictVT(kwargs)
                    if not isinstance(other, DictVT):
                        raise Unsupported("dict.update from a non-dict")
                    items.update(other.items)
                    return ConstVT(None)
                if name == "pop":
                    key = self.key(args[0])
                    if key not in items and len(args) < 2:
                        raise Unsupported(f"key {key!r} is not in the dict")
                    return items.pop(key, args[1] if len(args) > 1 else None)
                if name == "setdefault":
                    return items.setdefault(self.key(args[0]), args[1] if len(args) > 1
                                            else ConstVT(None))
                items.clear()
                return ConstVT(None)
        raise Unsupported(f"{type(obj).__name__[:-2].lower()}.{name} is not supported")

    # ------------------------------------------------------------------------- inlining
    def inline_function(self, fn: types.FunctionType, source: Any, args: list[VT],
                        kwargs: dict[str, VT]) -> VT:
        if fn.__closure__ and source is None:
            raise Unsupported(f"cannot guard the closure of {fn.__qualname__}")
        cells = []
        for i, cell in enumerate(fn.__closure__ or ()):
            try:
                contents = cell.cell_contents
            except ValueError:
                cells.append(CellVT(None))
                continue
            cells.append(CellVT(self.wrap(contents, closure_cell_of(source, i))))
        globals_source = None
        if fn.__globals__ is not self.fn.__globals__:
            if source is None:
                raise Unsupported(f"cannot guard the globals of {fn.__qualname__}")
            globals_source = AttrSource(source, "__globals__")
        if source is not None:
            defaults = [self.wrap(d, ItemSource(AttrSource(source, "__defaults__"), i))
                        for i, d in enumerate(fn.__defaults__ or ())]
            kwdefaults = {k: self.wrap(v, ItemSource(AttrSource(source, "__kwdefaults__"), k))
                          for k, v in (fn.__kwdefaults__ or {}).items()}
        else:
            defaults = [self._from_python(d) for d in (fn.__defaults__ or ())]
            kwdefaults = {k: self._from_python(v)
                          for k, v in (fn.__kwdefaults__ or {}).items()}
        return self.inline(fn.__code__, fn.__globals__, defaults, kwdefaults, cells, args,
                           kwargs, globals_source)

    def inline(self, code: types.CodeType, f_globals: dict, defaults: list[VT],
               kwdefaults: dict[str, VT], closure: list[CellVT], args: list[VT],
               kwargs: dict[str, VT], globals_source: Any) -> VT:
        from dynajit.capture.tracer import InstructionTracer

        depth = getattr(self, "_depth", 0)
        if depth >= self.config.inline_depth:
            raise Unsupported(f"inlining deeper than config.inline_depth "
                              f"({self.config.inline_depth}) (recursion?)")
        if code.co_flags & _GENERATOR_FLAGS:
            raise Unsupported(f"{code.co_name} is a generator or coroutine")
        locals_ = bind_arguments(code, defaults, kwdefaults, args, kwargs)
        cells = dict(zip(code.co_freevars, closure))
        self._depth = depth + 1
        try:
            tracer = InstructionTracer(self, code, f_globals, locals_, cells, depth + 1,
                                       globals_source)
            result = tracer.run()
        finally:
            self._depth = depth
        return result

    def graph_break(self, tracer: Any, inst: Any, before: tuple,
                    error: Unsupported) -> BaseException:
        """The exception to raise for ``error`` at instruction ``inst`` of the compiled frame:
        a GraphBreak when the frame can stop there and resume after it, else ``error``
        itself with the reason no break was possible appended."""
        stack, locals_, kw_names, version = before

        def refuse(why: str) -> Unsupported:
            error.args = (f"{error.args[0]}; no graph break possible: {why}",)
            return error

        if not self.allow_breaks or getattr(error, "input_dependent", False):
            return error
        if inst.opname not in BREAKABLE_OPS:
            return refuse(f"{inst.opname} cannot run on its own in the frame's place")
        if self.effect_version != version:
            return refuse("the instruction had side effects before the unsupported part")
        if any(start <= inst.offset <= end for start, end in tracer.loop_ranges()):
            return refuse("it is inside a loop (the rest of the loop would be a new frame "
                          "per iteration)")
        if tracer.code.co_cellvars:
            return refuse("the function has variables captured by inner functions")
        for vt in [*stack, *locals_.values()]:
            why = _not_rebuildable(vt)
            if why is not None:
                return refuse(why)
        return GraphBreak(tracer, inst, stack, locals_, kw_names, error)

    def record_cell_store(self, cell: CellVT, value: VT) -> None:
        self.cell_stores[id(cell)] = (cell, value)
        self.effect_version += 1


def closure_cell_of(function_source: Any, index: int) -> Any:
    """The contents of closure cell ``index`` of the function read from ``function_source``."""
    return AttrSource(ItemSource(AttrSource(function_source, "__closure__"), index),
                      "cell_contents")


_SEQUENCE_OPERATORS = {operator.add, operator.iadd, operator.mul, operator.imul}

# Instructions a graph break can run eagerly in the output code (see output.py).
BREAKABLE_OPS = frozenset({
    "CALL", "CALL_FUNCTION_EX", "BEFORE_WITH", "BINARY_OP", "COMPARE_OP", "BINARY_SUBSCR",
    "CONTAINS_OP", "UNARY_NOT", "UNARY_NEGATIVE", "UNARY_INVERT",
    "POP_JUMP_IF_TRUE", "POP_JUMP_IF_FALSE", "POP_JUMP_IF_NONE", "POP_JUMP_IF_NOT_NONE",
    "POP_JUMP_FORWARD_IF_TRUE", "POP_JUMP_FORWARD_IF_FALSE", "POP_JUMP_FORWARD_IF_NONE",
    "POP_JUMP_FORWARD_IF_NOT_NONE",
})


class GraphBreak(Exception):  # noqa: N818 - a control-flow signal, not an error
    """The compiled frame stops before ``inst``: what was traced becomes the graph, ``inst``
    runs eagerly, and a resume function continues after it."""

    def __init__(self, tracer: Any, inst: Any, stack: list[VT], locals_: dict[str, VT],
                 kw_names: tuple, reason: Unsupported):
        super().__init__(str(reason))
        self.tracer = tracer
        self.inst = inst
        self.stack = stack
        self.locals = locals_
        self.kw_names = kw_names
        self.reason = reason


def _is_namedtuple(value: Any) -> bool:
    return isinstance(value, tuple) and hasattr(type(value), "_fields")


def _not_rebuildable(vt: VT) -> str | None:
    """Why ``vt`` cannot be handed to a resume function as a real Python value, or None."""
    if isinstance(vt, IteratorVT):
        return "a live iterator (a loop or iter())"
    if isinstance(vt, (FunctionVT, CellVT)):
        return "a function defined inside the compiled code"
    if isinstance(vt, CallableVT) and vt.self_vt is not None:
        return _not_rebuildable(vt.self_vt)
    if isinstance(vt, ObjectVT) and vt.source is None:
        return "an object created while tracing"
    if isinstance(vt, SequenceVT):
        return next(filter(None, map(_not_rebuildable, vt.items)), None)
    if isinstance(vt, DictVT):
        return next(filter(None, map(_not_rebuildable, vt.items.values())), None)
    return None


def input_dependent(reason: str) -> Unsupported:
    """An Unsupported that depends on this call's inputs (an ndarray subclass, an object
    passed twice): the frame runs eagerly this time but may compile for other inputs."""
    e = Unsupported(reason)
    e.input_dependent = True
    return e


def bind_arguments(code: types.CodeType, defaults: list[VT], kwdefaults: dict[str, VT],
                   args: list[VT], kwargs: dict[str, VT]) -> dict[str, VT]:
    """Python's argument binding over trackers; a mismatch is the TypeError eager code
    would raise, reported as Unsupported."""
    npos, nkw = code.co_argcount, code.co_kwonlyargcount
    names = code.co_varnames
    has_var = bool(code.co_flags & inspect.CO_VARARGS)
    has_kw = bool(code.co_flags & inspect.CO_VARKEYWORDS)
    bound: dict[str, VT] = {}
    if len(args) > npos and not has_var:
        raise Unsupported(f"{code.co_name}() takes {npos} positional arguments but "
                          f"{len(args)} were given (TypeError in eager code)")
    for name, value in zip(names[:npos], args):
        bound[name] = value
    index = npos + nkw
    if has_var:
        bound[names[index]] = SequenceVT(tuple, args[npos:])
        index += 1
    extra: dict[str, VT] = {}
    posonly = code.co_posonlyargcount
    for key, value in kwargs.items():
        if key in names[posonly:npos + nkw]:
            if key in bound:
                raise Unsupported(f"{code.co_name}() got multiple values for argument {key!r}")
            bound[key] = value
        elif has_kw:
            extra[key] = value
        else:
            raise Unsupported(f"{code.co_name}() got an unexpected keyword argument {key!r}")
    if has_kw:
        bound[names[index]] = DictVT(extra)
    first_default = npos - len(defaults)
    for i, name in enumerate(names[:npos]):
        if name not in bound:
            if i >= first_default:
                bound[name] = defaults[i - first_default]
            else:
                raise Unsupported(f"{code.co_name}() missing argument {name!r}")
    for name in names[npos:npos + nkw]:
        if name not in bound:
            if name not in kwdefaults:
                raise Unsupported(f"{code.co_name}() missing keyword-only argument {name!r}")
            bound[name] = kwdefaults[name]
    return bound


def _placeholder_name(source: Any, index: int) -> str:
    text = str(source) if source is not None else f"input{index}"
    for ch in "[]'\". ":
        text = text.replace(ch, "_")
    return "_".join(p for p in text.split("_") if p) or f"input{index}"


def _has_array(values: list[VT]) -> bool:
    for v in values:
        if isinstance(v, ArrayVT):
            return True
        if isinstance(v, SequenceVT) and _has_array(v.items):
            return True
        if isinstance(v, DictVT) and _has_array(list(v.items.values())):
            return True
        if isinstance(v, SliceVT) and _has_array(list(v.parts)):
            return True
    return False


def _lookup_ok(target: Any) -> bool:
    from dynajit.ops.registry import lookup

    return lookup(target) is not None


def _to_graph(vt: VT) -> Any:
    if isinstance(vt, ArrayVT):
        return vt.node
    if isinstance(vt, ConstVT):
        return vt.value
    if isinstance(vt, SequenceVT):
        return vt.kind(_to_graph(i) for i in vt.items)
    if isinstance(vt, SliceVT):
        return slice(*(_to_graph(p) for p in vt.parts))
    if isinstance(vt, DictVT):
        return {k: _to_graph(v) for k, v in vt.items.items()}
    if isinstance(vt, CallableVT) and vt.self_vt is None:
        return vt.fn
    if isinstance(vt, NullVT):
        raise Unsupported("NULL passed as an argument")
    raise Unsupported(f"{vt} cannot be passed to a NumPy function while tracing")


def _find_tracker(node: Node, args: list[VT], kwargs: dict[str, VT]) -> ArrayVT | None:
    stack = list(args) + list(kwargs.values())
    while stack:
        v = stack.pop()
        if isinstance(v, ArrayVT) and v.node is node:
            return v
        if isinstance(v, SequenceVT):
            stack.extend(v.items)
    return None


def _foldable(fn: Any) -> bool:
    if fn in _UNSAFE_BUILTINS:
        return False
    if fn in _FOLDABLE_BUILTINS:
        return True
    module = getattr(fn, "__module__", None) or ""
    if module in ("math", "operator", "_operator", "cmath"):
        return True
    if is_numpy_callable(fn) or isinstance(fn, type) and issubclass(fn, np.generic):
        return not (module.startswith("numpy.random") or getattr(fn, "__name__", "") in
                    ("seterr", "save", "load", "savetxt", "loadtxt", "copyto", "put",
                     "place", "putmask", "fill_diagonal", "errstate"))
    owner = getattr(fn, "__self__", None)
    if isinstance(owner, (str, int, float, complex, tuple, bytes, np.dtype, range)):
        return True
    return fn is np.dtype


def _unsupported(reason: str) -> Any:
    raise Unsupported(reason)


# ----------------------------------------------------------------------------- builtins
def _len(ctx: TraceContext, args: list[VT], kwargs: dict) -> VT:
    (obj,) = args
    if isinstance(obj, ArrayVT):
        if obj.meta.ndim == 0:
            raise Unsupported("len() of a 0-d array (TypeError in eager code)")
        return ConstVT(obj.meta.shape[0])
    if isinstance(obj, (SequenceVT, DictVT)):
        return ConstVT(len(obj.items))
    return ctx._fold(len, args, kwargs)


def _isinstance(ctx: TraceContext, args: list[VT], kwargs: dict) -> VT:
    obj, cls = args
    classes = cls.constant()
    return ConstVT(issubclass(obj.python_type(), classes))


def _data_dependent(name: str) -> Any:
    def handler(ctx: TraceContext, args: list[VT], kwargs: dict) -> VT:
        if _has_array(args):
            raise Unsupported(f"{name}() of an array value depends on the data")
        return ctx._fold(getattr(builtins, name), args, kwargs)

    return handler


def _sequence_builtin(kind: type) -> Any:
    def handler(ctx: TraceContext, args: list[VT], kwargs: dict) -> VT:
        if not args:
            return SequenceVT(kind, [])
        return SequenceVT(kind, ctx.unpack(args[0]))

    return handler


def _dict_builtin(ctx: TraceContext, args: list[VT], kwargs: dict) -> VT:
    items: dict = {}
    if args:
        src = args[0]
        if isinstance(src, DictVT):
            items.update(src.items)
        else:
            for pair in ctx.unpack(src):
                k, v = ctx.unpack(pair)
                items[ctx.key(k)] = v
    items.update(kwargs)
    return DictVT(items)


def _zip(ctx: TraceContext, args: list[VT], kwargs: dict) -> VT:
    columns = [ctx.unpack(a) for a in args]
    return IteratorVT([SequenceVT(tuple, list(row)) for row in zip(*columns)])


def _enumerate(ctx: TraceContext, args: list[VT], kwargs: dict) -> VT:
    start = (args[1] if len(args) > 1 else kwargs.get("start", ConstVT(0))).constant()
    return IteratorVT([SequenceVT(tuple, [ConstVT(i), v])
                       for i, v in enumerate(ctx.unpack(args[0]), start)])


def _reversed(ctx: TraceContext, args: list[VT], kwargs: dict) -> VT:
    return IteratorVT(list(reversed(ctx.unpack(args[0]))))


def _reduce_builtin(name: str) -> Any:
    """min/max/sum over Python iterables: folded for constants; ``sum`` of arrays is a
    chain of additions (exactly what Python does)."""
    def handler(ctx: TraceContext, args: list[VT], kwargs: dict) -> VT:
        if len(args) == 1 and not isinstance(args[0], ArrayVT):
            items = ctx.unpack(args[0])
            if name == "sum" and _has_array(items):
                total = kwargs.get("start", ConstVT(0))
                for item in items:
                    total = ctx.call(CallableVT(operator.add), [total, item], {})
                return total
            if all(i.is_constant() for i in items):
                return ctx._fold(getattr(builtins, name), [SequenceVT(tuple, items)], kwargs)
        if _has_array(args):
            raise Unsupported(f"{name}() over array values compares data (use np.{name})")
        return ctx._fold(getattr(builtins, name), args, kwargs)

    return handler


def _getattr_builtin(ctx: TraceContext, args: list[VT], kwargs: dict) -> VT:
    obj, name = args[0], args[1].constant()
    try:
        return ctx.getattr(obj, name)
    except Unsupported:
        if len(args) > 2:
            return args[2]
        raise


def _type_builtin(ctx: TraceContext, args: list[VT], kwargs: dict) -> VT:
    if len(args) != 1:
        raise Unsupported("type() with three arguments creates a class")
    return CallableVT(args[0].python_type())


def _hasattr_builtin(ctx: TraceContext, args: list[VT], kwargs: dict) -> VT:
    obj, name = args[0], args[1].constant()
    if isinstance(obj, ObjectVT) and not isinstance(obj.obj, types.ModuleType):
        if hasattr(obj.obj, name):
            ctx.getattr(obj, name)  # guards what was found
            return ConstVT(True)
        if obj.source is not None and hasattr(obj.obj, "__dict__"):
            # Absent now: the type is guarded (class attributes), and so are the
            # instance's attribute names.
            ctx.guard("dict_keys", AttrSource(obj.source, "__dict__"),
                      tuple(obj.obj.__dict__))
            return ConstVT(False)
        raise Unsupported(f"hasattr on a {type(obj.obj).__name__} object without a source")
    try:
        ctx.getattr(obj, name)
    except Unsupported:
        return ConstVT(False)
    return ConstVT(True)


def _copyto(ctx: TraceContext, args: list[VT], kwargs: dict) -> VT:
    """``np.copyto(dst, src, casting=, where=)``: a write into ``dst``, traced as the
    functional ``copy_into`` with ``dst`` rebound to its result (written back when the
    frame ends, as for ``out=``); returns None, as NumPy does."""
    params = dict(zip(("dst", "src", "casting", "where"), args))
    params.update(kwargs)
    dst, src = params.get("dst"), params.get("src")
    if not isinstance(dst, ArrayVT):
        if _has_array(args) or _has_array(list(kwargs.values())):
            raise Unsupported("np.copyto: the destination must be a traced array")
        return ctx._fold(np.copyto, args, kwargs)
    where = params.get("where", ConstVT(True))
    if not (where.is_constant() and where.constant() is True):
        raise Unsupported("np.copyto: where= is not supported")
    casting = params.get("casting", ConstVT("same_kind")).constant()
    if dst.base is not None or dst.has_views:
        raise Unsupported("writing into an array that is a view or has views (aliasing is "
                          "not modelled yet)")
    try:
        node = ctx.graph.call(COPY_INTO, (dst.node, _to_graph(src)), {"casting": casting})
    except Unsupported:
        raise
    except Exception as e:  # noqa: BLE001 - NumPy's own error for these arguments
        raise Unsupported(f"np.copyto raised {type(e).__name__}: {e} (eager code raises it "
                          "too)") from None
    node.source = ctx.location()
    dst.node = node
    ctx.effect_version += 1
    return ConstVT(None)


_SPECIAL_CALLS: dict[Any, Any] = {
    np.copyto: _copyto,
    hasattr: _hasattr_builtin,
    len: _len,
    isinstance: _isinstance,
    float: _data_dependent("float"),
    int: _data_dependent("int"),
    bool: _data_dependent("bool"),
    complex: _data_dependent("complex"),
    list: _sequence_builtin(list),
    tuple: _sequence_builtin(tuple),
    dict: _dict_builtin,
    zip: _zip,
    enumerate: _enumerate,
    reversed: _reversed,
    min: _reduce_builtin("min"),
    max: _reduce_builtin("max"),
    sum: _reduce_builtin("sum"),
    getattr: _getattr_builtin,
    type: _type_builtin,
}

