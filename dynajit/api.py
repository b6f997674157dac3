"""dynajit's public API. Capture (`compile`, `explain`) and gradients (`grad`, `vjp`)
arrive with their issues; what exists here is real."""

from dynajit.backends import list_backends, lookup_backend, register_backend

__all__ = ["list_backends", "lookup_backend", "register_backend"]
