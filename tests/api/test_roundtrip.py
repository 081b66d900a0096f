"""Parsing a real MPIJob and dumping it back loses no field."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from mpi_operator.api.types import MPIJob
from tests.conftest import examples_dir

EXAMPLES = sorted(examples_dir().glob("*.yaml"))


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_round_trips_unchanged(path: Path) -> None:
    for doc in yaml.safe_load_all(path.read_text()):
        assert MPIJob.model_validate(doc).to_dict() == doc


def test_unknown_fields_survive() -> None:
    doc = {"apiVersion": "kubeflow.org/v2beta1", "kind": "MPIJob", "metadata": {"name": "x"},
           "spec": {"futureField": {"a": 1}, "runPolicy": {"someNewKnob": True},
                    "mpiReplicaSpecs": {"Launcher": {"replicas": 1, "template": {"spec": {"containers": []}},
                                                     "extra": "kept"}}}}
    assert MPIJob.model_validate(doc).to_dict() == doc


def test_snake_case_attributes_map_to_camel_case_json() -> None:
    job = MPIJob.model_validate({"spec": {"slotsPerWorker": 3, "sshAuthMountPath": "/x"}})
    assert job.spec.slots_per_worker == 3
    assert job.spec.ssh_auth_mount_path == "/x"
