# Two commands set everything up on a fresh machine: `make run` and `make test`.
# Both bootstrap .venv from pyproject.toml; nothing is installed globally.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: venv run test lint unit bench manifests chaos clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(PY) -m mpi_operator demo

lint: $(STAMP)
	$(PY) -m ruff check mpi_operator tests
	$(PY) -m mypy

unit: $(STAMP)
	$(PY) -m pytest -q

test: lint unit

bench: $(STAMP)
	$(PY) -m mpi_operator.bench

manifests: $(STAMP)
	$(PY) -m mpi_operator crd > manifests/base/kubeflow.org_mpijobs.yaml

chaos: $(STAMP)
	$(PY) -m pytest -q tests/chaos -m chaos_long

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
