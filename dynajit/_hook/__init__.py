"""dynajit's PEP 523 frame hook: a small C extension (``_evalframe.c``) that sees every Python
frame before it runs. It owns per-thread callbacks, the per-code cache of (guard, entry) pairs
and skip marks, and the per-Python-version frame layout; it knows nothing about graphs.

Protocol, per frame, while this thread's callback is not None:

1. generator/coroutine frames, ``throw()`` resumptions, module and class bodies and code
   marked skip run normally (chained to the evaluator installed before dynajit's);
2. the code's cached ``(guard, entry)`` pairs are tried in order: ``guard(*args)`` with the
   frame's flat arguments (positional, keyword-only, then the ``*args`` tuple and the
   ``**kwargs`` dict); on the first truthy one, ``entry(*args)`` runs in the frame's place
   and its result or exception is the frame's;
3. otherwise, unless the callback is ``RUN_ONLY``, ``callback(func, args)`` is called with the
   thread's callback reading None; it returns None (run the frame normally) or an entry
   (already cached with ``set_entries``), which is called as in 2.

Example::

    from dynajit import _hook

    def convert_frame(func, args):
        return None                     # run every frame normally

    prev = _hook.set_callback(convert_frame)
    try:
        work()
    finally:
        _hook.set_callback(prev)

On an unsupported Python the package still imports: ``AVAILABLE`` is False,
``UNAVAILABLE_REASON`` says why and every function raises ``DynajitError`` with that reason.
"""

from __future__ import annotations

import sys

from dynajit.errors import DynajitError

SUPPORTED_VERSIONS = ((3, 11), (3, 12))

__all__ = [
    "AVAILABLE",
    "RUN_ONLY",
    "UNAVAILABLE_REASON",
    "active_threads",
    "get_callback",
    "get_entries",
    "is_installed",
    "is_skipped",
    "mark_skip",
    "set_callback",
    "set_entries",
]


def unavailable_reason(implementation: str, version: tuple[int, ...]) -> str | None:
    """Why the C hook cannot exist on this interpreter, or None when it can.

    >>> unavailable_reason("cpython", (3, 13, 0))
    'dynajit needs CPython 3.11 or 3.12 for its frame hook; this is cpython 3.13'
    """
    if implementation == "cpython" and tuple(version[:2]) in SUPPORTED_VERSIONS:
        return None
    return (
        "dynajit needs CPython 3.11 or 3.12 for its frame hook; "
        f"this is {implementation} {version[0]}.{version[1]}"
    )


UNAVAILABLE_REASON = unavailable_reason(sys.implementation.name, sys.version_info)

if UNAVAILABLE_REASON is None:
    try:
        from dynajit._hook import _evalframe
    except ImportError as exc:
        UNAVAILABLE_REASON = (
            f"dynajit's frame hook extension is not built ({exc}); "
            "reinstall with `pip install -e .` (needs gcc and the Python headers)"
        )

AVAILABLE = UNAVAILABLE_REASON is None

if AVAILABLE:
    RUN_ONLY = _evalframe.RUN_ONLY
    set_callback = _evalframe.set_callback
    get_callback = _evalframe.get_callback
    mark_skip = _evalframe.mark_skip
    is_skipped = _evalframe.is_skipped
    set_entries = _evalframe.set_entries
    get_entries = _evalframe.get_entries
    is_installed = _evalframe.is_installed
    active_threads = _evalframe.active_threads
else:

    class _RunOnly:
        def __repr__(self) -> str:
            return "dynajit._hook.RUN_ONLY"

    RUN_ONLY = _RunOnly()

    def _unavailable(*_args: object) -> None:
        """Every hook function on an unsupported Python: raises with the reason."""
        raise DynajitError(UNAVAILABLE_REASON)

    set_callback = get_callback = mark_skip = is_skipped = _unavailable
    set_entries = get_entries = is_installed = active_threads = _unavailable
