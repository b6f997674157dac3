"""Capture: turning NumPy programs into graphs. ``symbolic_trace`` runs a function on
symbolic arrays (NumPy's ``__array_ufunc__``/``__array_function__`` protocols); the
bytecode tracer behind ``dynajit.compile`` is the capture issue's work."""

from dynajit.capture.symbolic import SymbolicArray, TraceResult, symbolic_trace

__all__ = ["SymbolicArray", "TraceResult", "symbolic_trace"]
