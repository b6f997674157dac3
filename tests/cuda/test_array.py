"""DeviceArray: the ``__cuda_array_interface__`` it exports and accepts (checked on fake
pointers, touching no memory), its layout facts against NumPy's, and its copies, ownership
and streams on the fake driver, whose device memory is host memory."""

from __future__ import annotations

import ctypes

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dynajit import cuda
from dynajit.cuda.array import DeviceArray, as_device, c_strides
from tests.cuda.conftest import ALLOCATIONS, Foreign, using_fake

FAKE_PTR = 0x7F00_0000_1000
DTYPES = ["?", "i1", "u1", "i2", "u2", "i4", "u4", "i8", "u8", "f2", "f4", "f8", "c8", "c16"]


# interface export and import on fake pointers (no driver involved)


def test_interface_of_a_c_contiguous_array():
    a = DeviceArray((2, 3), np.float32, FAKE_PTR)
    assert a.__cuda_array_interface__ == {
        "version": 3, "shape": (2, 3), "typestr": "<f4", "descr": [("", "<f4")],
        "data": (FAKE_PTR, False), "strides": None, "mask": None, "stream": 1}
    assert a.strides == (12, 4) and a.nbytes == 24 and not a.owns_memory


def test_interface_of_a_strided_readonly_array_on_a_stream():
    a = DeviceArray((4, 2), "i8", FAKE_PTR, strides=(-16, 64), readonly=True, stream=0xABC)
    interface = a.__cuda_array_interface__
    assert interface["strides"] == (-16, 64)
    assert interface["data"] == (FAKE_PTR, True)
    assert interface["stream"] == 0xABC


def test_empty_array_exports_a_null_pointer():
    a = DeviceArray((0, 5), np.float64, 0)
    assert a.__cuda_array_interface__["data"] == (0, False)
    assert a.size == 0 and a.extent() == (0, 0) and a.is_c_contiguous


def test_null_pointer_with_elements_is_refused():
    with pytest.raises(cuda.ArrayInterfaceError, match="null device pointer"):
        DeviceArray((3,), np.float32, 0)


def test_foreign_interface_is_borrowed_in_place_with_its_strides():
    owner = Foreign(shape=(3, 4), typestr="<f8", data=(FAKE_PTR, False), strides=(8, 24))
    a = as_device(owner)
    assert (a.shape, a.dtype, a.strides, a.ptr) == ((3, 4), np.float64, (8, 24), FAKE_PTR)
    assert a._owner is owner and not a.owns_memory and not a.is_c_contiguous


def test_foreign_interface_without_strides_is_c_contiguous():
    a = as_device(Foreign(shape=(2, 5), typestr="<i4", data=(FAKE_PTR, True)))
    assert a.strides == (20, 4) and a.readonly


def test_device_array_passes_through_as_device():
    a = DeviceArray((2,), np.int64, FAKE_PTR)
    assert as_device(a) is a


@pytest.mark.parametrize("interface, message", [
    (dict(shape=(2,), typestr="<f4", data=(FAKE_PTR, False), mask=object()), "mask"),
    (dict(shape=(2,), typestr="|V8", data=(FAKE_PTR, False)), "not supported"),
    (dict(shape=(2,), typestr=">f4", data=(FAKE_PTR, False)), "byte order"),
    (dict(shape=(2,), typestr="<f4", data=(FAKE_PTR, False), stream=0), "stream 0"),
    (dict(shape=(2,), typestr="<f4"), "lacks a valid"),
    (dict(shape=(2,), typestr="<zz", data=(FAKE_PTR, False)), "NumPy does not know"),
    (dict(shape=(2, 2), typestr="<f4", data=(FAKE_PTR, False), strides=(4,)), "do not match"),
])
def test_bad_foreign_interfaces_are_refused_with_the_reason(interface, message):
    with pytest.raises(cuda.ArrayInterfaceError, match=message):
        as_device(Foreign(**interface))


def test_objects_without_an_interface_are_refused():
    with pytest.raises(cuda.ArrayInterfaceError, match="builtins.list"):
        as_device([1, 2, 3])


def test_no_implicit_conversion_to_numpy():
    with pytest.raises(cuda.ArrayInterfaceError, match="to_host"):
        np.asarray(DeviceArray((2,), np.float32, FAKE_PTR))


@st.composite
def strided_views(draw):
    """A NumPy view with arbitrary layout (negative, zero and transposed strides) into a
    buffer of distinct values."""
    dtype = np.dtype(draw(st.sampled_from(DTYPES)))
    shape = draw(st.lists(st.integers(0, 4), max_size=3))
    steps = [draw(st.sampled_from([-3, -2, -1, 1, 2, 3])) for _ in shape]
    full = tuple(n * abs(s) for n, s in zip(shape, steps))
    base = np.arange(int(np.prod(full)), dtype=np.int64).reshape(full).astype(dtype)
    view = base[(*(slice(None, None, s) for s in steps), Ellipsis)]
    view = view.transpose(draw(st.permutations(range(view.ndim))))
    if view.ndim and draw(st.booleans()):
        strides = list(view.strides)
        strides[draw(st.integers(0, view.ndim - 1))] = 0  # a broadcast dimension
        view = np.lib.stride_tricks.as_strided(view, strides=strides)
    return view


@given(strided_views())
@settings(max_examples=80, deadline=None)
def test_layout_facts_match_numpy(view):
    a = DeviceArray(view.shape, view.dtype, view.ctypes.data or FAKE_PTR, strides=view.strides)
    assert a.is_c_contiguous == view.flags.c_contiguous
    if view.size:
        low, high = np.lib.array_utils.byte_bounds(view)
        assert a.extent() == (low - view.ctypes.data, high - view.ctypes.data)
        assert c_strides(view.shape, view.itemsize) == np.empty(view.shape, view.dtype).strides


@given(strided_views())
@settings(max_examples=60, deadline=None)
def test_interface_round_trips_through_as_device(view):
    ptr = view.ctypes.data if view.size else 0
    a = DeviceArray(view.shape, view.dtype, ptr, strides=view.strides)
    b = as_device(Foreign(**{k: v for k, v in a.__cuda_array_interface__.items()
                             if k != "stream"}))
    assert (b.shape, b.dtype, b.ptr, b.is_c_contiguous) == (a.shape, a.dtype, a.ptr,
                                                           a.is_c_contiguous)
    if not a.is_c_contiguous:
        assert b.strides == a.strides


# copies and ownership on the fake driver


@given(st.sampled_from(DTYPES), st.lists(st.integers(0, 5), max_size=3))
@settings(max_examples=40, deadline=None)
def test_host_round_trip_preserves_values_shape_and_dtype(fake_library, dtype, shape):
    with using_fake(fake_library):
        host = (np.arange(int(np.prod(shape)), dtype=np.int64) * 7 - 3).astype(dtype)
        host = host.reshape(shape)
        back = cuda.from_host(host).to_host()
        assert back.dtype == host.dtype and back.shape == host.shape
        np.testing.assert_array_equal(back, host)


@given(strided_views())
@settings(max_examples=60, deadline=None)
def test_strided_device_views_copy_to_host_like_numpy(fake_library, view):
    with using_fake(fake_library):
        if view.size:
            # the same layout on the device: copy the view's byte range, keep its strides
            low, high = np.lib.array_utils.byte_bounds(view)
            span = np.frombuffer(ctypes.string_at(low, high - low), np.uint8)
            device_span = cuda.from_host(span)
            d = DeviceArray(view.shape, view.dtype, device_span.ptr + view.ctypes.data - low,
                            strides=view.strides, owner=device_span)
        else:
            d = DeviceArray(view.shape, view.dtype, 0, strides=view.strides)
        np.testing.assert_array_equal(d.to_host(), view)
        out = np.empty(view.shape[::-1], view.dtype).T  # into a given non-C `out` too
        assert d.copy_to_host(out=out) is out
        np.testing.assert_array_equal(out, view)


def test_copy_copy_from_host_and_casting(fake_cuda):
    a = cuda.from_host(np.arange(6, dtype=np.float64).reshape(2, 3))
    b = a.copy()
    assert b.ptr != a.ptr and b.owns_memory
    a.copy_from_host(np.ones((2, 3), dtype=np.float32))  # same_kind cast
    np.testing.assert_array_equal(a.to_host(), np.ones((2, 3)))
    np.testing.assert_array_equal(b.to_host(), np.arange(6.0).reshape(2, 3))
    with pytest.raises(TypeError):
        a.copy_from_host(np.ones((2, 3), dtype=np.complex64))
    with pytest.raises(cuda.ArrayInterfaceError, match="host shape"):
        a.copy_from_host(np.ones(6))


def test_strided_arrays_refuse_device_copies_and_host_writes(fake_cuda):
    a = cuda.from_host(np.arange(8, dtype=np.int32))
    strided = DeviceArray((4,), np.int32, a.ptr, strides=(8,), owner=a)
    np.testing.assert_array_equal(strided.to_host(), [0, 2, 4, 6])
    with pytest.raises(cuda.ArrayInterfaceError, match="gather kernel"):
        strided.copy()
    with pytest.raises(cuda.ArrayInterfaceError, match="C-contiguous"):
        strided.copy_from_host(np.zeros(4, np.int32))
    readonly = DeviceArray((8,), np.int32, a.ptr, owner=a, readonly=True)
    with pytest.raises(cuda.ArrayInterfaceError, match="read-only"):
        readonly.copy_from_host(np.zeros(8, np.int32))


def test_copy_to_host_checks_out(fake_cuda):
    a = cuda.from_host(np.arange(3.0))
    with pytest.raises(cuda.ArrayInterfaceError, match="out has shape"):
        a.copy_to_host(out=np.empty(4))
    frozen = np.empty(3)
    frozen.flags.writeable = False
    with pytest.raises(cuda.ArrayInterfaceError, match="read-only"):
        a.copy_to_host(out=frozen)


def test_owned_memory_is_freed_and_borrowed_memory_is_not(fake_cuda):
    before = fake_cuda.live(ALLOCATIONS)
    owned = cuda.empty((16, 16), np.float32)
    assert owned.owns_memory and fake_cuda.live(ALLOCATIONS) == before + 1
    exporter = Foreign(**owned.__cuda_array_interface__)
    exporter.base = owned  # as a CuPy view holds its memory
    borrowed = as_device(exporter)
    del owned, exporter
    # the borrowed array keeps the exporter (and so the allocation) alive
    assert fake_cuda.live(ALLOCATIONS) == before + 1
    del borrowed
    # the block went back to the caching pool; empty_cache frees it
    assert fake_cuda.live(ALLOCATIONS) == before + 1
    assert cuda.empty_cache() >= 16 * 16 * 4
    assert fake_cuda.live(ALLOCATIONS) == before


def test_freed_blocks_are_reused_by_size_class_without_a_new_allocation(fake_cuda):
    cuda.empty_cache()
    before = fake_cuda.live(ALLOCATIONS)
    a = cuda.empty(1000, np.float32)
    ptr = a.ptr
    del a
    b = cuda.empty(1001, np.float32)  # same 512-byte class (4004 bytes -> 4096)
    assert b.ptr == ptr and fake_cuda.live(ALLOCATIONS) == before + 1
    c = cuda.empty(3000, np.float32)  # another class: a new block
    assert c.ptr != ptr and fake_cuda.live(ALLOCATIONS) == before + 2
    del b, c
    assert cuda.get_driver().pooled_bytes() >= 4096 + 12288
    cuda.empty_cache()
    assert fake_cuda.live(ALLOCATIONS) == before and cuda.get_driver().pooled_bytes() == 0


def test_empty_arrays_allocate_nothing(fake_cuda):
    before = fake_cuda.live(ALLOCATIONS)
    a = cuda.empty((0, 3), np.float64)
    b = cuda.from_host(np.empty((2, 0), np.int8))
    assert a.ptr == 0 and b.ptr == 0 and fake_cuda.live(ALLOCATIONS) == before
    assert b.to_host().shape == (2, 0)


def test_numpy_inputs_are_copied_in_by_as_device(fake_cuda):
    host = np.arange(10, dtype=np.int16)[::-2]
    a = as_device(host)
    assert a.owns_memory and a.is_c_contiguous
    host[...] = 0  # a copy, not a view of host memory
    np.testing.assert_array_equal(a.to_host(), np.arange(10, dtype=np.int16)[::-2])
    assert as_device(np.float32(2.5)).to_host() == np.float32(2.5)


def test_copies_on_a_stream_mark_the_array_and_its_interface(fake_cuda, monkeypatch):
    from dynajit.cuda import driver

    stream = cuda.Stream()
    a = cuda.from_host(np.arange(4.0), stream=stream)
    assert a.stream is stream
    assert a.__cuda_array_interface__["stream"] == stream.handle
    assert a.copy().__cuda_array_interface__["stream"] == stream.handle
    drv = driver.get_driver()
    synced = []
    monkeypatch.setattr(drv, "stream_synchronize", synced.append)
    np.testing.assert_array_equal(a.to_host(), np.arange(4.0))
    assert synced == [stream.handle]  # read back on the stream that wrote it
    b = cuda.from_host(np.arange(3.0))
    b.to_host()
    assert synced == [stream.handle]  # legacy-stream copies are synchronous already


def test_foreign_stream_is_synchronized_on_import(fake_cuda, monkeypatch):
    from dynajit.cuda import driver

    synced = []
    monkeypatch.setattr(driver.get_driver(), "stream_synchronize", synced.append)
    interface = cuda.empty(3).__cuda_array_interface__
    as_device(Foreign(**interface))  # legacy default stream: ordered already, no wait
    as_device(Foreign(**{**interface, "stream": None}))
    assert synced == []
    as_device(Foreign(**{**interface, "stream": 2}))  # per-thread default stream
    as_device(Foreign(**{**interface, "stream": 0xABC0}))
    assert synced == [2, 0xABC0]
