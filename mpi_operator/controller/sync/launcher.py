"""The launcher Job `<name>-launcher`: created when the gate allows (AtStartup, or every worker Ready), then
kept in line: a Launcher template change replaces a Job that has not started (or is suspended) and is deferred
for a running one (docs/decisions.md Q13); suspend and resume follow the MPIJob, resume waiting for Ready workers too
(docs/decisions.md Q8); a job failed for good suspends a launcher still going (docs/decisions.md Q21).

Invariant: the restart-policy Warning is emitted once per Job creation (docs/decisions.md Q41); the finalizer's rules
are `finalizer.py`'s.
"""

from __future__ import annotations

from dataclasses import dataclass

from mpi_operator.api.types import MPIJob
from mpi_operator.controller import finalizer, launcher, reasons, spec
from mpi_operator.controller.sync.context import SyncContext
from mpi_operator.controller.sync.outcome import ResourceConflict, Result, requeue
from mpi_operator.kube.meta import JSON, is_deleting, metadata


@dataclass
class LauncherSync:
    """The launcher Job after this step; `deferred`: whether a template change waits for the next run (None:
    not judged, the condition stays as it is); `stop`: the sync ends here with this result."""

    job: JSON | None
    deferred: bool | None = None
    stop: Result | None = None


async def create_launcher(ctx: SyncContext, cached: JSON, job: MPIJob) -> LauncherSync:
    build = launcher.desired_launcher_job(job, ctx.options)
    try:
        created = await ctx.kinds.jobs.create(build.job)
    except ResourceConflict:
        raise
    except Exception as exc:
        ctx.recorder.warning(cached, reasons.REASON_CREATE_FAILED, reasons.launcher_create_failed_message(exc))
        raise
    if created is None:
        return LauncherSync(None, stop=requeue(f"jobs {build.job['metadata']['name']} exists already"))
    if build.restart_policy_overridden:
        ctx.recorder.warning(cached, reasons.REASON_RESTART_POLICY_OVERRIDDEN,
                             reasons.MESSAGE_RESTART_POLICY_OVERRIDDEN)
    return LauncherSync(created)


async def sync_launcher(ctx: SyncContext, job: MPIJob, existing: JSON, workers: list[JSON]) -> LauncherSync:
    """Replace or defer a launcher template change, then suspend or resume the launcher Job."""
    if is_deleting(existing):
        # Deleted by hand before its result (upstream's documented way to apply a launcher change): our
        # finalizer protects recorded results only, so let it go; it is created anew once gone.
        await finalizer.remove(ctx.kinds.jobs, existing)
        return LauncherSync(existing)
    suspended = spec.is_suspended(job)
    launcher_suspended = bool((existing.get("spec") or {}).get("suspend"))
    build = launcher.desired_launcher_job(job, ctx.options)
    # A suspended launcher Job runs no pod: replacing it is as safe as for a suspended MPIJob, and on a resume
    # with an edited template (Kueue's admission) the whole new template applies, not only the directives.
    change = launcher.launcher_template_change(existing, build.job, suspended or launcher_suspended)
    if change is launcher.TemplateChange.REPLACE:
        await delete_launcher(ctx, existing)
        return LauncherSync(None, stop=requeue("launcher Job replaced after a template change"))
    deferred = change is launcher.TemplateChange.DEFERRED
    if not suspended and launcher_suspended:
        if not launcher.launcher_may_run(job, workers):
            return LauncherSync(existing, deferred)  # docs/decisions.md Q8: resume waits for Ready workers too
        return LauncherSync(await resume_launcher(ctx, existing, build.job), deferred)
    if suspended and not launcher_suspended:
        return LauncherSync(await set_launcher_suspend(ctx, existing, True), deferred)
    return LauncherSync(existing, deferred)


async def delete_launcher(ctx: SyncContext, existing: JSON) -> None:
    meta = metadata(existing)
    await finalizer.remove(ctx.kinds.jobs, existing)
    await ctx.kinds.jobs.delete(meta["namespace"], meta["name"], propagation_policy="Background")


async def resume_launcher(ctx: SyncContext, existing: JSON, desired: JSON) -> JSON:
    current = existing
    if (existing.get("status") or {}).get("startTime"):
        # A Job whose startTime is set cannot be unsuspended with a changed template: clear it first.
        meta = metadata(existing)
        current = await ctx.kinds.jobs.resource.patch_status(meta["name"], {"status": {"startTime": None}},
                                                             meta["namespace"])
    resumed = launcher.sync_scheduling_directives(current, desired)
    resumed["spec"]["suspend"] = False
    return await ctx.kinds.jobs.update(resumed)


async def set_launcher_suspend(ctx: SyncContext, existing: JSON, value: bool) -> JSON:
    return await ctx.kinds.jobs.patch(existing, {"spec": {"suspend": value}})
