"""Guards are sound: every assumption a trace made is checked on the next call. A call that
breaks one recompiles (one more graph, the failing guard's reason recorded and naming its
source) and gives the eager result; a call that keeps them all compiles nothing new; past
``cache_size_limit`` the code runs eagerly with a warning."""

from __future__ import annotations

import copy
import warnings
from typing import Any

import numpy as np
import pytest

import dynajit
from dynajit.config import patch as patch_config
from tests.capture.conftest import CountingBackend, assert_same, cache_of


def compiled_with(fn: Any) -> tuple[Any, CountingBackend]:
    backend = CountingBackend()
    return dynajit.compile(fn, backend=backend), backend


def check_call(compiled: Any, fn: Any, *args: Any) -> Any:
    """compiled(*args) equals fn(*args) (on deep copies), side effects included."""
    eager_args = copy.deepcopy(args)
    expected = fn(*eager_args)
    got = compiled(*args)
    assert_same(got, expected)
    assert_same(args, eager_args, "arguments after the call")
    return got


def reasons_of(fn: Any) -> list[str]:
    return [r for reasons in cache_of(fn).recompile_reasons for r in reasons]


# ----------------------------------------------------------------------------- cache hits
def scale_add(x, y):
    return x * 2.0 + y


def test_unchanged_calls_compile_nothing_new():
    compiled, backend = compiled_with(scale_add)
    for seed in range(5):
        rng = np.random.default_rng(seed)
        check_call(compiled, scale_add, rng.standard_normal((3, 4)), rng.standard_normal(4))
    cache = cache_of(scale_add)
    assert backend.frame_count == 1
    assert cache.misses == 1 and len(cache.entries) == 1
    assert cache.recompile_reasons == []
    assert cache.failure is None


def test_new_values_are_used_not_baked_in():
    compiled, backend = compiled_with(scale_add)
    a = check_call(compiled, scale_add, np.ones((2, 2)), np.zeros(2))
    b = check_call(compiled, scale_add, np.full((2, 2), 3.0), np.ones(2))
    assert not np.array_equal(a, b)
    assert backend.frame_count == 1


# ----------------------------------------------------------------------------- input changes
def mul_k(x, k):
    return x * k


def index_first(x):
    return x[0] * 2 + len(x)


def sum_items(xs):
    total = 0
    for v in xs:
        total = total + v
    return total


def scaled_by_option(x, opts):
    return x * opts["lr"]


def add_one(x):
    return x + 1


def _square(n: int) -> np.ndarray:
    return np.arange(n * n, dtype=np.float64).reshape(n, n)


# (name, function, first call's args, second call's args, text the recorded reason holds)
CHANGES = [
    ("shape", add_one, (np.ones((3, 4)),), (np.ones((5, 4)),), "L['x'].shape"),
    ("ndim", add_one, (np.ones((3, 4)),), (np.ones(12),), "L['x'].shape"),
    ("dtype", add_one, (np.ones(4),), (np.ones(4, np.float32),), "L['x'].dtype"),
    ("int_to_float_dtype", add_one, (np.arange(4),), (np.arange(4.0),), "L['x'].dtype"),
    ("transposed_view", add_one, (_square(4),), (_square(4).T,), "L['x'].strides"),
    ("strided_view", add_one, (np.ones((3, 4)),), (np.ones((3, 8))[:, ::2],),
     "L['x'].strides"),
    ("fortran_order", add_one, (_square(3)[:, :2].copy(),),
     (np.asfortranarray(_square(3)[:, :2]),), "L['x'].strides"),
    ("negative_stride", add_one, (np.arange(5.0),), (np.arange(5.0)[::-1],),
     "L['x'].strides"),
    ("zero_d_array_to_numpy_scalar", add_one, (np.array(2.0),), (np.float64(2.0),),
     "L['x']"),
    ("numpy_scalar_dtype", add_one, (np.float64(2.0),), (np.float32(2.0),), "L['x']"),
    ("python_int_to_float", mul_k, (np.arange(3), 2), (np.arange(3), 2.0), "L['k']"),
    ("python_int_to_bool", mul_k, (np.arange(3), 1), (np.arange(3), True), "L['k']"),
    ("python_value", mul_k, (np.arange(3.0), 2.0), (np.arange(3.0), 3.0), "L['k']"),
    ("array_to_list", index_first, (np.arange(1.0, 3.0),), ([1.5, 2.0],), "type(L['x'])"),
    ("list_length", sum_items, ([np.ones(2), np.ones(2)],),
     ([np.ones(2), np.ones(2), np.ones(2)],), "L['xs']"),
    ("list_to_tuple", sum_items, ([np.ones(2), np.ones(2)],), ((np.ones(2), np.ones(2)),),
     "type(L['xs'])"),
    ("list_item_dtype", sum_items, ([np.ones(2), np.ones(2)],),
     ([np.ones(2), np.ones(2, np.int32)],), "L['xs'][1].dtype"),
    ("dict_value", scaled_by_option, (np.ones(2), {"lr": 0.1}), (np.ones(2), {"lr": 0.2}),
     "L['opts']['lr']"),
    ("dict_keys", scaled_by_option, (np.ones(2), {"lr": 0.1}),
     (np.ones(2), {"lr": 0.1, "wd": 0.0}), "L['opts']"),
]


@pytest.mark.parametrize("name, fn, first, second, reason", CHANGES,
                         ids=[c[0] for c in CHANGES])
def test_changed_input_recompiles(name, fn, first, second, reason):
    compiled, backend = compiled_with(fn)
    check_call(compiled, fn, *first)
    assert backend.frame_count == 1
    check_call(compiled, fn, *second)
    cache = cache_of(fn)
    # A recompile makes a second entry; its graph reaches the backend only if it has ops
    # (a list input makes x[0] * 2 + len(x) plain Python).
    assert len(cache.entries) == 2, f"{name}: no recompile; reasons {reasons_of(fn)}"
    compiled_graphs = backend.frame_count
    assert len(cache.recompile_reasons) == 1
    assert any(reason in r for r in cache.recompile_reasons[0]), cache.recompile_reasons
    # Both entries now hit: nothing new for either input again.
    check_call(compiled, fn, *copy.deepcopy(first))
    check_call(compiled, fn, *copy.deepcopy(second))
    assert backend.frame_count == compiled_graphs and len(cache.entries) == 2
    assert cache.failure is None


class Sub(np.ndarray):
    pass


def test_ndarray_subclass_is_not_given_the_ndarray_entry():
    compiled, backend = compiled_with(add_one)
    check_call(compiled, add_one, np.ones(3))
    got = check_call(compiled, add_one, np.ones(3).view(Sub))
    assert type(got) is Sub
    assert any("type(L['x'])" in r for r in reasons_of(add_one)), reasons_of(add_one)
    # An unsupported input runs that call eagerly; it must not stop later calls compiling.
    check_call(compiled, add_one, np.ones(5))
    assert cache_of(add_one).failure is None
    assert backend.frame_count == 2


# ----------------------------------------------------------------------------- globals
G_FACTOR = 2.0
G_TABLE = np.arange(4.0)
G_FN = np.tanh


def use_globals(x):
    return G_FN(x * G_FACTOR) + G_TABLE


@pytest.fixture
def restore_globals():
    saved = (G_FACTOR, G_TABLE, G_FN)
    yield
    globals().update(G_FACTOR=saved[0], G_TABLE=saved[1], G_FN=saved[2])


@pytest.mark.parametrize("name, value, reason", [
    ("G_FACTOR", 3.0, "G['G_FACTOR']"),
    ("G_FACTOR", 2, "G['G_FACTOR']"),
    ("G_TABLE", np.arange(4, dtype=np.int64), "G['G_TABLE'].dtype"),
    ("G_TABLE", np.ones((2, 4)), "G['G_TABLE'].shape"),
    ("G_FN", np.sin, "G['G_FN']"),
])
def test_changed_global_recompiles(restore_globals, name, value, reason):
    compiled, backend = compiled_with(use_globals)
    check_call(compiled, use_globals, np.ones(4))
    globals()[name] = value
    check_call(compiled, use_globals, np.ones(4))
    assert backend.frame_count == 2
    assert any(reason in r for r in reasons_of(use_globals)), reasons_of(use_globals)


def test_global_array_mutated_in_place_is_read_again(restore_globals):
    compiled, backend = compiled_with(use_globals)
    check_call(compiled, use_globals, np.ones(4))
    G_TABLE[:] = 7.0
    check_call(compiled, use_globals, np.ones(4))
    globals()["G_TABLE"] = np.full(4, -1.0)  # same shape and dtype: the same entry
    check_call(compiled, use_globals, np.ones(4))
    assert backend.frame_count == 1


def _helper_a(x):
    return x + 1


def _helper_b(x):
    return x - 1


G_HELPER = _helper_a


def call_global_helper(x):
    return G_HELPER(x) * 2


def test_rebound_global_function_recompiles():
    global G_HELPER
    compiled, backend = compiled_with(call_global_helper)
    try:
        check_call(compiled, call_global_helper, np.ones(3))
        G_HELPER = _helper_b
        check_call(compiled, call_global_helper, np.ones(3))
    finally:
        G_HELPER = _helper_a
    assert backend.frame_count == 2
    assert any("G['G_HELPER']" in r for r in reasons_of(call_global_helper))


def _scale_default(x, s=2.0):
    return x * s


def call_with_default(x):
    return _scale_default(x)


def test_changed_default_of_inlined_helper_gives_eager_result():
    compiled, backend = compiled_with(call_with_default)
    saved = _scale_default.__defaults__
    try:
        check_call(compiled, call_with_default, np.ones(3))
        _scale_default.__defaults__ = (5.0,)
        check_call(compiled, call_with_default, np.ones(3))
    finally:
        _scale_default.__defaults__ = saved
    assert backend.frame_count == 2


# ----------------------------------------------------------------------------- closures
def _make_closure(k):
    def scaled(x):
        return x * k

    def set_k(value):
        nonlocal k
        k = value

    return scaled, set_k


def test_changed_closure_cell_recompiles():
    scaled, set_k = _make_closure(2.0)
    compiled, backend = compiled_with(scaled)
    check_call(compiled, scaled, np.ones(3))
    set_k(5.0)
    check_call(compiled, scaled, np.ones(3))
    set_k(np.arange(3.0))  # a scalar becomes an array
    check_call(compiled, scaled, np.ones(3))
    assert backend.frame_count == 3
    assert any("k" in r for r in reasons_of(scaled)), reasons_of(scaled)


def test_changed_closure_cell_of_inlined_helper_recompiles():
    helper, set_k = _make_closure(2.0)

    def outer(x):
        return helper(x) + 1

    compiled, backend = compiled_with(outer)
    check_call(compiled, outer, np.ones(3))
    set_k(-1.0)
    check_call(compiled, outer, np.ones(3))
    assert backend.frame_count == 2
    assert reasons_of(outer)


def test_closure_array_mutated_in_place_is_read_again():
    w = np.ones(3)

    def f(x):
        return x * w

    compiled, backend = compiled_with(f)
    check_call(compiled, f, np.arange(3.0))
    w[:] = 4.0
    check_call(compiled, f, np.arange(3.0))
    assert backend.frame_count == 1


# ----------------------------------------------------------------------------- attributes
class Model:
    scale = 2.0

    def __init__(self, w):
        self.w = w
        self.bias = 1.0

    def forward(self, x):
        return x * self.w + self.bias * self.scale


class OtherModel(Model):
    def forward(self, x):
        return x - self.w


def run_model(model, x):
    return model.forward(x)


def _change_bias(m):
    m.bias = 5.0


def _change_w_shape(m):
    m.w = np.ones(1)


def _change_w_dtype(m):
    m.w = m.w.astype(np.float32)


def _change_class(m):
    m.__class__ = OtherModel


def _shadow_method(m):
    m.forward = lambda x: x * 100.0


@pytest.mark.parametrize("change, reason", [
    (_change_bias, "L['model'].bias"),
    (_change_w_shape, "L['model'].w.shape"),
    (_change_w_dtype, "L['model'].w.dtype"),
    (_change_class, "type(L['model'])"),
    (_shadow_method, "L['model']"),
], ids=["scalar_attribute", "array_attribute_shape", "array_attribute_dtype", "class",
        "method_shadowed_by_instance_attribute"])
def test_changed_attribute_recompiles(change, reason):
    compiled, backend = compiled_with(run_model)
    check_call(compiled, run_model, Model(np.arange(3.0)), np.ones(3))
    model = Model(np.arange(3.0))
    change(model)
    x = np.ones(3)
    got = compiled(model, x)
    assert_same(got, run_model(model, x))
    assert backend.frame_count == 2, reasons_of(run_model)
    assert any(reason in r for r in reasons_of(run_model)), reasons_of(run_model)


def test_changed_class_attribute_gives_eager_result():
    compiled, backend = compiled_with(run_model)
    check_call(compiled, run_model, Model(np.arange(3.0)), np.ones(3))
    try:
        Model.scale = 3.0
        check_call(compiled, run_model, Model(np.arange(3.0)), np.ones(3))
    finally:
        Model.scale = 2.0
    assert backend.frame_count == 2


def test_attribute_array_mutated_in_place_is_read_again():
    compiled, backend = compiled_with(run_model)
    model = Model(np.arange(3.0))
    check_call(compiled, run_model, model, np.ones(3))
    model.w[:] = 9.0
    check_call(compiled, run_model, model, np.ones(3))
    assert backend.frame_count == 1


# ----------------------------------------------------------------------------- aliasing
def add_into(x, y):
    x += y
    return x


def test_same_array_twice_gives_eager_result():
    compiled, backend = compiled_with(add_into)
    check_call(compiled, add_into, np.ones(3), np.arange(3.0))
    a, b = np.arange(3.0), np.arange(3.0)
    assert_same(compiled(a, a), add_into(b, b))
    assert_same(a, b)
    assert any("L['x']" in r and "L['y']" in r for r in reasons_of(add_into))
    # Aliased inputs are one call's property: later calls still compile.
    check_call(compiled, add_into, np.ones(5), np.ones(5))
    assert cache_of(add_into).failure is None
    assert backend.frame_count == 2


def test_same_array_for_two_read_only_parameters():
    compiled, backend = compiled_with(scale_add)
    a, b = np.arange(3.0), np.arange(3.0)
    assert_same(compiled(a, a), scale_add(b, b))
    check_call(compiled, scale_add, np.ones(3), np.arange(3.0))
    assert cache_of(scale_add).failure is None
    assert backend.frame_count >= 1


def write_through_view(x):
    v = x[0]
    v += 1
    return x


def test_write_through_a_view_gives_eager_result():
    compiled, backend = compiled_with(write_through_view)
    for _ in range(2):
        check_call(compiled, write_through_view, np.zeros((2, 3)))


def test_overlapping_views_give_eager_result():
    compiled, backend = compiled_with(add_into)
    check_call(compiled, add_into, np.ones(3), np.arange(3.0))
    a, b = np.arange(6.0), np.arange(6.0)
    assert_same(compiled(a[:3], a[1:4]), add_into(b[:3], b[1:4]))
    assert_same(a, b)


def test_read_only_input_raises_like_eager():
    compiled, backend = compiled_with(add_into)
    check_call(compiled, add_into, np.ones(3), np.arange(3.0))
    x = np.ones(3)
    x.flags.writeable = False
    with pytest.raises(ValueError) as eager:
        add_into(x, np.ones(3))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "compiler error" warning for a user error
        with pytest.raises(ValueError) as got:
            compiled(x, np.ones(3))
    assert str(got.value) == str(eager.value)
    assert any("writeable" in r for r in reasons_of(add_into)), reasons_of(add_into)
    check_call(compiled, add_into, np.ones(5), np.ones(5))
    assert cache_of(add_into).failure is None


# ----------------------------------------------------------------------------- errstate
def divide(x, y):
    return x / y


def test_errstate_raise_gives_eager_floating_point_error():
    compiled, backend = compiled_with(divide)
    check_call(compiled, divide, np.ones(2), np.ones(2))
    with np.errstate(all="raise"):
        with pytest.raises(FloatingPointError) as eager:
            divide(np.ones(2), np.zeros(2))
        with pytest.raises(FloatingPointError) as got:
            compiled(np.ones(2), np.zeros(2))
    assert str(got.value) == str(eager.value)


def test_floating_point_warnings_are_replayed():
    compiled, backend = compiled_with(divide)
    check_call(compiled, divide, np.ones(2), np.ones(2))
    with pytest.warns(RuntimeWarning, match="divide by zero"):
        got = compiled(np.ones(2), np.zeros(2))
    with pytest.warns(RuntimeWarning, match="divide by zero"):
        expected = divide(np.ones(2), np.zeros(2))
    assert_same(got, expected)


# ----------------------------------------------------------------------------- cache limit
def test_cache_size_limit_falls_back_to_eager_with_a_warning():
    compiled, backend = compiled_with(add_one)
    with patch_config(cache_size_limit=2):
        check_call(compiled, add_one, np.ones(1))
        check_call(compiled, add_one, np.ones(2))
        with pytest.warns(UserWarning, match="cache_size_limit") as record:
            check_call(compiled, add_one, np.ones(3))
        message = str(record[0].message)
        assert "add_one" in message and "L['x'].shape" in message
        assert backend.frame_count == 2
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # warned once, not on every call
            check_call(compiled, add_one, np.ones(4))
            check_call(compiled, add_one, np.ones(1))  # old entries still serve
    cache = cache_of(add_one)
    assert backend.frame_count == 2
    assert len(cache.entries) == 2
    assert "cache_size_limit" in cache.failure
    assert len(cache.recompile_reasons) >= 2


# ----------------------------------------------------------------------------- own state
def _make_counter():
    n = 0

    def step(x):
        nonlocal n
        n += 1
        return x * n

    return step


def _make_accumulator():
    def accumulate(x, acc=[]):  # noqa: B006 - the shared default is the point
        acc.append(x * 2)
        return len(acc)

    return accumulate


@pytest.mark.parametrize("factory", [_make_counter, _make_accumulator],
                         ids=["nonlocal_counter", "mutable_default"])
def test_state_the_compiled_code_updates_is_seen_by_the_next_call(factory):
    eager, traced = factory(), factory()
    compiled, backend = compiled_with(traced)
    for _ in range(4):
        assert_same(compiled(np.ones(2)), eager(np.ones(2)))
    assert 1 <= backend.frame_count <= 4
