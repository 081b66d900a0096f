"""Worker pods `<name>-worker-<i>`: scale-down, creation of the missing ones (concurrently, bounded),
replacement of not-yet-running ones whose template changed, and cleanup per cleanPodPolicy.

Invariant: only pods this MPIJob controls are deleted (docs/decisions.md Q1, Q9, Q10); a pod without an index label is
left alone with one Warning per pod; no write is left running behind a failure (all run, then the first raises).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from dataclasses import dataclass, field

from mpi_operator.api.constants import REPLICA_INDEX_LABEL
from mpi_operator.api.types import MPIJob
from mpi_operator.controller import names, reasons, spec, worker
from mpi_operator.controller.sync.context import SyncContext
from mpi_operator.controller.sync.outcome import ResourceConflict, Result, requeue
from mpi_operator.controller.sync.owned import job_ref
from mpi_operator.kube.meta import JSON, is_deleting

# Worker pods of one job are created concurrently, within this bound.
WORKER_CREATE_CONCURRENCY = 16
# Worker pods without an index label already warned about (uids); a bound, as pods come and go.
WARNED_UNINDEXED_LIMIT = 4096


@dataclass
class Workers:
    """The worker pods after this step (index order, those that exist), and whether the sync must stop."""

    pods: list[JSON] = field(default_factory=list)
    stop: Result | None = None


def worker_pods(ctx: SyncContext, job: MPIJob) -> list[JSON]:
    return worker.owned_workers(job, ctx.caches.pods.store.by_controller(names.job_uid(job)))


async def ensure_workers(ctx: SyncContext, job: MPIJob) -> Workers:
    if spec.worker_spec(job) is None:
        return Workers()
    plan = worker.scale_down(job, worker_pods(ctx, job))
    _warn_unindexed(ctx, job, plan.unindexed)
    await delete_pods(ctx, job.namespace, plan.delete)

    replicas = spec.worker_replicas(job)
    result: list[JSON | None] = [None] * replicas
    to_create: list[tuple[int, JSON]] = []
    to_replace: list[str] = []
    for index in range(replicas):
        desired = worker.desired_worker_pod(job, index, ctx.options)
        existing = ctx.kinds.pods.get(job, desired["metadata"]["name"])
        if existing is None:
            to_create.append((index, desired))
            continue
        if worker.worker_needs_replacement(existing, desired):
            to_replace.append(desired["metadata"]["name"])  # docs/decisions.md Q13: not Running yet
        result[index] = existing
    await delete_pods(ctx, job.namespace, to_replace)

    exists_already = await _create_pods(ctx, job, to_create, result)
    pods = [pod for pod in result if pod is not None]
    return Workers(pods, requeue(f"pods {exists_already[0]} exists already") if exists_already else None)


def _warn_unindexed(ctx: SyncContext, job: MPIJob, pod_names: list[str]) -> None:
    for name in pod_names:
        # Said once per pod (by uid), not on every sync: a steady state writes nothing, Events included.
        pod_uid = str(((ctx.kinds.pods.cached(job.namespace, name) or {}).get("metadata") or {}).get("uid"))
        if pod_uid in ctx.warned_unindexed:
            continue
        if len(ctx.warned_unindexed) >= WARNED_UNINDEXED_LIMIT:
            ctx.warned_unindexed.clear()
        ctx.warned_unindexed.add(pod_uid)
        ctx.recorder.warning(job_ref(job), reasons.REASON_WORKER_WITHOUT_INDEX,
                             reasons.worker_without_index_message(name, REPLICA_INDEX_LABEL))


async def _create_pods(ctx: SyncContext, job: MPIJob, to_create: list[tuple[int, JSON]],
                       result: list[JSON | None]) -> list[str]:
    """Create the pods concurrently into `result[index]`; the names that existed already (stale cache)."""
    semaphore = asyncio.Semaphore(WORKER_CREATE_CONCURRENCY)
    exists_already: list[str] = []

    async def create(index: int, pod: JSON) -> None:
        async with semaphore:
            try:
                created = await ctx.kinds.pods.create(pod)
            except ResourceConflict:
                raise
            except Exception as exc:
                ctx.recorder.warning(job_ref(job), reasons.REASON_CREATE_FAILED,
                                     reasons.worker_create_failed_message(exc))
                raise
            if created is None:
                exists_already.append(pod["metadata"]["name"])
            result[index] = created

    await gather_all([create(i, pod) for i, pod in to_create])
    return sorted(exists_already)


async def delete_pods(ctx: SyncContext, namespace: str, pod_names: list[str]) -> None:
    await gather_all([ctx.kinds.pods.delete(namespace, name) for name in pod_names])


async def clean_up(ctx: SyncContext, job: MPIJob) -> None:
    """Delete worker pods per cleanPodPolicy (every controlled worker, docs/decisions.md Q1) and the PodGroup."""
    await delete_pods(ctx, job.namespace, worker.workers_to_clean_up(job, worker_pods(ctx, job)))
    podgroups = ctx.kinds.podgroups
    if podgroups is not None:
        existing = podgroups.get(job, names.podgroup_name(job))
        if existing is not None and not is_deleting(existing):
            await podgroups.delete(job.namespace, existing["metadata"]["name"])


async def gather_all(coroutines: list[Awaitable[None]]) -> None:
    """Run all, wait for all, then raise the first failure (no write is left running behind a raise)."""
    if not coroutines:
        return
    results = await asyncio.gather(*coroutines, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result
