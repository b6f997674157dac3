"""PTX code generation from the loop IR, checked without a GPU: every ufunc the PTX target
supports, on every loop dtype, and small programs (the benchmark workloads, reductions of
each kind, views, where/clip/astype) assemble with ``ptxas`` for sm_90 (and sm_80), with the
expected launch shape and no register spills; the emitted IR calls only intrinsics that
lower on NVPTX. PTX is generated in one child process per test (LLVM aborts on a lowering
failure)."""

from __future__ import annotations

import re

import numpy as np
import pytest

from dynajit.backends.llvm import mathlib
from dynajit.backends.loopir.handlers import HANDLER_OPS, LOOP_UFUNCS
from dynajit.backends.ptx import PTXTarget, run_ptxas
from dynajit.backends.ptx.codegen import PTXKernelBuilder, build_kernel, supports
from dynajit.backends.ptx.ptxas import PtxasNotFound, find_ptxas
from tests.backends.ptx import ptx_programs

try:
    find_ptxas()
    HAVE_PTXAS = True
except PtxasNotFound:
    HAVE_PTXAS = False
needs_ptxas = pytest.mark.skipif(not HAVE_PTXAS, reason="ptxas not found: pip install "
                                 "nvidia-cuda-nvcc (the gpu extra)")

# The launch shape each program's kernels must get (one entry per kernel, in order).
SHAPES = {
    "bench:gelu": ["flat"], "bench:softmax": ["rows"], "bench:layernorm": ["rows"],
    "bench:elementwise": ["flat"], "bench:diffusion": ["flat", "flat"],
    "sum_rows": ["rows"], "mean_cols": ["rows", "flat"], "full_sum": ["full"],
    "full_max_i32": ["full"], "argmax_rows": ["rows"], "argmin_full": ["full"],
    "any_all": ["rows", "full"], "prod_f64": ["rows"], "transpose_add": ["flat"],
    "slice_flip": ["flat"], "where_clip_astype": ["flat"], "softmax_short_rows": ["flat"],
    "sin_cos_4": ["flat"], "softmax_long_rows": ["rows"],
}


def _assemble(arch: str, kernels: list) -> list:
    reports = []
    for name, shape, ptx in kernels:
        report = run_ptxas(ptx, arch)
        report.raise_on_error()
        reports.append((name, shape, report))
    return reports


@needs_ptxas
@pytest.mark.parametrize("arch", ["sm_90", "sm_80"])
def test_every_supported_ufunc_on_every_loop_dtype_assembles(arch):
    names = [f"ufuncs:{d}" for d in ptx_programs.LOOP_DTYPES]
    result = ptx_programs.ptx_of(arch, names)
    for name in names:
        (kname, shape, report), = _assemble(arch, result[name])
        assert shape == "flat"
        stores = len(re.findall(r"\bst\.global\.", result[name][0][2]))
        assert stores >= len(ptx_programs.ufunc_cases(name.split(":")[1])), name
        assert report.spills == 0, (name, report.log)


@needs_ptxas
def test_programs_assemble_with_their_launch_shape_and_no_spills():
    names = ptx_programs.program_names()
    result = ptx_programs.ptx_of("sm_90", names)
    for name in names:
        reports = _assemble("sm_90", result[name])
        key = name if name in SHAPES else name.rsplit(":", 1)[0]
        assert [shape for _, shape, _ in reports] == SHAPES[key], name
        for kname, _, report in reports:
            assert report.spills == 0, (name, kname, report.log)
            (usage,) = [f for f in report.functions.values() if f.entry]
            # flat kernels: 4+ blocks of 256 threads per SM; row kernels unroll their loops
            # and may hold up to 96 (2+ blocks: 16 rows in flight per SM)
            limit = 96 if reports[0][1] == "rows" else 64
            assert usage.registers <= limit, (name, kname, usage)


@needs_ptxas
def test_row_and_full_reductions_combine_with_shuffles_and_barriers():
    # rows up to WARP_ROW_MAX: a warp each, shuffles only; longer rows and full reductions:
    # shuffles, then shared memory across the block's warps
    names = ["bench:softmax:float32", "softmax_long_rows", "full_sum"]
    result = ptx_programs.ptx_of("sm_90", names)
    softmax, long_rows, full = (result[n][0][2] for n in names)
    assert "shfl.sync.bfly.b32" in softmax
    assert "bar.sync" not in softmax and ".shared" not in softmax
    for ptx in (long_rows, full):
        assert "shfl.sync.bfly.b32" in ptx and "bar.sync" in ptx and ".shared" in ptx
    assert "ld.global.nc" in softmax  # read-only inputs go through the non-coherent cache
    assert not re.search(r"\bcall", softmax + long_rows + full)


@pytest.mark.parametrize("fn, shape", [
    (lambda a: a.max(axis=1), (4, 4096)),  # "rows": a block per row
    (lambda a: a.min(), (1 << 20,)),  # "full": partials in scratch, combined by one block
])
def test_float_max_min_partials_carry_nan_into_the_combine(fn, shape):
    """A thread's float max/min keeps "a nan was seen" apart from its running value (the
    running value drops nans); its partial must select nan from that flag, or a nan in its
    elements is lost before the nan-propagating combine."""
    (kernel,) = ptx_programs.kernels_of(fn, np.ones(shape, np.float32))
    source = build_kernel(kernel, full_blocks=264)
    assert source.shape == ("rows" if len(shape) == 2 else "full")
    assert re.search(r"select\s+i1 %[^,]+, float 0x7ff8000000000000", source.ir_text, re.I)


def test_target_refuses_ops_that_need_libm_or_exact_frem():
    t = PTXTarget()
    assert t.supports("exp", np.dtype(np.float32)) and t.supports("tanh", np.dtype(np.float64))
    assert not t.supports("hypot", np.dtype(np.float64))  # no polynomial: would be libm
    for name in ("fmod", "remainder", "floor_divide"):
        assert not t.supports(name, np.dtype(np.float32)), name
        assert t.supports(name, np.dtype(np.int32)), name
    assert not t.supports("add", np.dtype(np.complex128))
    assert t.supports_reduction("argmax", np.dtype(np.float32))


def test_ptx_handler_has_every_op_the_loop_ir_emits_that_its_target_supports():
    kernel = ptx_programs.ufunc_kernel("float32")
    builder = PTXKernelBuilder(kernel)
    for name in HANDLER_OPS:
        if name in LOOP_UFUNCS and not any(supports(name, d) for d in ptx_programs.LOOP_DTYPES):
            continue
        assert callable(getattr(builder, name)), name


@pytest.mark.parametrize("dtype", ptx_programs.LOOP_DTYPES)
def test_kernels_call_only_intrinsics_that_lower_on_nvptx(dtype):
    source = build_kernel(ptx_programs.ufunc_kernel(dtype))
    called = set(re.findall(r"call [^@]*@\"?([\w.]+)", source.ir_text))
    allowed = {f"llvm.{n}" for n in mathlib.ALLOWED_INTRINSICS + ("maximum", "minimum")}
    for name in called:
        base = name.rsplit(".", 1)[0] if name.startswith("llvm.") else name
        assert base in allowed or name.startswith("llvm.nvvm."), name


def test_launch_shape_follows_the_kernel_structure():
    kernels = {}
    for program in ("bench:softmax:float32", "softmax_short_rows", "full_sum", "sin_cos_4"):
        kernels[program] = ptx_programs.program_kernels(program)
    rows = build_kernel(kernels["bench:softmax:float32"][0])
    assert rows.shape == "rows" and rows.rows_per_block == 8  # a warp per 1024-long row
    assert PTXKernelBuilder(kernels["softmax_short_rows"][0]).shape == "flat"
    full = build_kernel(kernels["full_sum"][0], full_blocks=7)
    assert full.shape == "full" and full.blocks == 7 and 7 in full.params
    flat = build_kernel(kernels["sin_cos_4"][0])
    assert flat.shape == "flat" and flat.total == 5000


def test_sin_cos_kernels_flag_arguments_past_the_polynomial_range():
    # No C library on the GPU: a kernel with sin/cos/tan ORs a flag word after its
    # parameters when an argument is past mathlib.REDUCTION_LIMIT; the runtime then
    # recomputes the call on the host. Kernels without them carry no flag.
    flagged = build_kernel(ptx_programs.program_kernels("sin_cos_4")[0])
    assert flagged.range_checked and "atomicrmw or" in flagged.ir_text
    plain = build_kernel(ptx_programs.program_kernels("bench:softmax:float32")[0])
    assert not plain.range_checked and "atomicrmw" not in plain.ir_text


@needs_ptxas
def test_the_range_flag_is_one_global_atomic_or():
    ptx = ptx_programs.ptx_of("sm_90", ["sin_cos_4"])["sin_cos_4"][0][2]
    assert len(re.findall(r"\batom\.global\.or\.b64", ptx)) == 1
