"""Simulated batch/v1 Job controller (plus the TTL-after-finished controller), driven by store events.

A listener marks the Jobs whose object or owned pods changed; a deferred pass syncs each one like
kube-controller-manager (contract §8): pods named `<job>-xxxxx` with the selector labels, a controller
ownerReference and the tracking finalizer; finished pods recorded in `uncountedTerminatedPods`, released, then
counted; interim `SuccessCriteriaMet`/`FailureTarget` before the final `Complete`/`Failed`, the latter only once
no pod is terminating. Timers (asyncio `call_later`) requeue Jobs for deadlines, failure back-off and TTLs.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import math
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from mpi_operator.sandbox.apiserver.changes import DELETED, Change
from mpi_operator.sandbox.apiserver.storage import Storage, deep_copy
from mpi_operator.sandbox.cluster.changequeue import ChangeQueue
from mpi_operator.sandbox.cluster.kubelet import condition_true
from mpi_operator.sandbox.cluster.recorder import EventRecorder
from mpi_operator.sandbox.errors import ApiError
from mpi_operator.sandbox.timefmt import now_rfc3339, parse_rfc3339

log = logging.getLogger(__name__)
Obj = dict[str, Any]

JOBS = "jobs.batch"
TRACKING_FINALIZER = "batch.kubernetes.io/job-tracking"
COMPLETION_INDEX = "batch.kubernetes.io/job-completion-index"
CONTROLLER_NAME = "kubernetes.io/job-controller"
MAX_POD_CHANGES_PER_SYNC = 500
TERMINAL = ("Succeeded", "Failed")
FINAL = ("Complete", "Failed")

SUCCESS = ("SuccessCriteriaMet", "Complete", "CompletionsReached", "Reached expected number of succeeded pods")
BACKOFF = ("FailureTarget", "Failed", "BackoffLimitExceeded", "Job has reached the specified backoff limit")
DEADLINE = ("FailureTarget", "Failed", "DeadlineExceeded", "Job was active longer than specified deadline")


def parse_indexes(text: str | None) -> set[int]:
    """`"1,3-5"` -> {1, 3, 4, 5} (the compressed form of completedIndexes/failedIndexes)."""
    out: set[int] = set()
    for part in filter(None, (text or "").split(",")):
        lo, _, hi = part.partition("-")
        out.update(range(int(lo), int(hi or lo) + 1))
    return out


def format_indexes(indexes: Iterable[int]) -> str:
    ranges: list[list[int]] = []
    for i in sorted(set(indexes)):
        if ranges and ranges[-1][1] == i - 1:
            ranges[-1][1] = i
        else:
            ranges.append([i, i])
    return ",".join(str(a) if a == b else f"{a}-{b}" for a, b in ranges)


def _condition(status: Obj, type_: str) -> Obj | None:
    return next((c for c in status.get("conditions") or [] if c.get("type") == type_ and c.get("status") == "True"),
                None)


def _controller_ref(obj: Obj) -> Obj | None:
    return next((r for r in obj["metadata"].get("ownerReferences") or [] if r.get("controller")), None)


def _index(pod: Obj) -> int | None:
    meta = pod["metadata"]
    value = (meta.get("annotations") or {}).get(COMPLETION_INDEX) or (meta.get("labels") or {}).get(COMPLETION_INDEX)
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


class JobController:
    """Reconciles every batch/v1 Job in the store; `backoff_base` > 0 delays replacements after failures."""

    def __init__(self, store: Storage, *, sync_delay: float = 0.0, backoff_base: float = 0.0,
                 backoff_max: float = 600.0, events: bool = True) -> None:
        self.store = store
        self.sync_delay = sync_delay
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.recorder = EventRecorder(store, "job-controller", events)
        self._changed: ChangeQueue[tuple[str, str]] = ChangeQueue(self._sync_key, sync_delay)
        self._timers: dict[tuple[str, str], asyncio.TimerHandle] = {}  # (job uid, purpose) -> timer
        self._last_failure: dict[str, float] = {}  # job uid -> loop time of the last counted failure
        self._loop: asyncio.AbstractEventLoop | None = None
        self._unlisten: Callable[[], None] | None = None

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._changed.open(self._loop)
        self._unlisten = self.store.listen(self._on_event)
        for job in self.store.iter_objects(JOBS):
            self._enqueue(job["metadata"]["namespace"], job["metadata"]["name"])

    def stop(self) -> None:
        if self._unlisten is not None:
            self._unlisten()
            self._unlisten = None
        for handle in self._timers.values():
            handle.cancel()
        self._timers.clear()
        self._changed.close()

    @property
    def idle(self) -> bool:
        return self._changed.idle

    # ------------------------------------------------------------------ change tracking

    def _on_event(self, ev: Change) -> None:
        key = ev.info.key
        if key == JOBS:
            meta = ev.object["metadata"]
            if ev.type == DELETED:
                self._forget(meta["uid"])
            else:
                self._enqueue(meta["namespace"], meta["name"])
        elif key == "pods":
            namespace = ev.namespace
            for obj in (ev.object, ev.old or {"metadata": {}}):
                ref = _controller_ref(obj)
                if ref is not None and ref.get("kind") == "Job" and str(ref.get("apiVersion", "")).startswith(
                        "batch/"):
                    self._enqueue(namespace, ref["name"])
            if ev.type != DELETED and TRACKING_FINALIZER in (ev.object["metadata"].get("finalizers") or []):
                ref = _controller_ref(ev.object)
                if ref is None or self.store.get_by_uid(ref.get("uid", "")) is None:
                    self._later(0, functools.partial(self._release_orphan, ev.object["metadata"]["uid"]))

    def _enqueue(self, namespace: str, name: str) -> None:
        self._changed.mark((namespace, name))

    def _later(self, delay: float, fn: Callable[[], None]) -> asyncio.TimerHandle | None:
        return self._loop.call_later(max(delay, 0.0), fn) if self._loop is not None else None

    def _requeue(self, job: Obj, purpose: str, delay: float) -> None:
        """(Re)arm the job's `purpose` timer to sync it again after `delay` seconds."""
        meta = job["metadata"]
        key = (meta["uid"], purpose)
        old = self._timers.pop(key, None)
        if old is not None:
            old.cancel()
        if math.isinf(delay):
            return

        def fire() -> None:
            self._timers.pop(key, None)
            self._enqueue(meta["namespace"], meta["name"])

        handle = self._later(delay, fire)
        if handle is not None:
            self._timers[key] = handle

    def _forget(self, uid: str) -> None:
        for key in [k for k in self._timers if k[0] == uid]:
            self._timers.pop(key).cancel()
        self._last_failure.pop(uid, None)

    def _sync_key(self, key: tuple[str, str]) -> None:
        namespace, name = key
        try:
            self.sync(namespace, name)
        except ApiError as e:
            log.info("job controller: sync of %s/%s failed (%s); retrying", namespace, name, e.message)
            self._retry(namespace, name)
        except Exception:
            log.exception("job controller: sync of %s/%s failed", namespace, name)
            self._retry(namespace, name)

    def _retry(self, namespace: str, name: str) -> None:
        self._later(1.0, lambda: self._enqueue(namespace, name))

    # ------------------------------------------------------------------ sync

    def owned_pods(self, job: Obj) -> list[Obj]:
        uid = job["metadata"]["uid"]
        return [p for p in self.store.dependents(uid)
                if p.get("kind") == "Pod" and (_controller_ref(p) or {}).get("uid") == uid]

    def sync(self, namespace: str, name: str) -> None:
        """One reconcile of one Job (synchronous; every write goes through the store)."""
        job = self.store.find(JOBS, namespace, name)
        if job is None:
            return
        meta, spec = job["metadata"], job.get("spec") or {}
        status: Obj = job.get("status") or {}
        if spec.get("managedBy") not in (None, CONTROLLER_NAME):
            return
        if meta.get("deletionTimestamp"):
            for pod in self.owned_pods(job):
                self._release(pod)
            return
        if _condition(status, "Complete") or _condition(status, "Failed"):
            for pod in self.owned_pods(job):
                if (pod.get("status") or {}).get("phase") in TERMINAL or pod["metadata"].get("deletionTimestamp"):
                    self._release(pod)
            self._schedule_ttl(job)
            return
        _JobSync(self, job).run()

    def _release(self, pod: Obj) -> Obj | None:
        """Remove the tracking finalizer (the pod may vanish right away when it was already deleting)."""
        meta = pod["metadata"]
        fins = meta.get("finalizers") or []
        if TRACKING_FINALIZER not in fins:
            return pod
        body = dict(pod)
        body["metadata"] = {k: v for k, v in meta.items() if k != "finalizers"}
        rest = [f for f in fins if f != TRACKING_FINALIZER]
        if rest:
            body["metadata"]["finalizers"] = rest
        try:
            return self.store.update("pods", meta["namespace"], meta["name"], body)
        except ApiError as e:
            if e.code == 404:
                return None
            raise

    def _release_orphan(self, uid: str) -> None:
        if self._unlisten is None:
            return
        pod = self.store.get_by_uid(uid)
        if pod is None or pod.get("kind") != "Pod":
            return
        ref = _controller_ref(pod)
        if ref is None or self.store.get_by_uid(ref.get("uid", "")) is None:
            self._release(pod)

    def delete_pod(self, job: Obj, pod: Obj) -> None:
        meta = pod["metadata"]
        try:
            self.store.delete("pods", meta["namespace"], meta["name"], {"preconditions": {"uid": meta["uid"]}})
        except ApiError as e:
            if e.code not in (404, 409):
                raise
            return
        self.recorder.event(job, "Normal", "SuccessfulDelete", f"Deleted pod: {meta['name']}")

    def create_pod(self, job: Obj, index: int | None) -> None:
        meta, template = job["metadata"], (job.get("spec") or {}).get("template") or {}
        tmeta = template.get("metadata") or {}
        name = meta["name"]
        labels = dict(tmeta.get("labels") or {})
        annotations = dict(tmeta.get("annotations") or {})
        pod_spec = deep_copy(template.get("spec") or {})
        prefix = f"{name}-"
        if index is not None:
            prefix = f"{name}-{index}-"
            if len(prefix) > 58:
                prefix = f"{name[:58 - len(str(index)) - 2]}-{index}-"
            labels[COMPLETION_INDEX] = str(index)
            annotations[COMPLETION_INDEX] = str(index)
            pod_spec.setdefault("hostname", f"{name}-{index}"[:63].rstrip("-"))
            env_var = {"name": "JOB_COMPLETION_INDEX", "valueFrom": {"fieldRef": {
                "apiVersion": "v1", "fieldPath": f"metadata.annotations['{COMPLETION_INDEX}']"}}}
            for c in (pod_spec.get("initContainers") or []) + (pod_spec.get("containers") or []):
                c.setdefault("env", []).append(dict(env_var))
        pod_meta: Obj = {
            "generateName": prefix, "namespace": meta["namespace"], "labels": labels,
            "finalizers": [*(tmeta.get("finalizers") or []), TRACKING_FINALIZER],
            "ownerReferences": [{"apiVersion": "batch/v1", "kind": "Job", "name": name, "uid": meta["uid"],
                                 "controller": True, "blockOwnerDeletion": True}],
        }
        if annotations:
            pod_meta["annotations"] = annotations
        try:
            pod = self.store.create("pods", meta["namespace"], {"apiVersion": "v1", "kind": "Pod",
                                                                "metadata": pod_meta, "spec": pod_spec})
        except ApiError as e:
            self.recorder.event(job, "Warning", "FailedCreate", f"Error creating: {e.message}")
            raise
        self.recorder.event(job, "Normal", "SuccessfulCreate", f"Created pod: {pod['metadata']['name']}")

    def _schedule_ttl(self, job: Obj) -> None:
        ttl = (job.get("spec") or {}).get("ttlSecondsAfterFinished")
        if ttl is None:
            return
        status = job.get("status") or {}
        final = _condition(status, "Complete") or _condition(status, "Failed") or {}
        finished_at = parse_rfc3339(final.get("lastTransitionTime") or now_rfc3339())
        due = finished_at + float(ttl) - time.time()
        meta = job["metadata"]
        if due <= 0:
            self._delete_expired(meta["namespace"], meta["name"], meta["uid"])
            return
        key = (meta["uid"], "ttl")
        if key in self._timers:
            return

        def fire() -> None:
            self._timers.pop(key, None)
            self._delete_expired(meta["namespace"], meta["name"], meta["uid"])

        handle = self._later(due, fire)
        if handle is not None:
            self._timers[key] = handle

    def _delete_expired(self, namespace: str, name: str, uid: str) -> None:
        """The TTL-after-finished controller: re-read, then delete in the foreground with a uid precondition."""
        job = self.store.find(JOBS, namespace, name)
        if job is None or job["metadata"]["uid"] != uid or job["metadata"].get("deletionTimestamp"):
            return
        try:
            self.store.delete(JOBS, namespace, name, {"propagationPolicy": "Foreground",
                                                      "preconditions": {"uid": uid}})
        except ApiError as e:
            if e.code not in (404, 409):
                log.warning("ttl controller: deleting job %s/%s failed: %s", namespace, name, e.message)

    def note_failure(self, job_uid: str) -> None:
        if self._loop is not None:
            self._last_failure[job_uid] = self._loop.time()

    def backoff_remaining(self, job: Obj, failed: int) -> float:
        """Seconds before a replacement pod may be created (exponential in the failure count, capped)."""
        if self.backoff_base <= 0 or failed <= 0 or self._loop is None:
            return 0.0
        last = self._last_failure.get(job["metadata"]["uid"])
        if last is None:
            return 0.0
        delay = min(self.backoff_base * (2 ** (failed - 1)), self.backoff_max)
        return float(last + delay - self._loop.time())


class _JobSync:
    """The state of one Job sync: pods sorted into buckets, counters, and the decisions taken from them."""

    def __init__(self, ctl: JobController, job: Obj) -> None:
        self.ctl = ctl
        self.job = job
        self.spec: Obj = job.get("spec") or {}
        self.status: Obj = deep_copy(job.get("status") or {})
        self.indexed = self.spec.get("completionMode") == "Indexed"
        self.policy = self.spec.get("podReplacementPolicy") or (
            "Failed" if self.spec.get("podFailurePolicy") else "TerminatingOrFailed")
        self.now = now_rfc3339()

    # ---- buckets

    def _classify(self) -> None:
        uncounted = self.status.get("uncountedTerminatedPods") or {}
        self.uncounted_succeeded: list[str] = list(uncounted.get("succeeded") or [])
        self.uncounted_failed: list[str] = list(uncounted.get("failed") or [])
        self.active: list[Obj] = []
        self.terminating = 0
        self.to_release: list[Obj] = []
        self.new_succeeded_indexes: set[int] = set()
        known = set(self.uncounted_succeeded) | set(self.uncounted_failed)
        for pod in self.ctl.owned_pods(self.job):
            meta = pod["metadata"]
            tracked = TRACKING_FINALIZER in (meta.get("finalizers") or [])
            phase = (pod.get("status") or {}).get("phase")
            fresh = tracked and meta["uid"] not in known
            failures = len(self.uncounted_failed)
            if phase == "Succeeded":
                if fresh:
                    self.uncounted_succeeded.append(meta["uid"])
                    index = _index(pod)
                    if index is not None:
                        self.new_succeeded_indexes.add(index)
                if tracked:
                    self.to_release.append(pod)
            elif phase == "Failed":
                if fresh:
                    self.uncounted_failed.append(meta["uid"])
                if tracked:
                    self.to_release.append(pod)
            elif meta.get("deletionTimestamp"):
                self.terminating += 1
                # A deleted, unfinished pod is a failure unless replacements wait for the terminal phase.
                if tracked and self.policy != "Failed":
                    if fresh:
                        self.uncounted_failed.append(meta["uid"])
                    self.to_release.append(pod)
            else:
                self.active.append(pod)
            if len(self.uncounted_failed) > failures:
                self.ctl.note_failure(self.job["metadata"]["uid"])

    # ---- decisions

    def _restarts(self) -> int:
        if ((self.spec.get("template") or {}).get("spec") or {}).get("restartPolicy") != "OnFailure":
            return 0
        return sum(int(s.get("restartCount", 0)) for p in self.active
                   for s in ((p.get("status") or {}).get("initContainerStatuses") or [])
                   + ((p.get("status") or {}).get("containerStatuses") or []))

    def _succeeded_total(self) -> int:
        return int(self.status.get("succeeded", 0)) + len(self.uncounted_succeeded)

    def _failed_total(self) -> int:
        return int(self.status.get("failed", 0)) + len(self.uncounted_failed)

    def _completed_indexes(self) -> set[int]:
        return parse_indexes(self.status.get("completedIndexes")) | self.new_succeeded_indexes

    def _deadline_left(self) -> float:
        deadline = self.spec.get("activeDeadlineSeconds")
        start = self.status.get("startTime")
        if deadline is None or not start or self.spec.get("suspend"):
            return math.inf
        return parse_rfc3339(start) + float(deadline) - time.time()

    def _outcome(self) -> tuple[str, str, str, str] | None:
        """The terminal outcome (interim type, final type, reason, message) if one is reached."""
        for interim in ("FailureTarget", "SuccessCriteriaMet"):
            cond = _condition(self.status, interim)
            if cond is not None:
                final = "Failed" if interim == "FailureTarget" else "Complete"
                return interim, final, cond.get("reason", ""), cond.get("message", "")
        backoff_limit = int(self.spec.get("backoffLimit", 6))
        restarts = self._restarts()
        if self._failed_total() > backoff_limit or (restarts > 0 and restarts >= max(backoff_limit, 1)):
            return BACKOFF
        if self._deadline_left() <= 0:
            return DEADLINE
        completions = self.spec.get("completions")
        if completions is not None:
            done = len(self._completed_indexes()) if self.indexed else self._succeeded_total()
            if done >= int(completions):
                return SUCCESS
        elif self._succeeded_total() > 0 and not self.active:
            return SUCCESS
        return None

    # ---- the sync

    def run(self) -> None:
        ctl, job = self.ctl, self.job
        self._classify()
        self._start_or_resume()
        outcome = self._outcome()
        if outcome is not None:
            interim = outcome[0]
            if _condition(self.status, interim) is None:
                self._set_condition(interim, "True", outcome[2], outcome[3])
            ctl._requeue(job, "deadline", math.inf)
            for pod in self.active:
                if TRACKING_FINALIZER not in (pod["metadata"].get("finalizers") or []):
                    continue
                if interim == "FailureTarget":
                    # Once the Job is failing every unfinished pod counts as failed.
                    self.uncounted_failed.append(pod["metadata"]["uid"])
                self.to_release.append(pod)
        else:
            self._manage_pods()
        self._record_uncounted()
        for pod in self.to_release:
            ctl._release(pod)
        if outcome is not None:
            for pod in self.active:
                current = ctl.store.get_by_uid(pod["metadata"]["uid"])
                if current is not None and not current["metadata"].get("deletionTimestamp"):
                    ctl.delete_pod(job, current)
        self._count()
        self._write_status(outcome)

    def _set_condition(self, type_: str, status: str, reason: str, message: str) -> None:
        conditions = self.status.setdefault("conditions", [])
        for c in conditions:
            if c.get("type") == type_:
                if c.get("status") != status:
                    c["lastTransitionTime"] = self.now
                    c["lastProbeTime"] = self.now
                c.update(status=status, reason=reason, message=message)
                return
        conditions.append({"type": type_, "status": status, "lastProbeTime": self.now,
                           "lastTransitionTime": self.now, "reason": reason, "message": message})

    def _start_or_resume(self) -> None:
        """startTime on the first unsuspended sync; a resume restarts it (and so the deadline clock) first."""
        if self.spec.get("suspend"):
            return
        if _condition(self.status, "Suspended") is not None:
            self._set_condition("Suspended", "False", "JobResumed", "Job resumed")
            self.status["startTime"] = self.now
            self.ctl.recorder.event(self.job, "Normal", "Resumed", "Job resumed")
        self.status.setdefault("startTime", self.now)

    def _manage_pods(self) -> None:
        ctl, job = self.ctl, self.job
        if self.spec.get("suspend"):
            # Suspension deletes active pods without counting them: the finalizer goes first.
            for pod in self.active:
                released = ctl._release(pod)
                if released is not None:
                    ctl.delete_pod(job, released)
            self.terminating += len(self.active)
            self.active = []
            ctl._requeue(job, "deadline", math.inf)
            if _condition(self.status, "Suspended") is None:
                self._set_condition("Suspended", "True", "JobSuspended", "Job suspended")
                ctl.recorder.event(job, "Normal", "Suspended", "Job suspended")
            return
        left = self._deadline_left()
        ctl._requeue(job, "deadline", left + 0.05)
        parallelism = int(self.spec.get("parallelism", 1))
        completions = self.spec.get("completions")
        busy = len(self.active) + (self.terminating if self.policy == "Failed" else 0)
        if completions is None:
            want = 0 if self._succeeded_total() > 0 else parallelism
        elif self.indexed:
            want = min(parallelism, int(completions) - len(self._completed_indexes()))
        else:
            want = min(parallelism, int(completions) - self._succeeded_total())
        diff = max(want, 0) - busy
        if diff < 0:
            excess = sorted(self.active, key=lambda p: (condition_true(p, "Ready"),
                                                        p["metadata"].get("creationTimestamp", "")), )
            for pod in excess[:min(-diff, MAX_POD_CHANGES_PER_SYNC)]:
                released = ctl._release(pod)
                if released is not None:
                    ctl.delete_pod(job, released)
                self.active.remove(pod)
                self.terminating += 1
            return
        if diff == 0:
            return
        wait = ctl.backoff_remaining(job, self._failed_total())
        if wait > 0:
            ctl._requeue(job, "backoff", wait)
            return
        indexes: Sequence[int | None] = [None] * diff
        if self.indexed:
            taken = self._completed_indexes() | {i for p in self.active if (i := _index(p)) is not None}
            if self.policy == "Failed":
                taken |= {i for p in ctl.owned_pods(job) if (i := _index(p)) is not None
                          and (p.get("status") or {}).get("phase") not in TERMINAL}
            indexes = [i for i in range(int(completions or 0)) if i not in taken][:diff]
        for index in indexes[:MAX_POD_CHANGES_PER_SYNC]:
            ctl.create_pod(job, index)

    def _record_uncounted(self) -> None:
        """Step one of counting: remember finished pods before their finalizers go (contract §8.7 step 6)."""
        if not self.to_release:
            return
        uncounted: Obj = {}
        if self.uncounted_succeeded:
            uncounted["succeeded"] = list(self.uncounted_succeeded)
        if self.uncounted_failed:
            uncounted["failed"] = list(self.uncounted_failed)
        if uncounted != (self.status.get("uncountedTerminatedPods") or {}):
            self.status["uncountedTerminatedPods"] = uncounted
            self._put_status()

    def _count(self) -> None:
        """Step two: the finalizers are gone, so the recorded pods move into the counters."""
        succeeded = self._succeeded_total()
        failed = self._failed_total()
        for key, value in (("succeeded", succeeded), ("failed", failed)):
            if value:
                self.status[key] = value
            else:
                self.status.pop(key, None)
        if self.indexed:
            done = self._completed_indexes()
            if done:
                self.status["completedIndexes"] = format_indexes(done)
        self.uncounted_succeeded, self.uncounted_failed = [], []
        self.new_succeeded_indexes = set()
        self.status["uncountedTerminatedPods"] = {}

    def _write_status(self, outcome: tuple[str, str, str, str] | None) -> None:
        ctl, job = self.ctl, self.job
        pods = ctl.owned_pods(job)
        active = [p for p in pods if (p.get("status") or {}).get("phase") not in TERMINAL
                  and not p["metadata"].get("deletionTimestamp")]
        terminating = sum(1 for p in pods if (p.get("status") or {}).get("phase") not in TERMINAL
                          and p["metadata"].get("deletionTimestamp"))
        if active:
            self.status["active"] = len(active)
        else:
            self.status.pop("active", None)
        self.status["ready"] = sum(1 for p in active if condition_true(p, "Ready"))
        self.status["terminating"] = terminating
        final_now = False
        if outcome is not None and not active and not terminating and _condition(self.status, outcome[1]) is None:
            _, final, reason, message = outcome
            self._set_condition(final, "True", reason, message)
            if final == "Complete":
                self.status["completionTime"] = self.now
            final_now = True
        self._put_status()
        if final_now:
            assert outcome is not None
            if outcome[1] == "Complete":
                ctl.recorder.event(job, "Normal", "Completed", "Job completed")
            else:
                ctl.recorder.event(job, "Warning", outcome[2], outcome[3])
            ctl._requeue(job, "deadline", math.inf)
            latest = ctl.store.find(JOBS, job["metadata"]["namespace"], job["metadata"]["name"])
            if latest is not None:
                ctl._schedule_ttl(latest)

    def _put_status(self) -> None:
        meta = self.job["metadata"]
        current = self.ctl.store.find(JOBS, meta["namespace"], meta["name"])
        if current is None or current["metadata"]["uid"] != meta["uid"]:
            return
        if (current.get("status") or {}) == self.status:
            return
        body = dict(current)
        body["status"] = self.status
        self.job = self.ctl.store.update(JOBS, meta["namespace"], meta["name"], body, subresource="status")
        self.status = deep_copy(self.job.get("status") or {})
