"""What dynajit observes about itself: the structured trace (TORCH_TRACE format, one file per
process under ``config.trace_dir``), human logs by topic (``config.logs``), and per-compile
metrics. Later stages add records with ``trace.record`` / ``trace.artifact``."""

from dynajit.trace.structured import (
    CompileId,
    artifact,
    compile_context,
    current_compile_id,
    enabled,
    record,
    trace_file,
)

__all__ = ["CompileId", "artifact", "compile_context", "current_compile_id", "enabled",
           "record", "trace_file"]
