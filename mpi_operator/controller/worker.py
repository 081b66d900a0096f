"""Worker pods `<name>-worker-<i>`: the desired pod per index, and which existing worker pods to delete on
scale-down, on cleanup, or to replace after a template edit.

Invariant: pure functions of (defaulted MPIJob, options, observed pods); deletion plans only ever name
pods controlled by this MPIJob (docs/decisions.md Q1, Q9, Q10).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from mpi_operator.api.constants import REPLICA_INDEX_LABEL, CleanPodPolicy
from mpi_operator.api.types import MPIJob
from mpi_operator.controller import names, pod_template, spec
from mpi_operator.controller.options import ControllerOptions
from mpi_operator.kube.meta import JSON, is_controlled_by, is_deleting

DEFAULT_WORKER_COMMAND = ["/usr/sbin/sshd", "-De"]


def replica_index_label(job: MPIJob, index: int) -> str:
    """Worker i carries i, or i+1 with runLauncherAsWorker (the launcher owns index 0)."""
    return str(index + 1 if spec.run_launcher_as_worker(job) else index)


def desired_worker_pod(job: MPIJob, index: int, options: ControllerOptions) -> JSON:
    """Worker pod `index` built from a deep copy of the Worker template (§3.5), with a template hash."""
    worker = spec.worker_spec(job)
    meta, pod_spec = pod_template.copy_template(spec.template_of(worker))
    meta["labels"].update(names.role_labels(job, names.ROLE_WORKER))
    meta["labels"][REPLICA_INDEX_LABEL] = replica_index_label(job, index)
    pod_template.decorate_for_gang(meta, pod_spec, job, options)

    pod_template.set_host(pod_spec, job, names.worker_name(job, index))
    dns_config = pod_spec.get("dnsConfig") or {}
    # docs/decisions.md Q11: the search domain follows --cluster-domain (upstream hard-codes cluster.local).
    search = f"{names.service_name(job)}.{job.namespace}.svc.{options.dns_search_domain}"
    dns_config["searches"] = [*(dns_config.get("searches") or []), search]
    pod_spec["dnsConfig"] = dns_config
    if worker is not None:
        pod_spec["restartPolicy"] = spec.pod_restart_policy(worker)

    container = pod_template.first_container(pod_spec)
    if not container.get("command") and not container.get("args"):
        container["command"] = list(DEFAULT_WORKER_COMMAND)
    pod_template.append_env(container, [(names.ROLE_ENV, names.ROLE_WORKER)])
    pod_template.add_ssh_auth(pod_spec, job)

    pod: JSON = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            **names.object_meta(job, names.worker_name(job, index), meta["labels"]),
            "annotations": dict(meta.get("annotations") or {}),
        },
        "spec": pod_spec,
    }
    pod["metadata"]["annotations"][names.TEMPLATE_HASH_ANNOTATION] = pod_template.template_hash(pod)
    return pod


def pod_phase(pod: JSON) -> str:
    return str((pod.get("status") or {}).get("phase") or "")


def is_pod_ready(pod: JSON) -> bool:
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def all_ready(pods: Iterable[JSON]) -> bool:
    """WaitForWorkersReady gate: true for an empty list, as upstream."""
    return all(is_pod_ready(pod) for pod in pods)


def owned_workers(job: MPIJob, pods: Iterable[JSON]) -> list[JSON]:
    """Pods with the job's worker labels that this MPIJob controls."""
    uid, selector = names.job_uid(job), names.worker_selector(job)
    return [pod for pod in pods if names.labels_match(pod, selector) and is_controlled_by(pod, uid)]


def worker_index(job: MPIJob, pod: JSON) -> int | None:
    """The worker index from the replica-index label, undoing the runLauncherAsWorker shift; None if absent
    or unparsable."""
    raw = ((pod.get("metadata") or {}).get("labels") or {}).get(REPLICA_INDEX_LABEL)
    try:
        label = int(raw) if raw is not None else None
    except (TypeError, ValueError):
        return None
    if label is None:
        return None
    return label - 1 if spec.run_launcher_as_worker(job) else label


@dataclass
class ScaleDown:
    """Worker pods to delete (by name), and pods left alone because they carry no index label."""

    delete: list[str] = field(default_factory=list)
    unindexed: list[str] = field(default_factory=list)


def scale_down(job: MPIJob, pods: Iterable[JSON]) -> ScaleDown:
    """docs/decisions.md Q9/Q10: compare the worker index (not the shifted label) with replicas; a pod without an
    index is reported (for a Warning Event) and kept; only controlled, not-yet-terminating pods are named."""
    plan = ScaleDown()
    replicas = spec.worker_replicas(job)
    for pod in owned_workers(job, pods):
        if is_deleting(pod):
            continue
        name = str(pod["metadata"]["name"])
        labels = pod["metadata"].get("labels") or {}
        if REPLICA_INDEX_LABEL not in labels:
            plan.unindexed.append(name)
            continue
        index = worker_index(job, pod)
        if index is not None and index >= replicas:
            plan.delete.append(name)
    plan.delete.sort()
    plan.unindexed.sort()
    return plan


def workers_to_clean_up(job: MPIJob, pods: Iterable[JSON]) -> list[str]:
    """docs/decisions.md Q1: every controlled worker pod, any index; with cleanPodPolicy Running only those still
    Running or Pending (finished pods stay for inspection). Already-terminating pods are skipped."""
    only_live = spec.clean_pod_policy(job) == CleanPodPolicy.RUNNING
    return sorted(
        str(pod["metadata"]["name"])
        for pod in owned_workers(job, pods)
        if not is_deleting(pod) and (not only_live or pod_phase(pod) in ("Running", "Pending"))
    )


def worker_needs_replacement(existing: JSON, desired: JSON) -> bool:
    """docs/decisions.md Q13 for workers: the template hash changed and the pod has not started Running yet.
    Pods without our hash annotation (made by another version) are left alone."""
    have = ((existing.get("metadata") or {}).get("annotations") or {}).get(names.TEMPLATE_HASH_ANNOTATION)
    want = desired["metadata"]["annotations"][names.TEMPLATE_HASH_ANNOTATION]
    return have is not None and have != want and pod_phase(existing) in ("", "Pending") and not is_deleting(
        existing
    )
