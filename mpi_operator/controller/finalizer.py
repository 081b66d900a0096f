"""The launcher Job's finalizer, its whole life (docs/decisions.md Q31): a finished job never runs again because its
launcher Job, and so its result, cannot vanish before the MPIJob's status has recorded that result.

Put on the launcher Job when it is built (`launcher.desired_launcher_job`); released when the status records a
terminal result, when the MPIJob is being deleted, when the launcher Job is deleted by hand before its result,
and when the MPIJob the launcher names is gone or replaced by a new one of the same name (an orphan: garbage
collection could never remove it, and the new MPIJob would wait for it forever). An orphan's events are mapped
to its MPIJob's key (`orphaned_launcher_key`) so that sync releases it.
"""

from __future__ import annotations

import contextlib

from mpi_operator.api.constants import API_VERSION, KIND
from mpi_operator.api.types import MPIJob
from mpi_operator.controller import conditions, names
from mpi_operator.controller.sync.owned import OwnedKind
from mpi_operator.kube.errors import NotFound
from mpi_operator.kube.meta import (
    JSON,
    controller_reference,
    finalizer_removal_patch,
    has_finalizer,
    is_controlled_by,
    metadata,
)

LAUNCHER_FINALIZER = "kubeflow.org/mpi-operator-launcher"


def has_launcher_finalizer(launcher: JSON) -> bool:
    return has_finalizer(launcher, LAUNCHER_FINALIZER)


def launcher_finalizer_releasable(launcher: JSON, mpijob_status: JSON, mpijob_deleting: bool) -> bool:
    """Drop the finalizer once the MPIJob status records a terminal result (Succeeded/Failed with
    completionTime), or when the MPIJob itself is going away."""
    if not has_launcher_finalizer(launcher):
        return False
    if mpijob_deleting:
        return True
    return conditions.is_finished(mpijob_status) and bool(mpijob_status.get("completionTime"))


def orphaned_launcher_key(obj: JSON) -> str | None:
    """The key of the MPIJob named by a launcher Job that still carries our finalizer, even when that MPIJob is
    no longer cached (deleted): its sync must release the finalizer."""
    if not has_launcher_finalizer(obj):
        return None
    ref = controller_reference(obj)
    if ref is None or ref.get("kind") != KIND or ref.get("apiVersion") != API_VERSION:
        return None
    return f"{metadata(obj).get('namespace') or ''}/{ref.get('name')}"


async def remove(jobs: OwnedKind, launcher: JSON) -> None:
    """Remove our finalizer from `launcher` (a no-op without it, or when the Job is gone)."""
    if not has_launcher_finalizer(launcher):
        return
    with contextlib.suppress(NotFound):
        await jobs.patch(launcher, finalizer_removal_patch(launcher, LAUNCHER_FINALIZER))


async def release(jobs: OwnedKind, job: MPIJob, deleting: bool, status: JSON | None = None) -> None:
    """Release the finalizer of `job`'s launcher Job once `status` records its result, or the MPIJob goes."""
    existing = jobs.cached(job.namespace, names.launcher_name(job))
    if existing is None or not is_controlled_by(existing, names.job_uid(job)):
        return
    if launcher_finalizer_releasable(existing, status or {}, deleting):
        await remove(jobs, existing)


async def release_orphaned(jobs: OwnedKind, namespace: str, name: str, live_uid: str | None) -> None:
    """Release the finalizer of the launcher Job of MPIJob `name` when that Job belongs to no live MPIJob
    (`live_uid`: the uid of the MPIJob cached under that name now, None when there is none)."""
    existing = jobs.cached(namespace, names.launcher_name_for(name))
    if existing is None or not has_launcher_finalizer(existing):
        return
    ref = controller_reference(existing)
    if ref is None or ref.get("kind") != KIND or ref.get("uid") == live_uid:
        return
    await remove(jobs, existing)
