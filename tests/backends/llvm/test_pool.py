"""The host buffer pool of the llvm backend: large outputs reuse the memory of dropped ones,
never of live ones (views included), the byte limit holds, and threads get separate buffers."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import dynajit
from dynajit.backends.llvm.pool import MIN_BYTES, HostPool, host_pool

pytestmark = pytest.mark.backends

BIG = (512, 1024)  # 2 MiB of float32


def addr(a: np.ndarray) -> int:
    return a.__array_interface__["data"][0]


def test_dropped_buffer_is_reused_live_one_is_not():
    pool = HostPool()
    a = pool.empty(BIG, np.float32)
    first = addr(a)
    b = pool.empty(BIG, np.float32)
    assert not np.shares_memory(a, b)
    del a
    c = pool.empty(BIG, np.float32)
    assert addr(c) == first
    assert pool.held_bytes == 2 * c.base.nbytes


def test_a_live_view_keeps_its_block_in_use():
    pool = HostPool()
    a = pool.empty(BIG, np.float32)
    view = a[::3, 1:].T
    del a
    b = pool.empty(BIG, np.float32)
    assert not np.shares_memory(view, b)


def test_small_and_over_limit_requests_get_plain_arrays():
    pool = HostPool()
    small = pool.empty((MIN_BYTES // 8 - 1,), np.float64)
    assert small.flags.owndata
    with dynajit.config.patch(host_pool_bytes=0):
        big = pool.empty(BIG, np.float32)
    assert big.flags.owndata and pool.held_bytes == 0


def test_limit_evicts_unused_blocks_and_release_returns_them():
    pool = HostPool()
    with dynajit.config.patch(host_pool_bytes=5 << 20):
        a = pool.empty(BIG, np.float32)
        del a
        b = pool.empty((1024, 1024), np.float32)  # 4 MiB: the 2 MiB block must go
        assert pool.held_bytes == b.base.nbytes
        del b
    assert pool.unused_bytes() == 4 << 20
    assert pool.release() == 4 << 20 and pool.held_bytes == 0


@settings(max_examples=25, deadline=None)
@given(rows=st.integers(256, 700), dtype=st.sampled_from([np.float32, np.float64, np.int32]))
def test_compiled_outputs_kept_alive_never_alias(rows, dtype):
    dynajit.reset()

    @dynajit.compile(backend="llvm")
    def f(x):
        return x * 2 + 1

    x = np.arange(rows * 1024, dtype=dtype).reshape(rows, 1024)
    kept = [f(x) for _ in range(3)]
    for i, out in enumerate(kept):
        np.testing.assert_array_equal(out, x * 2 + 1)
        for other in kept[i + 1:]:
            assert not np.shares_memory(out, other)
    kept.pop()
    again = f(x + 1)
    np.testing.assert_array_equal(kept[0], x * 2 + 1)
    np.testing.assert_array_equal(again, (x + 1) * 2 + 1)


def test_threads_calling_one_graph_get_their_own_outputs():
    @dynajit.compile(backend="llvm")
    def f(x, k):
        return np.sin(x) * k

    x = np.linspace(0, 1, 1 << 19, dtype=np.float32)
    f(x, np.float32(1))
    errors = []

    def worker(k):
        for _ in range(20):
            out = f(x, np.float32(k))
            if not np.allclose(out, np.sin(x) * np.float32(k)):
                errors.append(k)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(1, 5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors


def test_reset_gives_unused_blocks_back():
    @dynajit.compile(backend="llvm")
    def f(x):
        return x + 1

    f(np.zeros(BIG, np.float32))
    assert host_pool.unused_bytes() > 0
    dynajit.reset()
    assert host_pool.unused_bytes() == 0


def test_wrapper_allocates_below_the_pool_size_with_numpy_directly(wrappers):
    """The wrapper knows each buffer's size when it is generated: small ones come from
    ``np.empty`` directly (no pool call on the warm path), large ones from the pool."""
    made = wrappers
    dynajit.reset()

    @dynajit.compile(backend="llvm")
    def f(x):
        return x * 2 + 1

    small = f(np.ones(8, np.float32))
    large = f(np.ones(BIG, np.float32))
    assert "= _np_empty((8,)" in made[0].source and "_empty((8,)" not in \
        made[0].source.replace("_np_empty", "")
    assert f"= _empty({BIG!r}" in made[1].source
    assert small.base is None and large.base is not None
    np.testing.assert_array_equal(small, np.full(8, 3, np.float32))
    np.testing.assert_array_equal(large, np.full(BIG, 3, np.float32))
