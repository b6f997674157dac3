"""Config (environment overrides, patch) and the backend registry (eager, user backends,
clear errors)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import dynajit
from dynajit.capture import symbolic_trace
from dynajit.config import config, patch
from dynajit.errors import BackendNotFound
from dynajit.graph import GraphModule


def test_patch_restores_and_rejects_unknown_fields():
    before = config.default_backend
    with patch(default_backend="mine"):
        assert config.default_backend == "mine"
    assert config.default_backend == before
    with pytest.raises(AttributeError, match="no_such_knob"):
        with patch(no_such_knob=1):
            pass


def test_environment_overrides_config():
    code = "import dynajit; print(dynajit.config.register_source)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={"DYNAJIT_REGISTER_SOURCE": "0", "PATH": ""}, check=True)
    assert out.stdout.strip() == "False"


def test_eager_backend_is_registered_and_runs_graphs():
    assert "eager" in dynajit.list_backends()
    x = np.arange(5.0)
    gm = GraphModule(symbolic_trace(lambda v: v * 2 + 1, x).graph)
    run = dynajit.lookup_backend("eager")(gm, [x])
    np.testing.assert_array_equal(run(x), x * 2 + 1)


def test_user_backend_receives_graph_module_and_inputs():
    seen = {}

    @dynajit.register_backend("recording")
    def recording(gm, example_inputs):
        seen["ops"] = [n.target.name for n in gm.graph.call_nodes()]
        seen["inputs"] = example_inputs
        return gm.forward

    x = np.ones(3)
    gm = GraphModule(symbolic_trace(np.tanh, x).graph)
    assert dynajit.lookup_backend("recording")(gm, [x])(x)[0] == np.tanh(1.0)
    assert seen["ops"] == ["tanh"] and seen["inputs"][0] is x


def test_unknown_backend_error_lists_the_available_ones():
    with pytest.raises(BackendNotFound, match=r"no backend named 'nope'; available: .*eager"):
        dynajit.lookup_backend("nope")


def test_backend_must_be_callable():
    with pytest.raises(TypeError, match="must be callable"):
        dynajit.register_backend("bad", 42)
