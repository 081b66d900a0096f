"""The simulated scheduler and kubelet: pod timeline, outcomes chosen by annotations, deletion, restarts (§9)."""

from __future__ import annotations

import asyncio
import time

import pytest
from kubernetes_asyncio import client

from mpi_operator.sandbox import Sandbox
from mpi_operator.sandbox.cluster import Cluster
from mpi_operator.sandbox.cluster.annotations import (
    EVICT_AFTER,
    EXIT_CODE,
    FAILURES,
    LOGS,
    READY_SECONDS,
    RUN_SECONDS,
    START_SECONDS,
    TERMINATION_SECONDS,
    UNSCHEDULABLE,
)
from mpi_operator.sandbox.cluster.kubelet import NODE_NAME
from mpi_operator.sandbox.timefmt import parse_rfc3339
from tests.sandbox_sim.conftest import History, condition, pod_body, unique, until

pytestmark = pytest.mark.asyncio(loop_scope="module")
NS = "default"
SSHD = ["/usr/sbin/sshd", "-De"]


def phase(sb: Sandbox, name: str) -> str | None:
    pod = sb.store.find("pods", NS, name)
    return None if pod is None else (pod.get("status") or {}).get("phase")


async def test_pod_timeline_sets_conditions_in_order_with_timestamps(sandbox: Sandbox, cluster: Cluster) -> None:
    name = unique("timeline")
    seen = History(sandbox.store, lambda ev: ev.info.key == "pods" and ev.name == name)
    sandbox.store.create("pods", NS, pod_body(name, annotations={START_SECONDS: "0.05"}, command=SSHD))
    pod = await until(sandbox.store, lambda: condition(sandbox.store.find("pods", NS, name), "Ready")
                      and sandbox.store.get("pods", NS, name))
    seen.close()
    assert pod["spec"]["nodeName"] == NODE_NAME
    status = pod["status"]
    assert status["phase"] == "Running"
    assert status["hostIP"] and status["podIP"] and status["startTime"]
    order: list[str] = []
    for obj in seen.objects("pods"):
        for c in (obj.get("status") or {}).get("conditions") or []:
            if c["status"] == "True" and c["type"] not in order:
                order.append(c["type"])
    assert order == ["PodScheduled", "PodReadyToStartContainers", "Initialized", "ContainersReady", "Ready"]
    for c in status["conditions"]:
        parse_rfc3339(c["lastTransitionTime"])
    waiting = [s["state"] for obj in seen.objects("pods") for s in (obj.get("status") or {}).get(
        "containerStatuses") or [] if "waiting" in s["state"]]
    assert waiting and waiting[0]["waiting"]["reason"] == "ContainerCreating"


async def test_container_statuses_carry_the_fields_typed_clients_require(sandbox: Sandbox, cluster: Cluster,
                                                                        api: client.ApiClient) -> None:
    name = unique("typed")
    sandbox.store.create("pods", NS, pod_body(name, annotations={EXIT_CODE: "3", RUN_SECONDS: "0"}))
    await until(sandbox.store, lambda: phase(sandbox, name) == "Failed")
    pod = await client.CoreV1Api(api).read_namespaced_pod(name, NS)
    status = pod.status.container_statuses[0]
    assert (status.name, status.image, status.ready, status.restart_count) == ("main", "busybox:1.36", False, 0)
    assert status.image_id
    assert status.state.terminated.exit_code == 3
    assert status.state.terminated.reason == "Error"


async def test_pods_succeed_after_run_seconds_and_show_pod_completed(sandbox: Sandbox, cluster: Cluster) -> None:
    name = unique("done")
    sandbox.store.create("pods", NS, pod_body(name))
    await until(sandbox.store, lambda: phase(sandbox, name) == "Succeeded")
    pod = sandbox.store.get("pods", NS, name)
    conds = {c["type"]: c for c in pod["status"]["conditions"]}
    assert conds["Ready"]["status"] == "False" and conds["Ready"]["reason"] == "PodCompleted"
    assert conds["ContainersReady"]["reason"] == "PodCompleted"
    terminated = pod["status"]["containerStatuses"][0]["state"]["terminated"]
    assert terminated["exitCode"] == 0 and terminated["reason"] == "Completed"


async def test_exit_code_annotation_fails_the_pod_with_pod_failed(sandbox: Sandbox, cluster: Cluster) -> None:
    name = unique("fail")
    sandbox.store.create("pods", NS, pod_body(name, annotations={EXIT_CODE: "1", RUN_SECONDS: "0.05"}))
    await until(sandbox.store, lambda: phase(sandbox, name) == "Failed")
    pod = sandbox.store.get("pods", NS, name)
    assert condition(pod, "Ready") is None
    ready = next(c for c in pod["status"]["conditions"] if c["type"] == "Ready")
    assert ready["reason"] == "PodFailed"


async def test_sshd_workers_run_until_deleted_then_terminate_and_vanish(sandbox: Sandbox, cluster: Cluster) -> None:
    name = unique("worker")
    sandbox.store.create("pods", NS, pod_body(name, command=SSHD, grace=30))
    await until(sandbox.store, lambda: condition(sandbox.store.find("pods", NS, name), "Ready"))
    seen = History(sandbox.store, lambda ev: ev.info.key == "pods" and ev.name == name)
    sandbox.store.delete("pods", NS, name)
    await until(sandbox.store, lambda: sandbox.store.find("pods", NS, name) is None)
    seen.close()
    first = seen.events[0].object["metadata"]
    assert seen.events[0].type == "MODIFIED" and first["deletionGracePeriodSeconds"] == 30
    assert parse_rfc3339(first["deletionTimestamp"]) - parse_rfc3339(first["creationTimestamp"]) >= 29
    phases = [(ev.type, (ev.object.get("status") or {}).get("phase")) for ev in seen.events]
    assert ("MODIFIED", "Failed") in phases and phases[-1][0] == "DELETED"
    terminated = seen.events[-1].object["status"]["containerStatuses"][0]["state"]["terminated"]
    assert terminated["exitCode"] == 143


async def test_unscheduled_pods_vanish_at_once_when_deleted(sandbox: Sandbox, cluster: Cluster) -> None:
    name = unique("nowhere")
    sandbox.store.create("pods", NS, pod_body(name, annotations={UNSCHEDULABLE: "true"}))
    pod = await until(sandbox.store, lambda: next(
        (c for c in (sandbox.store.get("pods", NS, name).get("status") or {}).get("conditions") or []
         if c["type"] == "PodScheduled"), None))
    assert pod["status"] == "False" and pod["reason"] == "Unschedulable"
    _, removed = sandbox.store.delete("pods", NS, name)
    assert removed


async def test_termination_takes_termination_seconds_within_the_grace(sandbox: Sandbox, cluster: Cluster) -> None:
    name = unique("slowstop")
    sandbox.store.create("pods", NS, pod_body(name, command=SSHD, annotations={TERMINATION_SECONDS: "0.3"}))
    await until(sandbox.store, lambda: phase(sandbox, name) == "Running")
    sandbox.store.delete("pods", NS, name)
    pod = sandbox.store.get("pods", NS, name)
    assert pod["metadata"]["deletionTimestamp"] and pod["status"]["phase"] == "Running"
    await until(sandbox.store, lambda: sandbox.store.find("pods", NS, name) is None)


async def test_on_failure_restarts_containers_in_place(sandbox: Sandbox, cluster: Cluster) -> None:
    name = unique("crash")
    sandbox.store.create("pods", NS, pod_body(name, restart="OnFailure",
                                              annotations={EXIT_CODE: "2", RUN_SECONDS: "0.02"}))

    def restarts() -> int:
        statuses = (sandbox.store.get("pods", NS, name).get("status") or {}).get("containerStatuses") or [{}]
        return int(statuses[0].get("restartCount", 0))

    await until(sandbox.store, lambda: restarts() >= 2)
    pod = sandbox.store.get("pods", NS, name)
    assert pod["status"]["phase"] == "Running"
    last = pod["status"]["containerStatuses"][0]["lastState"]["terminated"]
    assert last["exitCode"] == 2 and last["reason"] == "Error"
    sandbox.store.delete("pods", NS, name, {"gracePeriodSeconds": 0})


async def test_ready_seconds_delays_readiness(sandbox: Sandbox, cluster: Cluster) -> None:
    name = unique("slowready")
    sandbox.store.create("pods", NS, pod_body(name, command=SSHD, annotations={READY_SECONDS: "0.2"}))
    await until(sandbox.store, lambda: phase(sandbox, name) == "Running")
    assert condition(sandbox.store.get("pods", NS, name), "Ready") is None
    await until(sandbox.store, lambda: condition(sandbox.store.get("pods", NS, name), "Ready"))
    sandbox.store.delete("pods", NS, name, {"gracePeriodSeconds": 0})


async def test_node_is_registered_ready(sandbox: Sandbox, cluster: Cluster) -> None:
    node = sandbox.store.get("nodes", None, NODE_NAME)
    assert condition(node, "Ready")


async def test_logs_come_from_the_annotation_or_describe_the_run(sandbox: Sandbox, cluster: Cluster,
                                                                api: client.ApiClient) -> None:
    core = client.CoreV1Api(api)
    said = unique("says")
    sandbox.store.create("pods", NS, pod_body(said, annotations={LOGS: "pi is 3.14", RUN_SECONDS: "0"}))
    plain = unique("plain")
    sandbox.store.create("pods", NS, pod_body(plain, annotations={EXIT_CODE: "4", RUN_SECONDS: "0"}))
    await until(sandbox.store, lambda: phase(sandbox, said) == "Succeeded" and phase(sandbox, plain) == "Failed")
    assert await core.read_namespaced_pod_log(said, NS) == "pi is 3.14\n"
    assert "exited with code 4" in await core.read_namespaced_pod_log(plain, NS, container="main")


async def test_pod_active_deadline_fails_the_pod(sandbox: Sandbox, cluster: Cluster) -> None:
    name = unique("podline")
    body = pod_body(name, command=SSHD)
    body["spec"]["activeDeadlineSeconds"] = 1
    sandbox.store.create("pods", NS, body)
    await until(sandbox.store, lambda: phase(sandbox, name) == "Failed", timeout=4)
    status = sandbox.store.get("pods", NS, name)["status"]
    assert status["reason"] == "DeadlineExceeded"
    assert status["containerStatuses"][0]["state"]["terminated"]["exitCode"] == 143  # SIGTERM, within the grace


async def test_pod_active_deadline_counts_from_admission_not_the_whole_second(sandbox: Sandbox,
                                                                         cluster: Cluster) -> None:
    """status.startTime keeps whole seconds only: read back, it would end a pod admitted at x.95 s at once."""
    while time.time() % 1 < 0.9:  # noqa: ASYNC110 - waiting for a moment on the wall clock, not for an event
        await asyncio.sleep(0.01)
    name = unique("lateline")
    body = pod_body(name, command=SSHD)
    body["spec"]["activeDeadlineSeconds"] = 1
    created = time.monotonic()
    sandbox.store.create("pods", NS, body)
    await until(sandbox.store, lambda: phase(sandbox, name) == "Failed", timeout=4)
    assert time.monotonic() - created >= 1.0
    terminated = sandbox.store.get("pods", NS, name)["status"]["containerStatuses"][0]["state"]["terminated"]
    assert terminated["reason"] == "Error", "the container ran before the deadline"


async def test_kubelet_events_when_enabled(sandbox: Sandbox, cluster: Cluster) -> None:
    assert cluster.kubelet is not None
    cluster.kubelet.events.enabled = cluster.kubelet.scheduler_events.enabled = True
    try:
        name = unique("noisy")
        sandbox.store.create("pods", NS, pod_body(name, command=SSHD))
        await until(sandbox.store, lambda: phase(sandbox, name) == "Running")
        sandbox.store.delete("pods", NS, name)
        await until(sandbox.store, lambda: sandbox.store.find("pods", NS, name) is None)
    finally:
        cluster.kubelet.events.enabled = cluster.kubelet.scheduler_events.enabled = False
    events = [e for e in sandbox.store.iter_objects("events", NS) if e["involvedObject"]["name"] == name]
    assert [(e["source"]["component"], e["reason"]) for e in sorted(events, key=lambda e: e["metadata"]["name"])] == [
        ("default-scheduler", "Scheduled"), ("kubelet", "Started"), ("kubelet", "Killing")]


async def test_failures_annotation_fails_the_first_runs_then_succeeds(sandbox: Sandbox, cluster: Cluster) -> None:
    name = unique("flaky")
    sandbox.store.create("pods", NS, pod_body(name, restart="OnFailure", annotations={FAILURES: "2", RUN_SECONDS: "0"}))
    await until(sandbox.store, lambda: phase(sandbox, name) == "Succeeded")
    status = sandbox.store.get("pods", NS, name)["status"]["containerStatuses"][0]
    assert status["restartCount"] == 2 and status["lastState"]["terminated"]["exitCode"] == 1
    assert status["state"]["terminated"]["exitCode"] == 0


async def test_evict_after_seconds_evicts_a_running_pod(sandbox: Sandbox, cluster: Cluster) -> None:
    name = unique("pressure")
    sandbox.store.create("pods", NS, pod_body(name, command=SSHD, annotations={EVICT_AFTER: "0.1"}))
    await until(sandbox.store, lambda: phase(sandbox, name) == "Failed")
    pod = sandbox.store.get("pods", NS, name)
    assert pod["status"]["reason"] == "Evicted" and condition(pod, "DisruptionTarget")


async def test_cordoned_node_leaves_new_pods_pending_until_uncordoned(sandbox: Sandbox, cluster: Cluster) -> None:
    sandbox.store.patch("nodes", None, NODE_NAME, "merge", {"spec": {"unschedulable": True}})
    try:
        name = unique("cordoned")
        sandbox.store.create("pods", NS, pod_body(name, command=SSHD))
        scheduled = await until(sandbox.store, lambda: next(
            (c for c in (sandbox.store.get("pods", NS, name).get("status") or {}).get("conditions") or []
             if c["type"] == "PodScheduled"), None))
        assert (scheduled["status"], scheduled["reason"]) == ("False", "Unschedulable")
        assert "unschedulable" in scheduled["message"]
    finally:
        sandbox.store.patch("nodes", None, NODE_NAME, "merge", {"spec": {"unschedulable": None}})
    await until(sandbox.store, lambda: phase(sandbox, name) == "Running")
    sandbox.store.delete("pods", NS, name, {"gracePeriodSeconds": 0})
