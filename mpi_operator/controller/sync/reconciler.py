"""One MPIJob sync in upstream's order (behaviour spec §2.2) with the project's decisions: defaults, the
managedBy skip, deletion, validation (Event and condition), the finished path, Service, ConfigMap, Secret,
PodGroup, workers, launcher, suspend/resume, cleanup, status. Each step lives in its own module of this package.

Invariant: reads only the informer caches; a steady state writes nothing. `sync` returns what the workqueue
should do next (done, or requeue: "try again" is a value); a failure raises `StepFailed` naming its step.
Objects this MPIJob does not control are never touched (Warning `ErrResourceExists`, retry).
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable
from typing import Any

from mpi_operator.api.constants import CleanPodPolicy, ConditionStatus, JobConditionType
from mpi_operator.api.defaults import apply_defaults
from mpi_operator.api.types import MPIJob
from mpi_operator.api.validation import is_managed_externally, parse_mpijob, validate_mpijob, validation_message
from mpi_operator.controller import conditions, finalizer, launcher, names, reasons, spec
from mpi_operator.controller import status as job_status
from mpi_operator.controller.cache import Caches
from mpi_operator.controller.metrics import ControllerMetrics
from mpi_operator.controller.options import ControllerOptions
from mpi_operator.controller.sync import children, workers
from mpi_operator.controller.sync.context import SyncContext, utc_now
from mpi_operator.controller.sync.launcher import LauncherSync, create_launcher, set_launcher_suspend, sync_launcher
from mpi_operator.controller.sync.outcome import DONE, Result, step
from mpi_operator.controller.sync.status import announce, write_status
from mpi_operator.controller.sync.workers import Workers
from mpi_operator.kube.client import Client
from mpi_operator.kube.meta import JSON, is_deleting, split_key
from mpi_operator.kube.recorder import EventRecorder

log = logging.getLogger(__name__)


class Reconciler:
    def __init__(self, client: Client, caches: Caches, recorder: EventRecorder, options: ControllerOptions,
                 metrics: ControllerMetrics, now: Callable[[], str] = utc_now) -> None:
        self.ctx = SyncContext.build(client, caches, recorder, options, metrics, now)

    async def sync(self, key: str) -> Result:
        """Bring the children and status of MPIJob `key` (`<ns>/<name>`) in line."""
        if key.count("/") != 1:
            log.error("malformed key dropped", extra={"key": key})
            return DONE
        jobs = self.ctx.kinds.jobs
        cached = self.ctx.caches.mpijobs.store.get(key)
        if cached is None:
            namespace, name = split_key(key)
            with step("releasing the launcher finalizer of a deleted MPIJob"):
                await finalizer.release_orphaned(jobs, namespace, name, live_uid=None)
            return DONE
        job, parse_errors = parse_mpijob(cached)
        if job is None:
            with step("recording the validation failure"):
                await self._invalid(cached, parse_errors)
            return DONE
        job = apply_defaults(job)
        if is_managed_externally(job):
            return DONE
        if is_deleting(cached):
            with step("releasing the launcher finalizer of an MPIJob being deleted"):
                await finalizer.release(jobs, job, deleting=True)
            return DONE
        errors = [*parse_errors, *validate_mpijob(job)]
        if errors:
            with step("recording the validation failure"):
                await self._invalid(cached, errors)
            return DONE
        with step("releasing the launcher finalizer of an earlier MPIJob of this name"):
            await finalizer.release_orphaned(jobs, job.namespace, job.name, live_uid=names.job_uid(job))
        status: JSON = copy.deepcopy(cached.get("status") or {})
        conditions.remove_condition(status, JobConditionType.VALIDATION_FAILED)
        if conditions.is_finished(status) and status.get("completionTime"):
            with step("finishing"):
                await self._finish(cached, job, status)
            return DONE
        return await self._run(cached, job, status)

    # --- a valid MPIJob that has not finished -------------------------------------------------------------

    async def _run(self, cached: JSON, job: MPIJob, status: JSON) -> Result:
        with step("looking up the launcher Job"):
            launcher_job = self.ctx.kinds.jobs.get(job, names.launcher_name(job))
        pending: list[job_status.Transition] = []
        worker_pods: list[JSON] = []
        suspended = spec.is_suspended(job)
        if not launcher.is_launcher_done(launcher_job):
            synced = await self._children(job, suspended)
            if synced.stop is not None:
                return synced.stop
            worker_pods = synced.pods
            outcome = await self._launcher(cached, job, launcher_job, worker_pods)
            if outcome.stop is not None:
                return outcome.stop
            launcher_job = outcome.job
            pending = self._deferral(status, outcome.deferred)
        if suspended:
            with step("cleaning up the workers of a suspended MPIJob"):
                await workers.clean_up(self.ctx, job)
        await self._status(cached, job, status, launcher_job, worker_pods, pending)
        return DONE

    async def _children(self, job: MPIJob, suspended: bool) -> Workers:
        """Service, ConfigMap, Secret; unless suspended, the PodGroup and the worker pods."""
        for what, ensure in (("Service", children.ensure_service), ("ConfigMap", children.ensure_configmap),
                             ("Secret", children.ensure_secret)):
            with step(f"syncing the {what}"):
                if (stop := await ensure(self.ctx, job)) is not None:
                    return Workers(stop=stop)
        if suspended:
            return Workers()
        with step("syncing the PodGroup"):
            if (stop := await children.ensure_podgroup(self.ctx, job)) is not None:
                return Workers(stop=stop)
        with step("syncing the worker pods"):
            return await workers.ensure_workers(self.ctx, job)

    async def _launcher(self, cached: JSON, job: MPIJob, existing: JSON | None, worker_pods: list[JSON]
                        ) -> LauncherSync:
        if existing is not None:
            with step("syncing the launcher Job"):
                return await sync_launcher(self.ctx, job, existing, worker_pods)
        # A suspended MPIJob's launcher Job is created at once, suspended; otherwise the gate decides (Q8).
        if not spec.is_suspended(job) and not launcher.launcher_may_run(job, worker_pods):
            return LauncherSync(None)
        with step("creating the launcher Job"):
            return await create_launcher(self.ctx, cached, job)

    def _deferral(self, status: JSON, deferred: bool | None) -> list[job_status.Transition]:
        """The LauncherTemplateChangeDeferred condition on `status` (our copy), and its Warning on the
        transition only (docs/decisions.md Q13)."""
        condition = reasons.CONDITION_TEMPLATE_CHANGE_DEFERRED
        if deferred is None:
            return []
        if not deferred:
            conditions.remove_condition(status, condition)
            return []
        if conditions.get_condition(status, condition) is not None:
            return []
        message = reasons.MESSAGE_TEMPLATE_CHANGE_DEFERRED
        conditions.set_condition(status, condition, ConditionStatus.TRUE, reasons.REASON_TEMPLATE_CHANGE_DEFERRED,
                                 message, self.ctx.now())
        return [job_status.Transition(reasons.WARNING, reasons.REASON_TEMPLATE_CHANGE_DEFERRED, message)]

    async def _status(self, cached: JSON, job: MPIJob, status: JSON, launcher_job: JSON | None,
                      worker_pods: list[JSON], pending: list[job_status.Transition]) -> None:
        """Compute and write the status, then announce its transitions; finish a job that just ended."""
        ctx = self.ctx
        job_for_status = MPIJob.model_validate({**job.model_copy(update={"status": None}).to_dict(),
                                                "status": status})
        update = job_status.compute_status(job_for_status, launcher_job, self._launcher_pods(job), worker_pods,
                                           ctx.now())
        if launcher_job is not None and launcher.should_suspend_after_failure(job, update.status, launcher_job):
            with step("suspending the launcher Job of a failed MPIJob"):
                # docs/decisions.md Q21: a job failed for good stops its launcher (pods go, the Job stays).
                await set_launcher_suspend(ctx, launcher_job, True)
                await workers.clean_up(ctx, job)
        if update.launcher_seen:
            ctx.metrics.job_info.labels(launcher=names.launcher_name(job), namespace=job.namespace).set(1)
        with step("writing the status"):
            await write_status(ctx, cached, update.status)
        announce(ctx, cached, [*pending, *update.transitions], update.status)
        if conditions.is_finished(update.status) and update.status.get("completionTime"):
            # Finish now, not on the watch event of our own status write: after a watch cut and a relist that
            # event never comes (the cache already holds the version we wrote, so the relist sees no change).
            with step("finishing"):
                await self._finish({**cached, "status": update.status}, job, copy.deepcopy(update.status))

    def _launcher_pods(self, job: MPIJob) -> list[JSON]:
        launcher_job = self.ctx.kinds.jobs.cached(job.namespace, names.launcher_name(job))
        if launcher_job is None:
            return []
        return self.ctx.caches.pods.store.by_controller(str(launcher_job["metadata"].get("uid")))

    # --- validation and the finished path -----------------------------------------------------------------

    async def _invalid(self, cached: JSON, errors: list[Any]) -> None:
        """docs/decisions.md Q2: a Warning Event and a `ValidationFailed` condition naming every field error; the Event
        is emitted when the error list changes, not on every sync."""
        message = validation_message(errors)
        status: JSON = copy.deepcopy(cached.get("status") or {})
        previous = conditions.get_condition(status, JobConditionType.VALIDATION_FAILED)
        conditions.set_condition(status, JobConditionType.VALIDATION_FAILED, ConditionStatus.TRUE,
                                 reasons.REASON_VALIDATION_ERROR, message, self.ctx.now())
        if previous is None or previous.get("message") != message:
            self.ctx.recorder.warning(cached, reasons.REASON_VALIDATION_ERROR, message)
        await write_status(self.ctx, cached, status)

    async def _finish(self, cached: JSON, job: MPIJob, status: JSON) -> None:
        """Release the launcher finalizer, apply cleanPodPolicy, write the status (only when it changed, Q16)."""
        await finalizer.release(self.ctx.kinds.jobs, job, deleting=False, status=status)
        if spec.clean_pod_policy(job) in (CleanPodPolicy.ALL, CleanPodPolicy.RUNNING):
            await workers.clean_up(self.ctx, job)
            status = job_status.status_after_cleanup(status)
        await write_status(self.ctx, cached, status)
