"""symbolic_trace: NumPy programs recorded through the registry give graphs whose
GraphModule equals the program; what it cannot follow is refused with the user's line."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dynajit.capture import symbolic_trace
from dynajit.errors import Unsupported
from dynajit.graph import GraphModule
from tests.ops.harness import assert_same
from tests.ops.strategies import FLOAT, arrays, dtypes


def run_both(fn, *inputs):
    traced = symbolic_trace(fn, *inputs)
    traced.graph.verify()
    with np.errstate(all="ignore"):
        return GraphModule(traced.graph)(*inputs), fn(*inputs), traced.graph


def test_operators_methods_and_functions_all_record():
    def f(x, y):
        z = np.exp(-x) + y * 2
        z -= 1
        return abs(z).sum(axis=0), z.T, divmod(z, 3)[1]

    x = np.arange(6.0).reshape(2, 3)
    y = np.ones(3, np.float32)
    got, want, graph = run_both(f, x, y)
    assert_same(got, want)
    names = [n.target.name for n in graph.call_nodes()]
    assert names.count("copy_into") == 1 and "divmod" in names


def test_array_constants_become_constant_nodes():
    table = np.array([1.0, 2.0, 3.0])
    got, want, graph = run_both(lambda x: x * table, np.ones(3))
    assert_same(got, want)
    assert any(n.kind == "constant" for n in graph.nodes)


def test_data_dependent_branch_names_the_users_line():
    def f(x):
        if x.sum() > 0:  # the line the error must name
            return x
        return -x

    with pytest.raises(Unsupported, match=r"bool\(\).*test_symbolic\.py:\d+"):
        symbolic_trace(f, np.ones(3))


def test_inplace_update_of_an_input_is_refused():
    def f(x):
        x += 1
        return x

    with pytest.raises(Unsupported, match="writes into its input"):
        symbolic_trace(f, np.ones(3))


def test_unregistered_numpy_function_is_refused_with_reason():
    with pytest.raises(Unsupported, match=r"np\.unique has no entry"):
        symbolic_trace(np.unique, np.ones(3))


def test_output_structure_is_kept():
    got, want, _ = run_both(lambda x: {"a": [x + 1, (x * 2,)], "b": x.max()}, np.arange(4))
    assert_same(got["a"], want["a"])
    assert_same(got["b"], want["b"])


@settings(max_examples=40, deadline=None)
@given(x=arrays(dtypes(FLOAT), st.tuples(st.integers(1, 5), st.integers(1, 5))))
def test_traced_softmax_equals_numpy(x):
    def softmax(v):
        e = np.exp(v - v.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)

    got, want, _ = run_both(softmax, x)
    assert_same(got, want)
