"""The simulated Job controller: pods, counting, conditions, suspend, deadlines, TTL, replacement (§8)."""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from mpi_operator.sandbox import Sandbox
from mpi_operator.sandbox.cluster import Cluster
from mpi_operator.sandbox.cluster.annotations import EXIT_CODE, RUN_SECONDS, TERMINATION_SECONDS
from mpi_operator.sandbox.cluster.jobcontroller import COMPLETION_INDEX, JOBS, TRACKING_FINALIZER
from mpi_operator.sandbox.timefmt import parse_rfc3339
from tests.sandbox_sim.conftest import History, condition, job_body, unique, until

pytestmark = pytest.mark.asyncio(loop_scope="module")
NS = "default"
FOREVER = {RUN_SECONDS: "inf"}
Obj = dict[str, Any]


def get_job(sb: Sandbox, name: str) -> Obj | None:
    return sb.store.find(JOBS, NS, name)


def pods_of(sb: Sandbox, job: Obj) -> list[Obj]:
    uid = job["metadata"]["uid"]
    return [p for p in sb.store.dependents(uid) if p.get("kind") == "Pod"]


def final(sb: Sandbox, name: str, type_: str) -> Obj | None:
    return condition(get_job(sb, name), type_)


async def test_job_template_gets_selector_labels_and_always_is_rejected(sandbox: Sandbox,
                                                                        api: client.ApiClient) -> None:
    name = unique("labels")
    batch = client.BatchV1Api(api)
    body: Any = job_body(name)
    job = await batch.create_namespaced_job(NS, body)
    uid = job.metadata.uid
    labels = job.spec.template.metadata.labels
    assert labels == {"batch.kubernetes.io/controller-uid": uid, "controller-uid": uid,
                      "batch.kubernetes.io/job-name": name, "job-name": name}
    assert job.spec.selector.match_labels == {"batch.kubernetes.io/controller-uid": uid}
    with pytest.raises(ApiException) as err:
        always: Any = job_body(unique("always"), restart="Always")
        await batch.create_namespaced_job(NS, always)
    assert err.value.status == 422


async def test_job_pods_are_named_owned_and_tracked(sandbox: Sandbox, cluster: Cluster) -> None:
    name = unique("owned")
    job = sandbox.store.create(JOBS, NS, job_body(name, annotations=FOREVER))
    pods = await until(sandbox.store, lambda: pods_of(sandbox, job))
    pod = pods[0]
    meta = pod["metadata"]
    assert meta["name"].startswith(f"{name}-") and len(meta["name"]) == len(name) + 6
    assert TRACKING_FINALIZER in meta["finalizers"]
    assert meta["ownerReferences"] == [{"apiVersion": "batch/v1", "kind": "Job", "name": name,
                                        "uid": job["metadata"]["uid"], "controller": True,
                                        "blockOwnerDeletion": True}]
    assert meta["labels"]["batch.kubernetes.io/job-name"] == name
    status = (await until(sandbox.store, lambda: (get_job(sandbox, name) or {}).get("status", {}).get(
        "ready") == 1 and get_job(sandbox, name)))["status"]
    assert status["active"] == 1 and status["terminating"] == 0 and status["startTime"]
    sandbox.store.delete(JOBS, NS, name, {"propagationPolicy": "Background"})


async def test_successful_job_counts_after_finalizer_removal_then_completes(sandbox: Sandbox,
                                                                           cluster: Cluster,
                                                                           api: client.ApiClient) -> None:
    name = unique("ok")
    seen = History(sandbox.store, lambda ev: ev.name.startswith(name))
    sandbox.store.create(JOBS, NS, job_body(name, annotations={RUN_SECONDS: "0.05"}))
    await until(sandbox.store, lambda: final(sandbox, name, "Complete"))
    seen.close()
    job = await client.BatchV1Api(api).read_namespaced_job(name, NS)
    types = [c.type for c in job.status.conditions]
    assert types == ["SuccessCriteriaMet", "Complete"]
    complete = job.status.conditions[1]
    assert complete.reason == "CompletionsReached"
    assert job.status.completion_time == complete.last_transition_time
    assert job.status.succeeded == 1 and not job.status.failed and not job.status.active
    assert job.status.uncounted_terminated_pods.succeeded is None
    # The pod is first recorded as uncounted, its finalizer goes, and only then the counter moves.
    order = []
    for ev in seen.events:
        if ev.info.key == JOBS and (ev.object.get("status") or {}).get("uncountedTerminatedPods", {}).get(
                "succeeded"):
            order.append("uncounted")
        elif ev.info.key == "pods" and ev.old and TRACKING_FINALIZER in (ev.old["metadata"].get("finalizers") or [])\
                and TRACKING_FINALIZER not in (ev.object["metadata"].get("finalizers") or []):
            order.append("released")
        elif ev.info.key == JOBS and (ev.object.get("status") or {}).get("succeeded") and "counted" not in order:
            order.append("counted")
    assert order == ["uncounted", "released", "counted"]
    reasons = [ev.object["reason"] for ev in seen.events if ev.info.key == "events" and ev.type == "ADDED"]
    assert "SuccessfulCreate" in reasons and reasons[-1] == "Completed"


async def test_backoff_limit_fails_the_job_after_the_second_failure(sandbox: Sandbox, cluster: Cluster) -> None:
    name = unique("backoff")
    sandbox.store.create(JOBS, NS, job_body(name, annotations={EXIT_CODE: "1", RUN_SECONDS: "0.02"}, backoffLimit=1))
    await until(sandbox.store, lambda: final(sandbox, name, "Failed"))
    job = get_job(sandbox, name)
    assert job is not None
    conds = [(c["type"], c["reason"]) for c in job["status"]["conditions"]]
    assert conds == [("FailureTarget", "BackoffLimitExceeded"), ("Failed", "BackoffLimitExceeded")]
    assert job["status"]["failed"] == 2 and "completionTime" not in job["status"]
    assert len(pods_of(sandbox, job)) == 2


async def test_failing_job_deletes_active_pods_before_failed(sandbox: Sandbox, cluster: Cluster) -> None:
    name = unique("failfirst")
    job = sandbox.store.create(JOBS, NS, job_body(name, annotations={**FOREVER, TERMINATION_SECONDS: "0.1"},
                                                  parallelism=2, completions=2, backoffLimit=0))
    pods = await until(sandbox.store, lambda: len(pods_of(sandbox, job)) == 2 and all(
        (p.get("status") or {}).get("phase") == "Running" for p in pods_of(sandbox, job)) and pods_of(sandbox, job))
    seen = History(sandbox.store, lambda ev: ev.name.startswith(name))
    cluster.evict(NS, pods[0]["metadata"]["name"])
    await until(sandbox.store, lambda: final(sandbox, name, "Failed"))
    seen.close()
    target_at = next(i for i, ev in enumerate(seen.events) if condition(ev.object, "FailureTarget"))
    failed_at = next(i for i, ev in enumerate(seen.events) if condition(ev.object, "Failed"))
    other = pods[1]["metadata"]["name"]
    other_failed_at = next(i for i, ev in enumerate(seen.events) if ev.name == other and (
        ev.object.get("status") or {}).get("phase") == "Failed")
    assert target_at < other_failed_at < failed_at
    done = get_job(sandbox, name)
    assert done is not None and done["status"]["failed"] == 2 and done["status"]["terminating"] == 0


async def test_on_failure_restarts_count_against_backoff_limit(sandbox: Sandbox, cluster: Cluster) -> None:
    name = unique("onfailure")
    seen = History(sandbox.store, lambda ev: ev.info.key == "pods" and ev.name.startswith(name))
    sandbox.store.create(JOBS, NS, job_body(name, restart="OnFailure", backoffLimit=2,
                                            annotations={EXIT_CODE: "1", RUN_SECONDS: "0.02"}))
    await until(sandbox.store, lambda: final(sandbox, name, "Failed"))
    seen.close()
    assert condition(get_job(sandbox, name), "Failed")["reason"] == "BackoffLimitExceeded"  # type: ignore[index]
    assert [ev.type for ev in seen.events].count("ADDED") == 1  # restarted in place, never replaced
    restarts = [s["restartCount"] for ev in seen.events for s in ev.object["status"].get("containerStatuses") or []]
    assert max(restarts) == 2
    assert all(ev.object["status"]["phase"] in ("Pending", "Running") for ev in seen.events
               if not ev.object["metadata"].get("deletionTimestamp"))


async def test_active_deadline_fails_the_job(sandbox: Sandbox, cluster: Cluster) -> None:
    name = unique("deadline")
    sandbox.store.create(JOBS, NS, job_body(name, annotations=FOREVER, activeDeadlineSeconds=1))
    cond = await until(sandbox.store, lambda: final(sandbox, name, "Failed"), timeout=5)
    job = get_job(sandbox, name)
    assert job is not None and cond["reason"] == "DeadlineExceeded"
    assert job["status"]["failed"] == 1
    elapsed = parse_rfc3339(cond["lastTransitionTime"]) - parse_rfc3339(job["status"]["startTime"])
    assert 1 <= elapsed <= 3


async def test_suspend_deletes_pods_uncounted_and_resume_restarts_clock(sandbox: Sandbox, cluster: Cluster) -> None:
    name = unique("suspend")
    job = sandbox.store.create(JOBS, NS, job_body(name, annotations=FOREVER))
    await until(sandbox.store, lambda: (get_job(sandbox, name) or {}).get("status", {}).get("ready") == 1)
    started = get_job(sandbox, name)["status"]["startTime"]  # type: ignore[index]
    sandbox.store.patch(JOBS, NS, name, "merge", {"spec": {"suspend": True}})
    cond = await until(sandbox.store, lambda: final(sandbox, name, "Suspended"))
    assert cond["reason"] == "JobSuspended"
    await until(sandbox.store, lambda: not pods_of(sandbox, job))
    status = get_job(sandbox, name)["status"]  # type: ignore[index]
    assert "failed" not in status and "active" not in status and status["startTime"] == started
    sandbox.store.patch(JOBS, NS, name, "merge", {"spec": {"suspend": False}})
    await until(sandbox.store, lambda: (get_job(sandbox, name) or {}).get("status", {}).get("active") == 1)
    running = get_job(sandbox, name)
    assert running is not None
    resumed = next(c for c in running["status"]["conditions"] if c["type"] == "Suspended")
    assert (resumed["status"], resumed["reason"]) == ("False", "JobResumed")
    assert running["status"]["startTime"] >= started
    sandbox.store.delete(JOBS, NS, name, {"propagationPolicy": "Background"})


async def test_job_created_suspended_has_no_start_time_and_no_pods(sandbox: Sandbox, cluster: Cluster) -> None:
    name = unique("born-suspended")
    job = sandbox.store.create(JOBS, NS, job_body(name, suspend=True, activeDeadlineSeconds=2))
    await until(sandbox.store, lambda: final(sandbox, name, "Suspended"))
    status = get_job(sandbox, name)["status"]  # type: ignore[index]
    assert "startTime" not in status and not pods_of(sandbox, job)
    sandbox.store.patch(JOBS, NS, name, "merge", {"spec": {"suspend": False}})
    cond = await until(sandbox.store, lambda: final(sandbox, name, "Complete") or final(sandbox, name, "Failed"))
    # 0.3 s of work fits in the deadline (at least 1 s: startTime has whole seconds) that only started on resume
    assert cond["type"] == "Complete"


async def test_deleting_a_running_pod_counts_as_failure_and_is_replaced(sandbox: Sandbox, cluster: Cluster) -> None:
    name = unique("replace")
    job = sandbox.store.create(JOBS, NS, job_body(name, annotations=FOREVER))
    first = (await until(sandbox.store, lambda: pods_of(sandbox, job)))[0]
    sandbox.store.delete("pods", NS, first["metadata"]["name"])
    await until(sandbox.store, lambda: (get_job(sandbox, name) or {}).get("status", {}).get("failed") == 1
                and len([p for p in pods_of(sandbox, job) if not p["metadata"].get("deletionTimestamp")]) == 1)
    sandbox.store.delete(JOBS, NS, name, {"propagationPolicy": "Background"})


async def test_failed_replacement_policy_waits_for_the_terminal_phase(sandbox: Sandbox, cluster: Cluster) -> None:
    name = unique("waitfailed")
    job = sandbox.store.create(JOBS, NS, job_body(name, annotations={**FOREVER, TERMINATION_SECONDS: "0.3"},
                                                  podReplacementPolicy="Failed"))
    first = (await until(sandbox.store, lambda: [p for p in pods_of(sandbox, job) if (p.get("status") or {}).get(
        "phase") == "Running"]))[0]
    seen = History(sandbox.store, lambda ev: ev.info.key == "pods" and ev.name.startswith(name))
    sandbox.store.delete("pods", NS, first["metadata"]["name"])
    status = (await until(sandbox.store, lambda: (get_job(sandbox, name) or {}).get("status", {}).get(
        "terminating") == 1 and get_job(sandbox, name)))["status"]
    assert "failed" not in status
    await until(sandbox.store, lambda: (get_job(sandbox, name) or {}).get("status", {}).get("active") == 1
                and get_job(sandbox, name)["status"].get("failed") == 1)  # type: ignore[index]
    seen.close()
    first_failed = next(i for i, ev in enumerate(seen.events) if ev.name == first["metadata"]["name"]
                        and (ev.object.get("status") or {}).get("phase") == "Failed")
    replacement = next(i for i, ev in enumerate(seen.events) if ev.type == "ADDED")
    assert first_failed < replacement
    sandbox.store.delete(JOBS, NS, name, {"propagationPolicy": "Background"})


async def test_ttl_deletes_the_finished_job_in_the_foreground(sandbox: Sandbox, cluster: Cluster) -> None:
    name = unique("ttl")
    seen = History(sandbox.store, lambda ev: ev.info.key == JOBS and ev.name == name)
    job = sandbox.store.create(JOBS, NS, job_body(name, annotations={RUN_SECONDS: "0"}, ttlSecondsAfterFinished=0))
    await until(sandbox.store, lambda: get_job(sandbox, name) is None and not pods_of(sandbox, job))
    seen.close()
    fins = [ev.object["metadata"].get("finalizers") for ev in seen.events if ev.object["metadata"].get(
        "deletionTimestamp")]
    assert fins and "foregroundDeletion" in fins[0]
    assert condition(seen.events[-1].object, "Complete") and seen.events[-1].type == "DELETED"


async def test_evicted_pod_counts_as_failed(sandbox: Sandbox, cluster: Cluster) -> None:
    name = unique("evicted")
    job = sandbox.store.create(JOBS, NS, job_body(name, annotations=FOREVER, backoffLimit=3))
    pod = (await until(sandbox.store, lambda: [p for p in pods_of(sandbox, job) if (p.get("status") or {}).get(
        "phase") == "Running"]))[0]
    evicted = cluster.evict(NS, pod["metadata"]["name"])
    assert evicted["status"]["phase"] == "Failed" and evicted["status"]["reason"] == "Evicted"
    target = condition(evicted, "DisruptionTarget")
    assert target is not None and target["reason"] == "TerminationByKubelet"
    await until(sandbox.store, lambda: (get_job(sandbox, name) or {}).get("status", {}).get("failed") == 1)
    sandbox.store.delete(JOBS, NS, name, {"propagationPolicy": "Background"})


async def test_indexed_job_names_pods_by_index_and_tracks_completed_indexes(sandbox: Sandbox,
                                                                           cluster: Cluster) -> None:
    name = unique("indexed")
    job = sandbox.store.create(JOBS, NS, job_body(name, annotations={RUN_SECONDS: "0.05"}, completions=2,
                                                  parallelism=2, completionMode="Indexed"))
    pods = await until(sandbox.store, lambda: len(pods_of(sandbox, job)) == 2 and pods_of(sandbox, job))
    for pod in pods:
        index = pod["metadata"]["labels"][COMPLETION_INDEX]
        assert pod["metadata"]["name"].startswith(f"{name}-{index}-")
        assert pod["spec"]["hostname"] == f"{name}-{index}"
    await until(sandbox.store, lambda: final(sandbox, name, "Complete"))
    assert get_job(sandbox, name)["status"]["completedIndexes"] == "0-1"  # type: ignore[index]


async def test_orphaned_pods_lose_the_tracking_finalizer(sandbox: Sandbox, cluster: Cluster) -> None:
    name = unique("orphan")
    job = sandbox.store.create(JOBS, NS, job_body(name, annotations=FOREVER))
    pod = (await until(sandbox.store, lambda: pods_of(sandbox, job)))[0]
    sandbox.store.delete(JOBS, NS, name)  # batch/v1 default: Orphan
    pod_name = pod["metadata"]["name"]
    survivor = await until(sandbox.store, lambda: get_job(sandbox, name) is None and not (
        sandbox.store.get("pods", NS, pod_name)["metadata"].get("finalizers")) and sandbox.store.get(
        "pods", NS, pod_name))
    assert not survivor["metadata"].get("ownerReferences")
    sandbox.store.delete("pods", NS, pod_name, {"gracePeriodSeconds": 0})


async def test_deadline_clock_pauses_while_suspended_and_restarts_on_resume(sandbox: Sandbox,
                                                                           cluster: Cluster) -> None:
    name = unique("pause")
    # 2 s: at least 1 s after the (whole-second) startTime, so the suspend below surely comes first.
    sandbox.store.create(JOBS, NS, job_body(name, annotations=FOREVER, activeDeadlineSeconds=2))
    await until(sandbox.store, lambda: (get_job(sandbox, name) or {}).get("status", {}).get("active") == 1)
    sandbox.store.patch(JOBS, NS, name, "merge", {"spec": {"suspend": True}})
    await until(sandbox.store, lambda: final(sandbox, name, "Suspended"))
    with pytest.raises(TimeoutError):  # past the deadline, but suspended
        await until(sandbox.store, lambda: final(sandbox, name, "FailureTarget"), timeout=2.1)
    sandbox.store.patch(JOBS, NS, name, "merge", {"spec": {"suspend": False}})
    cond = await until(sandbox.store, lambda: final(sandbox, name, "Failed"), timeout=4)
    job = get_job(sandbox, name)
    assert job is not None and cond["reason"] == "DeadlineExceeded"
    resumed = next(c for c in job["status"]["conditions"] if c["type"] == "Suspended")
    assert resumed["reason"] == "JobResumed" and job["status"]["startTime"] == resumed["lastTransitionTime"]
