"""Examples for the linalg ops that the property test does not pin down: canonical argument
forms (einsum subscripts, tensordot axes), what is refused and why, the flags, and that the
shape rules never touch data (huge sizes cost nothing)."""

from __future__ import annotations

import operator

import numpy as np
import pytest

from dynajit.errors import Unsupported
from dynajit.graph import Graph, TensorMeta
from dynajit.ops import OPS, bind
from dynajit.ops.linalg import DOT, EINSUM, MATMUL, OUTER, TENSORDOT
from tests.ops.harness import Call, check_call


def _inputs(*shapes, dtype="float64"):
    graph = Graph()
    return [graph.placeholder(f"a{i}", TensorMeta(s, np.dtype(dtype)))
            for i, s in enumerate(shapes)]


@pytest.mark.parametrize(("subscripts", "canonical"), [
    ("ij,jk", "ij,jk->ik"),
    (" i j , j k ", "ij,jk->ik"),
    ("...j,jk", "...j,jk->...k"),
    ("Ba,aC", "Ba,aC->BC"),
    (b"ij,jk->ki", "ij,jk->ki"),
    ("ii,jk", "ii,jk->jk"),
])
def test_einsum_subscripts_are_explicit(subscripts, canonical):
    a, b = _inputs((3, 3), (3, 3))
    bound = bind(np.einsum, (subscripts, a, b))
    assert bound.op is EINSUM
    assert bound.args == (canonical, a, b)


def test_einsum_sublists_become_letters():
    a, b = _inputs((2, 3), (3, 4))
    bound = bind(np.einsum, (a, [0, 27], b, (27, Ellipsis, 51), [51, 0]))
    assert bound.args == ("Ab,b...z->zA", a, b)


@pytest.mark.parametrize(("args", "kwargs", "reason"), [
    (("ij->ji",), {}, "returns a view"),
    (("ij",), {}, "returns a view"),
    (("ii->i",), {}, "returns a view"),
    (("ij,jk",), {"optimize": True}, "optimize="),
    (("ij,jk",), {"optimize": "greedy"}, "optimize="),
    (("ij,jk",), {"order": "F"}, "order="),
])
def test_einsum_refusals(args, kwargs, reason):
    a, b = _inputs((3, 3), (3, 3))
    operands = (a,) if "," not in args[0] else (a, b)
    with pytest.raises(Unsupported, match=reason):
        bind(np.einsum, (*args, *operands), kwargs)


def test_einsum_single_operand_reductions_and_scalars_bind():
    a, s = _inputs((3, 3), ())
    assert bind(np.einsum, ("ii", a)).args == ("ii->", a)
    assert bind(np.einsum, ("ij->i", a)).args == ("ij->i", a)
    assert bind(np.einsum, ("...", s)).args == ("...->...", s)  # a 0-d result: a new scalar


def test_einsum_out_is_refused():
    a, b, out = _inputs((3, 3), (3, 3), (3, 3))
    with pytest.raises(Unsupported, match="out="):
        bind(np.einsum, ("ij,jk", a, b), {"out": out})


@pytest.mark.parametrize(("axes", "canonical"), [
    (1, ((2,), (0,))),
    (0, ((), ())),
    (-1, ((), ())),
    (([1, -1], [1, 0]), ((1, 2), (1, 0))),
    ((2, 0), ((2,), (0,))),
])
def test_tensordot_axes_are_pairs_of_nonnegative_tuples(axes, canonical):
    a, b = _inputs((2, 3, 4), (4, 3, 5))
    bound = bind(np.tensordot, (a, b), {"axes": axes})
    assert bound.op is TENSORDOT and bound.kwargs == {"axes": canonical}


def test_inplace_matmul_writes_into_the_left_operand():
    a, b = _inputs((4, 2, 3), (3, 3))
    for fn in (operator.imatmul, np.ndarray.__imatmul__):
        bound = bind(fn, (a, b))
        assert bound.op is MATMUL and bound.out is a and bound.args == (a, b)


def test_inplace_matmul_that_would_drop_leading_ones_is_refused():
    a, b = _inputs((2, 3), (1, 3, 3))
    with pytest.raises(Unsupported, match="fewer dimensions"):
        bind(operator.imatmul, (a, b))


def test_matmul_of_numpy_scalars_is_a_type_error():
    (s,) = _inputs(())
    graph = s.graph
    t = graph.placeholder("t", TensorMeta((), np.dtype("float64"), scalar=True))
    with pytest.raises(TypeError, match="unsupported operand"):
        bind(operator.matmul, (t, 3))


def test_dot_out_is_refused():
    a, b, out = _inputs((2, 3), (3, 4), (2, 4))
    for fn in (np.dot, np.ndarray.dot):
        with pytest.raises(Unsupported, match="out="):
            bind(fn, (a, b), {"out": out})


def test_flags():
    for op in OPS.values():
        if op.family != "linalg":
            continue
        assert not op.pointwise and not op.reduction and not op.view, op
        assert op.vjp is not None and op.lowering is None  # GEMMs run as extern steps
    assert MATMUL.cost == DOT.cost == EINSUM.cost == 10
    assert not MATMUL.recomputable and not EINSUM.recomputable and not TENSORDOT.recomputable
    assert OUTER.recomputable  # a broadcast product, no reduction


def test_vector_gufuncs_are_registered_when_numpy_has_them():
    for name in ("vecdot", "matvec", "vecmat"):
        assert (name in OPS) == hasattr(np, name)


def test_rules_never_touch_data():
    big = 10**9
    graph = Graph()
    a = graph.placeholder("a", TensorMeta((big, big), np.dtype("float32")))
    v = graph.placeholder("v", TensorMeta((big,), np.dtype("int8")))
    assert graph.call(MATMUL, (a, a)).meta == TensorMeta((big, big), np.dtype("float32"))
    assert graph.call(MATMUL, (v, v)).meta == TensorMeta((), np.dtype("int8"), scalar=True)
    assert graph.call(DOT, (a, v)).meta == TensorMeta((big,), np.dtype("float32"))
    assert graph.call(OUTER, (v, v)).meta.shape == (big, big)
    assert graph.call(TENSORDOT, (a, a), {"axes": ((1,), (0,))}).meta.shape == (big, big)
    assert graph.call(EINSUM, ("ij,j->i", a, v)).meta == TensorMeta((big,), np.dtype("float32"))
    assert graph.call(OPS["vdot"], (v, v)).meta.scalar
    assert graph.call(OPS["inner"], (a, v)).meta.shape == (big,)


@pytest.mark.parametrize(("fn", "shapes", "out_shape"), [
    (np.matmul, ((3, 4, 5), (5, 2)), (3, 4, 2)),
    (np.vecdot, ((3, 5), (5,)), (3,)),
    (np.outer, ((5,), (2, 2)), (5, 4)),
])
@pytest.mark.parametrize(("in_dtype", "out_dtype"), [
    ("float32", "float64"), ("float64", "float32"), ("complex64", "complex128"),
    ("int8", "float64"), ("float16", "float32"),
])
def test_out_of_another_dtype_casts_the_result(fn, shapes, out_shape, in_dtype, out_dtype):
    """NumPy computes these in the inputs' dtype whatever the out's (unlike e.g. np.square),
    so the product followed by copy_into is exact, on values where rounding shows."""
    rng = np.random.default_rng(0)
    arrays = [(rng.standard_normal(s) * 100).astype(in_dtype) for s in shapes]
    out = np.zeros(out_shape, out_dtype)
    check_call(Call(fn, tuple(arrays), {"out": out}))


def test_inplace_matmul_of_a_narrower_target_casts_the_result():
    rng = np.random.default_rng(1)
    a = rng.standard_normal((2, 3, 4)).astype(np.float32)
    b = rng.standard_normal((4, 4))
    check_call(Call(operator.imatmul, (a, b)))
