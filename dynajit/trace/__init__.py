"""What dynajit observes about itself: the structured trace (TORCH_TRACE format, one file per
process under ``config.trace_dir``), human logs by topic (``config.logs``), and per-compile
metrics. Later stages add records with ``trace.record`` / ``trace.artifact``; ``trace.listen``
hands the same records to a callback in-process (``dynajit.explain`` is built on it)."""

from dynajit.trace.structured import (
    CompileId,
    Record,
    artifact,
    compile_context,
    current_compile_id,
    enabled,
    listen,
    record,
    trace_file,
)

__all__ = ["CompileId", "Record", "artifact", "compile_context", "current_compile_id",
           "enabled", "listen", "record", "trace_file"]
