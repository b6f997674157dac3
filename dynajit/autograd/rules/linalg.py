"""VJP rules of the products. matmul transposes to matmuls (batch dims summed, vectors
promoted and squeezed back as NumPy does); dot and inner are tensordots (or products with
a 0-d operand); tensordot transposes to tensordots plus a permutation; einsum to einsums,
with labels only one operand has broadcast back and repeated labels (diagonals) put back
with identity matrices."""

from __future__ import annotations

import numpy as np

from dynajit.autograd.rules import vjp_rule
from dynajit.graph.graph import Node
from dynajit.graph.meta import TensorMeta


def _as_node(e, value):
    """A Python number operand as a 0-d constant (only used to build cotangents, which the
    walker casts back to the dtype of the input they belong to)."""
    return value if isinstance(value, Node) else e.constant(np.asarray(value))


def _ndim(value) -> int:
    return value.meta.ndim if isinstance(value, Node) else 0


@vjp_rule("matmul")
def _matmul(e, node, g):
    x1, x2 = node.args
    m1, m2 = x1.meta, x2.meta
    a_shape = m1.shape if m1.ndim >= 2 else (1,) + m1.shape
    b_shape = m2.shape if m2.ndim >= 2 else m2.shape + (1,)

    def full_g():
        batch = node.meta.shape[:len(node.meta.shape) - (m1.ndim >= 2) - (m2.ndim >= 2)]
        return e.reshape(g, batch + (a_shape[-2], b_shape[-1]))

    def d_x1():
        b = e.reshape(x2, b_shape)
        d = e.call("matmul", full_g(), e.swap_last(b))
        return e.reshape(e.fit(d, TensorMeta(a_shape, d.meta.dtype)), m1.shape)

    def d_x2():
        gf = full_g()
        if m2.ndim == 2 and m1.ndim > 2 and m1.size:
            # A matrix applied to a batch: one GEMM over the folded batch, not a batch of
            # GEMMs summed afterwards.
            k, n = b_shape
            a = e.reshape(x1, (m1.size // k, k))
            d = e.call("matmul", e.swap_last(a), e.reshape(gf, (m1.size // k, n)))
            return d
        a = e.reshape(x1, a_shape)
        d = e.call("matmul", e.swap_last(a), gf)
        return e.reshape(e.fit(d, TensorMeta(b_shape, d.meta.dtype)), m2.shape)

    yield x1, d_x1
    yield x2, d_x2


@vjp_rule("vecdot")
def _vecdot(e, node, g):
    x1, x2 = node.args
    yield x1, lambda: e.mul(e.expand_dims(g, -1), x2)
    yield x2, lambda: e.mul(e.expand_dims(g, -1), x1)


@vjp_rule("matvec")
def _matvec(e, node, g):
    a, v = node.args  # out[..., m] = sum_n a[..., m, n] v[..., n]
    yield a, lambda: e.mul(e.expand_dims(g, -1), e.expand_dims(v, -2))
    yield v, lambda: e.sum(e.mul(e.expand_dims(g, -1), a), (-2,))


@vjp_rule("vecmat")
def _vecmat(e, node, g):
    v, a = node.args  # out[..., n] = sum_m v[..., m] a[..., m, n]
    yield v, lambda: e.sum(e.mul(a, e.expand_dims(g, -2)), (-1,))
    yield a, lambda: e.mul(e.expand_dims(v, -1), e.expand_dims(g, -2))


def _tensordot_pairs(e, g, a, b, axes_a, axes_b):
    """Cotangent pairs of ``tensordot(a, b, axes=(axes_a, axes_b))``."""
    nd_a, nd_b = _ndim(a), _ndim(b)
    free_a = [i for i in range(nd_a) if i not in axes_a]
    free_b = [j for j in range(nd_b) if j not in axes_b]

    def d_a():
        bb = _as_node(e, b)
        g_free_b = list(range(len(free_a), len(free_a) + len(free_b)))
        d = e.call("tensordot", g, bb, axes=(tuple(g_free_b), tuple(free_b)))
        order = free_a + [axes_a[list(axes_b).index(j)] for j in sorted(axes_b)]
        return e.transpose(d, np.argsort(order).tolist())

    def d_b():
        aa = _as_node(e, a)
        d = e.call("tensordot", aa, g, axes=(tuple(free_a), tuple(range(len(free_a)))))
        order = [axes_b[list(axes_a).index(i)] for i in sorted(axes_a)] + free_b
        return e.transpose(d, np.argsort(order).tolist())

    yield a, d_a
    yield b, d_b


@vjp_rule("tensordot")
def _tensordot(e, node, g):
    a, b = node.args
    axes_a, axes_b = node.kwargs["axes"]
    yield from _tensordot_pairs(e, g, a, b, list(axes_a), list(axes_b))


def _scalar_product(e, g, a, b):
    yield a, lambda: e.mul(g, b)
    yield b, lambda: e.mul(g, a)


@vjp_rule("dot")
def _dot(e, node, g):
    a, b = node.args
    if _ndim(a) == 0 or _ndim(b) == 0:
        yield from _scalar_product(e, g, a, b)
        return
    yield from _tensordot_pairs(e, g, a, b, [_ndim(a) - 1], [max(_ndim(b) - 2, 0)])


@vjp_rule("inner")
def _inner(e, node, g):
    a, b = node.args
    if _ndim(a) == 0 or _ndim(b) == 0:
        yield from _scalar_product(e, g, a, b)
        return
    yield from _tensordot_pairs(e, g, a, b, [_ndim(a) - 1], [_ndim(b) - 1])


@vjp_rule("vdot")
def _vdot(e, node, g):
    a, b = node.args  # sum(a.ravel() * b.ravel())
    yield a, lambda: e.mul(g, e.reshape(_as_node(e, b), a.meta.shape))
    yield b, lambda: e.mul(g, e.reshape(_as_node(e, a), b.meta.shape))


@vjp_rule("outer")
def _outer(e, node, g):
    a, b = node.args  # g[i, j] = a.ravel()[i] * b.ravel()[j]

    def flat(v):
        v = _as_node(e, v)
        return e.reshape(v, (v.meta.size,))

    yield a, lambda: e.reshape(e.call("matmul", g, flat(b)), a.meta.shape)
    yield b, lambda: e.reshape(e.call("matmul", flat(a), g), b.meta.shape)


# ------------------------------------------------------------------------------ einsum
_LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _einsum_terms(spec: str, ndims: list[int]) -> tuple[list[list[str]], list[str]]:
    """The canonical spec's terms as letter lists, '...' replaced by fresh letters for the
    broadcast dims (right-aligned across operands, as einsum broadcasts them)."""
    inputs, output = spec.split("->")
    terms = inputs.split(",")
    used = set(spec)
    fresh = [c for c in _LETTERS if c not in used]
    n_broadcast = max((nd - len(t.replace("...", "")) for t, nd in zip(terms, ndims)
                       if "..." in t), default=0)
    broadcast = fresh[:n_broadcast]

    def expand(term: str, nd: int | None) -> list[str]:
        if "..." not in term:
            return list(term)
        before, after = term.split("...")
        k = n_broadcast if nd is None else nd - len(before) - len(after)
        return list(before) + broadcast[n_broadcast - k:] + list(after)

    return [expand(t, nd) for t, nd in zip(terms, ndims)], expand(output, None)


@vjp_rule("einsum")
def _einsum(e, node, g):
    spec, *operands = node.args
    terms, out = _einsum_terms(spec, [_ndim(o) for o in operands])

    def d_operand(i):
        term = terms[i]
        unique = list(dict.fromkeys(term))
        elsewhere = set(out).union(*(set(t) for j, t in enumerate(terms) if j != i))
        solved = [c for c in unique if c in elsewhere]
        others = [_as_node(e, o) for j, o in enumerate(operands) if j != i]
        other_terms = ["".join(t) for j, t in enumerate(terms) if j != i]
        d = e.call("einsum", ",".join(["".join(out), *other_terms]) + "->" + "".join(solved),
                   g, *others)
        # Labels summed inside operand i only, or of size 1 in d where the operand is
        # wider (the other operands broadcast them), spread to the operand's size; where d
        # is wider than the operand, the walker sums it back.
        own = dict(zip(term, operands[i].meta.shape))
        have = dict(zip(solved, d.meta.shape))
        sizes = {c: have[c] if c in have and have[c] != 1 else own[c] for c in unique}
        d = e.broadcast_to(e.reshape(d, [have.get(c, 1) for c in unique]),
                           [sizes[c] for c in unique])
        if len(unique) == len(term):
            return d
        # Repeated labels (a diagonal): spread each copy with an identity matrix.
        taken = set(out).union(*map(set, terms))
        fresh = iter(c for c in _LETTERS if c not in taken)
        renamed, eyes, eye_terms, seen = [], [], [], set()
        for c in term:
            if c in seen:
                new = next(fresh)
                renamed.append(new)
                eye_terms.append(c + new)
                eyes.append(e.constant(np.eye(sizes[c], dtype=d.meta.dtype)))
            else:
                renamed.append(c)
                seen.add(c)
        spread = ",".join(["".join(unique), *eye_terms]) + "->" + "".join(renamed)
        return e.call("einsum", spread, d, *eyes)

    for i, operand in enumerate(operands):
        if isinstance(operand, Node):
            yield operand, lambda i=i: d_operand(i)
