"""Graph breaks against eager execution (issue 5).

Each row of ``CASES`` is a program that breaks (or, where no break is possible, falls back
to eager as a whole frame). The driver runs the row's calls eagerly, then compiled through a
counting backend, and compares every call: the value (exact: dtypes, shapes, Python
types), the arguments afterwards (in-place updates), what was printed to stdout and stderr
(in order: log records and snapshots taken at a break are printed too), the warnings, and
other observable state. Then it checks the exact graphs compiled (ops per graph, in compile
order), the exact number of graph breaks (``dynamo_graph_break_reason`` records whose
action is a graph break, received with ``dynajit.trace.listen``) and the resume functions
compiled (code objects named ``__resume_*`` with an entry, each compiled once). The calls
run a second time: every frame hits its cache (no compile, no new graph).

Offsets differ between Python versions (3.12 inlines comprehensions), so no offset is
written here; resume functions are counted and matched by name only.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import json
import linecache
import logging
import random
import re
import statistics
import sys
import textwrap
import time
import types
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import dynajit
from dynajit import trace
from dynajit.capture import convert_frame
from dynajit.trace import explain
from tests.capture.conftest import Args, assert_same, assert_same_identity, cache_of

PY312 = sys.version_info >= (3, 12)


# ----------------------------------------------------------------------------- data
def rand(*shape: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed + 7 * len(shape) + sum(shape))
    return rng.standard_normal(shape)


def X() -> np.ndarray:
    """Mixed signs, sum > 0 is not assumed anywhere."""
    return rand(3, 4)


def POS() -> np.ndarray:
    return np.abs(rand(3, 4, seed=1)) + 0.5


def NEG() -> np.ndarray:
    return -POS()


def XI() -> np.ndarray:
    return np.array([[3, 1, 2, 3], [1, 5, 5, 2], [0, 3, 1, 1]], dtype=np.int64)


def x_() -> Args:
    return Args(X())


def pos() -> Args:
    return Args(POS())


def neg() -> Args:
    return Args(NEG())


def xy() -> Args:
    return Args(X(), rand(4, seed=2))


# ----------------------------------------------------------------------------- observers
class _PrintHandler(logging.Handler):
    """Log records go to stdout at emit time, so their order against prints is checked.
    (``emit`` runs eagerly: it is the library's code here, not the program under test.)"""

    @dynajit.disable
    def emit(self, record: logging.LogRecord) -> None:
        print(f"LOG {record.levelname}: {record.getMessage()}")


LOG = logging.getLogger("dynajit_tests.graph_breaks")
LOG.addHandler(_PrintHandler())
LOG.setLevel(logging.INFO)
LOG.propagate = False


@dynajit.disable
def show(*values: Any) -> None:
    """Code run at the break: prints what it sees (arrays by value, objects by state)."""
    print("show:", *[repr(vars(v)) if hasattr(v, "__dict__") else repr(v) for v in values])


EVENTS: list = []
COUNTER = 0


def reset_globals() -> None:
    global COUNTER
    EVENTS.clear()
    COUNTER = 0


def globals_state() -> Any:
    return {"events": list(EVENTS), "counter": COUNTER}


# ----------------------------------------------------------------------------- the table
@dataclasses.dataclass
class Case:
    fn: Callable
    calls: list[Callable[[], Args]]  # the input builders, one per call, in order
    ops: list[int]  # ops of each graph handed to the backend, in compile order
    breaks: int  # graph-break records (one per compile that broke)
    resumes: int  # resume functions compiled
    fallback: str | None = None  # expected text in cache_of(fn).failure (whole frame eager)
    failures: dict[str, str] = dataclasses.field(default_factory=dict)  # other frames
    state: Callable[[], Any] | None = None
    setup: Callable[[], None] | None = None
    raises: type[BaseException] | None = None


CASES: list[Case] = []


def case(*calls: Callable[[], Args], ops: list[int], breaks: int = 1,
         resumes: int | None = None, fallback: str | None = None,
         failures: dict[str, str] | None = None, state: Callable[[], Any] | None = None,
         setup: Callable[[], None] | None = None,
         raises: type[BaseException] | None = None) -> Callable:
    def register(fn: Callable) -> Callable:
        CASES.append(Case(fn, list(calls) or [x_], ops, breaks,
                          breaks if resumes is None else resumes, fallback, failures or {},
                          state, setup, raises))
        return fn

    return register


def with_globals(**kw: Any) -> dict:
    return {"state": globals_state, "setup": reset_globals, **kw}


# ============================================================================= print
@case(ops=[1])
def print_first(x):
    print("start")  # nothing traced before: the first graph has no op, is not compiled
    return x + 1


@case(ops=[1, 1])
def print_middle(x):
    y = x + 1
    print("y has shape", y.shape)
    return y * 2


@case(ops=[1, 1])
def print_array_value(x):
    y = np.tanh(x)
    print(y)  # the graph's output, printed eagerly
    return y - 1


@case(ops=[2])
def print_last_returns_none(x):
    y = x * 3
    print(y.sum())  # the resume function only returns None: no graph


@case(ops=[1])
def print_keyword_arguments(x):
    print("a", x.shape[0], sep="|", end="!\n")
    return x - 1


@case(ops=[1])
def print_to_stderr(x):
    print("to stderr", x.ndim, file=sys.stderr)  # sys.stderr is on the stack at the break
    return x * 0.5


@case(ops=[1, 1, 1], breaks=2)
def print_twice(x):
    a = x + 1
    print("a")
    b = a * 2
    print("b")
    return a + b


@case(ops=[1])
def print_fstring_of_static_values(x):
    print(f"shape={x.shape} n={x.size} dtype={x.dtype}")
    return x + x.size


@case(ops=[1])
def print_result_is_used(x):
    y = x * 2
    r = print("value")  # None, handed to the resume function
    return y if r is None else x


@case(ops=[1, 1], breaks=1)
def print_star_args(x):
    y = x + 1
    print(*y.shape, sep=",")  # CALL_FUNCTION_EX: still a graph break, as in TorchDynamo
    return y * 2


# ============================================================================= logging
@case(ops=[1, 1])
def logging_info(x):
    y = x * 2
    LOG.info("size %d", x.size)
    return y + 1


@case(ops=[2], breaks=2)
def logging_float_of_array(x):
    y = np.abs(x)
    LOG.warning("total=%.6f", float(y.sum()))  # float() breaks, then LOG.warning does
    return y


@case(ops=[1, 2], breaks=2)
def logging_around_print(x):
    y = x + 1
    LOG.info("before")
    print("middle")
    return (y * 2).sum()


# ============================================================================= warnings
@case(ops=[1])
def warns(x):
    warnings.warn("careful", UserWarning, stacklevel=1)
    return x + 1


@case(ops=[1, 1])
def warns_runtime_warning_between_ops(x):
    y = x * 2
    warnings.warn(f"n={x.size}", RuntimeWarning, stacklevel=1)
    return y - 1


# ============================================================================= time
@case(ops=[2], breaks=2)
def time_perf_counter(x):
    # t0, a new float each call, is live across the second break: the second call must
    # still hit the resume functions' caches
    t0 = time.perf_counter()
    y = x @ x.T
    return y, time.perf_counter() >= t0


@case(ops=[1, 1])
def time_sleep_zero(x):
    y = x + 1
    time.sleep(0)
    return y * y


# ============================================================================= libraries
@case(ops=[1])
def json_dumps(x):
    s = json.dumps({"shape": list(x.shape), "n": x.size})
    return x * 2, s


@case(ops=[1, 1], breaks=2)
def statistics_mean_of_tolist(x):
    m = statistics.mean(x.ravel().tolist())  # .tolist() breaks, then statistics.mean
    return x - m


@case(ops=[1])
def re_sub(x):
    s = re.sub("a+", "b", "caaat")
    return x + len(s), s


def describe(d):
    return ", ".join(f"{k}={v}" for k, v in sorted(d.items()))  # a generator: not traced


@case(ops=[1], failures={"describe": "generator"})
def untraceable_user_function(x):
    s = describe({"n": x.size, "d": x.ndim})  # its frame runs eagerly (whole-frame fallback)
    return x * 2, s


@case(ops=[1])
def json_dumps_keyword_arguments(x):
    y = x * 2
    s = json.dumps({"b": 1, "a": [x.ndim]}, sort_keys=True, indent=None)
    return y, s


@case(ops=[1], setup=lambda: random.seed(0))
def random_module(x):
    r = random.random()  # the same seed in each run: the same value, a cache hit
    return x * r


@case(ops=[1, 1])
def copy_deepcopy(x):
    y = x + 1
    z = copy.deepcopy(y)
    return z * 2


# ============================================================================= NumPy functions
@case(ops=[2, 1])
def eigvalsh(x):
    a = x @ x.T
    w = np.linalg.eigvalsh(a)
    return w * 2


@case(ops=[2])
def unique_of_floored(x):
    u = np.unique(np.floor(x * 2))
    return u, u.size


@case(lambda: Args(XI()), ops=[2])
def unique_return_counts(xi):
    values, counts = np.unique(xi, return_counts=True)  # keyword argument at the break
    return values * 2, counts.sum()


@case(ops=[1])
def sort_unregistered(x):
    return np.sort(x) * 2


@case(ops=[2, 1])
def nonzero_of_mask(x):
    (idx,) = np.nonzero(x.ravel() > 0)
    return idx + 1


@case(ops=[3], breaks=0)
def cumsum_of_boolean_mask(x):
    return np.cumsum(x > 0) + 1  # registered: no break


@case(ops=[1, 2])
def boolean_mask_index(x):
    p = x[x > 0]  # data-dependent shape: BINARY_SUBSCR runs eagerly
    return p.sum() / p.size


@case(ops=[1])
def boolean_mask_index_returned(x):
    return x[x > 0]


@case(ops=[1, 1])
def len_of_boolean_mask(x):
    n = len(x[x < 0])
    return n, x * n


@case(ops=[1, 1])
def allclose_condition(x):
    if np.allclose(x, x + 1e-12):  # breaks at the call; the branch on its bool is traced
        return x * 2
    return x


@case(ops=[2, 1])
def eigh_unpacked(x):
    w, v = np.linalg.eigh(x @ x.T)  # a named tuple, unpacked by the resume function
    return v * w


@case(ops=[1])
def tolist_of_array(x):
    return x.tolist(), x * 2


@case(ops=[2, 1])
def str_of_array(x):
    y = np.floor(x * 10)
    s = str(y)
    return s, y + 1


@case(ops=[1, 1])
def contains_on_array(x):
    found = 0.0 in np.floor(x)  # CONTAINS_OP runs eagerly
    return found, x + 1


@case(ops=[1], failures={"__resume_": "STORE_SUBSCR"}, resumes=0)
def masked_in_place_update(x):
    # x[mask] breaks (BINARY_SUBSCR); the resume function cannot store through the mask,
    # so it runs eagerly as a whole
    x[x > 0] *= 2
    return x


# ============================================================================= scalars
@case(ops=[1, 1])
def item_scale(x):
    s = x.max().item()
    return x / s


@case(ops=[1, 1])
def float_plus_array(x):
    return x + float(x.sum())  # x is on the stack at the break


@case(lambda: Args(XI()), ops=[1, 3])
def int_of_argmax(xi):
    i = int(xi.argmax())
    return xi.ravel()[i] * 2


@case(ops=[1, 1])
def bool_of_array(x):
    flag = bool(x.any())
    return flag, x * 2


@case(ops=[1])
def formatted_float(x):
    return f"{float(x.sum()):.3f}"


@case(lambda: Args(np.array(2.5)), ops=[1])
def int_of_zero_d(s):
    return int(s) + 1, s * 2


@case(lambda: Args(np.array(2.5)), ops=[1])
def float_of_zero_d(s):
    y = s * 2
    return float(y) + 1.0, y


@case(ops=[2])
def print_list_of_graph_values(x):
    print([x.sum() > 100, x.size])


# ============================================================================= branches
@case(pos, neg, pos, neg, ops=[2, 1, 1], resumes=2)
def branch_both_ways(x):
    if x.sum() > 0:
        return x * 2
    return x - 1


@case(lambda: Args(POS() * 3), neg, lambda: Args(POS() * 0.01), lambda: Args(POS() * 3),
      ops=[2, 1, 1, 1, 1], breaks=2, resumes=4)
def if_elif_else(x):
    s = x.sum()
    if s > 1:
        return x * 2
    elif s < -1:
        return x / 2
    else:
        return x + s


@case(pos, neg, ops=[2, 1, 1], resumes=2)
def ternary_on_array(x):
    return x * 2 if x.mean() > 0 else -x


@case(pos, neg, ops=[2, 1, 1], resumes=2)
def branch_on_all(x):
    if (x > 0).all():
        return x.sum()
    return x.min()


@case(lambda: Args(POS(), POS()[0]), lambda: Args(NEG(), POS()[0]),
      lambda: Args(POS(), NEG()[0]), ops=[2, 2, 1, 1], breaks=2, resumes=3)
def and_of_two_conditions(x, y):  # both false paths continue in one resume function (x - y)
    if x.sum() > 0 and y.sum() > 0:
        return x + y
    return x - y


@case(pos, ops=[1, 1])
def not_of_array(x):
    empty = not x.any()  # UNARY_NOT on an array
    return empty, x + 1


@case(pos, neg, ops=[2], breaks=2, resumes=3)
def branch_then_print(x):
    if x.max() > 0:
        print("has a positive value")
    return x.shape


def plain_python(source: str) -> Callable:
    """A function compiled from ``source`` as plain Python: pytest rewrites the asserts of
    this module (into code with locals such as ``@py_assert1`` and a different message),
    which is not the program under test here (see test_break_in_pytest_rewritten_assert)."""
    source = textwrap.dedent(source)
    name = re.search(r"def (\w+)", source).group(1)
    filename = f"<graph-break-program {name}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    namespace = {"__name__": __name__, "np": np}
    exec(compile(source, filename, "exec"), namespace)
    return namespace[name]


case(ops=[2, 1])(plain_python("""
    def assert_on_array_passes(x):
        assert x.min() > -100, "too small"
        return x + 1
"""))

# The failing branch's resume function starts at LOAD_ASSERTION_ERROR: it runs eagerly.
case(ops=[2], raises=AssertionError, resumes=0,
     failures={"__resume_": "LOAD_ASSERTION_ERROR"})(plain_python("""
    def assert_on_array_fails(x):
        assert x.min() > 100, "too small"
        return x + 1
"""))


@case(pos, neg, lambda: Args(POS() * 100), ops=[2, 2, 1], breaks=2, resumes=3)
def or_of_two_conditions(x):
    # Both conditions lead to the same body: one resume function (one graph) for it
    if x.min() < -1 or x.max() > 10:
        return x * 0
    return x


@case(pos, neg, ops=[2, 1, 1], resumes=2)
def static_and_dynamic_condition(x):
    if x.ndim == 2 and x.sum() > 0:  # the static part is traced
        return x * 3
    return x / 3


# ============================================================================= several breaks
@case(pos, ops=[1, 1, 2, 1], breaks=3)
def print_float_branch(x):
    y = x * 2
    print("start")
    s = float(y.sum())
    if y.max() > 0:
        return y + s
    return y - s


@case(xy, ops=[1, 1, 1, 1], breaks=3)
def three_breaks_live_locals(x, y):
    a = x + y
    print("one")
    b = a * y
    print("two")
    c = b - x
    print("three")
    return a, b, c + 1



# ============================================================================= inlined callees
def helper_prints(v):
    print("in helper")
    return v * 3


@case(ops=[1, 1, 1], breaks=2)
def callee_prints(x):
    y = x + 1
    z = helper_prints(y)  # a break at this call; helper_prints' own frame is compiled
    return z * 2


def helper_branches(v):
    if v.sum() > 0:
        return v * 2
    return v * -2


@case(pos, neg, ops=[1, 2, 1, 1, 1], breaks=2, resumes=3)
def callee_branches(x):
    z = helper_branches(x + 1)
    return z - 1


def level3(v):
    print("level3")
    return v + 3


def level2(v):
    return level3(v * 2) - 1


@case(ops=[1, 1, 1, 1, 1], breaks=3)
def callee_two_levels(x):
    y = x + 1
    return level2(y) * 4


def helper_with_keywords(v, *, scale=1.0, label="h"):
    print(label, scale)
    return v * scale


@case(ops=[1, 1, 1], breaks=2)
def callee_keyword_arguments(x):
    y = x - 1
    return helper_with_keywords(y, scale=2.0, label="kw") + 1


def helper_float(v):
    return float(v.sum()) * 2


@case(ops=[1, 1], breaks=2)
def callee_float(x):
    s = helper_float(x)
    return x * s


class Scaler:
    def __init__(self, w):
        self.w = w

    def apply(self, v):
        print("apply")
        return v * self.w


SCALER = Scaler(np.arange(4.0))


@case(ops=[1, 1, 1], breaks=2)
def callee_is_a_method(x):
    y = x + 1
    return SCALER.apply(y) - 1


@case(ops=[1, 1, 1], breaks=3)
def callee_called_twice(x):
    a = helper_prints(x)  # breaks; helper_prints compiles once
    b = helper_prints(x + 1)  # breaks again in the resume function: a cache hit
    return a - b


# ============================================================================= stack values
def combine(a, b, c):
    return a + c if b is None else a


@case(ops=[1, 2])
def break_in_call_arguments(x):
    return combine(x + 1, print("p"), x * 2)  # combine and x + 1 are on the stack


@case(ops=[1, 1])
def break_in_list_display(x):
    return [x.sum(), float(x.sum()), x.max()]


@case(lambda: Args(XI()), ops=[2, 1])
def break_in_tuple_display(xi):
    return (xi.min(), int(xi.argmax()), xi.max())


@case(ops=[2])
def break_in_dict_display(x):
    return {"a": x + 1, "b": float(x.mean())}


@case(ops=[1, 1])
def break_in_numpy_call_arguments(x):
    return np.maximum(x, float(x.mean()))


@case(ops=[2, 2])
def break_in_method_call_on_stack(x):
    return SCALER.w.reshape(2, 2) * float(x.sum()) + x.shape[0]


@case(ops=[1, 1])
def break_in_bound_method_arguments(x):
    return x.clip(float(x.min()) / 2, 1.0)  # the bound method x.clip is on the stack


@case(ops=[1, 1], breaks=3)
def break_in_python_method_arguments(x):
    return SCALER.apply(float(x.sum()))  # float() breaks, then the inlined apply prints


# ============================================================================= *args, **kwargs
@case(lambda: Args(X(), POS(), NEG()), ops=[1])
def varargs_function(*xs):
    print(len(xs))
    return xs[0] + xs[-1]


@case(lambda: Args(X(), scale=3.0, shift=1.0), ops=[1, 1], breaks=2)
def kwargs_function(x, **opts):
    y = x * opts["scale"]
    print(sorted(opts))  # sorted() of the dict breaks, then print
    return y + opts["shift"]


@case(lambda: Args(X(), POS(), tag="t"), ops=[1, 1])
def varargs_and_kwargs(x, *rest, **kw):
    y = x + rest[0]
    print(kw["tag"], len(rest))
    return y * 2


# ============================================================================= closures
def make_scaled(w, k):
    def scaled(x):
        y = x * k
        print("scaled by", k)
        return y + w

    return scaled


SCALED = make_scaled(np.arange(4.0), 3.0)


@case(ops=[1, 1], breaks=2)
def closure_read_only(x):
    return SCALED(x)  # the closure itself is inlined; the break is in it


CLOSURE_DIRECT = make_scaled(np.ones(4), 0.5)
CASES.append(Case(CLOSURE_DIRECT, [x_], [1, 1], 1, 1))


# ============================================================================= methods
class Model:
    def __init__(self):
        self.w = np.linspace(-1.0, 1.0, 4)
        self.calls = 0
        self.last = None

    def forward(self, x):
        self.calls += 1  # an attribute store before the break, seen by show()
        y = x * self.w
        show(self)
        self.last = y.sum()  # and one after it
        return y + 1


@case(lambda: Args(Model(), X()), ops=[1, 2], fallback="side effects")
def fallback_inlined_method_with_side_effects(m, x):
    # Model.forward stores an attribute before it breaks: the call cannot be a graph break
    # here, so this frame runs eagerly; Model.forward's own frame compiles and breaks.
    return Model.forward(m, x)


CASES.append(Case(Model.forward, [lambda: Args(Model(), X())], [1, 2], 1, 1))


class Gate:
    def __init__(self, threshold):
        self.threshold = threshold

    def __call__(self, x):
        if x.max() > self.threshold:
            return x - self.threshold
        return x


@case(lambda: Args(Gate(0.0), POS()), lambda: Args(Gate(100.0), POS()), ops=[2, 1, 2], breaks=4,
      resumes=3)
def callable_object_branches(g, x):
    # The break is in the inlined __call__: a break at this call, and __call__'s frame
    # compiles and breaks at its `if`. A new threshold fails both frames' guards.
    return g(x)


BOUND_MODEL = Model()


def reset_bound_model() -> None:
    BOUND_MODEL.__init__()


CASES.append(Case(BOUND_MODEL.forward, [x_], [1, 2], 1, 1, setup=reset_bound_model,
                  state=lambda: dict(vars(BOUND_MODEL))))


# ============================================================================= side effects
@case(lambda: Args(X(), [0]), ops=[1, 1])
def list_appends_around_print(x, out):
    out.append(1)
    y = x + 1
    print(out)  # the append is visible to the eager instruction
    out.append(2)
    return y * 2


@case(lambda: Args(X()), ops=[2, 2])
def in_place_update_visible_at_break(x):
    x += 1
    show(x)
    x *= 2
    return x


@case(lambda: Args(X()), ops=[3, 1])
def setitem_visible_at_break(x):
    x[0, 0] = 100.0
    show(x[0])
    return x.sum()


@case(**with_globals(ops=[1]))
def global_list_and_counter(x):
    global COUNTER
    EVENTS.append("before")
    COUNTER += 1
    show(EVENTS, COUNTER)
    EVENTS.append("after")
    COUNTER += 10
    return x * COUNTER


class Box:
    pass


@case(lambda: Args(Box(), X()), ops=[1])
def attribute_stores_around_break(box, x):
    box.a = 1
    box.arr = x + 1
    show(box)
    box.a = 2
    return box.a


@case(lambda: Args({"k": 1}, X()), ops=[1, 1])
def dict_mutation_visible_at_break(d, x):
    d["y"] = x * 2
    show(d)
    d["z"] = d["y"] + 1
    return d


@case(**with_globals(ops=[1], breaks=2))
def events_order_through_logging_and_print(x):
    EVENTS.append(1)
    LOG.info("logged")
    EVENTS.append(2)
    print("printed", EVENTS)
    EVENTS.append(3)
    return x + len(EVENTS)


# ============================================================================= nested resumes
@case(pos, neg, pos, ops=[1, 3, 1, 1], breaks=3, resumes=4)
def nested_breaks_in_resume(x):
    y = x + 1
    print("first")
    z = y * 2
    if z.sum() > 0:
        print("positive")
        return z + 1
    return -z


# ============================================================================= after a loop
@case(ops=[3, 1])
def break_after_unrolled_loop(x):
    acc = x
    for _ in range(3):
        acc = acc + 1
    print("done")
    return acc * 2


# ============================================================================= fallbacks
@case(ops=[], breaks=0, fallback="loop")
def fallback_print_in_for_loop(x):
    for i in range(2):
        print(i)
        x = x + 1
    return x


@case(pos, ops=[], breaks=0, fallback="loop")
def fallback_branch_in_loop(x):
    total = 0.0
    for row in x:
        if row.sum() > 0:
            total += 1
    return total


@case(ops=[1], failures={"__resume_": "loop"}, resumes=0)
def while_on_array_value_breaks_then_falls_back(x):
    # The first test of the condition is before the loop (it breaks); the resume function
    # holds the loop, and runs eagerly as a whole.
    while float(x.max()) < 10:
        x = x * 2 + 1
    return x


@case(ops=[], breaks=0, fallback="try")
def fallback_print_in_try(x):
    try:
        print("in try")
        return x + 1
    except ValueError:
        return x


@case(ops=[], breaks=2, failures={"__resume_": "try/except/with block"}, resumes=1)
def break_before_with_then_falls_back(x):
    with contextlib.suppress(ValueError):  # breaks at the call, then at BEFORE_WITH (the
        print("in with")  # entry enters the block); the resume function inside the block
    return x + 1  # runs eagerly as a whole, under the block's real exception handler


SUPPRESS = contextlib.suppress(ValueError)


@case(ops=[], breaks=1, failures={"__resume_": "try/except/with block"}, resumes=0)
def break_at_with_then_block_runs_eagerly(x):
    with SUPPRESS:
        print("in with")
    return x + 1


@case(ops=[], breaks=0, fallback="captured by inner functions")
def fallback_captured_variable(x):
    k = 2.0

    def inner():
        return k

    print("inner made")
    return x * k, callable(inner)


@case(ops=[1], breaks=3)
def iter_and_next_break(x):
    it = iter((x, x + 1))  # iter() breaks: the resume functions get the real iterator
    print("iterating")
    return next(it)


@case(ops=[], breaks=0, fallback="iterator")
def fallback_live_iterator(x):
    pairs = enumerate((x, x + 1))
    print("iterating")
    return list(pairs)


@case(ops=[1], breaks=0, fallback="function defined inside")  # the lambda compiles
def fallback_function_made_inside(x):
    g = lambda v: v + 1  # noqa: E731
    print("lambda made")
    return g(x)


def appends_then_prints(lst, v):
    lst.append("appended")
    print("after append")
    return v


@case(ops=[], fallback="side effects", **with_globals())
def fallback_side_effect_before_break(x):
    # The append ran while tracing the inlined call: the frame cannot stop before the call.
    # appends_then_prints' own frame is compiled (and breaks at its print) when it runs.
    return appends_then_prints(EVENTS, x) + 1


@case(ops=[], breaks=0,
      fallback="function defined inside" if not PY312 else "loop",
      failures={} if PY312 else {"<listcomp>": "cannot enumerate"})
def fallback_float_in_comprehension(x):
    # 3.11: the comprehension is a function made here; 3.12 inlines it as a loop
    return [float(v) for v in x.sum(axis=1)]


@case(ops=[], breaks=0, fallback="STORE_SUBSCR")
def fallback_boolean_mask_assignment(x):
    x[x < 0] = 0.0
    return x + 1


# ----------------------------------------------------------------------------- the driver
@dataclasses.dataclass
class Observed:
    value: Any
    args: Args
    out: str
    err: str
    warnings: list
    state: Any
    error: tuple | None


def _run(fn: Callable, c: Case, capsys: Any) -> list[Observed]:
    if c.setup:
        c.setup()
    capsys.readouterr()
    seen = []
    for make in c.calls:
        args = make()
        value, error = None, None
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                value = fn(*args.args, **args.kwargs)
            except Exception as e:  # noqa: BLE001 - compared with eager's
                error = (type(e), str(e))
        out = capsys.readouterr()
        seen.append(Observed(value, args, out.out, out.err,
                             [(w.category, str(w.message)) for w in caught],
                             c.state() if c.state else None, error))
    return seen


def _compare(got: list[Observed], want: list[Observed], where: str) -> None:
    for i, (g, e) in enumerate(zip(got, want)):
        at = f"{where}, call {i}"
        assert g.error == e.error, at
        assert_same(g.value, e.value, f"result, {at}")
        assert_same_identity(g.value, e.value, (g.args.args, g.args.kwargs),
                             (e.args.args, e.args.kwargs), f"result, {at}")
        assert_same(g.args.args, e.args.args, f"args after {at}")
        assert_same(g.args.kwargs, e.args.kwargs, f"kwargs after {at}")
        assert g.out == e.out, f"stdout, {at}"
        assert g.err == e.err, f"stderr, {at}"
        assert g.warnings == e.warnings, f"warnings, {at}"
        assert_same(g.state, e.state, f"state after {at}")


class BreakRecords:
    """The graph-break and fallback records written while listening."""

    def __init__(self) -> None:
        self.breaks: list[str] = []
        self.fallbacks: list[str] = []
        self.starts = 0

    def __call__(self, record: Any) -> None:
        if record.name == "dynamo_start":
            self.starts += 1
        if record.name != "dynamo_graph_break_reason":
            return
        text = record.payload
        (self.breaks if "\nAction: graph break" in text else self.fallbacks).append(text)


def compiled_resumes() -> list[str]:
    return sorted(code.co_name for code, cache in list(convert_frame._CACHES.items())
                  if code.co_name.startswith("__resume_") and cache.entries)


def _case_id(c: Case) -> str:
    if isinstance(c.fn, types.MethodType):
        return "bound_method"
    name = c.fn.__name__
    return {"scaled": "closure_called_directly", "forward": "method_called_with_self"}.get(
        name, name)


_IDS = [_case_id(c) for c in CASES]


def test_table_is_large_and_unique():
    assert len(CASES) >= 60
    assert len(set(_IDS)) == len(_IDS)
    assert sum(c.breaks > 0 for c in CASES) >= 60


# Known gaps: the test states the behaviour we want; strict, so fixing it is noticed.
KNOWN_GAPS = {
    "time_perf_counter": "a Python float live across a break is specialized by value in "
                         "the resume function's guards, so a new float recompiles it",
}
_PARAMS = [pytest.param(c, id=i, marks=pytest.mark.xfail(strict=True, reason=KNOWN_GAPS[i]))
           if i in KNOWN_GAPS else pytest.param(c, id=i) for c, i in zip(CASES, _IDS)]


@pytest.mark.parametrize("c", _PARAMS)
def test_breaks_match_eager(c: Case, counting_backend, capsys):
    want = _run(c.fn, c, capsys)
    if c.raises is not None:
        assert [o.error and o.error[0] for o in want] == [c.raises] * len(want)
    compiled = dynajit.compile(c.fn, backend=counting_backend)
    records = BreakRecords()
    with trace.listen(records):
        got = _run(compiled, c, capsys)
    _compare(got, want, "first run")
    where = f"{counting_backend.describe()}\nbreaks:\n" + "\n".join(records.breaks)
    assert counting_backend.op_counts == c.ops, where
    assert len(records.breaks) == c.breaks, where
    resumes = compiled_resumes()
    assert len(resumes) == c.resumes, resumes
    for code, cache in list(convert_frame._CACHES.items()):
        if code.co_name.startswith("__resume_") and cache.failure is None:
            assert re.fullmatch(r"__resume_\w+_at_\d+", code.co_name), code.co_name
            assert len(cache.entries) == 1 and cache.misses == 1, (
                f"{code.co_name} compiled {cache.misses} times: {cache.recompile_reasons}")
    failures = {code.co_name: cache.failure for code, cache in
                list(convert_frame._CACHES.items()) if cache.failure is not None}
    expected_failures = dict(c.failures)
    if c.fallback is not None:
        expected_failures[c.fn.__name__] = c.fallback
        assert cache_of(c.fn).entries == []
        assert records.fallbacks, "no fallback record"
    for prefix, text in expected_failures.items():  # a name, or a prefix of resume names
        matching = [name for name in failures if name == prefix or (
            prefix.endswith("_") and name.startswith(prefix))]
        assert len(matching) == 1, (prefix, failures)
        assert text in failures.pop(matching[0]), (prefix, text)
    assert failures == {}, f"frames that fell back to eager: {failures}"

    # Second run: every frame hits its cache.
    graphs = list(counting_backend.op_counts)
    again = BreakRecords()
    with trace.listen(again):
        got = _run(compiled, c, capsys)
    _compare(got, want, "second run")
    assert counting_backend.op_counts == graphs
    assert again.starts == 0 and again.breaks == [] and again.fallbacks == []
    assert compiled_resumes() == resumes


# ----------------------------------------------------------------------------- fullgraph
FULLGRAPH_PROGRAMS = [print_middle, branch_both_ways, float_plus_array, eigvalsh,
                      boolean_mask_index, callee_prints, logging_info, json_dumps, warns,
                      break_in_list_display, contains_on_array, not_of_array]


@pytest.mark.parametrize("fn", FULLGRAPH_PROGRAMS, ids=lambda f: f.__name__)
def test_fullgraph_raises_the_reason_the_break_reports(fn, capsys):
    """``fullgraph=True`` raises Unsupported with the reason text that the break record
    (and so ``explain``) gives for the same program, at the same file:line."""
    records = BreakRecords()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # warns() warns
        with trace.listen(records):
            dynajit.compile(fn)(X())
        assert records.breaks, "the program does not break"
        first = explain.parse_break_reason(records.breaks[0])
        dynajit.reset()
        report = dynajit.explain(fn)(X())
        assert report.break_reasons[0].message == first["message"]
        assert report.break_reasons[0].site == first["site"]
        dynajit.reset()
        with pytest.raises(dynajit.Unsupported) as info:
            dynajit.compile(fn, fullgraph=True)(X())
    assert str(info.value) == f"{first['message']} ({first['site']})"
    assert "no graph break possible" not in str(info.value)
    assert cache_of(fn).entries == []
    capsys.readouterr()


# ----------------------------------------------------------------------------- records
def test_break_records_name_the_resume_functions_that_run(counting_backend, capsys):
    """Every break record's action names the resume function that continues, as it is
    named (and compiled): ``__resume_<function>_at_<offset>``, nested ones included."""
    records = BreakRecords()
    compiled = dynajit.compile(print_float_branch, backend=counting_backend)
    with trace.listen(records):
        compiled(POS())
    # A branch names both continuations ("then A or B continues"); the one taken runs.
    named = [re.search(r"then (.+) continues", text).group(1).split(" or ")
             for text in records.breaks]
    assert len(named) == 3
    assert set(compiled_resumes()) <= {n for names in named for n in names}
    assert all(re.fullmatch(r"__resume_print_float_branch_at_\d+", n)
               for names in named for n in names), named
    capsys.readouterr()


def test_explain_counts_match_the_counting_backend(capsys):
    out = dynajit.explain(nested_breaks_in_resume)(POS())
    assert out.graph_count == 3  # f, the first resume, the resume after the second print
    assert out.ops_per_graph == [1, 3, 1]
    assert out.graph_break_count == 3
    assert [b.category for b in out.break_reasons] == [
        "side effect", "data-dependent branch", "side effect"]
    capsys.readouterr()


# ----------------------------------------------------------------------------- warnings
def test_warning_at_a_break_points_at_the_users_line():
    """A warning issued by the instruction run at the break is attributed to the user's
    file:line, like eager (the `default` filter then shows it once per location)."""
    compiled = dynajit.compile(warns)
    seen = {}
    for name, fn in (("eager", warns), ("compiled", compiled)):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("default")
            fn(X())
            fn(X())
        seen[name] = [(w.category, str(w.message), w.filename, w.lineno) for w in caught]
    assert len(seen["eager"]) == 1
    assert seen["compiled"] == seen["eager"]


# ----------------------------------------------------------------------------- pytest asserts
def rewritten_assert(x):
    # This module's asserts are rewritten by pytest: locals named "@py_assert1" etc. are
    # live at the break.
    assert x.min() > -100
    return x + 1


def test_break_in_pytest_rewritten_assert(counting_backend):
    """Functions in pytest test modules (rewritten asserts: locals that are not Python
    identifiers) break and resume like any other."""
    compiled = dynajit.compile(rewritten_assert, backend=counting_backend)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert_same(compiled(X()), rewritten_assert(X()))
    assert [str(w.message) for w in caught] == []
    assert counting_backend.op_counts == [2, 1]
    assert compiled_resumes() and all(
        convert_frame._CACHES[code].failure is None for code in list(convert_frame._CACHES))
