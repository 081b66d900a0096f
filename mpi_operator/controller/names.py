"""Names, labels, annotations and ownership of every object the controller creates for an MPIJob.

Invariant: values are upstream's (kubeflow/mpi-operator v0.8.2) unless docs/decisions.md says otherwise, so
existing tooling that selects or reads these objects keeps working.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mpi_operator.api import constants as api
from mpi_operator.api.types import MPIJob

# Ownership is read in one place, kube/meta.py; bench/floor.py still reads it under this name.
from mpi_operator.kube.meta import controller_reference as controller_reference

# Annotations and labels of the gang schedulers.
VOLCANO_GROUP_ANNOTATION = "scheduling.k8s.io/group-name"
VOLCANO_QUEUE_ANNOTATION = "scheduling.volcano.sh/queue-name"
SCHEDULER_PLUGINS_POD_GROUP_LABEL = "scheduling.x-k8s.io/pod-group"

# Ours (docs/decisions.md Q13): hash of the desired pod template, on the launcher Job and on worker pods.
TEMPLATE_HASH_ANNOTATION = "kubeflow.org/mpi-operator-template-hash"

ROLE_LAUNCHER = "launcher"
ROLE_WORKER = "worker"
ROLE_ENV = "K_MPI_JOB_ROLE"

CONFIG_VOLUME = "mpi-job-config"
CONFIG_MOUNT_PATH = "/etc/mpi"
HOSTFILE_KEY = "hostfile"
DISCOVER_HOSTS_KEY = "discover_hosts.sh"
HOSTFILE_PATH = f"{CONFIG_MOUNT_PATH}/{HOSTFILE_KEY}"

SSH_AUTH_VOLUME = "ssh-auth"
SSH_PRIVATE_KEY = "ssh-privatekey"
SSH_PUBLIC_KEY = "ssh-publickey"
SSH_AUTH_SECRET_TYPE = "kubernetes.io/ssh-auth"

EVENT_SOURCE = api.CONTROLLER_NAME


def service_name(job: MPIJob) -> str:
    return job.name


def configmap_name(job: MPIJob) -> str:
    return f"{job.name}-config"


def secret_name(job: MPIJob) -> str:
    return f"{job.name}-ssh"


def launcher_name(job: MPIJob) -> str:
    return launcher_name_for(job.name)


def launcher_name_for(mpijob_name: str) -> str:
    """The launcher Job's name, from the MPIJob's name alone (for an MPIJob no longer cached)."""
    return f"{mpijob_name}-launcher"


def worker_name(job: MPIJob, index: int) -> str:
    return f"{job.name}-worker-{index}"


def podgroup_name(job: MPIJob) -> str:
    return job.name


def job_uid(job: MPIJob) -> str:
    return str(job.metadata.get("uid", ""))


def app_labels(job: MPIJob) -> dict[str, str]:
    """Labels of the Service, ConfigMap, Secret and launcher Job objects."""
    return {api.APP_LABEL: job.name}


def job_labels(job: MPIJob) -> dict[str, str]:
    """Selector of every pod of the job (launcher and workers); the Service selects on exactly these."""
    return {api.OPERATOR_NAME_LABEL: api.OPERATOR_NAME, api.JOB_NAME_LABEL: job.name}


def role_labels(job: MPIJob, role: str) -> dict[str, str]:
    return {**job_labels(job), api.JOB_ROLE_LABEL: role}


def worker_selector(job: MPIJob) -> dict[str, str]:
    """The label selector upstream uses to find worker pods (ownership is checked separately)."""
    return role_labels(job, ROLE_WORKER)


def owner_reference(job: MPIJob) -> dict[str, Any]:
    """The controller ownerReference every created object carries."""
    return {
        "apiVersion": api.API_VERSION,
        "kind": api.KIND,
        "name": job.name,
        "uid": job_uid(job),
        "controller": True,
        "blockOwnerDeletion": True,
    }


def object_meta(job: MPIJob, name: str, labels: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Metadata of a created object: name, namespace, optional labels, the controller ownerReference."""
    meta: dict[str, Any] = {"name": name, "namespace": job.namespace}
    if labels is not None:
        meta["labels"] = dict(labels)
    meta["ownerReferences"] = [owner_reference(job)]
    return meta


def labels_match(obj: Mapping[str, Any], selector: Mapping[str, str]) -> bool:
    """Equality-based label selection (`matchLabels` semantics)."""
    labels = (obj.get("metadata") or {}).get("labels") or {}
    return all(labels.get(key) == value for key, value in selector.items())
