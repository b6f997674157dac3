"""Loop metadata of the llvm code generator: innermost loops without a reduction ask the
vectorizer for four vectors per iteration (two for big bodies), written as a proper loop ID
that LLVM honours; loops with a reduction keep the vectorizer's own choice."""

from __future__ import annotations

import re

import numpy as np
import pytest

from benchmarks import workloads as W
from dynajit.backends.llvm.codegen import build_kernel
from dynajit.backends.llvm.jit import get_jit
from tests.backends.loopir.test_scheduler import kernels, schedule_of
from tests.backends.loopir.test_sharing import softmax

pytestmark = pytest.mark.backends


def ir_of(fn, *args):
    jit = get_jit()
    return [build_kernel(k, jit.triple, str(jit.target_machine.target_data)).ir_text
            for k in kernels(schedule_of(fn, *args))]


def interleave_counts(text):
    """The interleave count of each loop ID attached to a branch."""
    ids = re.findall(r"!llvm\.loop (![0-9]+)", text)
    counts = []
    for ref in ids:
        (node,) = re.findall(rf"^{ref} = distinct !\{{ *{ref}, *(![0-9]+) *\}}$", text, re.M)
        (count,) = re.findall(rf'^{node} = !\{{ *!"llvm\.loop\.interleave\.count", i32 ([0-9]+)',
                              text, re.M)
        counts.append(int(count))
    return counts


def test_pointwise_loop_asks_for_four_vectors_and_llvm_interleaves():
    x = np.ones(4096, np.float32)
    (text,) = ir_of(W.gelu, x)
    assert interleave_counts(text) == [4]
    optimized = get_jit().optimized_ir(text)
    # the vector body stores four vectors per iteration
    stores = re.findall(r"store <(\d+) x float>", optimized)
    assert len(stores) >= 4


def test_reduction_loops_keep_the_vectorizers_choice():
    """softmax: max, then exp shared with the sum, then the division: only the division's
    loop carries the hint (interleaving a float sum would reorder it)."""
    (text,) = ir_of(softmax, np.ones((4, 256), np.float32))
    assert interleave_counts(text) == [4]


def test_big_bodies_ask_for_two():
    x = np.ones(1000, np.float32)
    counts = [c for text in ir_of(W.fused50, x, x) for c in interleave_counts(text)]
    assert counts and set(counts) == {2}
