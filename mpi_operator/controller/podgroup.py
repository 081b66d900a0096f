"""PodGroups for gang scheduling (Volcano or scheduler-plugins): the desired object, its minMember and
minResources, and the merge patch of the fields this operator owns (docs/decisions.md Q27).

Invariant: pure; PriorityClass values come in as a name -> value mapping read from the cache.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mpi_operator.api.constants import ReplicaType
from mpi_operator.api.types import MPIJob
from mpi_operator.controller import names, spec
from mpi_operator.controller.options import ControllerOptions, GangScheduler
from mpi_operator.controller.quantity import Quantity, QuantityError, canonical, parse_quantity, same_quantity
from mpi_operator.kube.meta import JSON

log = logging.getLogger(__name__)

VOLCANO_API_VERSION = "scheduling.volcano.sh/v1beta1"
SCHEDULER_PLUGINS_API_VERSION = "scheduling.x-k8s.io/v1alpha1"
POD_GROUP_KIND = "PodGroup"


def launcher_in_gang(job: MPIJob) -> bool:
    """docs/decisions.md Q29: with WaitForWorkersReady the launcher starts after the workers, so the default gang
    is the workers alone (counting the launcher could deadlock a strict gang scheduler). An explicit
    minAvailable keeps upstream's accounting."""
    policy = spec.scheduling_policy(job)
    if policy is not None and policy.min_available is not None:
        return True
    return not (spec.waits_for_workers_ready(job) and spec.worker_replicas(job) > 0)


def min_member(job: MPIJob) -> int:
    policy = spec.scheduling_policy(job)
    if policy is not None and policy.min_available is not None:
        return policy.min_available
    return spec.worker_replicas(job) + (1 if launcher_in_gang(job) else 0)


@dataclass
class _Entry:
    replica_type: str
    priority: int
    replicas: int
    template: JSON


def _container_requests(container: JSON) -> dict[str, Any]:
    """Requests, plus limits for names without a request."""
    resources = container.get("resources") or {}
    merged = dict(resources.get("requests") or {})
    for name, value in (resources.get("limits") or {}).items():
        merged.setdefault(name, value)
    return merged


def min_resources(job: MPIJob, members: int, priority_classes: Mapping[str, int]) -> dict[str, str] | None:
    """§3.7: explicit schedulingPolicy.minResources verbatim; none when the gang is empty; otherwise the
    priority-ordered sum with the lower-priority replica count reduced to `members - 1` when the two
    highest entries exceed the gang."""
    policy = spec.scheduling_policy(job)
    if policy is not None and policy.min_resources is not None:
        return {name: canonical(value) for name, value in policy.min_resources.items()}
    if members == 0:
        return None
    entries: list[_Entry] = []
    for replica_type, replica in (job.spec.mpi_replica_specs or {}).items():
        if replica_type == ReplicaType.LAUNCHER and not launcher_in_gang(job):
            continue
        class_name = (replica.template.get("spec") or {}).get("priorityClassName") or ""
        priority = 0
        if class_name:
            if class_name in priority_classes:
                priority = priority_classes[class_name]
            else:
                log.warning("MPIJob %s/%s: PriorityClass %r not found, priority 0", job.namespace, job.name,
                            class_name)
        entries.append(_Entry(replica_type, priority, replica.replicas or 0, replica.template))
    if not entries:
        return {}
    entries.sort(key=lambda e: -e.priority)  # stable: ties keep spec order
    total = entries[0].replicas + (entries[1].replicas if len(entries) > 1 else 0)
    if total > members and len(entries) > 1:
        if entries[0].priority == entries[1].priority:
            # Equal priorities: the workers are the ones the gang can do without.
            workers = [e for e in entries if e.replica_type == ReplicaType.WORKER]
            if not workers:
                log.warning("MPIJob %s/%s: no Worker replicas for minResources", job.namespace, job.name)
                return None
            workers[0].replicas = members - 1
        else:
            entries[1].replicas = members - 1
    sums: dict[str, Quantity] = {}
    for entry in entries:
        for container in (entry.template.get("spec") or {}).get("containers") or []:
            for name, raw in _container_requests(container).items():
                try:
                    amount = parse_quantity(raw) * entry.replicas
                except QuantityError:
                    log.warning("MPIJob %s/%s: bad quantity %r for %s", job.namespace, job.name, raw, name)
                    continue
                sums[name] = sums[name] + amount if name in sums else amount
    return {name: str(total_amount) for name, total_amount in sums.items()}


def volcano_priority_class(job: MPIJob) -> str:
    policy = spec.scheduling_policy(job)
    candidates = [
        policy.priority_class if policy is not None else None,
        (spec.template_of(spec.launcher_spec(job)).get("spec") or {}).get("priorityClassName"),
        (spec.template_of(spec.worker_spec(job)).get("spec") or {}).get("priorityClassName"),
    ]
    return next((c for c in candidates if c), "")


def volcano_queue(job: MPIJob) -> str:
    policy = spec.scheduling_policy(job)
    if policy is not None and policy.queue:
        return policy.queue
    return str((job.metadata.get("annotations") or {}).get(names.VOLCANO_QUEUE_ANNOTATION) or "")


def desired_podgroup(job: MPIJob, options: ControllerOptions, priority_classes: Mapping[str, int]) -> JSON | None:
    """The PodGroup `<name>` for the configured gang scheduler, or None when gang scheduling is off."""
    scheduler = options.gang_scheduler
    if scheduler is GangScheduler.NONE:
        return None
    members = min_member(job)
    resources = min_resources(job, members, priority_classes)
    pg_spec: JSON = {"minMember": members}
    if scheduler is GangScheduler.VOLCANO:
        api_version = VOLCANO_API_VERSION
        if queue := volcano_queue(job):
            pg_spec["queue"] = queue
        if priority_class := volcano_priority_class(job):
            pg_spec["priorityClassName"] = priority_class
        if resources is not None:
            pg_spec["minResources"] = resources
    else:
        api_version = SCHEDULER_PLUGINS_API_VERSION
        policy = spec.scheduling_policy(job)
        timeout = policy.schedule_timeout_seconds if policy is not None else None
        pg_spec["scheduleTimeoutSeconds"] = timeout or 0
        if resources:
            pg_spec["minResources"] = resources
    return {
        "apiVersion": api_version,
        "kind": POD_GROUP_KIND,
        "metadata": names.object_meta(job, names.podgroup_name(job)),
        "spec": pg_spec,
    }


def _same_resources(have: Any, want: Mapping[str, str]) -> bool:
    if not isinstance(have, Mapping) or set(have) != set(want):
        return False
    return all(same_quantity(have[name], want[name]) for name in want)


def podgroup_spec_patch(existing: JSON, desired: JSON) -> JSON | None:
    """A JSON merge patch of only the spec fields the desired PodGroup sets, when they differ (quantities
    by value); fields the scheduler added or defaulted are left alone. None when nothing differs."""
    have = existing.get("spec") or {}
    patch: JSON = {}
    for key, want in desired["spec"].items():
        if key == "minResources":
            if not _same_resources(have.get(key), want):
                stale = {name: None for name in (have.get(key) or {}) if name not in want}
                patch[key] = {**stale, **want}
        elif have.get(key) != want:
            patch[key] = want
    return {"spec": patch} if patch else None
