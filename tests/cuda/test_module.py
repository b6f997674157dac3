"""Kernel modules and launches: parameter lists read from PTX, the module cache, and
argument packing checked end to end on the fake driver, which runs ``saxpy`` and
``affine_i32`` on the host with the bytes it was handed."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dynajit import cuda
from dynajit.cuda.module import Param, parse_entries
from tests.cuda.conftest import MODULES, Foreign, using_fake

# The entry signatures LLVM's NVPTX target prints (tests/backends/ptx/saxpy_kernel.py makes
# the real one); the fake driver only looks at the names.
KERNELS_PTX = """
.version 7.8
.target sm_90
.address_size 64

	// .globl	saxpy
.visible .entry saxpy(
	.param .u64 saxpy_param_0,
	.param .f32 saxpy_param_1,
	.param .u64 .ptr .global .align 1 saxpy_param_2,
	.param .u64 .ptr .global .align 1 saxpy_param_3,
	.param .u64 .ptr .global .align 1 saxpy_param_4
)
{
	ret;
}

.visible .entry affine_i32(
	.param .u64 affine_i32_param_0,   // out
	.param .u32 affine_i32_param_1,   /* start */
	.param .u32 affine_i32_param_2,
	.param .u64 affine_i32_param_3
)
{
	ret;
}

.visible .entry shapes(.param .align 8 .b8 shapes_param_0[24], .param .f64 p1, .param .s16 p2,
                       .param .f16 p3)
{
	ret;
}
.entry bare
{
	ret;
}
"""


def test_parse_entries_reads_llvm_style_parameters():
    entries = parse_entries(KERNELS_PTX)
    assert list(entries) == ["saxpy", "affine_i32", "shapes", "bare"]
    assert entries["saxpy"] == (
        Param("saxpy_param_0", "u", 8), Param("saxpy_param_1", "f", 4),
        Param("saxpy_param_2", "u", 8, pointer=True), Param("saxpy_param_3", "u", 8, True),
        Param("saxpy_param_4", "u", 8, True))
    assert [p.size for p in entries["affine_i32"]] == [8, 4, 4, 8]  # comments ignored
    assert entries["shapes"] == (Param("shapes_param_0", "bytes", 24), Param("p1", "f", 8),
                                 Param("p2", "s", 2), Param("p3", "f", 2))
    assert entries["bare"] == ()


def test_unreadable_parameter_is_an_error():
    with pytest.raises(cuda.CudaError, match="no scalar type"):
        parse_entries(".entry k(.param .pred p) { ret; }")


def test_modules_are_cached_by_ptx_text(fake_cuda):
    before = fake_cuda.live(MODULES)
    a = cuda.load_module(KERNELS_PTX)
    assert cuda.load_module(KERNELS_PTX) is a
    assert cuda.load_module(KERNELS_PTX + "\n") is not a
    assert a.function("saxpy") is a.function("saxpy")
    assert fake_cuda.live(MODULES) == before + 2
    cuda.clear_module_cache()
    fn = a.function("saxpy")
    del a
    assert fake_cuda.live(MODULES) == before + 1  # a Function keeps its module loaded
    del fn
    assert fake_cuda.live(MODULES) == before


def test_unknown_kernel_lists_the_entries(fake_cuda):
    with pytest.raises(cuda.CudaError, match=r"no kernel 'axpy'.*'affine_i32', 'bare'"):
        cuda.load_module(KERNELS_PTX).function("axpy")


def test_load_module_wants_text(fake_cuda):
    with pytest.raises(cuda.CudaError, match="PTX text"):
        cuda.load_module(KERNELS_PTX.encode())


@given(st.integers(0, 300), st.floats(-4, 4, width=32), st.integers(1, 1024))
@settings(max_examples=25, deadline=None)
def test_saxpy_arguments_arrive_intact(fake_library, n, a, block):
    with using_fake(fake_library):
        rng = np.random.default_rng(n)
        x, y = rng.standard_normal((2, n), dtype=np.float32)
        dx, dy, out = cuda.from_host(x), cuda.from_host(y), cuda.empty(n, np.float32)
        fn = cuda.load_module(KERNELS_PTX).function("saxpy")
        cuda.launch(fn, grid=max(1, -(-n // block)), block=block,
                    args=(n, np.float32(a), dx, dy, out))
        np.testing.assert_array_equal(out.to_host(), np.float32(a) * x + y)


def test_int32_parameters_take_either_signedness(fake_cuda):
    out = cuda.empty(5, np.int32)
    fn = cuda.load_module(KERNELS_PTX).function("affine_i32")
    cuda.launch(fn, 1, 32, (out, -7, np.int16(-3), np.uint64(5)))
    np.testing.assert_array_equal(out.to_host(), [-7, -10, -13, -16, -19])
    cuda.launch(fn, 1, 32, (out, 2**32 - 1, 1, 2))  # 0xffffffff read as int32 is -1
    np.testing.assert_array_equal(out.to_host()[:2], [-1, 0])


def test_foreign_arrays_are_passed_by_pointer(fake_cuda):
    out = cuda.empty(3, np.int32)
    exporter = Foreign(**out.__cuda_array_interface__)
    cuda.launch(cuda.load_module(KERNELS_PTX).function("affine_i32"), 1, 3,
                (exporter, 10, 5, 3))
    np.testing.assert_array_equal(out.to_host(), [10, 15, 20])


def test_launch_configuration_reaches_the_driver(fake_cuda):
    fn = cuda.load_module(KERNELS_PTX).function("bare")
    stream = cuda.Stream()
    cuda.launch(fn, grid=(4, 3), block=[32, 2, 2], args=(), shared=1024, stream=stream)
    assert fake_cuda.last_launch() == ((4, 3, 1), (32, 2, 2), 1024, stream.handle)
    cuda.launch(fn, grid=np.int64(7), block=64, args=[])
    assert fake_cuda.last_launch() == ((7, 1, 1), (64, 1, 1), 0, None)


@pytest.mark.parametrize("args, message", [
    ((1, 2.0), "takes 5 arguments"),
    ((None, 1.0, None, None, None), "expected a device array or an integer, got NoneType"),
    ((2**64, 1.0, None, None, None), "does not fit in 64 bits"),
    ((3, "2.0", None, None, None), "expected a number"),
    ((3.0, 2.0, None, None, None), "expected a device array or an integer"),
])
def test_bad_arguments_are_refused_before_launch(fake_cuda, args, message):
    fn = cuda.load_module(KERNELS_PTX).function("saxpy")
    with pytest.raises(cuda.ArrayInterfaceError, match=message):
        cuda.launch(fn, 1, 32, args)


def test_numpy_array_for_a_pointer_says_to_copy_it(fake_cuda):
    fn = cuda.load_module(KERNELS_PTX).function("saxpy")
    x = cuda.empty(3, np.float32)
    with pytest.raises(cuda.ArrayInterfaceError, match="from_host"):
        cuda.launch(fn, 1, 32, (3, 1.0, np.zeros(3, np.float32), x, x))


def test_aggregate_and_small_parameters_pack(fake_cuda):
    fn = cuda.load_module(KERNELS_PTX).function("shapes")
    cuda.launch(fn, 1, 1, (bytes(24), 1.5, -2, 0.5))
    cuda.launch(fn, 1, 1, (np.arange(3, dtype=np.int64), 1, 2**16 - 1, np.float16(1)))
    with pytest.raises(cuda.ArrayInterfaceError, match="takes 24 bytes, got 8"):
        cuda.launch(fn, 1, 1, (bytes(8), 1.5, 0, 0.0))
    with pytest.raises(cuda.ArrayInterfaceError, match="does not fit in 16 bits"):
        cuda.launch(fn, 1, 1, (bytes(24), 1.5, 2**16, 0.0))


@pytest.mark.parametrize("grid, block", [(0, 32), ((1, 1, 1, 1), 32), (1, (2**31,)),
                                         ("4", 32), (1.5, 32)])
def test_bad_launch_dimensions_are_refused(fake_cuda, grid, block):
    fn = cuda.load_module(KERNELS_PTX).function("bare")
    with pytest.raises(cuda.CudaError, match="one to three positive sizes"):
        cuda.launch(fn, grid, block, ())


def test_driver_launch_failure_names_kernel_and_configuration(fake_cuda):
    fn = cuda.load_module(KERNELS_PTX).function("bare")
    with pytest.raises(cuda.DriverError) as info:
        cuda.launch(fn, 2, 2048, ())
    assert str(info.value) == (
        "cuLaunchKernel failed: CUDA_ERROR_INVALID_VALUE (invalid argument); kernel 'bare', "
        "grid (2, 1, 1), block (2048, 1, 1), 0 bytes shared")
    with pytest.raises(cuda.CudaError, match="shared memory"):
        cuda.launch(fn, 1, 1, (), shared=-1)


def test_prepared_launch_reaches_the_driver_and_refuses_non_64_bit_parameters(fake_cuda):
    from dynajit.cuda.module import PreparedLaunch

    run = PreparedLaunch(cuda.load_module(KERNELS_PTX).function("bare"), (5, 2), 128)
    run([])
    assert fake_cuda.last_launch() == ((5, 2, 1), (128, 1, 1), 0, None)
    with pytest.raises(cuda.ArrayInterfaceError, match="takes 0 arguments, got 1"):
        run([1])
    with pytest.raises(cuda.CudaError, match=r"64-bit integer or pointer parameters.*f32"):
        PreparedLaunch(cuda.load_module(KERNELS_PTX).function("saxpy"), 1, 32)
