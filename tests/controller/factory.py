"""Defaulted MPIJobs and observed objects for the builder tests: every field explicit, so the tests do not
depend on the defaulting code."""

from __future__ import annotations

import copy
from typing import Any

from mpi_operator.api.types import MPIJob

JSON = dict[str, Any]
UID = "uid-1234"
NOW = "2026-11-28T12:00:00Z"
LATER = "2026-11-28T12:05:00Z"


def container(name: str = "main", **extra: Any) -> JSON:
    return {"name": name, "image": "mpioperator/mpi-pi:openmpi", **extra}


def make_job(
    name: str = "demo",
    namespace: str = "ml",
    workers: int | None = 2,
    launcher_template: JSON | None = None,
    worker_template: JSON | None = None,
    status: JSON | None = None,
    annotations: JSON | None = None,
    **spec: Any,
) -> MPIJob:
    """A job as apply_defaults would leave it. Spec keys in camelCase override the defaults, e.g.
    `runPolicy={...}`, `mpiImplementation="Intel"`; workers=None means no Worker spec."""
    replica_specs: JSON = {
        "Launcher": {
            "replicas": 1,
            "restartPolicy": "OnFailure",
            "template": copy.deepcopy(launcher_template) or {"spec": {"containers": [container("launcher")]}},
        }
    }
    if workers is not None:
        replica_specs["Worker"] = {
            "replicas": workers,
            "restartPolicy": "Never",
            "template": copy.deepcopy(worker_template) or {"spec": {"containers": [container("worker")]}},
        }
    body: JSON = {
        "slotsPerWorker": 1,
        "runLauncherAsWorker": False,
        "sshAuthMountPath": "/root/.ssh",
        "launcherCreationPolicy": "AtStartup",
        "mpiImplementation": "OpenMPI",
        "runPolicy": {"cleanPodPolicy": "Running", "suspend": False},
        "mpiReplicaSpecs": replica_specs,
    }
    body.update(spec)
    metadata: JSON = {"name": name, "namespace": namespace, "uid": UID}
    if annotations:
        metadata["annotations"] = annotations
    document: JSON = {"apiVersion": "kubeflow.org/v2beta1", "kind": "MPIJob", "metadata": metadata, "spec": body}
    if status is not None:
        document["status"] = status
    return MPIJob.model_validate(document)


def pod(
    name: str,
    phase: str = "Running",
    namespace: str = "ml",
    labels: JSON | None = None,
    owner_uid: str = UID,
    ready: bool = False,
    **status: Any,
) -> JSON:
    """An observed pod; worker labels of job `demo` unless `labels` is given."""
    if labels is None:
        labels = {
            "training.kubeflow.org/operator-name": "mpi-operator",
            "training.kubeflow.org/job-name": "demo",
            "training.kubeflow.org/job-role": "worker",
        }
    conditions = [{"type": "Ready", "status": "True" if ready else "False"}]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": labels,
            "ownerReferences": [{"apiVersion": "x", "kind": "K", "name": "n", "uid": owner_uid, "controller": True}],
        },
        "status": {"phase": phase, "conditions": conditions, **status},
    }


def worker_pod(index: int, phase: str = "Running", label_index: str | None = None, **kwargs: Any) -> JSON:
    """Worker pod of job `demo` with its replica-index label (default: the index itself)."""
    labels = {
        "training.kubeflow.org/operator-name": "mpi-operator",
        "training.kubeflow.org/job-name": "demo",
        "training.kubeflow.org/job-role": "worker",
        "training.kubeflow.org/replica-index": label_index if label_index is not None else str(index),
    }
    return pod(f"demo-worker-{index}", phase, labels=labels, **kwargs)
