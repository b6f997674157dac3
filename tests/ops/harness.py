"""Runs one NumPy call two ways, through NumPy and through dynajit's registry (bind ->
graph -> meta rule -> verify -> GraphModule), and checks they agree: same exception class,
same meta as the result NumPy returns, same values (exact, NaN-aware), same Python types,
inputs untouched by the graph."""

from __future__ import annotations

import copy
import dataclasses
import warnings
from typing import Any

import numpy as np

from dynajit.backends import lookup_backend
from dynajit.errors import Unsupported
from dynajit.graph import Graph, GraphModule, Interpreter, Node, TensorMeta
from dynajit.graph.meta import meta_of_value
from dynajit.ops import bind, emit
from dynajit.ops.registry import describe_callable


@dataclasses.dataclass
class Call:
    """A NumPy call as a user writes it: ``fn(*args, **kwargs)`` with concrete arrays."""

    fn: Any
    args: tuple
    kwargs: dict = dataclasses.field(default_factory=dict)
    # Set when dynajit is expected to refuse the call (graph break) with this reason text.
    unsupported: str | None = None

    def __repr__(self) -> str:
        def show(v: Any) -> str:
            if isinstance(v, np.ndarray):
                return (f"array(shape={v.shape}, dtype={v.dtype}, strides={v.strides}, "
                        f"data={v.tolist()!r})")
            if isinstance(v, np.generic):
                return f"np.{type(v).__name__}({v!r})"
            if isinstance(v, (list, tuple)):
                inner = ", ".join(show(x) for x in v)
                return f"[{inner}]" if isinstance(v, list) else f"({inner})"
            return repr(v)

        parts = [show(a) for a in self.args] + [f"{k}={show(v)}" for k, v in
                                                 self.kwargs.items()]
        return f"{describe_callable(self.fn)}({', '.join(parts)})"


def registry_settings(max_examples: int) -> Any:
    """Hypothesis settings of every registry-driven property test (one draw per example)."""
    from hypothesis import HealthCheck, settings

    return settings(max_examples=max_examples, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.filter_too_much])


def _is_value(v: Any) -> bool:
    return isinstance(v, (np.ndarray, np.generic))


def _replace_arrays(value: Any, fn: Any) -> Any:
    if _is_value(value):
        return fn(value)
    if isinstance(value, tuple):
        return tuple(_replace_arrays(v, fn) for v in value)
    if isinstance(value, list):
        return [_replace_arrays(v, fn) for v in value]
    if isinstance(value, dict):
        return {k: _replace_arrays(v, fn) for k, v in value.items()}
    return value


def _quiet():
    class _Q:
        def __enter__(self):
            self.err = np.errstate(all="ignore")
            self.err.__enter__()
            self.w = warnings.catch_warnings()
            self.w.__enter__()
            warnings.simplefilter("ignore")

        def __exit__(self, *exc):
            self.w.__exit__(*exc)
            self.err.__exit__(*exc)

    return _Q()


def _builtin_base(exc_type: type) -> type:
    for base in exc_type.__mro__:
        if base.__module__ == "builtins":
            return base
    return Exception


def clone_with_layout(value: Any, memo: dict | None = None) -> Any:
    """Deep copy in which every ndarray keeps its strides and offset (a view is rebuilt on
    a copy of its base) and one object copied twice stays one object."""
    memo = {} if memo is None else memo
    if id(value) in memo:
        return memo[id(value)]
    if isinstance(value, np.ndarray):
        base = value.base if isinstance(value.base, np.ndarray) else None
        if base is None or value.flags.c_contiguous:
            out = value.copy(order="K")
        else:
            base = base.copy()
            root = value.base
            offset = (value.__array_interface__["data"][0]
                      - root.__array_interface__["data"][0])
            start = np.frombuffer(base.data if base.flags.c_contiguous else
                                  np.ascontiguousarray(base).data, dtype=np.uint8)
            out = np.lib.stride_tricks.as_strided(
                start[offset:].view(value.dtype) if value.dtype.itemsize else start,
                value.shape, value.strides, writeable=True)
    elif isinstance(value, tuple):
        out = tuple(clone_with_layout(v, memo) for v in value)
    elif isinstance(value, list):
        out = [clone_with_layout(v, memo) for v in value]
    elif isinstance(value, dict):
        out = {k: clone_with_layout(v, memo) for k, v in value.items()}
    else:
        out = copy.deepcopy(value)
    memo[id(value)] = out
    return out


def assert_same(got: Any, expected: Any, where: str = "result", max_ulp: int = 0) -> None:
    """Same Python type, dtype, shape and values (NaN-aware); inexact values may differ by
    ``max_ulp`` units in the last place."""
    assert type(got) is type(expected), (
        f"{where}: type {type(got).__name__} != NumPy's {type(expected).__name__}")
    if isinstance(expected, (tuple, list)):
        assert len(got) == len(expected), f"{where}: length {len(got)} != {len(expected)}"
        for i, (g, e) in enumerate(zip(got, expected)):
            assert_same(g, e, f"{where}[{i}]", max_ulp)
        return
    if isinstance(expected, (np.ndarray, np.generic)):
        assert got.dtype == expected.dtype, f"{where}: dtype {got.dtype} != {expected.dtype}"
        assert np.shape(got) == np.shape(expected), (
            f"{where}: shape {np.shape(got)} != {np.shape(expected)}")
        if max_ulp and expected.dtype.kind in "fc":
            _assert_within_ulp(got, expected, max_ulp, where)
            return
        np.testing.assert_array_equal(got, expected, err_msg=where, strict=True)
        return
    assert got == expected, f"{where}: {got!r} != {expected!r}"


def _assert_within_ulp(got: Any, expected: Any, max_ulp: int, where: str) -> None:
    g, e = np.asarray(got), np.asarray(expected)
    assert (np.isnan(g) == np.isnan(e)).all(), f"{where}: NaN positions differ: {got!r} vs " \
        f"{expected!r}"
    finite = ~np.isnan(e)
    if not finite.any():
        return
    g, e = g[finite], e[finite]
    if e.dtype.kind == "c":
        # Complex results are accurate in norm, not per component (x*x - y*y cancels).
        eps = np.finfo(e.dtype).eps
        with np.errstate(all="ignore"):
            tol = max_ulp * eps * np.maximum(np.abs(e), np.finfo(e.dtype).tiny)
            close = (np.abs(g - e) <= tol) | (g == e)
        assert close.all(), (
            f"{where}: {got!r} vs {expected!r} differ by more than {max_ulp} eps in norm")
        return
    np.testing.assert_array_max_ulp(g, e, maxulp=max_ulp)


# NumPy computes NumPy-scalar operations on paths other than its array loops (scalar math,
# a keyword-free scalar fast path, buffers of varying alignment for complex SIMD), which
# differ from each other by a few units in the last place for complex64: up to this many
# eps in norm for complex, ulp for real. Arrays go through the same loops and match exactly.
SCALAR_MATH_ULP = 4


def _computed_in(call: Call, expected: Any) -> np.dtype | None:
    """float32 (or complex64) when NumPy's loop computed in single precision but the result
    is double (a float32 math call writing into a float64 or complex128 ``out=``)."""
    arrays = [a for a in call.args if isinstance(a, (np.ndarray, np.generic))]
    if (not arrays or "dtype" in call.kwargs or "signature" in call.kwargs
            or not isinstance(expected, (np.ndarray, np.generic))):
        return None
    loop, want = np.result_type(*arrays), np.dtype(expected.dtype)
    if loop not in (np.float32, np.complex64) or want not in (np.float64, np.complex128):
        return None
    return np.dtype(np.complex64 if want.kind == "c" else np.float32)


def _cast_inexact(value: Any, dtype: np.dtype) -> Any:
    with np.errstate(all="ignore"):
        return np.asarray(value).astype(dtype)


def check_call(call: Call, backends: tuple[str, ...] = ()) -> None:
    """The property every registered op must satisfy for every sample call; with
    ``backends``, each named backend's compiled graph must agree with NumPy too
    (``assert_backend_result``)."""
    # 1. NumPy, on private copies (the call may write into its arguments) that keep each
    #    array's memory layout: NumPy's contiguous and strided loops may differ where C
    #    leaves the result undefined (e.g. out-of-range float -> int casts).
    np_args = clone_with_layout((call.args, call.kwargs))
    with _quiet():
        try:
            if isinstance(call.fn, tuple):  # an attribute key: ("ndarray attribute", "T")
                expected = getattr(np_args[0][0], call.fn[1])
            else:
                expected = call.fn(*np_args[0], **np_args[1])
            expected_exc = None
        except Exception as e:  # noqa: BLE001 - any NumPy error is a valid outcome
            expected, expected_exc = None, e
    # 2. dynajit: placeholders for every array (the same object -> the same placeholder).
    graph = Graph()
    placeholders: dict[int, Any] = {}
    inputs: list[Any] = []

    def to_node(v: Any) -> Any:
        if id(v) not in placeholders:
            placeholders[id(v)] = graph.placeholder(f"a{len(inputs)}", TensorMeta.of(v))
            inputs.append(v)
        return placeholders[id(v)]

    g_args = _replace_arrays(call.args, to_node)
    g_kwargs = _replace_arrays(call.kwargs, to_node)
    with _quiet():
        try:
            bound = bind(call.fn, g_args, g_kwargs)
            assert bound is not None, f"{call}: bind returned None for an array call"
            node = emit(graph, bound)
        except Unsupported as e:
            assert call.unsupported is not None, f"{call}: unexpectedly unsupported: {e}"
            assert call.unsupported in str(e), f"{call}: reason {e} lacks {call.unsupported!r}"
            return
        except Exception as e:  # noqa: BLE001
            assert expected_exc is not None, (
                f"{call}: dynajit raised {type(e).__name__}: {e}, NumPy returned a value")
            want = _builtin_base(type(expected_exc))
            assert isinstance(e, want), (
                f"{call}: dynajit raised {type(e).__name__}: {e}; NumPy raised "
                f"{type(expected_exc).__name__}: {expected_exc}")
            return
    assert call.unsupported is None, f"{call}: expected Unsupported ({call.unsupported})"
    if expected_exc is not None:
        # A value-dependent error (e.g. an integer to a negative power): the rule cannot
        # see it, so the compiled graph must raise it when it runs, as NumPy did.
        graph.output(node)
        want = _builtin_base(type(expected_exc))
        with _quiet():
            try:
                GraphModule(graph)(*inputs)
            except want:
                return
        raise AssertionError(f"{call}: NumPy raised {type(expected_exc).__name__}: "
                             f"{expected_exc}; dynajit's graph returned a value")
    # 3. The meta rule predicts what NumPy returned.
    want_meta = meta_of_value(expected)
    assert node.meta == want_meta, f"{call}: meta {node.meta} != NumPy's {want_meta}"
    graph.output(node)
    graph.verify()
    if not bound_op(bound).deterministic:
        return  # e.g. np.empty: only the meta is defined
    # 4. The GraphModule and the Interpreter compute NumPy's values, without touching inputs.
    before = copy.deepcopy(inputs)
    gm = GraphModule(graph)
    with _quiet():
        got = gm(*inputs)
        got_interp = Interpreter(graph).run(*inputs)
    for i, (b, a) in enumerate(zip(before, inputs)):
        assert_same(a, b, f"{call}: input a{i} after the graph ran")
    # NumPy's SIMD math loops depend on layout and alignment (a clone may differ by an ulp).
    ulp = SCALAR_MATH_ULP if (inputs and all(isinstance(v, np.generic) for v in inputs)) or (
        getattr(bound_op(bound), "name", "") in _MATH) else 0
    narrow = _computed_in(call, expected) if ulp else None
    for result, label in ((got, "GraphModule"), (got_interp, "Interpreter")):
        if narrow is None:
            assert_same(result, expected, f"{call}: {label} result", ulp)
        else:  # computed in float32, written to a wider out=: its ulps are float32's
            assert result.dtype == expected.dtype, f"{call}: {label} dtype {result.dtype}"
            assert_same(_cast_inexact(result, narrow), _cast_inexact(expected, narrow),
                        f"{call}: {label} result (compared in {narrow})", ulp)
    for name in backends:
        compiled = lookup_backend(name)(gm, list(inputs))
        with _quiet():
            result = compiled(*inputs)
        for i, (b, a) in enumerate(zip(before, inputs)):
            assert_same(a, b, f"{call}: input a{i} after the {name} backend ran")
        assert_backend_result(result, expected, bound_op(bound), inputs,
                              f"{call}: {name} backend result")


# Error bound of compiled math functions against NumPy (dynajit's polynomials are within
# 2 ulp (float32) / 4 ulp (float64) of the exact result; NumPy's own are a few ulp off too).
MATH_ULP = 8
_MATH = frozenset("exp exp2 expm1 log log2 log10 log1p sin cos tan arcsin arccos arctan "
                  "arctan2 hypot sinh cosh tanh arcsinh arccosh arctanh cbrt power "
                  "float_power logaddexp logaddexp2".split())
_ACCUMULATING = frozenset("sum prod mean var std matmul dot vdot inner tensordot einsum "
                          "vecdot matvec vecmat cumsum cumprod".split())


def assert_backend_result(got: Any, expected: Any, op: Any, inputs: list, where: str) -> None:
    """A compiled backend equals NumPy: type, dtype and shape exactly; integers and bools
    exactly; floats exactly except math functions (``MATH_ULP``) and accumulations, whose
    summation order differs from NumPy's pairwise one (bounded by n * eps * sum |x|)."""
    name = getattr(op, "name", "")
    if not (isinstance(expected, (np.ndarray, np.generic)) and expected.dtype.kind in "fc"):
        assert_same(got, expected, where)
        return
    if inputs and all(isinstance(v, np.generic) for v in inputs) and name not in _MATH:
        # NumPy's scalar math differs from its array loops (see SCALAR_MATH_ULP).
        assert_same(got, expected, where, SCALAR_MATH_ULP)
        return
    if name in _MATH:
        assert_same(got, expected, where, MATH_ULP)
        return
    if name not in _ACCUMULATING:
        assert_same(got, expected, where)
        return
    assert type(got) is type(expected), f"{where}: type {type(got).__name__}"
    assert got.dtype == expected.dtype and np.shape(got) == np.shape(expected), where
    g, e = np.asarray(got), np.asarray(expected)
    assert (np.isnan(g) == np.isnan(e)).all(), f"{where}: NaN positions differ"
    scale, count = 0.0, 1
    for x in inputs:
        a = np.asarray(x)
        if a.dtype.kind in "fc" and a.size:
            with _quiet():
                finite = np.abs(a[np.isfinite(a)])
            scale = max(scale, float(finite.max()) if finite.size else 0.0)
            count = max(count, a.size)
    eps = np.finfo(e.dtype).eps
    with _quiet():
        tol = 4 * count * eps * np.maximum(scale, np.abs(e)) * max(scale, 1.0)
        ok = (g == e) | (np.abs(g - e) <= tol) | (np.isnan(g) & np.isnan(e))
    assert ok.all(), f"{where}: {got!r} vs NumPy {expected!r}"


def bound_op(bound: Any) -> Any:
    """The op a bind produced (a bind may also return an existing node: its own op)."""
    if isinstance(bound, Node):
        return bound.target if bound.kind == "call" else _IDENTITY
    return bound.op


class _Identity:
    deterministic = True


_IDENTITY = _Identity()
