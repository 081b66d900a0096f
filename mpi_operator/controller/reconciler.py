"""One MPIJob sync: read the caches, build the desired objects with the pure builders, write what differs.

The order is upstream's (behaviour spec §2.2) with the decisions applied: defaults, managedBy skip, deletion,
validation (Event and condition), finished path, Service, ConfigMap, Secret, PodGroup, workers, launcher,
suspend/resume, cleanup, status. Invariant: reads only the informer caches; a steady state writes nothing.
Objects this MPIJob does not control are never touched (Warning `ErrResourceExists`, retry).
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from mpi_operator.api.constants import REPLICA_INDEX_LABEL, CleanPodPolicy, ConditionStatus, JobConditionType
from mpi_operator.api.defaults import apply_defaults
from mpi_operator.api.types import MPIJob
from mpi_operator.api.validation import is_managed_externally, parse_mpijob, validate_mpijob, validation_message
from mpi_operator.controller import (
    conditions,
    configmap,
    launcher,
    names,
    podgroup,
    reasons,
    service,
    spec,
    ssh,
    worker,
)
from mpi_operator.controller import status as job_status
from mpi_operator.controller.cache import MPIJOBS, Caches
from mpi_operator.controller.metrics import CONTROLLER, ControllerMetrics
from mpi_operator.controller.options import ControllerOptions
from mpi_operator.kube.client import Client
from mpi_operator.kube.errors import AlreadyExists, Conflict, NotFound
from mpi_operator.kube.informer import Informer
from mpi_operator.kube.mergepatch import merge_patch
from mpi_operator.kube.meta import JSON
from mpi_operator.kube.recorder import EventRecorder
from mpi_operator.kube.resource import CONFIGMAPS, JOBS, PODS, SECRETS, SERVICES, Resource

log = logging.getLogger(__name__)

# Worker pods of one job are created concurrently, within this bound.
WORKER_CREATE_CONCURRENCY = 16
REASON_INVALID_SPEC = "ValidationError"
REASON_TEMPLATE_CHANGE_DEFERRED = "LauncherTemplateChangeDeferred"
# decisions Q13: True while the running launcher Job was built from an older Launcher template.
CONDITION_TEMPLATE_CHANGE_DEFERRED = "LauncherTemplateChangeDeferred"
MESSAGE_TEMPLATE_CHANGE_DEFERRED = ("The Launcher template changed while the launcher is running; the change "
                                    "applies to the next run of this MPIJob")
STATUS_CONFLICT_RETRIES = 3
# Worker pods without an index label already warned about (uids); a bound, as pods come and go.
WARNED_UNINDEXED_LIMIT = 4096


def utc_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class ResourceConflict(Exception):
    """A child object of the expected name exists but is not controlled by this MPIJob."""


class Requeue(Exception):
    """Not an error: the sync stopped early and wants to run again (rate-limited)."""


def remember(informer: Informer, obj: JSON) -> None:
    informer.assume(obj)


def forget(informer: Informer, namespace: str, name: str) -> None:
    informer.assume_deleted(f"{namespace}/{name}")


class Reconciler:
    def __init__(self, client: Client, caches: Caches, recorder: EventRecorder, options: ControllerOptions,
                 metrics: ControllerMetrics, now: Callable[[], str] = utc_now) -> None:
        self.caches = caches
        self.recorder = recorder
        self.options = options
        self.metrics = metrics
        self.now = now
        self._warned_unindexed: set[str] = set()
        self.mpijobs: Resource = client.resource(MPIJOBS)
        self.pods: Resource = client.resource(PODS)
        self.jobs: Resource = client.resource(JOBS)
        self.services: Resource = client.resource(SERVICES)
        self.configmaps: Resource = client.resource(CONFIGMAPS)
        self.secrets: Resource = client.resource(SECRETS)
        self.podgroups: Resource | None = (client.resource(caches.podgroups.resource.type)
                                           if caches.podgroups is not None else None)

    # --- entry point --------------------------------------------------------------------------------------

    async def sync(self, key: str) -> None:
        """Bring the children and status of MPIJob `key` (`<ns>/<name>`) in line. Raises to be retried."""
        if key.count("/") != 1:
            log.error("malformed key dropped", extra={"key": key})
            return
        cached = self.caches.mpijobs.store.get(key)
        if cached is None:
            namespace, name = key.split("/")
            await self._release_orphaned_launcher(namespace, name, live_uid=None)
            return
        job, parse_errors = parse_mpijob(cached)
        if job is None:
            await self._invalid(cached, parse_errors)
            return
        job = apply_defaults(job)
        if is_managed_externally(job):
            return
        if (cached.get("metadata") or {}).get("deletionTimestamp"):
            await self._release_launcher_finalizer(job, deleting=True)
            return
        errors = [*parse_errors, *validate_mpijob(job)]
        if errors:
            await self._invalid(cached, errors)
            return

        await self._release_orphaned_launcher(job.namespace, job.name, live_uid=names.job_uid(job))
        status: JSON = copy.deepcopy(cached.get("status") or {})
        if conditions.get_condition(status, JobConditionType.VALIDATION_FAILED) is not None:
            conditions.remove_condition(status, JobConditionType.VALIDATION_FAILED)

        if conditions.is_finished(status) and status.get("completionTime"):
            await self._finished(cached, job, status)
            return

        launcher_job = self._controlled(self.caches.jobs, job, names.launcher_name(job), "Job")
        done = launcher.is_launcher_done(launcher_job)
        pending: list[job_status.Transition] = []
        workers: list[JSON] = []
        suspended = spec.is_suspended(job)
        if not done:
            await self._ensure_service(job)
            await self._ensure_configmap(job)
            await self._ensure_secret(job)
            if not suspended:
                if self.podgroups is not None:
                    await self._ensure_podgroup(job)
                workers = await self._ensure_workers(job)
            if launcher_job is None:
                if (not spec.waits_for_workers_ready(job) or suspended
                        or (worker.all_ready(workers) and len(workers) == spec.worker_replicas(job))):
                    launcher_job = await self._create_launcher(cached, job)
            else:
                launcher_job = await self._sync_launcher(job, launcher_job, workers, status, pending)
        if suspended:
            await self._clean_up_workers(job, policy_override=None)

        job_for_status = job.model_copy(update={"status": None})
        job_for_status_dict = {**job_for_status.to_dict(), "status": status}
        update = job_status.compute_status(MPIJob.model_validate(job_for_status_dict), launcher_job,
                                           self._launcher_pods(job), workers, self.now())
        if launcher.should_suspend_after_failure(job, update.status, launcher_job) and launcher_job is not None:
            # decisions Q21: a job failed for good stops its launcher (pods go, the Job stays).
            await self._set_launcher_suspend(launcher_job, True)
            await self._clean_up_workers(job, policy_override=None)
        if update.launcher_seen:
            self.metrics.job_info.labels(launcher=names.launcher_name(job), namespace=job.namespace).set(1)
        await self._write_status(cached, update.status)
        for transition in [*pending, *update.transitions]:
            self.recorder.record(cached, transition.event_type, transition.reason, transition.message)
            self._count(transition, update.status)
        if conditions.is_finished(update.status) and update.status.get("completionTime"):
            # Finish now, not on the watch event of our own status write: after a watch cut and a relist that
            # event never comes (the cache already holds the version we wrote, so the relist sees no change).
            await self._finished({**cached, "status": update.status}, job, copy.deepcopy(update.status))

    # --- validation -----------------------------------------------------------------------------------

    async def _invalid(self, cached: JSON, errors: list[Any]) -> None:
        """decisions Q2: a Warning Event and a `ValidationFailed` condition naming every field error; the Event
        is emitted when the error list changes, not on every sync."""
        message = validation_message(errors)
        status: JSON = copy.deepcopy(cached.get("status") or {})
        previous = conditions.get_condition(status, JobConditionType.VALIDATION_FAILED)
        conditions.set_condition(status, JobConditionType.VALIDATION_FAILED, ConditionStatus.TRUE,
                                 REASON_INVALID_SPEC, message, self.now())
        if previous is None or previous.get("message") != message:
            self.recorder.warning(cached, reasons.REASON_VALIDATION_ERROR, message)
        await self._write_status(cached, status)

    # --- finished -------------------------------------------------------------------------------------

    async def _finished(self, cached: JSON, job: MPIJob, status: JSON) -> None:
        await self._release_launcher_finalizer(job, deleting=False, status=status)
        if spec.clean_pod_policy(job) in (CleanPodPolicy.ALL, CleanPodPolicy.RUNNING):
            await self._clean_up_workers(job, policy_override=None)
            status = job_status.status_after_cleanup(status)
        # decisions Q16: written only when it changed, also on this path.
        await self._write_status(cached, status)

    async def _release_launcher_finalizer(self, job: MPIJob, deleting: bool, status: JSON | None = None) -> None:
        """decisions Q31: our finalizer on the launcher Job goes once the result is recorded (or the MPIJob goes)."""
        existing = self.caches.jobs.store.get_by_name(job.namespace, names.launcher_name(job))
        if existing is None or not names.is_controlled_by(existing, names.job_uid(job)):
            return
        if not launcher.launcher_finalizer_releasable(existing, status or {}, deleting):
            return
        await self._remove_launcher_finalizer(existing)

    async def _release_orphaned_launcher(self, namespace: str, name: str, live_uid: str | None) -> None:
        """decisions Q31: a launcher Job whose MPIJob is gone (deleted with background propagation, or replaced
        by a new MPIJob of the same name) must not be held by our finalizer: garbage collection could never
        remove it, and a new MPIJob of that name would wait for it forever."""
        existing = self.caches.jobs.store.get_by_name(namespace, f"{name}-launcher")
        if existing is None or not launcher.has_launcher_finalizer(existing):
            return
        ref = names.controller_reference(existing)
        if ref is None or ref.get("kind") != MPIJOBS.kind or ref.get("uid") == live_uid:
            return
        await self._remove_launcher_finalizer(existing)

    async def _remove_launcher_finalizer(self, existing: JSON) -> None:
        if not launcher.has_launcher_finalizer(existing):
            return
        meta = existing["metadata"]
        finalizers = [f for f in meta.get("finalizers") or [] if f != names.LAUNCHER_FINALIZER]
        patch = {"metadata": {"finalizers": finalizers or None, "resourceVersion": meta.get("resourceVersion")}}
        with contextlib.suppress(NotFound):
            remember(self.caches.jobs, await self.jobs.patch(meta["name"], patch, meta["namespace"]))

    # --- ownership ------------------------------------------------------------------------------------

    def _controlled(self, informer: Informer, job: MPIJob, name: str, kind: str) -> JSON | None:
        obj = informer.store.get_by_name(job.namespace, name)
        if obj is None:
            return None
        if not names.is_controlled_by(obj, names.job_uid(job)):
            message = reasons.resource_exists_message(name, kind)
            self.recorder.warning(self._job_ref(job), reasons.REASON_RESOURCE_EXISTS, message)
            raise ResourceConflict(message)
        return obj

    def _job_ref(self, job: MPIJob) -> JSON:
        return {"apiVersion": MPIJOBS.api_version, "kind": MPIJOBS.kind, "metadata": job.metadata}

    async def _create(self, resource: Resource, informer: Informer, obj: JSON) -> JSON | None:
        """Create; an AlreadyExists from a stale cache is not a failure (decisions Q36): retry the sync. But the
        pod cache holds only our labelled pods, so a foreign pod of that name is invisible to it: on
        AlreadyExists, look the object up once (a list by name: the ClusterRole grants `list`, not `get`) and
        report it as not ours when it is not."""
        meta = obj["metadata"]
        try:
            created = await resource.create(obj)
        except AlreadyExists as exc:
            found = await resource.list(meta["namespace"], field_selector=f"metadata.name={meta['name']}")
            owner = names.controller_reference(obj) or {}
            for current in found["items"]:
                if not names.is_controlled_by(current, str(owner.get("uid"))):
                    message = reasons.resource_exists_message(meta["name"], resource.type.kind)
                    job_ref = {"apiVersion": MPIJOBS.api_version, "kind": MPIJOBS.kind,
                               "metadata": {"name": owner.get("name"), "namespace": meta["namespace"],
                                            "uid": owner.get("uid")}}
                    self.recorder.warning(job_ref, reasons.REASON_RESOURCE_EXISTS, message)
                    raise ResourceConflict(message) from exc
            raise Requeue(f"{resource.type.plural} {meta['name']} exists already") from exc
        remember(informer, created)
        return created

    # --- Service, ConfigMap, Secret, PodGroup -----------------------------------------------------------

    async def _ensure_service(self, job: MPIJob) -> None:
        desired = service.desired_service(job)
        existing = self._controlled(self.caches.services, job, desired["metadata"]["name"], "Service")
        if existing is None:
            await self._create(self.services, self.caches.services, desired)
        elif (drift := service.service_spec_patch(existing, desired)) is not None:
            # A merge patch merges maps: extra selector keys must be nulled explicitly to go away.
            have = existing.get("spec") or {}
            patch = {"spec": merge_patch({k: have.get(k) for k in drift["spec"]}, drift["spec"])}
            remember(self.caches.services, await self.services.patch(existing["metadata"]["name"], patch,
                                                                     job.namespace))

    async def _ensure_configmap(self, job: MPIJob) -> None:
        # The job's own workers (an index lookup), never a scan of every pod in the namespace.
        pods = self._worker_pods(job)
        desired = configmap.desired_configmap(job, self.options, pods)
        existing = self._controlled(self.caches.configmaps, job, desired["metadata"]["name"], "ConfigMap")
        if existing is None:
            await self._create(self.configmaps, self.caches.configmaps, desired)
        elif configmap.configmap_data_differs(existing, desired):
            patch = {"data": merge_patch(existing.get("data") or {}, desired["data"])}
            remember(self.caches.configmaps, await self.configmaps.patch(existing["metadata"]["name"], patch,
                                                                         job.namespace))

    async def _ensure_secret(self, job: MPIJob) -> None:
        name = names.secret_name(job)
        existing = self._controlled(self.caches.secrets, job, name, "Secret")
        if existing is not None and not ssh.secret_needs_new_keys(existing):
            return
        # decisions Q15: keys are generated only when the Secret is made or its key set is wrong.
        desired = ssh.desired_secret(job, ssh.generate_ssh_key_pair())
        if existing is None:
            await self._create(self.secrets, self.caches.secrets, desired)
        else:
            body = {**existing, "data": desired["data"], "type": existing.get("type", desired["type"])}
            remember(self.caches.secrets, await self.secrets.update(body))

    async def _ensure_podgroup(self, job: MPIJob) -> None:
        assert self.podgroups is not None and self.caches.podgroups is not None
        desired = podgroup.desired_podgroup(job, self.options, self.caches.priority_values())
        if desired is None:
            return
        existing = self._controlled(self.caches.podgroups, job, desired["metadata"]["name"], "PodGroup")
        if existing is None:
            await self._create(self.podgroups, self.caches.podgroups, desired)
        elif (patch := podgroup.podgroup_spec_patch(existing, desired)) is not None:
            remember(self.caches.podgroups, await self.podgroups.patch(existing["metadata"]["name"], patch,
                                                                       job.namespace))

    # --- workers --------------------------------------------------------------------------------------

    def _worker_pods(self, job: MPIJob) -> list[JSON]:
        return worker.owned_workers(job, self.caches.pods.store.by_controller(names.job_uid(job)))

    async def _ensure_workers(self, job: MPIJob) -> list[JSON]:
        if spec.worker_spec(job) is None:
            return []
        plan = worker.scale_down(job, self._worker_pods(job))
        for name in plan.unindexed:
            # Said once per pod (by uid), not on every sync: a steady state writes nothing, Events included.
            pod_uid = str(((self.caches.pods.store.get_by_name(job.namespace, name) or {}).get("metadata") or {})
                          .get("uid"))
            if pod_uid in self._warned_unindexed:
                continue
            if len(self._warned_unindexed) >= WARNED_UNINDEXED_LIMIT:
                self._warned_unindexed.clear()
            self._warned_unindexed.add(pod_uid)
            self.recorder.warning(self._job_ref(job), "WorkerWithoutIndex",
                                  f"Worker pod {name} has no {REPLICA_INDEX_LABEL} label; left alone")
        await self._delete_pods(job, plan.delete)

        replicas = spec.worker_replicas(job)
        result: list[JSON | None] = [None] * replicas
        to_create: list[tuple[int, JSON]] = []
        to_replace: list[str] = []
        for index in range(replicas):
            desired = worker.desired_worker_pod(job, index, self.options)
            existing = self._controlled(self.caches.pods, job, desired["metadata"]["name"], "Pod")
            if existing is None:
                to_create.append((index, desired))
            elif worker.worker_needs_replacement(existing, desired):
                to_replace.append(desired["metadata"]["name"])  # decisions Q13: not Running yet
                result[index] = existing
            else:
                result[index] = existing
        await self._delete_pods(job, to_replace)

        semaphore = asyncio.Semaphore(WORKER_CREATE_CONCURRENCY)

        async def create(index: int, pod: JSON) -> None:
            async with semaphore:
                try:
                    result[index] = await self._create(self.pods, self.caches.pods, pod)
                except (Requeue, ResourceConflict):
                    raise
                except Exception as exc:
                    self.recorder.warning(self._job_ref(job), reasons.REASON_CREATE_FAILED,
                                          reasons.worker_create_failed_message(exc))
                    raise

        await _gather_all([create(i, pod) for i, pod in to_create])
        return [pod for pod in result if pod is not None]

    async def _delete_pods(self, job: MPIJob, pod_names: list[str]) -> None:
        async def delete(name: str) -> None:
            try:
                answer = await self.pods.delete(name, job.namespace)
            except NotFound:
                forget(self.caches.pods, job.namespace, name)
                return
            # A graceful delete answers the pod, now terminating: cache it, or every sync until the watch
            # delivers it deletes the pod again (seen on a real API server: up to five DELETEs per pod).
            if answer is not None and answer.get("kind") == "Pod":
                remember(self.caches.pods, answer)
            else:
                forget(self.caches.pods, job.namespace, name)

        await _gather_all([delete(name) for name in pod_names])

    async def _clean_up_workers(self, job: MPIJob, policy_override: str | None) -> None:
        """Delete worker pods per cleanPodPolicy (every controlled worker, decisions Q1) and the PodGroup."""
        await self._delete_pods(job, worker.workers_to_clean_up(job, self._worker_pods(job)))
        if self.podgroups is not None and self.caches.podgroups is not None:
            existing = self._controlled(self.caches.podgroups, job, names.podgroup_name(job), "PodGroup")
            if existing is not None and not existing["metadata"].get("deletionTimestamp"):
                with contextlib.suppress(NotFound):
                    await self.podgroups.delete(existing["metadata"]["name"], job.namespace)

    # --- launcher -------------------------------------------------------------------------------------

    def _launcher_pods(self, job: MPIJob) -> list[JSON]:
        launcher_job = self.caches.jobs.store.get_by_name(job.namespace, names.launcher_name(job))
        if launcher_job is None:
            return []
        return self.caches.pods.store.by_controller(str(launcher_job["metadata"].get("uid")))

    async def _create_launcher(self, cached: JSON, job: MPIJob) -> JSON | None:
        build = launcher.desired_launcher_job(job, self.options)
        try:
            created = await self._create(self.jobs, self.caches.jobs, build.job)
        except (Requeue, ResourceConflict):
            raise
        except Exception as exc:
            self.recorder.warning(cached, reasons.REASON_CREATE_FAILED, reasons.launcher_create_failed_message(exc))
            raise
        if build.restart_policy_overridden:  # decisions Q41: once per Job creation
            self.recorder.warning(cached, launcher.RESTART_POLICY_WARNING_REASON,
                                  launcher.RESTART_POLICY_WARNING_MESSAGE)
        return created

    async def _sync_launcher(self, job: MPIJob, existing: JSON, workers: list[JSON], status: JSON,
                             pending: list[job_status.Transition]) -> JSON | None:
        """Replace or defer a launcher template change, then suspend or resume the launcher Job. A deferral
        sets a condition in `status` and queues its Warning in `pending` once, on the transition."""
        if existing["metadata"].get("deletionTimestamp"):
            # Deleted by hand before its result (upstream's documented way to apply a launcher change): our
            # finalizer protects recorded results only, so let it go; it is created anew once gone.
            await self._remove_launcher_finalizer(existing)
            return existing
        suspended = spec.is_suspended(job)
        launcher_suspended = bool((existing.get("spec") or {}).get("suspend"))
        build = launcher.desired_launcher_job(job, self.options)
        # A suspended launcher Job runs no pod: replacing it is as safe as for a suspended MPIJob, and on a resume
        # with an edited template (Kueue's admission) the whole new template applies, not only the directives.
        change = launcher.launcher_template_change(existing, build.job, suspended or launcher_suspended)
        if change is launcher.TemplateChange.REPLACE:
            # decisions Q13: a launcher that has not started (or is suspended) is replaced by the new template.
            await self._delete_launcher(existing)
            raise Requeue("launcher Job replaced after a template change")
        if change is launcher.TemplateChange.DEFERRED:
            if conditions.get_condition(status, CONDITION_TEMPLATE_CHANGE_DEFERRED) is None:
                conditions.set_condition(status, CONDITION_TEMPLATE_CHANGE_DEFERRED, ConditionStatus.TRUE,
                                         REASON_TEMPLATE_CHANGE_DEFERRED, MESSAGE_TEMPLATE_CHANGE_DEFERRED, self.now())
                pending.append(job_status.Transition("Warning", REASON_TEMPLATE_CHANGE_DEFERRED,
                                                     MESSAGE_TEMPLATE_CHANGE_DEFERRED))
        else:
            conditions.remove_condition(status, CONDITION_TEMPLATE_CHANGE_DEFERRED)
        if not suspended and launcher_suspended:
            if spec.waits_for_workers_ready(job) and not (
                    worker.all_ready(workers) and len(workers) == spec.worker_replicas(job)):
                return existing  # decisions Q8: resume waits for Ready workers too
            return await self._resume_launcher(job, existing, build.job)
        if suspended and not launcher_suspended:
            return await self._set_launcher_suspend(existing, True)
        return existing

    async def _delete_launcher(self, existing: JSON) -> None:
        meta = existing["metadata"]
        await self._remove_launcher_finalizer(existing)
        with contextlib.suppress(NotFound):
            await self.jobs.delete(meta["name"], meta["namespace"], propagation_policy="Background")
        forget(self.caches.jobs, meta["namespace"], meta["name"])

    async def _resume_launcher(self, job: MPIJob, existing: JSON, desired: JSON) -> JSON:
        current = existing
        if (existing.get("status") or {}).get("startTime"):
            # A Job whose startTime is set cannot be unsuspended with a changed template: clear it first.
            current = await self.jobs.patch_status(existing["metadata"]["name"], {"status": {"startTime": None}},
                                                   job.namespace)
        resumed = launcher.sync_scheduling_directives(current, desired)
        resumed["spec"]["suspend"] = False
        updated = await self.jobs.update(resumed)
        remember(self.caches.jobs, updated)
        return updated

    async def _set_launcher_suspend(self, existing: JSON, value: bool) -> JSON:
        meta = existing["metadata"]
        updated = await self.jobs.patch(meta["name"], {"spec": {"suspend": value}}, meta["namespace"])
        remember(self.caches.jobs, updated)
        return updated

    # --- status ---------------------------------------------------------------------------------------

    async def _write_status(self, cached: JSON, status: JSON) -> None:
        """#607: a merge patch of the status subresource from the cached object, never a blind update.
        `state` (the State column) is derived here, the one place every status passes through."""
        old = cached.get("status") or {}
        status = conditions.with_state(status)
        if old == status:
            return
        meta = cached["metadata"]
        patch = {"status": merge_patch(old, status)}
        written = await self.mpijobs.patch_status(meta["name"], patch, meta["namespace"])
        remember(self.caches.mpijobs, written)

    def _count(self, transition: job_status.Transition, status: JSON) -> None:
        metric = transition.metric
        if metric is job_status.Metric.CREATED:
            self.metrics.jobs_created.inc()
        elif metric is job_status.Metric.SUCCESSFUL:
            self.metrics.jobs_successful.inc()
            self._observe_duration("succeeded", status)
        elif metric is job_status.Metric.FAILED:
            self.metrics.jobs_failed.inc()
            self._observe_duration("failed", status)
        if transition.reason == job_status.REASON_RUNNING:
            created = conditions.get_condition(status, JobConditionType.CREATED)
            running = conditions.get_condition(status, JobConditionType.RUNNING)
            seconds = _seconds_between(created, running)
            if seconds is not None:
                self.metrics.time_to_running.observe(seconds)

    def _observe_duration(self, result: str, status: JSON) -> None:
        start, end = status.get("startTime"), status.get("completionTime")
        if start and end:
            seconds = (_parse_time(end) - _parse_time(start)).total_seconds()
            self.metrics.job_duration.labels(result=result).observe(max(seconds, 0.0))


def _parse_time(value: str) -> datetime:
    return datetime.strptime(value[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC)


def _seconds_between(first: JSON | None, second: JSON | None) -> float | None:
    if not first or not second or not first.get("lastTransitionTime") or not second.get("lastTransitionTime"):
        return None
    delta = _parse_time(second["lastTransitionTime"]) - _parse_time(first["lastTransitionTime"])
    return max(delta.total_seconds(), 0.0)


async def _gather_all(coroutines: list[Awaitable[None]]) -> None:
    """Run all, wait for all, then raise the first failure (no write is left running behind a raise)."""
    if not coroutines:
        return
    results = await asyncio.gather(*coroutines, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result


__all__ = ["CONTROLLER", "Conflict", "Reconciler", "Requeue", "ResourceConflict"]
