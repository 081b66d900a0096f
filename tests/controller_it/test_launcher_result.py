"""The launcher Job's result becomes the MPIJob's: Succeeded or Failed with completionTime, cleanPodPolicy
applied to the workers, and the launcher Job's finalizer released once the status holds the result."""

from __future__ import annotations

import copy

import pytest

from mpi_operator.controller.finalizer import LAUNCHER_FINALIZER
from mpi_operator.sandbox.timefmt import now_rfc3339
from tests.controller_it.cluster import (
    JOBS,
    complete_launcher,
    condition,
    counter,
    create_launcher_pod,
    events,
    fail_launcher,
    gone_or_terminating,
    job_info,
    mpijob,
    replica_status,
    set_pod_phase,
    set_pod_running,
    start_launcher,
)
from tests.controller_it.conftest import MPIJOBS, Env, example

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def started_job(env: Env, policy: str | None) -> str:
    """A pi job whose worker-0 runs and worker-1 has finished, with a started launcher."""
    ns = env.namespace()
    job = copy.deepcopy(example("pi.yaml"))
    job["spec"]["runPolicy"]["cleanPodPolicy"] = policy
    if policy is None:
        del job["spec"]["runPolicy"]["cleanPodPolicy"]
    env.create(MPIJOBS, ns, job)
    await env.eventually(lambda: env.get(JOBS, ns, "pi-launcher"), what="launcher Job")
    set_pod_running(env, ns, "pi-worker-0")
    set_pod_phase(env, ns, "pi-worker-1", "Succeeded")
    start_launcher(env, ns, "pi-launcher")
    await env.eventually(lambda: replica_status(env, ns, "pi", "Worker")
                         == {"active": 1, "succeeded": 1}, what="worker counts")
    return ns


@pytest.mark.parametrize(("policy", "deleted", "kept"), [
    (None, ["pi-worker-0"], ["pi-worker-1"]),  # docs/decisions.md Q4: the default is Running
    ("Running", ["pi-worker-0"], ["pi-worker-1"]),
    ("All", ["pi-worker-0", "pi-worker-1"], []),
    ("None", [], ["pi-worker-0", "pi-worker-1"]),
])
async def test_launcher_success_succeeds_the_job_and_cleans_per_policy(env: Env, policy: str | None, deleted: list[str],
                                                                      kept: list[str]) -> None:
    ns = await started_job(env, policy)
    successful = counter(env, "jobs_successful")
    completion = complete_launcher(env, ns, "pi-launcher")

    done = await env.eventually(lambda: condition(mpijob(env, ns, "pi"), "Succeeded") and mpijob(env, ns, "pi"),
                                what="Succeeded condition")
    succeeded = condition(done, "Succeeded")
    assert succeeded is not None and succeeded["status"] == "True" and succeeded["reason"] == "MPIJobSucceeded"
    assert succeeded["message"] == f"MPIJob {ns}/pi successfully completed."
    assert done["status"]["completionTime"] == completion
    assert done["status"]["replicaStatuses"]["Launcher"] == {"succeeded": 1}
    running = condition(done, "Running")
    assert running is not None and running["status"] == "False"

    await env.eventually(lambda: all(gone_or_terminating(env, ns, name) for name in deleted), what="workers deleted")
    # docs/decisions.md Q31: the result is recorded, so the launcher Job may now go (TTL, kubectl delete).
    await env.eventually(lambda: LAUNCHER_FINALIZER not in (env.get(JOBS, ns, "pi-launcher") or {}).get(
        "metadata", {}).get("finalizers", []), what="launcher finalizer released")
    await env.settled()
    for name in kept:
        assert not gone_or_terminating(env, ns, name), f"{name} should be kept under {policy}"
    final = mpijob(env, ns, "pi")
    assert final["status"]["replicaStatuses"]["Worker"] == {}
    assert len(events(env, ns, "MPIJobSucceeded")) == 1
    assert counter(env, "jobs_successful") == successful + 1
    assert job_info(env, ns, "pi-launcher") == 1


async def test_launcher_finalizer_is_kept_until_the_result_is_recorded(env: Env) -> None:
    ns = env.namespace()
    env.create(MPIJOBS, ns, example("pi.yaml"))
    launcher = await env.eventually(lambda: env.get(JOBS, ns, "pi-launcher"), what="launcher Job")
    assert LAUNCHER_FINALIZER in launcher["metadata"]["finalizers"]
    await env.settled()
    launcher = env.get(JOBS, ns, "pi-launcher")
    assert launcher is not None and LAUNCHER_FINALIZER in launcher["metadata"]["finalizers"]


async def test_backoff_limit_exceeded_names_the_newest_failed_launcher_pod(env: Env) -> None:
    ns = env.namespace()
    env.create(MPIJOBS, ns, example("pi.yaml"))
    await env.eventually(lambda: env.get(JOBS, ns, "pi-launcher"), what="launcher Job")
    first = create_launcher_pod(env, ns, "pi-launcher", "Failed", reason="FailedReason1", message="first message")
    # creationTimestamp has one-second resolution: wait for the clock so the second pod is strictly newer.
    await env.eventually(lambda: now_rfc3339() > first["metadata"]["creationTimestamp"], what="clock tick")
    create_launcher_pod(env, ns, "pi-launcher", "Failed", reason="FailedReason2", message="second message")
    await env.eventually(lambda: replica_status(env, ns, "pi", "Launcher") == {},
                         what="launcher status seen")
    assert condition(mpijob(env, ns, "pi"), "Failed") is None  # failed pods alone do not fail the MPIJob

    failed_before = counter(env, "jobs_failed")
    fail_launcher(env, ns, "pi-launcher", "BackoffLimitExceeded", "Job has reached the specified backoff limit",
                  failed=2)
    done = await env.eventually(lambda: condition(mpijob(env, ns, "pi"), "Failed") and mpijob(env, ns, "pi"),
                                what="Failed condition")
    failed = condition(done, "Failed")
    assert failed is not None and failed["status"] == "True"
    assert failed["reason"] == "BackoffLimitExceeded/FailedReason2"
    assert failed["message"] == "Job has reached the specified backoff limit: second message"
    assert done["status"]["completionTime"]
    assert done["status"]["replicaStatuses"]["Launcher"] == {"failed": 2}
    running = condition(done, "Running")
    assert running is not None and running["status"] == "False"
    assert running["message"] == f"MPIJob {ns}/pi is finished but Running condition was never set."
    warnings = await env.eventually(lambda: events(env, ns, "BackoffLimitExceeded/FailedReason2"),
                                    what="failure event")
    assert warnings[0]["type"] == "Warning"
    assert warnings[0]["message"] == "Job has reached the specified backoff limit: second message"
    assert counter(env, "jobs_failed") == failed_before + 1
    # cleanPodPolicy Running: the still-Pending workers go.
    await env.eventually(lambda: all(gone_or_terminating(env, ns, f"pi-worker-{i}") for i in range(2)),
                         what="pending workers deleted")
    await env.eventually(lambda: LAUNCHER_FINALIZER not in (env.get(JOBS, ns, "pi-launcher") or {}).get(
        "metadata", {}).get("finalizers", []), what="launcher finalizer released")


async def test_launcher_failure_without_reason_uses_the_upstream_defaults(env: Env) -> None:
    ns = env.namespace()
    env.create(MPIJOBS, ns, example("pi.yaml"))
    await env.eventually(lambda: env.get(JOBS, ns, "pi-launcher"), what="launcher Job")
    fail_launcher(env, ns, "pi-launcher", "", "")
    done = await env.eventually(lambda: condition(mpijob(env, ns, "pi"), "Failed") and mpijob(env, ns, "pi"),
                                what="Failed condition")
    failed = condition(done, "Failed")
    assert failed is not None
    assert (failed["reason"], failed["message"]) == ("MPIJobFailed", f"MPIJob {ns}/pi has failed")
    assert done["status"]["replicaStatuses"]["Launcher"] == {"failed": 1}


async def test_a_finished_job_leaves_its_other_children_alone(env: Env) -> None:
    ns = env.namespace()
    env.create(MPIJOBS, ns, example("pi.yaml"))
    await env.eventually(lambda: env.get(JOBS, ns, "pi-launcher"), what="launcher Job")
    complete_launcher(env, ns, "pi-launcher")
    await env.eventually(lambda: condition(mpijob(env, ns, "pi"), "Succeeded"), what="Succeeded")
    await env.settled()
    env.delete("configmaps", ns, "pi-config")
    env.delete("services", ns, "pi")
    await env.settled()
    assert env.get("configmaps", ns, "pi-config") is None and env.get("services", ns, "pi") is None
    assert env.list("pods", ns) == [] or all(gone_or_terminating(env, ns, p["metadata"]["name"])
                                             for p in env.list("pods", ns))
