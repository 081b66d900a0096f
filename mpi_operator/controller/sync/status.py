"""Writing the MPIJob status and what follows it: the Events and counters of its transitions.

Invariant: the status is written as a merge patch of the status subresource from the cached object, only when
it changed (#607, docs/decisions.md Q16); Events and counters fire after that write succeeded, once per transition
(docs/decisions.md Q17, Q18).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from mpi_operator.api.constants import JobConditionType
from mpi_operator.controller import conditions
from mpi_operator.controller import status as job_status
from mpi_operator.controller.sync.context import SyncContext
from mpi_operator.kube.mergepatch import merge_patch
from mpi_operator.kube.meta import JSON, metadata


async def write_status(ctx: SyncContext, cached: JSON, status: JSON) -> None:
    """`state` (the State column) is derived here, the one place every status passes through."""
    old = cached.get("status") or {}
    status = conditions.with_state(status)
    if old == status:
        return
    meta = metadata(cached)
    written = await ctx.mpijobs.patch_status(meta["name"], {"status": merge_patch(old, status)}, meta["namespace"])
    ctx.caches.mpijobs.assume(written)


def announce(ctx: SyncContext, cached: JSON, transitions: Iterable[job_status.Transition], status: JSON) -> None:
    """The Events and counters of transitions the written `status` records."""
    for transition in transitions:
        ctx.recorder.record(cached, transition.event_type, transition.reason, transition.message)
        _count(ctx, transition, status)


def _count(ctx: SyncContext, transition: job_status.Transition, status: JSON) -> None:
    metrics = ctx.metrics
    metric = transition.metric
    if metric is job_status.Metric.CREATED:
        metrics.jobs_created.inc()
    elif metric is job_status.Metric.SUCCESSFUL:
        metrics.jobs_successful.inc()
        _observe_duration(ctx, "succeeded", status)
    elif metric is job_status.Metric.FAILED:
        metrics.jobs_failed.inc()
        _observe_duration(ctx, "failed", status)
    if transition.reason == job_status.REASON_RUNNING:
        created = conditions.get_condition(status, JobConditionType.CREATED)
        running = conditions.get_condition(status, JobConditionType.RUNNING)
        seconds = _seconds_between(created, running)
        if seconds is not None:
            metrics.time_to_running.observe(seconds)


def _observe_duration(ctx: SyncContext, result: str, status: JSON) -> None:
    start, end = status.get("startTime"), status.get("completionTime")
    if start and end:
        seconds = (_parse_time(end) - _parse_time(start)).total_seconds()
        ctx.metrics.job_duration.labels(result=result).observe(max(seconds, 0.0))


def _parse_time(value: str) -> datetime:
    return datetime.strptime(value[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC)


def _seconds_between(first: JSON | None, second: JSON | None) -> float | None:
    if not first or not second or not first.get("lastTransitionTime") or not second.get("lastTransitionTime"):
        return None
    delta = _parse_time(second["lastTransitionTime"]) - _parse_time(first["lastTransitionTime"])
    return max(delta.total_seconds(), 0.0)
