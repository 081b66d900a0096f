"""The kubelet's and the Job controller's part, played by the test over HTTP where it needs to choose the moment
(as upstream's integration tests do): pod phases and readiness, launcher pods owned by the launcher Job, launcher
Job results. These are the writes those components make (`pods/status`, `jobs/status`, a pod create), through
the API server like any client's, so the controller sees exactly the watch events a real cluster would send.
Where a test wants the real thing instead, `running_env(cluster=True)` runs the node agent as the kubelet.
"""

from __future__ import annotations

import copy
import itertools
from datetime import UTC, datetime
from typing import Any

from tests.controller_it.conftest import MPIJOBS, Env, example

JSON = dict[str, Any]
JOBS = "jobs.batch"
_pod_serial = itertools.count()


def now_rfc3339() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def condition(obj: JSON | None, ctype: str) -> JSON | None:
    for c in ((obj or {}).get("status") or {}).get("conditions") or []:
        if c.get("type") == ctype:
            return c  # type: ignore[no-any-return]
    return None


def mpijob(env: Env, ns: str, name: str) -> JSON:
    job = env.get(MPIJOBS, ns, name)
    assert job is not None, f"MPIJob {ns}/{name} missing"
    return job


def events(env: Env, ns: str, reason: str) -> list[JSON]:
    return [e for e in env.list("events", ns) if e.get("reason") == reason]


def set_pod_phase(env: Env, ns: str, name: str, phase: str, ready: bool = False, reason: str | None = None,
                  message: str | None = None) -> JSON:
    status: JSON = {"phase": phase,
                    "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}
    if reason is not None:
        status["reason"] = reason
    if message is not None:
        status["message"] = message
    return env.patch("pods", ns, name, "merge", {"status": status}, subresource="status")


def set_pod_running(env: Env, ns: str, name: str, ready: bool = True) -> JSON:
    return set_pod_phase(env, ns, name, "Running", ready=ready)


def create_launcher_pod(env: Env, ns: str, job_name: str, phase: str = "Running", reason: str | None = None,
                        message: str | None = None) -> JSON:
    """A pod as the Job controller makes it: the Job's template, its labels, a controller reference to it."""
    job = env.get(JOBS, ns, job_name)
    assert job is not None, f"Job {ns}/{job_name} missing"
    template = copy.deepcopy(job["spec"]["template"])
    meta = template.get("metadata") or {}
    pod = {"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": f"{job_name}-{next(_pod_serial)}", "labels": meta.get("labels") or {},
                        "annotations": meta.get("annotations") or {},
                        "ownerReferences": [{"apiVersion": "batch/v1", "kind": "Job", "name": job_name,
                                             "uid": job["metadata"]["uid"], "controller": True,
                                             "blockOwnerDeletion": True}]},
           "spec": template["spec"]}
    created = env.create("pods", ns, pod)
    return set_pod_phase(env, ns, created["metadata"]["name"], phase, ready=phase == "Running", reason=reason,
                         message=message)


def set_job_status(env: Env, ns: str, name: str, status: JSON) -> JSON:
    return env.patch(JOBS, ns, name, "merge", {"status": status}, subresource="status")


def start_launcher(env: Env, ns: str, name: str) -> JSON:
    """The Job controller's view of a started launcher: startTime, one active pod."""
    set_job_status(env, ns, name, {"startTime": now_rfc3339(), "active": 1})
    return create_launcher_pod(env, ns, name)


async def running_pi(env: Env) -> str:
    """The pi example in a fresh namespace, driven to Running: both workers and the launcher pod Running."""
    ns = env.namespace()
    env.create(MPIJOBS, ns, example("pi.yaml"))
    await env.eventually(lambda: env.get(JOBS, ns, "pi-launcher"), what="launcher Job")
    set_pod_running(env, ns, "pi-worker-0")
    set_pod_running(env, ns, "pi-worker-1")
    start_launcher(env, ns, "pi-launcher")
    await env.eventually(lambda: condition(mpijob(env, ns, "pi"), "Running"), what="Running condition")
    return ns


def complete_launcher(env: Env, ns: str, name: str) -> str:
    """Mark the launcher Job Complete; returns the completionTime written."""
    done = now_rfc3339()
    set_job_status(env, ns, name, {
        "active": 0, "succeeded": 1, "completionTime": done,
        "conditions": [{"type": "SuccessCriteriaMet", "status": "True", "lastTransitionTime": done},
                       {"type": "Complete", "status": "True", "lastTransitionTime": done}]})
    return done


def fail_launcher(env: Env, ns: str, name: str, reason: str, message: str, failed: int = 1) -> None:
    when = now_rfc3339()
    set_job_status(env, ns, name, {
        "active": 0, "failed": failed,
        "conditions": [{"type": "FailureTarget", "status": "True", "reason": reason, "message": message,
                        "lastTransitionTime": when},
                       {"type": "Failed", "status": "True", "reason": reason, "message": message,
                        "lastTransitionTime": when}]})


def replica_status(env: Env, ns: str, name: str, replica_type: str) -> JSON | None:
    """`status.replicaStatuses[replica_type]` of the MPIJob, None while absent."""
    statuses = ((mpijob(env, ns, name).get("status") or {}).get("replicaStatuses") or {})
    return statuses.get(replica_type)


def kubelet_removes(env: Env, ns: str, name: str) -> None:
    """The kubelet finishing a pod's graceful deletion: the object goes (no-op if already gone)."""
    if env.get("pods", ns, name) is not None:
        env.delete("pods", ns, name, {"gracePeriodSeconds": 0})


def gone_or_terminating(env: Env, ns: str, name: str) -> bool:
    pod = env.get("pods", ns, name)
    return pod is None or bool(pod["metadata"].get("deletionTimestamp"))


def live(env: Env, ns: str, name: str) -> bool:
    """The pod exists and is not being deleted."""
    return not gone_or_terminating(env, ns, name)


def counter(env: Env, name: str) -> float:
    """The value of one of the controller's unlabelled counters (`jobs_created`, `jobs_successful`, ...)."""
    metric = getattr(env.controller.metrics, name)
    return float(sum(s.value for m in metric.collect() for s in m.samples if s.name.endswith("_total")))


def job_info(env: Env, ns: str, launcher: str) -> float | None:
    """`mpi_operator_job_info{launcher, namespace}`, None when the series does not exist."""
    for m in env.controller.metrics.job_info.collect():
        for s in m.samples:
            if s.labels == {"launcher": launcher, "namespace": ns}:
                return float(s.value)
    return None
