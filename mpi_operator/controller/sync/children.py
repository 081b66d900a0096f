"""The MPIJob's supporting objects, each brought in line with its pure builder: the headless Service, the
ConfigMap (hostfile, discover_hosts.sh), the SSH Secret and, with gang scheduling, the PodGroup.

Invariant: create when absent, write only what drifted (Service selector and publishNotReadyAddresses,
ConfigMap data, PodGroup fields we own, docs/decisions.md Q27); SSH keys are generated only when the Secret is made or
its key set is wrong (docs/decisions.md Q15).
"""

from __future__ import annotations

from mpi_operator.api.types import MPIJob
from mpi_operator.controller import configmap, names, podgroup, service, ssh, worker
from mpi_operator.controller.sync.context import SyncContext
from mpi_operator.controller.sync.outcome import Result, requeue
from mpi_operator.kube.mergepatch import merge_patch
from mpi_operator.kube.meta import JSON


def service_drift(existing: JSON, desired: JSON) -> JSON | None:
    drift = service.service_spec_patch(existing, desired)
    if drift is None:
        return None
    # A merge patch merges maps: extra selector keys must be nulled explicitly to go away.
    have = existing.get("spec") or {}
    return {"spec": merge_patch({k: have.get(k) for k in drift["spec"]}, drift["spec"])}


def configmap_drift(existing: JSON, desired: JSON) -> JSON | None:
    if not configmap.configmap_data_differs(existing, desired):
        return None
    return {"data": merge_patch(existing.get("data") or {}, desired["data"])}


async def ensure_service(ctx: SyncContext, job: MPIJob) -> Result | None:
    return await ctx.kinds.services.ensure(job, service.desired_service(job), service_drift)


async def ensure_configmap(ctx: SyncContext, job: MPIJob) -> Result | None:
    # The job's own workers (an index lookup), never a scan of every pod in the namespace.
    pods = worker.owned_workers(job, ctx.caches.pods.store.by_controller(names.job_uid(job)))
    return await ctx.kinds.configmaps.ensure(job, configmap.desired_configmap(job, ctx.options, pods),
                                             configmap_drift)


async def ensure_secret(ctx: SyncContext, job: MPIJob) -> Result | None:
    secrets = ctx.kinds.secrets
    existing = secrets.get(job, names.secret_name(job))
    if existing is not None and not ssh.secret_needs_new_keys(existing):
        return None
    desired = ssh.desired_secret(job, ssh.generate_ssh_key_pair())
    if existing is None:
        if await secrets.create(desired) is None:
            return requeue(f"secrets {names.secret_name(job)} exists already")
        return None
    # A whole-object update (the ClusterRole grants Secrets `update`, not `patch`): the key set is replaced.
    await secrets.update({**existing, "data": desired["data"], "type": existing.get("type", desired["type"])})
    return None


async def ensure_podgroup(ctx: SyncContext, job: MPIJob) -> Result | None:
    podgroups = ctx.kinds.podgroups
    desired = podgroup.desired_podgroup(job, ctx.options, ctx.caches.priority_values())
    if podgroups is None or desired is None:  # gang scheduling is off
        return None
    return await podgroups.ensure(job, desired, podgroup.podgroup_spec_patch)
