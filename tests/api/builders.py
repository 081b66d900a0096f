"""MPIJob documents for API tests: a minimal valid job, and a way to change one field of it."""

from __future__ import annotations

import copy
from typing import Any

from mpi_operator.api.types import MPIJob

CONTAINER = {"name": "main", "image": "mpioperator/mpi-pi:openmpi"}


def job_doc(name: str = "pi", workers: int | None = 2) -> dict[str, Any]:
    """A valid MPIJob as a plain dict, with only the fields a user must write (no defaults filled)."""
    specs: dict[str, Any] = {"Launcher": {"template": {"spec": {"containers": [dict(CONTAINER)]}}}}
    if workers is not None:
        specs["Worker"] = {"replicas": workers, "template": {"spec": {"containers": [dict(CONTAINER)]}}}
    return {"apiVersion": "kubeflow.org/v2beta1", "kind": "MPIJob", "metadata": {"name": name, "namespace": "ns"},
            "spec": {"mpiReplicaSpecs": specs}}


def with_field(doc: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A copy of `doc` with the dotted `path` (e.g. `spec.runPolicy.backoffLimit`) set, parents created."""
    out = copy.deepcopy(doc)
    node = out
    *parents, last = path.split(".")
    for key in parents:
        node = node.setdefault(key, {})
    node[last] = value
    return out


def job(doc: dict[str, Any]) -> MPIJob:
    return MPIJob.model_validate(doc)
