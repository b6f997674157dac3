# Set-up and checks. `make demo` and `make test` are the two commands a new machine needs.
PYENV_ROOT ?= $(HOME)/.pyenv
# Newest installed patch release of each supported minor version (never a hard-coded patch).
find_py = $(or $(shell ls -d $(PYENV_ROOT)/versions/$(1).*/bin/python$(1) 2>/dev/null \
          | sort -V | tail -n 1),$(shell command -v python$(1) 2>/dev/null))
PY311 := $(call find_py,3.11)
PY312 := $(call find_py,3.12)
PYTEST_ARGS ?= -n 2 -q

.PHONY: demo test test311 test312 lint docs bench clean

demo: .venv311/.stamp
	.venv311/bin/python examples/demo.py

test: lint test311 test312

test311: .venv311/.stamp
	.venv311/bin/python -m pytest $(PYTEST_ARGS)

test312: .venv312/.stamp
	.venv312/bin/python -m pytest $(PYTEST_ARGS)

lint: .venv311/.stamp
	.venv311/bin/ruff check dynajit tests benchmarks examples

docs: .venv311/.stamp
	.venv311/bin/python -m dynajit.ops.docs > docs/ops.md

.venv311/.stamp: pyproject.toml
	@test -n "$(PY311)" || { echo "error: no Python 3.11 found (looked in $(PYENV_ROOT)/versions/3.11.* and PATH)"; exit 1; }
	@echo "using $(PY311)"
	test -x .venv311/bin/python || $(PY311) -m venv .venv311
	.venv311/bin/python -m pip install -q -e '.[test]'
	touch $@

.venv312/.stamp: pyproject.toml
	@test -n "$(PY312)" || { echo "error: no Python 3.12 found (looked in $(PYENV_ROOT)/versions/3.12.* and PATH)"; exit 1; }
	@echo "using $(PY312)"
	test -x .venv312/bin/python || $(PY312) -m venv .venv312
	# The gpu extra (ptxas from nvidia-cuda-nvcc) makes the PTX assembly checks run here
	# (the GPU machines run Python 3.12 too); 3.11 skips them with a message.
	.venv312/bin/python -m pip install -q -e '.[test,gpu]'
	touch $@

# dynajit against NumPy and its peers (numba, numexpr, jax, torch.compile: the `bench` extra,
# installed into .venv311 here). BENCH_ARGS=--quick for a short run.
BENCH_ARGS ?=
bench: .venv311/.stamp
	.venv311/bin/python -m pip install -q -e '.[bench]'
	.venv311/bin/python benchmarks/bench.py --json benchmarks/latest.json $(BENCH_ARGS)

clean:
	rm -rf .venv311 .venv312 .pytest_cache .hypothesis *.egg-info
