"""The semantics modules against the real MPIJob CRD and the example MPIJobs that must run unchanged."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from mpi_operator.api.crd import crd_manifest
from mpi_operator.sandbox.admission.cel import evaluate_validations, rule_compile_errors
from mpi_operator.sandbox.admission.schema import apply_schema_defaults, prune_unknown_fields, validate_against_schema
from mpi_operator.sandbox.crds import mpijob_crd
from mpi_operator.sandbox.wire.table import to_table
from tests.conftest import REPO, examples_dir

VERSION = crd_manifest()["spec"]["versions"][0]
SCHEMA: dict[str, Any] = VERSION["schema"]["openAPIV3Schema"]
EXAMPLES = sorted(examples_dir().glob("*.yaml"))


def load(path: Path) -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(path.read_text())
    return document


def admitted(obj: dict[str, Any]) -> dict[str, Any]:
    """What the API server stores: pruned, then defaulted."""
    stored = copy.deepcopy(obj)
    prune_unknown_fields(stored, SCHEMA)
    apply_schema_defaults(stored, SCHEMA)
    return stored


def test_the_sandbox_serves_the_crd_file_that_ships() -> None:
    shipped = REPO / "manifests" / "base" / "kubeflow.org_mpijobs.yaml"
    packaged = REPO / "mpi_operator" / "sandbox" / "manifests" / "kubeflow.org_mpijobs.yaml"
    assert packaged.read_bytes() == shipped.read_bytes(), "the sandbox's copy of the CRD is stale: run `make manifests`"
    assert mpijob_crd() == yaml.safe_load(shipped.read_text()) == crd_manifest()
    assert mpijob_crd() is not mpijob_crd()


def test_every_crd_rule_compiles() -> None:
    assert rule_compile_errors(SCHEMA) == []


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_examples_are_admitted_unchanged_apart_from_defaults(path: Path) -> None:
    job = load(path)
    pruned = copy.deepcopy(job)
    assert prune_unknown_fields(pruned, SCHEMA) == []
    assert pruned == job
    stored = admitted(job)
    assert validate_against_schema(stored, SCHEMA) == []
    assert evaluate_validations(stored, SCHEMA, None) == []
    assert evaluate_validations(stored, SCHEMA, stored) == []


def test_defaults_fill_the_spec_like_a_real_cluster() -> None:
    job = load(examples_dir() / "pi.yaml")
    del job["spec"]["sshAuthMountPath"]
    spec = admitted(job)["spec"]
    assert spec["launcherCreationPolicy"] == "AtStartup"
    assert spec["mpiImplementation"] == "OpenMPI"
    assert spec["runLauncherAsWorker"] is False
    assert spec["runPolicy"]["suspend"] is False
    assert spec["sshAuthMountPath"] == "/root/.ssh"


def test_unknown_fields_are_pruned_with_their_paths() -> None:
    job = load(examples_dir() / "pi.yaml")
    job["spec"]["bogus"] = 1
    job["spec"]["mpiReplicaSpecs"]["Worker"]["template"]["spec"]["containers"][0]["typo"] = "x"
    removed = prune_unknown_fields(job, SCHEMA)
    assert sorted(removed) == [".spec.bogus", ".spec.mpiReplicaSpecs.Worker.template.spec.containers[0].typo"]


def test_schema_violations_are_reported_per_field() -> None:
    job = admitted(load(examples_dir() / "pi.yaml"))
    job["spec"]["mpiImplementation"] = "LAM"
    job["spec"]["slotsPerWorker"] = -1
    job["spec"]["launcherCreationPolicy"] = "Later"
    fields = sorted((c["field"], c["reason"]) for c in validate_against_schema(job, SCHEMA))
    assert fields == [
        ("spec.launcherCreationPolicy", "FieldValueNotSupported"),
        ("spec.mpiImplementation", "FieldValueNotSupported"),
        ("spec.slotsPerWorker", "FieldValueInvalid"),
    ]


def test_cel_rules_reject_two_launchers_and_a_managed_by_change() -> None:
    old = admitted(load(examples_dir() / "pi.yaml"))
    new = copy.deepcopy(old)
    new["spec"]["mpiReplicaSpecs"]["Launcher"]["replicas"] = 2
    new["spec"]["runPolicy"]["managedBy"] = "kueue.x-k8s.io/multikueue"
    messages = sorted(c["message"] for c in evaluate_validations(new, SCHEMA, old))
    assert messages == [
        'Invalid value: Launcher replicas must be 1',
        'Invalid value: spec.runPolicy.managedBy is immutable',
    ]
    assert [c["message"] for c in evaluate_validations(new, SCHEMA, None)] == [
        'Invalid value: Launcher replicas must be 1']


def test_kubectl_get_mpijobs_table_uses_the_crd_printer_columns() -> None:
    job = admitted(load(examples_dir() / "pi.yaml"))
    job["metadata"].update(namespace="default", creationTimestamp="2026-03-01T11:58:00Z")
    # The State column reads status.state, which the operator writes beside the conditions.
    job["status"] = {"conditions": [{"type": "Created", "status": "True"}, {"type": "Running", "status": "True"}],
                     "state": "Running"}
    table = to_table("mpijobs", [job], VERSION.get("additionalPrinterColumns") or [],
                     now=datetime(2026, 3, 1, 12, 0, tzinfo=UTC))
    names = [c["name"] for c in table["columnDefinitions"]]
    assert names[0] == "Name" and names[-1] == "Age"
    cells = dict(zip(names, table["rows"][0]["cells"], strict=True))
    assert cells["Name"] == "pi" and cells["Age"] == "2m"
    assert cells.get("State", "Running") == "Running"
    assert cells.get("Workers", 2) == 2
    assert table["rows"][0]["object"]["metadata"]["namespace"] == "default"
