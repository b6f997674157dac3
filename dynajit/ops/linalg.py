"""Linear algebra ops: the products (matmul and the other product gufuncs, dot, vdot, inner,
outer, tensordot) and einsum, with every NumPy callable and operator that reaches them. The
shape rules follow NumPy's own (gufunc core dimensions, dot's alignment, einsum's labels);
dtype and scalar-ness come from running NumPy on one-element stand-ins (``rules.probe``)."""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.exceptions import AxisError

from dynajit.graph.graph import Node, iter_nodes
from dynajit.graph.meta import TensorMeta
from dynajit.ops.registry import Bound, OpDef, binds, register
from dynajit.ops.rules import (
    PY_SCALARS,
    broadcast_shapes,
    check_dtype_arg,
    check_literal,
    has_array,
    meta,
    meta_like,
    probe,
    reject,
)

_NOVALUE = np._NoValue
# A product reads every input element many times and its result is costly to rebuild:
# the partitioner saves it rather than recomputing it.
_PRODUCT_FLAGS = {"cost": 10, "recomputable": False}


# ------------------------------------------------------------------------------ shared pieces
def _shape(value: Any) -> tuple:
    """Shape of a meta, or () for a Python scalar (NumPy converts it to a 0-d array)."""
    return value.shape if isinstance(value, TensorMeta) else ()


def _size(shape: tuple) -> Any:
    n = 1
    for s in shape:
        n = n * s
    return n


def _is_ndarray(value: Any) -> bool:
    return isinstance(value, Node) and not value.meta.scalar


def _check_operand(value: Any, fname: str) -> None:
    """An array argument that is not a graph value must be a Python number NumPy turns into
    a numeric 0-d array (a huge int would become an object array)."""
    if isinstance(value, Node):
        return
    reject(isinstance(value, (list, tuple)),
           f"{fname}: a list/tuple argument must be converted with np.asarray first")
    check_literal(value, fname)
    reject(not isinstance(value, PY_SCALARS),
           f"{fname}: an argument of type {type(value).__name__} is not supported")
    reject(type(value) is int and not -(2**63) <= value < 2**64,
           f"{fname}: the Python int {value} does not fit in int64 or uint64")


def _out_array(out: Any, fname: str) -> Node | None:
    """The ``out=`` array of a ufunc-like call (a 1-tuple is accepted, as NumPy does)."""
    if isinstance(out, tuple):
        if len(out) != 1:
            raise ValueError("The 'out' tuple must have exactly one entry per ufunc output")
        out = out[0]
    if out is None:
        return None
    reject(not isinstance(out, Node), f"{fname}: out= must be an array")
    if out.meta.scalar:
        raise TypeError("return arrays must be of ArrayType")
    return out


def _product_op(name: str, impl: Callable[..., Any], rule: Callable[..., Any],
                doc: str, **flags: Any) -> OpDef:
    return register(OpDef(name, "linalg", impl=impl, meta_rule=rule, doc=doc,
                          **{**_PRODUCT_FLAGS, **flags}))


# ------------------------------------------------------------------------------ gufuncs
def _parse_signature(signature: str) -> tuple[list, list]:
    """``'(n?,k),(k,m?)->(n?,m?)'`` -> per operand, its core dims as (name, optional)."""
    def terms(text: str) -> list:
        return [[(d.rstrip("?"), d.endswith("?")) for d in t.split(",") if d]
                for t in re.findall(r"\(([^)]*)\)", text)]

    ins, outs = signature.split("->")
    return terms(ins), terms(outs)


def _gufunc_shape(ufunc: np.ufunc, shapes: list[tuple]) -> tuple[tuple, int]:
    """Result shape of a one-output gufunc call and how many core dims it ends with: core
    sizes must agree exactly, loop dims broadcast, a missing optional dim ('n?') is dropped."""
    name, sig = ufunc.__name__, ufunc.signature
    ins, outs = _parse_signature(sig)
    sizes: dict[str, Any] = {}
    missing: set[str] = set()
    loops = []
    for i, (core, shape) in enumerate(zip(ins, shapes)):
        required = sum(1 for _, optional in core if not optional)
        if len(shape) < required:
            raise ValueError(f"{name}: Input operand {i} does not have enough dimensions (has "
                             f"{len(shape)}, gufunc core with signature {sig} requires "
                             f"{required})")
        drop = max(0, len(core) - len(shape))
        present = []
        for dim, optional in core:
            if optional and drop:
                drop -= 1
                missing.add(dim)
            else:
                present.append(dim)
        split = len(shape) - len(present)
        loops.append(shape[:split])
        for j, (dim, size) in enumerate(zip(present, shape[split:])):
            if dim in sizes and sizes[dim] != size:
                raise ValueError(f"{name}: Input operand {i} has a mismatch in its core "
                                 f"dimension {j}, with gufunc signature {sig} (size {size} "
                                 f"is different from {sizes[dim]})")
            sizes.setdefault(dim, size)
    core_out = tuple(sizes[dim] for dim, _ in outs[0] if dim not in missing)
    return broadcast_shapes(*loops) + core_out, len(core_out)


def _check_gufunc_out(name: str, result: tuple, ncore: int, out: tuple) -> None:
    """NumPy's rule for a gufunc's ``out`` with at least the result's dims: core dims equal,
    the result's loop dims broadcast to the out's. (With fewer dims NumPy may also drop
    size-1 loop and optional core dims: not supported.)"""
    reject(len(out) < len(result),
           f"{name}: out= with fewer dimensions than the result is not supported")
    split_r, split_o = len(result) - ncore, len(out) - ncore
    for j, (r, o) in enumerate(zip(result[split_r:], out[split_o:])):
        if r != o:
            raise ValueError(f"{name}: Output operand 0 has a mismatch in its core dimension "
                             f"{j} (size {o} is different from {r})")
    if any(r != o and r != 1 for r, o in zip(result[:split_r], out[split_o - split_r:])):
        raise ValueError(f"non-broadcastable output operand with shape {out} doesn't match "
                         f"the broadcast shape {result}")


def _gufunc_impl(ufunc: np.ufunc) -> Callable[..., Any]:
    def impl(x1, x2, *, dtype=None):
        return ufunc(x1, x2, dtype=dtype)

    impl.__name__ = ufunc.__name__
    return impl


def _gufunc_rule(ufunc: np.ufunc) -> Callable[..., TensorMeta]:
    def rule(x1: Any, x2: Any, *, dtype: np.dtype | None = None) -> TensorMeta:
        # NumPy resolves (and may refuse) the dtypes before it looks at any size.
        result = probe(ufunc, x1, x2, dtype=dtype)
        shape, _ = _gufunc_shape(ufunc, [_shape(x1), _shape(x2)])
        return meta_like(result, shape)

    return rule


def _bind_gufunc(op: OpDef, ufunc: np.ufunc, args: tuple, out: Any, dtype: Any,
                 keepdims: Any = _NOVALUE) -> Bound:
    name = ufunc.__name__
    for a in args:
        _check_operand(a, f"np.{name}")
    dt = check_dtype_arg(dtype)
    kwargs = {} if dt is None else {"dtype": dt}
    out = _out_array(out, f"np.{name}")
    metas = [meta(a) for a in args]
    if keepdims is not _NOVALUE:
        # NumPy's own checks on one-element stand-ins, in NumPy's order (conversions, dims,
        # whether this gufunc takes keepdims at all).
        probe(ufunc, *metas, dtype=dt, keepdims=keepdims)
        reject(bool(keepdims), f"np.{name}: keepdims=True is not supported")
    if out is not None:
        # Likewise for out: dtype resolution and the out cast come before any size.
        probe(ufunc, *metas, dtype=dt, out=out.meta)
        shape, ncore = _gufunc_shape(ufunc, [_shape(m) for m in metas])
        _check_gufunc_out(name, shape, ncore, out.meta.shape)
    return Bound(op, tuple(args), kwargs, out=out)


def _make_gufunc_op(ufunc: np.ufunc, doc: str) -> OpDef:
    op = _product_op(ufunc.__name__, _gufunc_impl(ufunc), _gufunc_rule(ufunc), doc)

    def bind(*args, out=None, casting="same_kind", order="K", dtype=None, subok=True,
             signature=None, axes=None, axis=None, keepdims=_NOVALUE):
        if len(args) == 3:
            if out is not None:
                raise TypeError("cannot specify 'out' as both a positional and keyword "
                                "argument")
            args, out = args[:2], args[2]
        if len(args) != 2:
            raise TypeError(f"{ufunc.__name__}() takes from 2 to 3 positional arguments but "
                            f"{len(args)} were given")
        if not has_array(*args):
            return None
        fname = f"np.{ufunc.__name__}"
        reject(casting != "same_kind", f"{fname}: casting={casting!r} is not supported")
        reject(order != "K", f"{fname}: order={order!r} is not supported")
        reject(subok is not True, f"{fname}: subok=False is not supported")
        reject(signature is not None, f"{fname}: signature= is not supported")
        reject(axes is not None or axis is not None, f"{fname}: axes=/axis= are not supported")
        return _bind_gufunc(op, ufunc, args, out, dtype, keepdims)

    binds(ufunc, op=op)(bind)
    return op


MATMUL = _make_gufunc_op(np.matmul, "np.matmul / the @ operator: matrix product with "
                                    "broadcast leading dims; 1-d operands are vectors")
# The vector gufuncs of NumPy 2 (present in every NumPy dynajit supports; guarded anyway).
VECDOT = (_make_gufunc_op(np.vecdot, "np.vecdot: conj(x1) . x2 over the last axis")
          if hasattr(np, "vecdot") else None)
MATVEC = (_make_gufunc_op(np.matvec, "np.matvec: matrix-vector product over the last two "
                                     "axes") if hasattr(np, "matvec") else None)
VECMAT = (_make_gufunc_op(np.vecmat, "np.vecmat: conj(vector)-matrix product over the last "
                                     "two axes") if hasattr(np, "vecmat") else None)


def _bind_matmul_operator(a: Any, b: Any) -> Bound | None:
    """``a @ b``: Python tries a's ``__matmul__`` then b's ``__rmatmul__``; NumPy scalars and
    Python numbers have neither for each other."""
    if not has_array(a, b):
        return None
    for v in (a, b):
        _check_operand(v, "operator @")
    if not (_is_ndarray(a) or _is_ndarray(b)):
        raise TypeError(f"unsupported operand type(s) for @: '{_type_name(a)}' and "
                        f"'{_type_name(b)}'")
    return Bound(MATMUL, (a, b), {})


def _type_name(value: Any) -> str:
    if isinstance(value, Node):
        return f"numpy.{value.meta.dtype.type.__name__}"
    return type(value).__name__


binds(operator.matmul, op=MATMUL)(_bind_matmul_operator)


@binds(np.ndarray.__matmul__, op=MATMUL)
def _bind_matmul_method(self, other, /):
    _check_operand(other, "ndarray.__matmul__")
    return Bound(MATMUL, (self, other), {})


@binds(np.ndarray.__rmatmul__, op=MATMUL)
def _bind_rmatmul_method(self, other, /):
    _check_operand(other, "ndarray.__rmatmul__")
    return Bound(MATMUL, (other, self), {})


def _bind_imatmul(a: Any, b: Any) -> Bound | None:
    """``a @= b`` writes into ``a`` only where the product keeps a's shape (NumPy passes
    ``axes=`` so that the result is never broadcast); other left operands rebind the name."""
    if not _is_ndarray(a):
        return _bind_matmul_operator(a, b)
    _check_operand(b, "operator @=")
    # NumPy's own call on stand-ins: the dtype and out-cast checks come before any size.
    axes = [-1, (-2, -1), -1] if a.meta.ndim == 1 else [(-2, -1)] * 3
    try:
        probe(np.matmul, a.meta, meta(b), out=a.meta, axes=axes)
    except AxisError:
        raise ValueError("inplace matrix multiplication requires the first operand to have at "
                         "least one and the second at least two dimensions.") from None
    shape, ncore = _gufunc_shape(np.matmul, [a.meta.shape, _shape(meta(b))])
    _check_gufunc_out("matmul", shape, ncore, a.meta.shape)
    return Bound(MATMUL, (a, b), {}, out=a)


binds(operator.imatmul, op=MATMUL)(_bind_imatmul)
binds(np.ndarray.__imatmul__, op=MATMUL)(lambda self, other, /: _bind_imatmul(self, other))


@binds(np.linalg.matmul, op=MATMUL)
def _bind_linalg_matmul(x1, x2, /):
    if not has_array(x1, x2):
        return None
    return _bind_gufunc(MATMUL, np.matmul, (x1, x2), None, None)


if VECDOT is not None:
    @binds(np.linalg.vecdot, op=VECDOT)
    def _bind_linalg_vecdot(x1, x2, /, *, axis=-1):
        if not has_array(x1, x2):
            return None
        reject(axis != -1, "np.linalg.vecdot: axis= other than -1 is not supported")
        return _bind_gufunc(VECDOT, np.vecdot, (x1, x2), None, None)


# ------------------------------------------------------------------------------ dot family
def _dot_rule(a: Any, b: Any) -> TensorMeta:
    result = probe(np.dot, a, b)
    sa, sb = _shape(a), _shape(b)
    if not sa or not sb:
        return meta_like(result, broadcast_shapes(sa, sb))  # a scalar operand: multiply
    ia, ib = len(sa) - 1, max(len(sb) - 2, 0)
    if sa[ia] != sb[ib]:
        raise ValueError(f"shapes {_shape_text(sa)} and {_shape_text(sb)} not aligned: "
                         f"{sa[ia]} (dim {ia}) != {sb[ib]} (dim {ib})")
    b_free = sb[:-2] + sb[-1:] if len(sb) > 1 else ()
    return meta_like(result, sa[:-1] + b_free)


def _shape_text(shape: tuple) -> str:
    return "(" + ",".join(str(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"


DOT = _product_op("dot", lambda a, b: np.dot(a, b), _dot_rule,
                  "np.dot(a, b): multiply for a scalar operand, else a sum over a's last axis "
                  "and b's second-to-last (its only axis when 1-d)")


def _bind_dot_pair(a: Any, b: Any, out: Any, fname: str) -> Bound | None:
    if not has_array(a, b):
        return None
    _check_operand(a, fname)
    _check_operand(b, fname)
    # NumPy's dot demands a C-contiguous out of exactly the result dtype; a graph value has
    # no layout to check.
    reject(out is not None, f"{fname}: out= is not supported")
    return Bound(DOT, (a, b), {})


@binds(np.dot, op=DOT)
def _bind_dot(a, b, out=None):
    return _bind_dot_pair(a, b, out, "np.dot")


@binds(np.ndarray.dot, op=DOT)
def _bind_dot_method(self, b, out=None):
    return _bind_dot_pair(self, b, out, "ndarray.dot")


def _vdot_rule(a: Any, b: Any) -> TensorMeta:
    result = probe(np.vdot, a, b)
    na, nb = _size(_shape(a)), _size(_shape(b))
    if na != nb:
        raise ValueError(f"cannot reshape array of size {nb} into shape ({na},)")
    return meta_like(result, ())


VDOT = _product_op("vdot", lambda a, b: np.vdot(a, b), _vdot_rule,
                   "np.vdot(a, b): conj(a.ravel()) . b.ravel(), a scalar")


def _inner_rule(a: Any, b: Any) -> TensorMeta:
    result = probe(np.inner, a, b)
    sa, sb = _shape(a), _shape(b)
    if not sa or not sb:
        return meta_like(result, broadcast_shapes(sa, sb))
    if sa[-1] != sb[-1]:
        raise ValueError(f"shapes {_shape_text(sa)} and {_shape_text(sb)} not aligned: "
                         f"{sa[-1]} (dim {len(sa) - 1}) != {sb[-1]} (dim {len(sb) - 1})")
    return meta_like(result, sa[:-1] + sb[:-1])


INNER = _product_op("inner", lambda a, b: np.inner(a, b), _inner_rule,
                    "np.inner(a, b): multiply for a scalar operand, else a sum over both last "
                    "axes")


def _outer_rule(a: Any, b: Any) -> TensorMeta:
    return meta_like(probe(np.outer, a, b), (_size(_shape(a)), _size(_shape(b))))


# No reduction: each output element is one product, cheaper to rebuild than to store.
OUTER = _product_op("outer", lambda a, b: np.outer(a, b), _outer_rule,
                    "np.outer(a, b): a.ravel()[:, None] * b.ravel()[None, :]",
                    cost=2, recomputable=True)


def _bind_pair(op: OpDef, fname: str, a: Any, b: Any) -> Bound | None:
    if not has_array(a, b):
        return None
    _check_operand(a, fname)
    _check_operand(b, fname)
    return Bound(op, (a, b), {})


binds(np.vdot, op=VDOT)(lambda a, b, /: _bind_pair(VDOT, "np.vdot", a, b))
binds(np.inner, op=INNER)(lambda a, b, /: _bind_pair(INNER, "np.inner", a, b))


@binds(np.outer, op=OUTER)
def _bind_outer(a, b, out=None):
    bound = _bind_pair(OUTER, "np.outer", a, b)
    if bound is None:
        return None
    bound.out = _out_array(out, "np.outer")
    if bound.out is not None:
        probe(np.outer, meta(a), meta(b), out=bound.out.meta)  # the out cast, before sizes
    return bound


@binds(np.linalg.outer, op=OUTER)
def _bind_linalg_outer(x1, x2, /):
    bound = _bind_pair(OUTER, "np.linalg.outer", x1, x2)
    if bound is None:
        return None
    n1, n2 = len(_shape(meta(x1))), len(_shape(meta(x2)))
    if n1 != 1 or n2 != 1:
        raise ValueError("Input arrays must be one-dimensional, but they are "
                         f"x1.ndim={n1} and x2.ndim={n2}.")
    return bound


# ------------------------------------------------------------------------------ tensordot
def _tensordot_axes(axes: Any, sa: tuple, sb: tuple) -> tuple[tuple, tuple]:
    """``axes`` as NumPy's tensordot reads it (same steps, same errors), normalized to a
    pair of tuples of non-negative ints."""
    try:
        iter(axes)
    except Exception:
        axes_a, axes_b = list(range(-axes, 0)), list(range(axes))
    else:
        axes_a, axes_b = axes
    axes_a = list(axes_a) if hasattr(axes_a, "__len__") else [axes_a]
    axes_b = list(axes_b) if hasattr(axes_b, "__len__") else [axes_b]
    if len(set(axes_a)) != len(axes_a) or len(set(axes_b)) != len(axes_b):
        raise ValueError("duplicate axes are not allowed in tensordot")
    if len(axes_a) != len(axes_b):
        raise ValueError("shape-mismatch for sum")
    for k in range(len(axes_a)):
        if sa[axes_a[k]] != sb[axes_b[k]]:
            raise ValueError("shape-mismatch for sum")
        axes_a[k] = operator.index(axes_a[k]) % len(sa)
        axes_b[k] = operator.index(axes_b[k]) % len(sb)
    if len(set(axes_a)) != len(axes_a) or len(set(axes_b)) != len(axes_b):
        raise ValueError("repeated axis in transpose")  # NumPy's transpose of the operand
    return tuple(axes_a), tuple(axes_b)


def _tensordot_rule(a: Any, b: Any, *, axes: tuple[tuple, tuple]) -> TensorMeta:
    sa, sb = _shape(a), _shape(b)
    axes_a, axes_b = _tensordot_axes(axes, sa, sb)
    shape = (tuple(s for k, s in enumerate(sa) if k not in axes_a)
             + tuple(s for k, s in enumerate(sb) if k not in axes_b))
    return meta_like(probe(np.tensordot, a, b, axes=(axes_a, axes_b)), shape)


TENSORDOT = _product_op("tensordot", lambda a, b, *, axes: np.tensordot(a, b, axes=axes),
                        _tensordot_rule,
                        "np.tensordot(a, b, axes=(axes_a, axes_b)): sum of products over "
                        "the paired axes; a's free axes, then b's")


@binds(np.tensordot, op=TENSORDOT)
def _bind_tensordot(a, b, axes=2):
    if not has_array(a, b):
        return None
    _check_operand(a, "np.tensordot")
    _check_operand(b, "np.tensordot")
    reject(any(True for _ in iter_nodes(axes)), "np.tensordot: axes must be Python ints")
    check_literal(axes, "np.tensordot: axes")
    axes = _tensordot_axes(axes, _shape(meta(a)), _shape(meta(b)))
    return Bound(TENSORDOT, (a, b), {"axes": axes})


binds(np.linalg.tensordot, op=TENSORDOT)(
    lambda x1, x2, /, *, axes=2: _bind_tensordot(x1, x2, axes))


# ------------------------------------------------------------------------------ einsum
_CASTINGS = ("no", "equiv", "safe", "same_kind", "unsafe")
def _scan(text: str, where: str) -> list:
    """The labels of one term, with ``...`` for the ellipsis (spaces are skipped)."""
    labels: list[str] = []
    i = 0
    while i < len(text):
        c = text[i]
        if c == ".":
            if "..." in labels or text[i:i + 3] != "...":
                raise ValueError("einstein sum subscripts string contains a '.' that is not "
                                 f"part of an ellipsis ('...') in {where}")
            labels.append("...")
            i += 2
        elif c.isascii() and c.isalpha():
            labels.append(c)
        elif c != " ":
            raise ValueError(f"invalid subscript '{c}' in einstein sum subscripts string, "
                             "subscripts must be letters")
        i += 1
    return labels


def _split_ellipsis(labels: list) -> tuple[list, int]:
    if "..." not in labels:
        return labels, -1
    at = labels.index("...")
    return labels[:at] + labels[at + 1:], at


def _parse_term(text: str, ndim: int, iop: int) -> tuple[list, int]:
    """One operand's labels as NumPy's einsum parses them: (letters, ellipsis position or
    -1)."""
    letters, ellipsis = _split_ellipsis(_scan(text, f"operand {iop}"))
    if len(letters) > ndim:
        raise ValueError("einstein sum subscripts string contains too many subscripts for "
                         f"operand {iop}")
    if ellipsis == -1 and len(letters) != ndim:
        raise ValueError("operand has more dimensions than subscripts given in einstein sum, "
                         "but no '...' ellipsis provided to broadcast the extra dimensions.")
    return letters, ellipsis


def _parse_output(text: str, counts: dict[str, int]) -> tuple[list, int]:
    letters, ellipsis = _split_ellipsis(_scan(text, "the output"))
    for i, c in enumerate(letters):
        if c in letters[i + 1:]:
            raise ValueError("einstein sum subscripts string includes output subscript "
                             f"'{c}' multiple times")
        if not counts.get(c):
            raise ValueError("einstein sum subscripts string included output subscript "
                             f"'{c}' which never appeared in an input")
    return letters, ellipsis


def _term_text(letters: list[str], ellipsis: int) -> str:
    if ellipsis == -1:
        return "".join(letters)
    return "".join(letters[:ellipsis]) + "..." + "".join(letters[ellipsis:])


def _parse_einsum(subscripts: str, ndims: list[int]) -> tuple[list, tuple, int]:
    """Parse like NumPy's C einsum (same checks, same exception classes). Returns the
    operand terms, the output term and the number of broadcast (ellipsis) dims."""
    terms = []
    counts: dict[str, int] = {}
    rest = subscripts
    for iop, ndim in enumerate(ndims):
        length = len(re.match(r"[^,-]*", rest).group())
        nxt = rest[length:length + 1]
        if iop == len(ndims) - 1 and nxt == ",":
            raise ValueError("more operands provided to einstein sum function than specified "
                             "in the subscripts string")
        if iop < len(ndims) - 1 and nxt != ",":
            raise ValueError("fewer operands provided to einstein sum function than specified "
                             "in the subscripts string")
        letters, ellipsis = _parse_term(rest[:length], ndim, iop)
        for c in letters:
            counts[c] = counts.get(c, 0) + 1
        terms.append((letters, ellipsis))
        rest = rest[length + (1 if iop < len(ndims) - 1 else 0):]
    n_broadcast = max((ndim - len(letters) for (letters, e), ndim in zip(terms, ndims)
                       if e != -1), default=0)
    if not rest:
        singles = sorted((c for c, n in counts.items() if n == 1), key=ord)
        any_ellipsis = any(e != -1 for _, e in terms)
        return terms, (singles, 0 if any_ellipsis else -1), n_broadcast
    if not rest.startswith("->"):
        raise ValueError("einstein sum subscript string does not contain proper '->' output "
                         "specified")
    output = _parse_output(rest[2:], counts)
    if output[1] == -1 and n_broadcast > 0:
        raise ValueError("output has more dimensions than subscripts given in einstein sum, "
                         "but no '...' ellipsis provided to broadcast the extra dimensions.")
    return terms, output, n_broadcast


def _einsum_shape(terms: list, output: tuple, shapes: list[tuple]) -> tuple:
    """Output shape: a label's size broadcasts across operands (1 stretches) but must agree
    exactly within one operand (a diagonal); ellipsis dims broadcast right-aligned."""
    label_shapes: dict[str, list[tuple]] = {}
    broadcast_parts = []
    for iop, ((letters, ellipsis), shape) in enumerate(zip(terms, shapes)):
        n_b = len(shape) - len(letters) if ellipsis != -1 else 0
        split = ellipsis if ellipsis != -1 else len(letters)
        broadcast_parts.append(shape[split:split + n_b])
        sizes = shape[:split] + shape[split + n_b:]
        local: dict[str, Any] = {}
        for c, size in zip(letters, sizes):
            if c in local and local[c] != size:
                raise ValueError(f"dimensions in operand {iop} for collapsing index '{c}' "
                                 f"don't match ({local[c]} != {size})")
            local[c] = size
        for c, size in local.items():
            label_shapes.setdefault(c, []).append((size,))
    try:
        sizes = {c: broadcast_shapes(*s)[0] for c, s in label_shapes.items()}
        broadcast = broadcast_shapes(*broadcast_parts)
    except ValueError:
        shown = " ".join(f"{tuple(s)}" for s in shapes)
        raise ValueError("operands could not be broadcast together with remapped shapes "
                         f"{shown}") from None
    letters, ellipsis = output
    out = tuple(sizes[c] for c in letters)
    if ellipsis == -1:
        return out
    return out[:ellipsis] + broadcast + out[ellipsis:]


def _einsum_rule(subscripts: str, *operands: Any, dtype: np.dtype | None = None,
                 casting: str = "safe") -> TensorMeta:
    shapes = [_shape(o) for o in operands]
    terms, output, _ = _parse_einsum(subscripts, [len(s) for s in shapes])
    shape = _einsum_shape(terms, output, shapes)
    # Sizes are checked before dtypes: NumPy's iterator broadcasts before it casts.
    result = probe(np.einsum, subscripts, *operands, dtype=dtype, casting=casting)
    return meta_like(result, shape)


def _einsum_impl(subscripts, *operands, dtype=None, casting="safe"):
    return np.einsum(subscripts, *operands, dtype=dtype, casting=casting)


EINSUM = _product_op("einsum", _einsum_impl, _einsum_rule,
                     "np.einsum(subscripts, *operands): subscripts always explicit ('->'), "
                     "no optimize (NumPy's own unoptimized contraction)")


def _sublist_text(sublist: Any) -> str:
    """NumPy's interleaved einsum form: ints 0-25 are 'A'-'Z', 26-51 'a'-'z'."""
    text = []
    for item in sublist:
        if item is Ellipsis:
            if "..." in text:
                raise ValueError("each subscripts list may have only one ellipsis")
            text.append("...")
            continue
        if isinstance(item, (bool, np.bool_)):
            raise TypeError("each subscript must be either an integer or an ellipsis")
        try:
            s = operator.index(item)
        except TypeError:
            raise TypeError("each subscript must be either an integer or an ellipsis") from None
        if not 0 <= s < 52:
            raise ValueError("subscript is not within the valid range [0, 52)")
        text.append(chr(ord("A") + s) if s < 26 else chr(ord("a") + s - 26))
    return "".join(text)


def _einsum_arguments(args: tuple) -> tuple[str, list]:
    if args and isinstance(args[0], (str, bytes)):
        subscripts = args[0].decode() if isinstance(args[0], bytes) else args[0]
        if len(args) < 2:
            raise ValueError("must specify the einstein sum subscripts string and at least "
                             "one operand")
        return subscripts, list(args[1:])
    if len(args) < 2:
        raise ValueError("must specify the einstein sum subscripts string and at least one "
                         "operand, or at least one operand and its corresponding subscripts "
                         "list")
    for sub in args[1::2] + args[len(args) - len(args) % 2:]:
        reject(any(True for _ in iter_nodes(sub)),
               "np.einsum: a subscripts list must be a Python list or tuple")
        check_literal(sub, "np.einsum: subscripts list")
    operands = list(args[0:len(args) - len(args) % 2:2])
    subscripts = ",".join(_sublist_text(s) for s in args[1:len(args) - len(args) % 2:2])
    if len(args) % 2:
        subscripts += "->" + _sublist_text(args[-1])
    return subscripts, operands


@binds(np.einsum, op=EINSUM)
def _bind_einsum(*operands, out=None, optimize=False, dtype=None, order="K", casting="safe"):
    if not has_array(*operands):
        return None
    reject(out is not None, "np.einsum: out= is not supported")
    reject(optimize is not False,
           "np.einsum: optimize= is not supported (NumPy then contracts pairwise through "
           "matmul, with other rounding and result types); leave it False")
    reject(order != "K", f"np.einsum: order={order!r} is not supported")
    dt = check_dtype_arg(dtype)
    if casting not in _CASTINGS:
        raise ValueError("casting must be one of 'no', 'equiv', 'safe', 'same_kind', or "
                         f"'unsafe' (got {casting!r})")
    subscripts, ops = _einsum_arguments(operands)
    for op in ops:
        _check_operand(op, "np.einsum")
    terms, output, n_broadcast = _parse_einsum(subscripts, [len(_shape(meta(o))) for o in ops])
    out_letters, out_ellipsis = output
    out_ndim = len(out_letters) + (n_broadcast if out_ellipsis != -1 else 0)
    # A 0-d result is a NumPy scalar, never a view.
    reject(len(ops) == 1 and set(terms[0][0]) <= set(out_letters) and out_ndim > 0,
           "np.einsum: with one operand and no summed label NumPy returns a view of the "
           "operand (use np.transpose/np.diagonal)")
    canonical = ",".join(_term_text(*t) for t in terms) + "->" + _term_text(*output)
    kwargs: dict = {}
    if dt is not None:
        kwargs["dtype"] = dt
    if casting != "safe":
        kwargs["casting"] = casting
    return Bound(EINSUM, (canonical, *ops), kwargs)


__all__ = ["DOT", "EINSUM", "INNER", "MATMUL", "MATVEC", "OUTER", "TENSORDOT", "VDOT",
           "VECDOT", "VECMAT"]
