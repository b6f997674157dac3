"""Small functions compiled against eager, in the spirit of TorchDynamo's test_functions.py.

Each row of ``CASES`` is (function, input builder, expected graphs, expected ops): the
function runs through a counting backend, so a silent eager fallback fails the row. Every
row runs twice on fresh inputs (the second call is a cache hit); results must equal eager
exactly (values, dtypes, shapes, Python types, containers), returned inputs must be the
same objects, and in-place updates of the inputs must be visible to the caller. Rows with
``fallback`` are constructs the tracer does not support yet: no graph, eager result, and
``cache.failure`` names the reason."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import dynajit
from tests.capture.conftest import Args, assert_same, assert_same_identity, cache_of


def rand(*shape: int, dtype: Any = np.float64, seed: int = 0) -> np.ndarray:
    """Deterministic test data: the same call builds the same array."""
    rng = np.random.default_rng(seed + 7 * len(shape) + sum(shape))
    if np.dtype(dtype).kind in "iu":
        return rng.integers(1, 9, size=shape).astype(dtype)
    if np.dtype(dtype).kind == "b":
        return rng.integers(0, 2, size=shape).astype(bool)
    if np.dtype(dtype).kind == "c":
        return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(dtype)
    return rng.standard_normal(shape).astype(dtype)


def X() -> np.ndarray:
    return rand(3, 4)


def Y() -> np.ndarray:
    return rand(4, seed=1)


def XI() -> np.ndarray:
    return rand(3, 4, dtype=np.int64)


@dataclasses.dataclass
class Case:
    fn: Callable
    inputs: Callable[[], Args]
    graphs: int
    ops: int | list[int]  # ops of every graph, or of each graph in compile order
    fallback: str | None = None  # expected text in cache.failure
    state: Callable[[], Any] | None = None  # other observable state after the call


CASES: list[Case] = []


def case(inputs: Callable[[], Args], graphs: int = 1, ops: int | list[int] = 0,
         fallback: str | None = None,
         state: Callable[[], Any] | None = None) -> Callable:
    def register(fn: Callable) -> Callable:
        CASES.append(Case(fn, inputs, graphs, ops, fallback, state))
        return fn

    return register


def x_() -> Args:
    return Args(X())


def xy() -> Args:
    return Args(X(), Y())


def xx() -> Args:
    return Args(X(), rand(3, 4, seed=5))


# ----------------------------------------------------------------------------- arithmetic
@case(xy, ops=1)
def add(x, y):
    return x + y


@case(xy, ops=4)
def arith_chain(x, y):
    return (x + y) * (x - y) / 2.0


@case(x_, ops=1)
def scalar_on_left(x):
    return 2.0 - x


@case(x_, ops=1)
def cube(x):
    return x**3


@case(x_, ops=1)
def square_pow(x):
    return x**2


@case(x_, ops=2)
def neg_abs(x):
    return -abs(x)


@case(lambda: Args(XI()), ops=2)
def floordiv_mod(x):
    return x // 3, x % 3


@case(lambda: Args(XI()), ops=1)
def int_true_divide(x):
    return x / 2


@case(lambda: Args(rand(3, 4, dtype=np.float32), Y()), ops=1)
def float32_plus_float64(a, b):
    return a + b


@case(lambda: Args(XI(), X()), ops=1)
def int_times_float(a, b):
    return a * b


@case(xy, ops=3)
def bool_and_of_compares(x, y):
    return (x > 0) & (y < 1)


@case(xx, ops=2)
def equal_not_equal(x, y):
    return x == y, x != y


@case(x_, ops=5)
def ufunc_chain(x):
    return np.exp(np.sin(x)) + np.log1p(np.abs(x))


@case(x_, ops=2)
def where_relu(x):
    return np.where(x > 0, x, 0.0)


@case(x_, ops=1)
def clip(x):
    return np.clip(x, -0.5, 0.5)


@case(lambda: Args(X(), rand(4, 2)), ops=1)
def matmul(a, b):
    return a @ b


@case(lambda: Args(X(), rand(4, 2)), ops=1)
def np_dot(a, b):
    return np.dot(a, b)


@case(lambda: Args(XI()), ops=4)
def bit_ops(x):
    return (x << 1) | (x >> 1) ^ 3


@case(lambda: Args(rand(5, dtype=bool)), ops=1)
def invert_bool(b):
    return ~b


@case(xx, ops=3)
def max_minus_min(x, y):
    return np.maximum(x, y) - np.minimum(x, y)


@case(x_, ops=2)
def sqrt_of_square(x):
    return np.sqrt(x * x)


@case(lambda: Args(np.arange(250, 256, dtype=np.uint8)), ops=1)
def uint8_wraps(u):
    return u + np.uint8(10)


@case(lambda: Args(rand(6, dtype=np.float16)), ops=2)
def float16_arith(h):
    return h * 2 + h


@case(lambda: Args(rand(6, dtype=np.int32)), ops=1)
def int32_times_python_int(a):
    return a * 3


@case(lambda: Args(rand(4, dtype=np.complex128)), ops=3)
def complex_arith(c):
    return c * 1j + c.conj()


@case(x_, ops=3)
def builtin_divmod(x):
    return divmod(x, 0.75)


@case(x_, ops=3)
def arctan2_hypot(x):
    return np.arctan2(x, 1.5) + np.hypot(x, 2.0)


@case(x_, ops=4)
def floor_ceil(x):
    return np.floor(x) + np.ceil(x) * 0


@case(x_, ops=2)
def positive_reciprocal(x):
    return +x, np.reciprocal(x)


# ----------------------------------------------------------------------------- broadcasting
@case(xy, ops=1)
def broadcast_row(x, y):
    return x + y


@case(lambda: Args(X(), rand(3, 1)), ops=1)
def broadcast_column(x, c):
    return x * c


@case(lambda: Args(rand(3), Y()), ops=3)
def outer_by_indexing(a, b):
    return a[:, None] * b[None, :]


@case(lambda: Args(Y()), ops=3)
def newaxis_sum(a):
    return a[np.newaxis] + a[:, np.newaxis]


@case(lambda: Args(X(), np.array(2.5)), ops=1)
def zero_d_array_input(x, s):
    return x + s


@case(lambda: Args(rand(2, 3, 4), Y()), ops=1)
def broadcast_3d(x, y):
    return x - y


@case(lambda: Args(Y()), ops=2)
def broadcast_to(y):
    return np.broadcast_to(y, (3, 4)) * 1.0


@case(lambda: Args(Y()), ops=3)
def expand_dims(y):
    return np.expand_dims(y, 0) + y[:, None]


@case(lambda: Args(rand(3, 1, 4), rand(5, 1)), ops=1)
def broadcast_both_sides(a, b):
    return a * b


# ----------------------------------------------------------------------------- scalars
@case(lambda: Args(X(), 2.5), ops=1)
def python_float_arg(x, s):
    return x * s


@case(lambda: Args(XI(), 7), ops=1)
def python_int_arg(x, n):
    return x + n


@case(lambda: Args(X(), np.float64(3.0)), ops=1)
def numpy_scalar_arg(x, s):
    return x * s


@case(lambda: Args(np.float64(1.5), np.float64(2.0)), ops=2)
def numpy_scalars_only(s, t):
    return s * t + 1


@case(lambda: Args(X(), 3), ops=1)
def python_arith_is_folded(x, n):
    return x * (n * 2 + 1)


@case(x_, ops=2)
def math_module_constants(x):
    return x * math.pi + math.sqrt(2.0)


@case(lambda: Args(X(), True), ops=1)
def bool_flag_true(x, flag):
    return x * 1.5 if flag else -x


@case(lambda: Args(X(), False), ops=1)
def bool_flag_false(x, flag):
    return x * 1.5 if flag else -x


@case(lambda: Args(rand(5, dtype=np.float32)), ops=2)
def float32_constants(x):
    return x * np.float32(0.5) + np.float32(1)


@case(lambda: Args(rand(5, dtype=np.float32), np.float32(0.25)), ops=1)
def float32_scalar_input(x, s):
    return x * s


@case(x_, ops=1)
def astype_float32(x):
    return x.astype(np.float32)


@case(lambda: Args(rand(4, dtype=np.float32), XI()), ops=1)
def astype_other_dtype(x, y):
    return y.astype(x.dtype)


@case(x_)
def shape_division_is_python(x):
    return x.shape[0] / 2


@case(x_)
def itemsize_times_size(x):
    return x.itemsize * x.size


@case(lambda: Args(rand(4, dtype=np.int8)), ops=1)
def int8_times_large_python_int(x):
    return x * 100


@case(lambda: Args(X(), np.int64(2)), ops=1)
def numpy_int_scalar_arg(x, k):
    return x**k


# ----------------------------------------------------------------------------- reductions
@case(x_, ops=1)
def sum_all(x):
    return x.sum()


@case(x_, ops=1)
def np_sum_axis0(x):
    return np.sum(x, axis=0)


@case(x_, ops=1)
def sum_keepdims(x):
    return x.sum(axis=-1, keepdims=True)


@case(lambda: Args(rand(2, 3, 4)), ops=1)
def mean_over_axis_tuple(x):
    return x.mean(axis=(0, 2))


@case(x_, ops=3)
def range_per_row(x):
    return x.max(axis=1) - x.min(axis=1)


@case(x_, ops=2)
def prod_axis0(x):
    return np.prod(x + 1, axis=0)


@case(x_, ops=1)
def argmax_rows(x):
    return np.argmax(x, axis=1)


@case(x_, ops=4)
def any_and_all(x):
    return (x > 0.5).any(), (x > -3).all(axis=0)


@case(x_, ops=2)
def std_and_var(x):
    return x.std(axis=0), x.var()


@case(lambda: Args(XI()), ops=1)
def sum_with_dtype(x):
    return x.sum(dtype=np.float64)


@case(x_, ops=1)
def cumsum_rows(x):
    return np.cumsum(x, axis=1)


@case(x_, ops=3)
def row_norms(x):
    return np.sqrt((x * x).sum(axis=-1))


@case(x_, ops=5)
def softmax(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


@case(lambda: Args(XI()), ops=1)
def int_sum_is_int64(x):
    return x.sum()


@case(x_, ops=2)
def count_true(x):
    return (x > 0).sum()


@case(x_, ops=2)
def center_columns(x):
    return x - x.mean(axis=0, keepdims=True)


@case(lambda: Args(rand(4, dtype=np.float32)), ops=1)
def float32_mean(x):
    return np.mean(x)


# ----------------------------------------------------------------------------- indexing
@case(x_, ops=1)
def int_index(x):
    return x[1]


@case(x_, ops=1)
def negative_index_scalar(x):
    return x[-1, -2]


@case(x_, ops=1)
def slice_with_step(x):
    return x[1:, ::2]


@case(lambda: Args(Y()), ops=1)
def reverse(y):
    return y[::-1]


@case(lambda: Args(rand(2, 3, 4)), ops=1)
def ellipsis_index(x):
    return x[..., 0]


@case(lambda: Args(Y()), ops=1)
def none_index(y):
    return y[None, :, None]


@case(lambda: Args(X(), np.array([2, 0, 2])), ops=1)
def fancy_index_input(x, idx):
    return x[idx]


@case(x_, ops=1)
def fancy_index_literal_array(x):
    return x[np.array([0, 2])]


@case(x_, ops=1)
def fancy_index_list(x):
    return x[[0, 2]]


@case(lambda: Args(X(), np.array([0, 1, 2]), np.array([3, 2, 1])), ops=1)
def fancy_index_two_axes(x, r, c):
    return x[r, c]


@case(lambda: Args(X(), np.array([1, 3])), ops=1)
def np_take(x, idx):
    return np.take(x, idx, axis=1)


@case(x_, ops=2)
def index_of_index(x):
    return x[1:][0]


@case(x_, ops=1)
def slice_from_shape(x):
    return x[: x.shape[0] // 2]


@case(x_, ops=1)
def index_from_len(x):
    return x[len(x) - 1]


@case(x_, ops=1)
def slice_object(x):
    s = slice(1, 3)
    return x[:, s]


@case(x_, ops=1)
def mixed_slice_and_int(x):
    return x[0, 1:3]


# ----------------------------------------------------------------------------- shapes
@case(x_, ops=1)
def reshape(x):
    return x.reshape(4, 3)


@case(x_, ops=1)
def reshape_minus_one(x):
    return x.reshape(-1)


@case(x_, ops=1)
def ravel(x):
    return x.ravel()


@case(lambda: Args(rand(2, 3, 4)), ops=1)
def transpose_axes(x):
    return np.transpose(x, (2, 0, 1))


@case(x_, ops=1)
def concatenate(x):
    return np.concatenate([x, x], axis=0)


@case(lambda: Args(Y()), ops=2)
def stack(y):
    return np.stack([y, y * 2])


@case(x_, ops=1)
def reshape_by_shape_product(x):
    return x.reshape(x.shape[0] * x.shape[1])


@case(x_, ops=2)
def zeros_like_plus(x):
    return np.zeros_like(x) + x


@case(x_, ops=2)
def zeros_from_shape(x):
    return np.zeros((x.shape[1],)) + 1


@case(lambda: Args(XI()), ops=2)
def ones_like_dtype(x):
    return np.ones(x.shape, dtype=x.dtype) * x


@case(x_, ops=2)
def times_arange(x):
    return x * np.arange(x.shape[1])


@case(lambda: Args(rand(3, 1)), ops=1)
def squeeze(c):
    return c.squeeze(1)


@case(lambda: Args(rand(2, 3, 4)), ops=1)
def swapaxes(x):
    return x.swapaxes(0, 2)


@case(x_, ops=1)
def transpose_attr_matmul(x):
    return x.T


@case(x_, ops=4)
def split_and_multiply(x):
    a, b = np.split(x, 2, axis=1)
    return a * b


@case(lambda: Args(X(), rand(4, 4)), ops=4)
def einsum_trace(x, w):
    return np.einsum("ij,jk->ik", x, w) + np.eye(4)[0]


# ----------------------------------------------------------------------------- closures
def _make_scaler(k):
    def scaled(x):
        return x * k

    return scaled


def _make_adder(w):
    def added(x):
        return x + w

    return added


def _make_apply(fn):
    def applied(x):
        return fn(x) * 2

    return applied


def _make_two_level(a):
    def middle(b):
        def inner(x):
            return x * a + b

        return inner

    return middle(0.5)


closure_scalar = case(x_, ops=1)(_make_scaler(3.0))
closure_array = case(x_, ops=1)(_make_adder(rand(4, seed=3)))
closure_function = case(x_, ops=2)(_make_apply(np.tanh))
closure_two_levels = case(x_, ops=2)(_make_two_level(2.0))


@case(x_, ops=4)
def nested_def_reads_local(x):
    k = 2.0

    def g(v):
        return v * k

    return g(x) + g(x + 1)


@case(xx, ops=3)
def local_lambda(x, y):
    sq = lambda v: v * v  # noqa: E731
    return sq(x) + sq(y)


def _make_layers(ws):
    def layers(x):
        for w in ws:
            x = np.tanh(x @ w)
        return x

    return layers


closure_over_list = case(x_, ops=4)(_make_layers([rand(4, 4, seed=8), rand(4, 2, seed=9)]))


# ----------------------------------------------------------------------------- helpers
def _affine(x, w, b):
    return x @ w + b


def _relu(x):
    return np.maximum(x, 0)


def _level1(x):
    return x + 1


def _level2(x):
    return _level1(x) * 2


def _level3(x):
    return _level2(x) - 3


def _scale(x, s=2.0):
    return x * s


def _shift(x, *, by):
    return x + by


def _stats(x):
    return x.mean(axis=0), x.std(axis=0)


def _repeat_double(x, n):
    return x if n == 0 else _repeat_double(x * 2, n - 1)


def _total(*xs):
    total = xs[0]
    for v in xs[1:]:
        total = total + v
    return total


_ACTIVATIONS = {"relu": _relu, "tanh": np.tanh}


@case(lambda: Args(X(), rand(4, 5), rand(5), rand(5, 2), rand(2)), ops=5)
def two_layer_mlp(x, w1, b1, w2, b2):
    return _affine(_relu(_affine(x, w1, b1)), w2, b2)


@case(x_, ops=3)
def three_levels_deep(x):
    return _level3(x)


@case(x_, ops=3)
def helper_default_argument(x):
    return _scale(x) + _scale(x, 3.0)


@case(x_, ops=1)
def helper_keyword_only(x):
    return _shift(x, by=4.0)


@case(x_, ops=4)
def helper_returns_tuple(x):
    m, s = _stats(x)
    return (x - m) / s


@case(x_, ops=3)
def constant_depth_recursion(x):
    return _repeat_double(x, 3)


@case(lambda: Args(X(), rand(3, 4, seed=1), rand(3, 4, seed=2)), ops=2)
def helper_varargs(a, b, c):
    return _total(a, b, c)


@case(lambda: Args(X(), "relu"), ops=1)
def helper_from_global_dict(x, name):
    return _ACTIVATIONS[name](x)


@case(xy, ops=2)
def helper_called_with_keywords(x, y):
    return _affine(b=1.0, w=y, x=x)


# ----------------------------------------------------------------------------- arguments
@case(x_, ops=1)
def default_argument(x, scale=2.0):
    return x * scale


@case(lambda: Args(X(), scale=3.0), ops=1)
def default_overridden_by_keyword(x, scale=2.0):
    return x * scale


@case(lambda: Args(X(), scale=0.5), ops=2)
def keyword_only(x, *, bias=1.0, scale):
    return x * scale + bias


@case(x_)
def default_none_returns_input(x, w=None):
    return x if w is None else x * w


@case(lambda: Args(X(), w=Y()), ops=1)
def default_none_given_array(x, w=None):
    return x if w is None else x * w


@case(lambda: Args(X(), rand(3, 4, seed=1), rand(3, 4, seed=2)), ops=3)
def varargs_builtin_sum(*xs):
    return sum(xs)


@case(lambda: Args(X(), 1, "a", None), ops=1)
def varargs_len(x, *rest):
    return x * len(rest)


@case(lambda: Args(X(), a=2.0, b=Y()), ops=2)
def kwargs_lookup(x, **kw):
    return x * kw["a"] + kw.get("b", 0.0)


@case(lambda: Args(X(), a=Y(), b=rand(4, seed=4)), ops=2)
def kwargs_loop(x, **kw):
    for _, v in kw.items():
        x = x + v
    return x


@case(xy, ops=2)
def star_call(x, y):
    args = (x, y)
    return _affine(*args, **{"b": 1.0})


@case(xx, ops=1)
def positional_only(x, y, /):
    return x - y


@case(lambda: Args(X(), 2, 3, k=4, extra=Y()), ops=3)
def all_argument_kinds(x, a=1, *args, k=2, **kw):
    return x * (a + sum(args) + k) + kw["extra"] + len(kw)


# ----------------------------------------------------------------------------- globals
G_SCALE = 1.5
G_BIAS = rand(4, seed=11)
G_ACT = np.tanh
G_CONFIG = {"scale": 2.0, "shift": -1.0}
G_TUPLE = (1, 2.5, "x")
G_COUNT = 0


@case(x_, ops=1)
def global_float(x):
    return x * G_SCALE


@case(x_, ops=1)
def global_array(x):
    return x + G_BIAS


@case(x_, ops=1)
def numpy_module_constant(x):
    return x * np.pi


@case(x_, ops=1)
def global_function(x):
    return G_ACT(x)


@case(x_, ops=2)
def global_dict(x):
    return x * G_CONFIG["scale"] + G_CONFIG["shift"]


@case(x_, ops=1)
def global_tuple(x):
    return x * G_TUPLE[1]


def _reset_count() -> Args:
    global G_COUNT
    G_COUNT = 0
    return Args(X())


@case(_reset_count, ops=1, state=lambda: G_COUNT)
def global_store(x):
    global G_COUNT
    G_COUNT = G_COUNT + 1
    return x * G_COUNT


# ----------------------------------------------------------------------------- loops
@case(x_, ops=3)
def loop_range(x):
    for _ in range(3):
        x = x * 2
    return x


@case(x_, ops=6)
def loop_over_rows_by_index(x):
    acc = 0
    for i in range(x.shape[0]):
        acc = acc + x[i]
    return acc


def xs3() -> Args:
    return Args([rand(4, seed=i) for i in range(3)])


@case(xs3, ops=3)
def loop_over_list(xs):
    total = 0.0
    for v in xs:
        total = total + v
    return total


@case(lambda: Args([Y(), rand(4, seed=2)], [rand(4, seed=3), rand(4, seed=4)]), ops=4)
def loop_zip(xs, ws):
    out = 0
    for x, w in zip(xs, ws):
        out = out + x * w
    return out


@case(xs3, ops=3)
def loop_enumerate(xs):
    out = []
    for i, v in enumerate(xs):
        out.append(v * i)
    return out


@case(x_, ops=6)
def loop_over_array_rows(x):
    out = []
    for row in x:
        out.append(row.sum())
    return out


@case(x_, ops=4)
def nested_loops(x):
    for i in range(2):
        for j in range(2):
            x = x + i * j
    return x


@case(x_, ops=3)
def loop_break(x):
    for i in range(10):
        if i == 3:
            break
        x = x + i
    return x


@case(x_, ops=2)
def loop_continue(x):
    for i in range(4):
        if i % 2:
            continue
        x = x * 2
    return x


@case(x_, ops=3)
def while_loop(x):
    i = 0
    while i < 3:
        x = x + 1
        i += 1
    return x


@case(xs3, ops=7)
def loop_reversed(xs):
    out = xs[0] * 0
    for v in reversed(xs):
        out = out * 2 + v
    return out


@case(lambda: Args({"a": X(), "b": rand(3, 4, seed=2)}), ops=2)
def loop_dict_keys(d):
    total = 0.0
    for k in d:
        total = total + d[k]
    return total


@case(lambda: Args([(Y(), 2.0), (rand(4, seed=2), 3.0)]), ops=4)
def loop_tuple_unpack(pairs):
    out = 0.0
    for a, s in pairs:
        out = out + a * s
    return out


@case(x_, ops=4)
def loop_range_step(x):
    cols = []
    for i in range(0, 4, 2):
        cols.append(x[:, i] * i)
    return cols


@case(xs3, ops=1)  # x0 * 2 is dead (xs[-1] is x1 * 2): DCE drops it
def loop_with_else(xs):
    for v in xs[:2]:
        xs = xs + [v * 2]
    else:
        n = len(xs)
    return n, xs[-1]


# ----------------------------------------------------------------------------- comprehensions
@case(x_, ops=3)
def list_comprehension(x):
    return [x * i for i in range(3)]


@case(x_, ops=2)
def dict_comprehension(x):
    return {f"p{i}": x + i for i in range(2)}


@case(x_, ops=4)
def nested_comprehension(x):
    return [[x[i, j] for j in range(2)] for i in range(2)]


@case(lambda: Args([X(), Y(), rand(2, 2)]), ops=1)
def comprehension_with_filter(xs):
    return [v * 2 for v in xs if v.ndim == 1]


@case(lambda: Args({"a": X(), "b": Y()}), ops=2)
def comprehension_over_dict_items(d):
    return {k: v.sum() for k, v in d.items()}


@case(lambda: Args([X(), rand(3, 4, seed=1)], [rand(4, 2), rand(4, 2, seed=1)]), ops=2)
def comprehension_zip(xs, ws):
    return [a @ b for a, b in zip(xs, ws)]


@case(x_, ops=2)
def comprehension_of_tuples(x):
    return [(i, x * i) for i in range(2)]


@case(x_, ops=1)
def comprehension_reads_closure(x):
    scale = 4.0
    return [v * scale for v in [x]]


@case(xs3, ops=3)
def comprehension_then_sum(xs):
    return sum([v for v in xs])


# ----------------------------------------------------------------------------- objects
class Linear:
    def __init__(self, w, b):
        self.w = w
        self.b = b

    def forward(self, x):
        return x @ self.w + self.b

    def __call__(self, x):
        return self.forward(x)


class Act:
    scale = 2.0

    def __init__(self, kind):
        self.kind = kind

    def apply(self, x):
        return np.tanh(x) * self.scale if self.kind == "tanh" else _relu(x)


class Net:
    def __init__(self, layers, act):
        self.layers = layers
        self.act = act

    def forward(self, x):
        for layer in self.layers:
            x = self.act.apply(layer.forward(x))
        return x


class Counter:
    def __init__(self, w):
        self.w = w
        self.count = 0
        self.last = None


@dataclasses.dataclass
class Config:
    alpha: float
    beta: float
    name: str = "cfg"


def lin() -> Linear:
    return Linear(rand(4, 3, seed=20), rand(3, seed=21))


@case(lambda: Args(lin(), X()), ops=2)
def method_call(model, x):
    return model.forward(x)


@case(lambda: Args(lin(), X()), ops=1)
def attribute_matmul(model, x):
    return x @ model.w


@case(lambda: Args(Net([lin(), Linear(rand(3, 2), rand(2))], Act("tanh")), X()), ops=8)
def nested_objects(net, x):
    return net.forward(x)


@case(lambda: Args(Net([lin()], Act("relu")), X()), ops=3)
def method_chooses_by_attribute(net, x):
    return net.forward(x)


@case(lambda: Args(lin(), X()), ops=2)
def call_dunder(model, x):
    return model(x)


@case(lambda: Args(Counter(Y()), X()), ops=1)
def attribute_store(obj, x):
    obj.last = x * obj.w
    obj.count = obj.count + 1
    return obj.count


@case(lambda: Args(Counter(Y()), X()), ops=4)
def attribute_array_inplace(obj, x):
    obj.w += x[0]
    return obj.w * 2


@case(lambda: Args(Config(2.0, 0.5), X()), ops=2)
def dataclass_fields(cfg, x):
    return x * cfg.alpha + cfg.beta


@case(lambda: Args(Act("tanh"), X()), ops=1)
def class_attribute(act, x):
    return x * act.scale


@case(lambda: Args(Act("tanh"), X()), ops=2)
def getattr_builtin(act, x):
    return x * getattr(act, "scale") + getattr(act, "missing", 0)  # noqa: B009


@case(lambda: Args(lin(), X()), ops=1)
def hasattr_builtin(model, x):
    return x * 2 if hasattr(model, "w") else x


@case(lambda: Args(lin(), Y()), ops=1)
def object_returned_unchanged(model, y):
    return model, y + 1


@case(lambda: Args(Config(1.0, 2.0), X()), ops=1)
def string_attribute(cfg, x):
    return {cfg.name: x + cfg.beta}


# ----------------------------------------------------------------------------- outputs
@case(x_, ops=2)
def dict_output(x):
    return {"a": x + 1, "b": x * 2}


@case(x_, ops=1)
def list_output_with_input(x):
    return [x, x + 1]


@case(x_, ops=3)
def nested_containers(x):
    return (x + 1, (x * 2, [x - 1]))


@case(x_)
def returns_none(x):
    x + 1  # noqa: B018 - computed and dropped
    return None


@case(x_)
def returns_int_constant(x):
    return 42


@case(x_)
def returns_string(x):
    return "hello"


@case(lambda: Args(X(), True), ops=1)
def multiple_returns_first(x, flag):
    if flag:
        return x + 1
    return x - 1


@case(lambda: Args(X(), False), ops=1)
def multiple_returns_second(x, flag):
    if flag:
        return x + 1
    return x - 1


@case(x_)
def returns_input(x):
    return x


@case(xy, ops=1)
def returns_inputs_and_new(x, y):
    return x, y + 1, y


@case(x_)
def returns_shape(x):
    return x.shape


@case(x_)
def returns_dtype(x):
    return x.dtype


@case(x_, ops=2)
def returns_numpy_scalars(x):
    return x.sum(), x.max()


@case(x_, ops=1)
def returns_zero_d_result(x):
    return np.sum(x, axis=None, keepdims=False)


@case(lambda: Args([X(), Y()]))
def returns_input_list(xs):
    return xs


@case(lambda: Args({"w": X()}), ops=1)
def returns_new_dict_holding_input(d):
    return {"w": d["w"], "w2": d["w"] * 2, "n": len(d)}


# ----------------------------------------------------------------------------- in place
@case(xy, ops=2)
def iadd_input(x, y):
    x += y


@case(x_, ops=2)
def imul_returns_input(x):
    x *= 2
    return x


@case(x_, ops=2)
def setitem_scalar(x):
    x[0] = 1


@case(xy, ops=2)
def setitem_slice(x, y):
    x[1:] = y


@case(x_, ops=3)
def setitem_column(x):
    x[:, 0] = 0.0
    return x.sum()


@case(xx, ops=2)
def out_argument(x, y):
    return np.multiply(x, y, out=x)


@case(lambda: Args(X(), Y(), np.zeros((3, 4))), ops=2)
def out_into_third_input(x, y, o):
    np.add(x, y, out=o)
    return o


@case(xx, ops=4)
def two_inputs_updated(x, y):
    x += 1
    y -= 1


@case(x_, ops=3)
def inplace_then_use(x):
    x += 1
    return x * 2


@case(lambda: Args(XI()), ops=2)
def int_inplace_floordiv(x):
    x //= 2
    return x


@case(lambda: Args([X()], Y()), ops=1)
def list_append(xs, y):
    xs.append(y * 2)


@case(lambda: Args([X()], Y()), ops=1)
def list_extend(xs, y):
    xs.extend([y, y + 1])
    return len(xs)


@case(lambda: Args({"a": X()}, Y()), ops=1)
def dict_setitem(d, y):
    d["out"] = y * 2
    return d


@case(xs3, ops=1)
def list_pop(xs):
    v = xs.pop()
    return v * 2


@case(lambda: Args([X(), Y()]), ops=1)
def list_setitem(xs):
    xs[0] = xs[1] + 1


@case(xy, ops=3)
def inplace_on_local_result(x, y):
    z = x * 1
    z += y
    return z


class Pair:
    def __init__(self):
        self.a = rand(2, seed=30)
        self.b = rand(2, seed=31)


def pair_x() -> Args:
    return Args(Pair(), Y())


def two_arrays() -> Args:
    return Args([rand(1, seed=32), rand(1, seed=33)])


@case(lambda: Args(Pair()))
def attribute_swap(o):
    o.a, o.b = o.b, o.a


@case(pair_x)
def attribute_replaced_old_value_returned(o, x):
    old = o.a
    o.a = x
    return old


@case(two_arrays)
def list_item_replaced_old_value_returned(xs):
    first = xs[0]
    xs[0] = xs[1]
    return first


@case(lambda: Args(Pair(), [rand(1, seed=34), rand(1, seed=35)]))
def list_pop_after_attribute_store(o, xs):
    o.a = xs[0]
    xs.pop(0)
    return o.a


G_SLOT = None


def _reset_slot() -> Args:
    global G_SLOT
    G_SLOT = rand(2, seed=36)
    return Args(Y())


@case(_reset_slot, state=lambda: G_SLOT)
def global_replaced_old_value_returned(x):
    global G_SLOT
    old = G_SLOT
    G_SLOT = x
    return old


@case(lambda: Args({"a": X(), "b": Y()}))
def dict_values_swapped(d):
    d["a"], d["b"] = d["b"], d["a"]


# ----------------------------------------------------------------------------- python
@case(x_, ops=1)
def fstring_of_constants(x):
    name = f"layer{3}_{'a'}"
    return {name: x + 1}


@case(x_, ops=1)
def fstring_of_shape(x):
    return f"{x.shape[0]}x{x.shape[1]}:{x.dtype}", x * 2


@case(xy, ops=1)
def isinstance_array(x, y):
    return x * 2 if isinstance(y, np.ndarray) else x


@case(lambda: Args([X()], 3), ops=1)
def isinstance_tuple_of_types(xs, n):
    return xs[0] * n if isinstance(xs, (list, tuple)) and isinstance(n, int) else None


@case(xs3, ops=1)
def len_of_list(xs):
    return len(xs) * xs[0]


@case(x_, ops=1)
def shape_unpacking(x):
    n, m = x.shape
    return x.reshape(m, n)


@case(lambda: Args(X(), 3), ops=1)
def ternary_on_python_int(x, n):
    return x * 2 if n > 2 else x * 3


@case(lambda: Args(X(), "b"), ops=1)
def in_tuple_of_strings(x, mode):
    if mode in ("a", "b"):
        return x + 1
    return x


@case(lambda: Args(X(), "relu"), ops=1)
def string_method(x, name):
    return _relu(x) if name.upper() == "RELU" else x


@case(x_, ops=3)
def star_unpacking(x):
    a, *rest = (x, x + 1, x + 2)
    return a * len(rest) + rest[-1]


@case(xy, ops=1)
def swap(x, y):
    x, y = y, x
    return x - y


@case(x_, ops=2)
def min_max_of_constants(x):
    return x * max(2, 3) + min(1.0, 0.5)


@case(lambda: Args(X(), -2.6), ops=1)
def abs_round(x, s):
    return x * round(abs(s))


@case(lambda: Args(X(), 3), ops=1)
def chained_comparison(x, n):
    return x * n if 0 < n < 5 else x


@case(x_, ops=1)
def type_is_ndarray(x):
    return x * 2 if type(x) is np.ndarray else x


@case(x_, ops=1)
def dtype_comparison(x):
    return x * 2 if x.dtype == np.float64 else x


@case(x_, ops=1)
def dtype_kind(x):
    return x + 1 if x.dtype.kind == "f" else x


@case(x_, ops=1)
def walrus(x):
    if (n := x.shape[0]) > 2:
        return x * n
    return x


@case(x_, ops=1)
def assert_on_constant(x):
    assert x.ndim == 2, "needs a matrix"
    return x + 1


@case(x_, ops=1)
def augmented_python_scalar(x):
    n = 2
    n *= 3
    return x * n


@case(x_, ops=1)
def float_of_shape(x):
    return float(x.shape[0]) * x


@case(x_, ops=1)
def int_of_string_constant(x):
    return x * int("3")


@case(lambda: Args(X(), None), ops=1)
def is_none_check(x, y):
    return x + 1 if y is None else x + y


@case(x_, ops=3)
def tuple_arithmetic_of_shapes(x):
    shape = x.shape + (1,)
    return x.reshape(shape) * np.ones(shape[-1])


@case(x_, ops=1)
def del_local(x):
    y = x + 1
    z = y
    del y
    return z


@case(lambda: Args(X(), {"lr": 0.1}), ops=2)
def dict_get_default(x, opts):
    return x * opts.get("lr", 1.0) - opts.get("wd", 0.0)


@case(x_, ops=1)
def sorted_builtin(x):
    axes = sorted([1, 0])
    return np.transpose(x, axes)


@case(x_, ops=2)
def any_all_builtins_on_constants(x):
    flags = [True, False]
    return x * any(flags) + all(flags)


@case(x_, ops=1)
def string_concat_and_format(x):
    key = "w" + str(x.ndim) + format(1.5, ".1f")
    return {key: x * 1.5}


@case(x_, ops=1)
def not_operator(x):
    return x * 2 if not x.size == 0 else x


@case(lambda: Args([1, 2, 3], X()), ops=1)
def builtin_sum_of_int_list(ns, x):
    return x * sum(ns)


# ----------------------------------------------------------------------------- graph breaks
# The frame stops at the instruction the tracer cannot follow, runs it eagerly, and a resume
# function (compiled on its own frame) continues; a graph with no op is not compiled.
@case(x_, graphs=2, ops=[2, 1])
def break_data_dependent_branch(x):
    if x.sum() > 0:
        return x * 2
    return x - 1


@case(x_, graphs=1, ops=[1])
def break_print(x):
    print("shape", x.shape)
    return x + 1


@case(x_, graphs=1, ops=[1])
def break_float_of_array(x):
    return float(x.sum()) * 2


# ----------------------------------------------------------------------------- fallbacks
@case(x_, graphs=0, fallback="try")
def fallback_try_except(x):
    try:
        return x + 1
    except ValueError:
        return x


@case(xs3, graphs=0, fallback="generator")
def fallback_generator_expression(xs):
    return sum(v * 2 for v in xs)


def _gen(xs):
    yield from xs


@case(xs3, graphs=0)
def break_generator_function(xs):
    gen = _gen(xs)  # a generator cannot be inlined: break, the call runs eagerly
    return [v + 1 for v in gen]  # the resume frame cannot iterate it: runs eagerly


@case(x_, graphs=1, ops=[1])
def break_boolean_mask(x):
    return x[x > 0]


# ----------------------------------------------------------------------------- the driver
def _call(fn: Callable, args: Args) -> Any:
    return fn(*args.args, **args.kwargs)


_IDS = [
    {"scaled": "closure_scalar", "added": "closure_array", "applied": "closure_function",
     "inner": "closure_two_levels", "layers": "closure_over_list"}.get(c.fn.__name__,
                                                                       c.fn.__name__)
    for c in CASES
]


def test_table_is_large_and_unique():
    assert len(CASES) >= 150
    assert len(set(_IDS)) == len(_IDS)
    assert len({c.fn for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=_IDS)
def test_compiled_equals_eager(case: Case, counting_backend):
    compiled = dynajit.compile(case.fn, backend=counting_backend)
    for run in ("first call (compiles)", "second call (cache hit)"):
        eager_inputs = case.inputs()
        expected = _call(case.fn, eager_inputs)
        expected_state = case.state() if case.state else None
        compiled_inputs = case.inputs()
        got = _call(compiled, compiled_inputs)
        got_state = case.state() if case.state else None
        where = f"{run}: {counting_backend.describe()}"
        assert_same(got, expected, f"result, {run}")
        assert_same(compiled_inputs.args, eager_inputs.args, f"args after the {run}")
        assert_same(compiled_inputs.kwargs, eager_inputs.kwargs, f"kwargs after the {run}")
        assert_same(got_state, expected_state, f"state after the {run}")
        assert_same_identity(got, expected, (compiled_inputs.args, compiled_inputs.kwargs),
                             (eager_inputs.args, eager_inputs.kwargs), f"result, {run}")
        cache = cache_of(case.fn)
        if case.fallback is None:
            assert cache.failure is None, f"fell back to eager: {cache.failure}"
        ops = case.ops if isinstance(case.ops, list) else [case.ops] * case.graphs
        ops = [n for n in ops if n]  # a graph with no op is not handed to the backend
        assert counting_backend.frame_count == len(ops), where
        assert counting_backend.op_counts == ops, where
    if case.fallback is not None:
        assert cache.failure is not None and case.fallback in cache.failure, cache.failure
        assert cache.entries == []
    else:
        assert len(cache.entries) == 1
        assert cache.misses == 1


# ----------------------------------------------------------------------------- identity
def same_result_twice(x):
    y = x + 1
    return y, [y], {"y": y}


def test_one_result_object_returned_twice_stays_one_object(counting_backend):
    compiled = dynajit.compile(same_result_twice, backend=counting_backend)
    got = compiled(X())
    assert got[0] is got[1][0] is got[2]["y"]
    assert_same(got, same_result_twice(X()))
    assert counting_backend.op_counts == [1]


def bump(x):
    x += 1


def test_in_place_update_is_seen_through_the_callers_views(counting_backend):
    compiled = dynajit.compile(bump, backend=counting_backend)
    x = np.zeros(6)
    head, strided = x[:3], x[::2]
    compiled(x)
    compiled(x)
    assert_same(x, np.full(6, 2.0))
    assert_same(head, np.full(3, 2.0))
    assert_same(strided, np.full(3, 2.0))
    assert counting_backend.frame_count == 1


def test_returned_view_aliases_the_input_like_eager(counting_backend):
    compiled = dynajit.compile(int_index, backend=counting_backend)
    x = X()
    row = compiled(x)
    row[0] = 100.0  # writing into eager's result writes into x: so must this
    assert x[1, 0] == 100.0
