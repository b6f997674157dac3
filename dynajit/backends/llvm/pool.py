"""Host buffers kept across calls for the llvm backend's large outputs and temporaries.

A fresh large NumPy array pays a page fault (and the kernel's zeroing) for every page on its
first write: here a 40 MB ``x.copy()`` takes 4.6 ms, 2.4 ms of it in faults. A compiled graph
called in a loop asks for the same sizes on every call, so buffers of ``MIN_BYTES`` or more
come from blocks the pool keeps. A block is free when nothing but the pool refers to it:
every array made from a block (views of views included) has the block as its ``base``, so the
block's reference count says whether any of them is alive."""

from __future__ import annotations

import math
import mmap
import sys
import threading
from typing import Any

import numpy as np

from dynajit.config import config

# glibc serves smaller blocks from its heap, usually without fresh pages
MIN_BYTES = 256 << 10
GRAIN = 1 << 16  # block sizes are rounded up to this, so near sizes share blocks


def pooled(shape: tuple[int, ...], dtype: Any) -> bool:
    """Whether ``HostPool.empty`` serves an array of this shape and dtype from a block (the
    llvm wrapper's generator asks, to call ``np.empty`` directly for the others)."""
    dtype = np.dtype(dtype)
    return math.prod(shape) * dtype.itemsize >= MIN_BYTES and not dtype.hasobject


def _refcounts(blocks: list[np.ndarray]) -> list[int]:
    return [sys.getrefcount(b) for b in blocks]


# What _refcounts reports for a block held only by the pool's list.
_UNUSED = _refcounts([np.empty(0, np.uint8)])[0]


def _new_block(size: int) -> np.ndarray:
    """Page-aligned anonymous memory, with transparent huge pages asked for where the
    kernel offers them (fewer faults and TLB misses on the first pass)."""
    try:
        region = mmap.mmap(-1, size)
    except (OSError, ValueError):
        return np.empty(size, np.uint8)
    if hasattr(mmap, "MADV_HUGEPAGE"):
        try:
            region.madvise(mmap.MADV_HUGEPAGE)
        except OSError:
            pass
    return np.frombuffer(region, np.uint8)


class HostPool:
    """Blocks by size; ``empty`` hands out views of a free one, or of a new one while the
    pool holds less than ``config.host_pool_bytes``, else a plain ``np.empty``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._blocks: dict[int, list[np.ndarray]] = {}
        self.held_bytes = 0

    def empty(self, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
        dtype = np.dtype(dtype)
        if not pooled(shape, dtype):
            return np.empty(shape, dtype)
        nbytes = math.prod(shape) * dtype.itemsize
        size = -(-nbytes // GRAIN) * GRAIN
        with self._lock:
            block = self._take(size, config.host_pool_bytes)
        if block is None:
            return np.empty(shape, dtype)
        return np.ndarray(shape, dtype, buffer=block)  # its base is the block

    def _take(self, size: int, limit: int) -> np.ndarray | None:
        blocks = self._blocks.setdefault(size, [])
        for block in blocks:  # the same references as in _refcounts: list, name, argument
            if sys.getrefcount(block) == _UNUSED:
                return block
        if self.held_bytes + size > limit:
            self._evict(self.held_bytes + size - limit)
            if self.held_bytes + size > limit:
                return None
        block = _new_block(size)
        blocks.append(block)
        self.held_bytes += size
        return block

    def _evict(self, need: int) -> None:
        for size, blocks in self._blocks.items():
            keep = []
            for block, refs in zip(blocks, _refcounts(blocks), strict=True):
                if refs == _UNUSED and need > 0:
                    need -= size
                    self.held_bytes -= size
                else:
                    keep.append(block)
            blocks[:] = keep

    def release(self) -> int:
        """Give every unused block back to the system; returns the bytes released."""
        with self._lock:
            before = self.held_bytes
            self._evict(before)
            return before - self.held_bytes

    def unused_bytes(self) -> int:
        with self._lock:
            return sum(size for size, blocks in self._blocks.items()
                       for refs in _refcounts(blocks) if refs == _UNUSED)


host_pool = HostPool()
