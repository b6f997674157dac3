"""The eager backend: the GraphModule's own Python, calling each op's NumPy implementation.
The reference every other backend is compared against, and the debugging backend."""

from __future__ import annotations

from typing import Any

from dynajit.backends import register_backend


@register_backend("eager")
def eager(graph_module: Any, example_inputs: list) -> Any:
    return graph_module.forward
