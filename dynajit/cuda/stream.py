"""CUDA streams and events as Python objects that release their driver handles when
collected. ``None`` wherever a stream is expected means the legacy default stream."""

from __future__ import annotations

from dynajit.cuda.driver import get_driver
from dynajit.cuda.errors import ArrayInterfaceError

_EVENT_DISABLE_TIMING = 0x2  # cuda.h: CU_EVENT_DISABLE_TIMING


class Stream:
    """A blocking stream (it synchronizes with the legacy default stream, so work queued on
    either is ordered with the synchronous copies ``DeviceArray`` makes).

    >>> s = Stream()
    >>> launch(fn, grid, block, args, stream=s)
    >>> s.synchronize()
    """

    def __init__(self) -> None:
        self._driver = get_driver()
        self.handle = self._driver.stream_create(0)
        self._finalizer = self._driver.finalizer(self, "stream_destroy", self.handle)

    def synchronize(self) -> None:
        """Wait until everything queued on the stream has finished."""
        self._driver.stream_synchronize(self.handle)

    def __repr__(self) -> str:
        return f"<dynajit.cuda.Stream {self.handle:#x}>"


class Event:
    """A CUDA event, for timing GPU work or waiting for a point in a stream.

    >>> start, end = Event(), Event()
    >>> start.record(); launch(...); end.record(); end.synchronize()
    >>> start.elapsed_ms(end)
    """

    def __init__(self, timing: bool = True) -> None:
        self._driver = get_driver()
        self.timing = timing
        self.handle = self._driver.event_create(0 if timing else _EVENT_DISABLE_TIMING)
        self._finalizer = self._driver.finalizer(self, "event_destroy", self.handle)

    def record(self, stream: Stream | int | None = None) -> Event:
        """Record the event on ``stream`` (default: the legacy default stream)."""
        self._driver.event_record(self.handle, stream_handle(stream))
        return self

    def synchronize(self) -> None:
        """Wait until the work recorded before this event has finished."""
        self._driver.event_synchronize(self.handle)

    def elapsed_ms(self, end: Event) -> float:
        """Milliseconds between this event and ``end`` (both recorded and complete)."""
        return self._driver.event_elapsed_ms(self.handle, end.handle)

    def __repr__(self) -> str:
        return f"<dynajit.cuda.Event {self.handle:#x}>"


def stream_handle(stream: Stream | int | None) -> int | None:
    """The driver handle for a stream argument: a ``Stream``, a raw handle (as CuPy's
    ``stream.ptr`` or PyTorch's ``stream.cuda_stream``), or ``None`` for the legacy default
    stream."""
    if stream is None:
        return None
    if isinstance(stream, Stream):
        return stream.handle
    if isinstance(stream, int) and not isinstance(stream, bool):
        return stream or None
    raise ArrayInterfaceError(
        f"expected a dynajit.cuda.Stream, a raw stream handle (int) or None as the stream, "
        f"got {type(stream).__name__}")

