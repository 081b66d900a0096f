"""Edits shared by the worker pod and launcher pod-template builders: metadata trimming, host naming,
the role env var, the ssh-auth volume and gang-scheduler decoration.

Invariant: every function edits the dict it is given in place and is only ever called on a deep copy of
the user's template, never on the MPIJob itself.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging

from mpi_operator.api.types import MPIJob
from mpi_operator.controller import names, spec
from mpi_operator.controller.options import ControllerOptions, GangScheduler
from mpi_operator.kube.meta import JSON

log = logging.getLogger(__name__)

ROOT_SSH_PATH = "/root/.ssh"
SSH_PRIVATE_FILE_MODE = 0o600


def copy_template(template: JSON) -> tuple[JSON, JSON]:
    """Deep copy of a pod template split into (metadata keeping only labels and annotations, spec)."""
    source = copy.deepcopy(template)
    meta = source.get("metadata") or {}
    kept: JSON = {"labels": dict(meta.get("labels") or {})}
    if meta.get("annotations"):
        kept["annotations"] = dict(meta["annotations"])
    return kept, source.get("spec") or {}


def set_host(pod_spec: JSON, job: MPIJob, hostname: str) -> None:
    """Stable DNS name `<hostname>.<job>`: hostname + subdomain (the headless Service)."""
    pod_spec["hostname"] = hostname
    pod_spec["subdomain"] = names.service_name(job)
    if pod_spec.get("hostNetwork"):
        pod_spec["dnsPolicy"] = "ClusterFirstWithHostNet"


def first_container(pod_spec: JSON) -> JSON:
    containers = pod_spec.setdefault("containers", [])
    if not containers:
        containers.append({})
    container: JSON = containers[0]
    return container


def append_env(container: JSON, entries: list[tuple[str, str]]) -> None:
    # Operator entries after user entries: for duplicate names ours is the effective one (Q37, kept).
    env = container.setdefault("env", [])
    env.extend({"name": name, "value": value} for name, value in entries)


def add_volume(pod_spec: JSON, container: JSON, volume: JSON, mount_path: str) -> None:
    pod_spec.setdefault("volumes", []).append(volume)
    container.setdefault("volumeMounts", []).append({"name": volume["name"], "mountPath": mount_path})


def ssh_auth_volume(job: MPIJob) -> JSON:
    """Secret `<name>-ssh` projected as id_rsa / id_rsa.pub / authorized_keys."""
    source: JSON = {
        "secretName": names.secret_name(job),
        "items": [
            {"key": names.SSH_PRIVATE_KEY, "path": "id_rsa"},
            {"key": names.SSH_PUBLIC_KEY, "path": "id_rsa.pub"},
            {"key": names.SSH_PUBLIC_KEY, "path": "authorized_keys"},
        ],
    }
    # sshd refuses group/world-readable keys for root; a non-root user needs the API default 0644 to read
    # the root-owned files, so the mode is only forced for /root/.ssh.
    if spec.ssh_auth_mount_path(job) == ROOT_SSH_PATH:
        source["defaultMode"] = SSH_PRIVATE_FILE_MODE
    return {"name": names.SSH_AUTH_VOLUME, "secret": source}


def add_ssh_auth(pod_spec: JSON, job: MPIJob) -> None:
    add_volume(pod_spec, first_container(pod_spec), ssh_auth_volume(job), spec.ssh_auth_mount_path(job))


def decorate_for_gang(meta: JSON, pod_spec: JSON, job: MPIJob, options: ControllerOptions) -> None:
    """schedulerName plus the PodGroup link (Volcano annotation / scheduler-plugins label)."""
    scheduler = options.gang_scheduler
    if scheduler is GangScheduler.NONE:
        return
    wanted = options.scheduler_name
    if pod_spec.get("schedulerName") != wanted:
        log.warning(
            "MPIJob %s/%s: schedulerName %r in the pod template replaced by %r",
            job.namespace, job.name, pod_spec.get("schedulerName", ""), wanted,
        )
    pod_spec["schedulerName"] = wanted
    if scheduler is GangScheduler.VOLCANO:
        meta.setdefault("annotations", {})[names.VOLCANO_GROUP_ANNOTATION] = names.podgroup_name(job)
    else:
        meta.setdefault("labels", {})[names.SCHEDULER_PLUGINS_POD_GROUP_LABEL] = names.podgroup_name(job)


def template_hash(obj: JSON) -> str:
    """Stable short hash of a JSON object (key order does not matter)."""
    encoded = json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(encoded).hexdigest()[:16]
