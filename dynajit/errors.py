"""dynajit's exception types. Every error the user can see is one of these (or the exact
NumPy/Python exception that eager execution would raise)."""


class DynajitError(Exception):
    """Base class of dynajit's own errors."""


class Unsupported(DynajitError):
    """A construct dynajit cannot capture. The capture layer turns it into a graph break;
    ``reason`` says why, in words a user can act on."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class GraphError(DynajitError):
    """A malformed graph: raised by ``Graph.verify`` and graph mutation checks. The message
    names the offending node."""


class CompileError(DynajitError):
    """A backend failed to compile a graph."""


class BackendNotFound(DynajitError, KeyError):
    """No backend is registered under the requested name."""

    def __str__(self) -> str:
        return str(self.args[0])
