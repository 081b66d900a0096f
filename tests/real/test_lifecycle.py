"""An MPIJob's life on both grounds: suspend and resume, WaitForWorkersReady, cleanPodPolicy, and the run
policy the launcher Job carries (backoffLimit, activeDeadlineSeconds, ttlSecondsAfterFinished).

On the real ground the Job controller, the garbage collector and the TTL controller are Kubernetes' own;
pod outcomes come from the node agent's simulated runtime (annotations `sandbox.mpi-operator/...`).
"""

from __future__ import annotations

import copy

from mpi_operator.kube.client import Client
from tests.real.ground import Ground, OperatorProcess
from tests.real.helpers import (
    JSON,
    condition,
    create_mpijob,
    eventually,
    example,
    get,
    is_true,
    items,
    jobs_path,
    mpijob,
    patch_mpijob,
    pods_path,
    wait_condition,
    with_annotations,
)

RUN = "sandbox.mpi-operator/run-seconds"
EXIT = "sandbox.mpi-operator/exit-code"
FAILURES = "sandbox.mpi-operator/failures"
READY = "sandbox.mpi-operator/ready-seconds"


def pi(**run_policy: object) -> JSON:
    doc = copy.deepcopy(example("pi.yaml"))
    doc["spec"]["runPolicy"].update(run_policy)
    return doc


async def workers(api: Client, ns: str, name: str = "pi") -> list[JSON]:
    selector = f"training.kubeflow.org/job-name={name},training.kubeflow.org/job-role=worker"
    return await items(api, pods_path(ns), selector)


async def launcher_job(api: Client, ns: str, name: str = "pi") -> JSON | None:
    return await get(api, f"{jobs_path(ns)}/{name}-launcher")


async def test_created_suspended_then_resumed_runs_to_succeeded(operator: OperatorProcess, api: Client,
                                                                namespace: str) -> None:
    await create_mpijob(api, namespace, pi(suspend=True))
    job = await wait_condition(api, namespace, "pi", "Suspended")
    assert condition(job, "Suspended")["reason"] == "MPIJobSuspended"  # type: ignore[index]
    launcher = await eventually(lambda: launcher_job(api, namespace), 30, "launcher Job")
    assert launcher["spec"]["suspend"] is True
    assert await workers(api, namespace) == []
    await patch_mpijob(api, namespace, "pi", {"spec": {"runPolicy": {"suspend": False}}})
    done = await wait_condition(api, namespace, "pi", "Succeeded", within=90)
    assert condition(done, "Suspended")["status"] == "False"  # type: ignore[index]


async def test_suspend_mid_run_stops_workers_and_resume_finishes(operator: OperatorProcess, api: Client,
                                                                 namespace: str) -> None:
    await create_mpijob(api, namespace, with_annotations(pi(), "Launcher", {RUN: "4"}))
    await wait_condition(api, namespace, "pi", "Running", within=60)
    await patch_mpijob(api, namespace, "pi", {"spec": {"runPolicy": {"suspend": True}}})
    await wait_condition(api, namespace, "pi", "Suspended", within=60)

    async def stopped() -> bool:
        launcher = await launcher_job(api, namespace)
        active = ((launcher or {}).get("status") or {}).get("active", 0)
        return not await workers(api, namespace) and launcher is not None and launcher["spec"]["suspend"] \
            and not active
    await eventually(stopped, 60, "workers deleted and the launcher Job suspended")
    job = await mpijob(api, namespace, "pi")
    assert not is_true(job, "Running") and not is_true(job, "Succeeded")
    await patch_mpijob(api, namespace, "pi", {"spec": {"runPolicy": {"suspend": False}}})
    await wait_condition(api, namespace, "pi", "Succeeded", within=90)


async def test_wait_for_workers_ready_holds_the_launcher(operator: OperatorProcess, api: Client,
                                                         namespace: str) -> None:
    doc = with_annotations(pi(), "Worker", {READY: "3"})
    doc["spec"]["launcherCreationPolicy"] = "WaitForWorkersReady"
    await create_mpijob(api, namespace, doc)

    async def running_workers() -> list[JSON]:
        pods = await workers(api, namespace)
        return pods if len(pods) == 2 and all(p["status"].get("phase") == "Running" for p in pods) else []
    pods = await eventually(running_workers, 60, "two running workers")
    if not all(is_true(p, "Ready") for p in pods):
        # Running but not Ready yet: no launcher may exist.
        assert await launcher_job(api, namespace) is None
    await eventually(lambda: launcher_job(api, namespace), 60, "launcher Job after the workers are Ready")
    ready = await workers(api, namespace)
    assert all(is_true(p, "Ready") for p in ready)
    await wait_condition(api, namespace, "pi", "Succeeded", within=90)


async def test_clean_pod_policy_none_keeps_workers_running_deletes_them(operator: OperatorProcess, api: Client,
                                                                        namespace: str) -> None:
    keep = pi(cleanPodPolicy="None")
    keep["metadata"]["name"] = "keep"
    await create_mpijob(api, namespace, keep)
    await create_mpijob(api, namespace, pi(cleanPodPolicy="Running"))
    await wait_condition(api, namespace, "keep", "Succeeded", within=90)
    await wait_condition(api, namespace, "pi", "Succeeded", within=90)
    await eventually(lambda: _none(workers(api, namespace, "pi")), 60, "pi's workers deleted")
    kept = await workers(api, namespace, "keep")
    assert len(kept) == 2 and all(p["status"].get("phase") == "Running" for p in kept)


async def _none(result: object) -> bool:
    return not await result  # type: ignore[misc]


async def test_backoff_limit_retries_then_succeeds(operator: OperatorProcess, api: Client, namespace: str) -> None:
    doc = with_annotations(pi(backoffLimit=2), "Launcher", {EXIT: "3", FAILURES: "1"})
    doc["spec"]["mpiReplicaSpecs"]["Launcher"]["restartPolicy"] = "Never"
    await create_mpijob(api, namespace, doc)
    await wait_condition(api, namespace, "pi", "Succeeded", within=90)
    launcher = await launcher_job(api, namespace)
    assert launcher is not None and launcher["status"].get("failed") == 1


async def test_backoff_limit_exceeded_fails_the_job(operator: OperatorProcess, api: Client, namespace: str) -> None:
    doc = with_annotations(pi(backoffLimit=1), "Launcher", {EXIT: "3", FAILURES: "10"})
    doc["spec"]["mpiReplicaSpecs"]["Launcher"]["restartPolicy"] = "Never"
    await create_mpijob(api, namespace, doc)
    job = await wait_condition(api, namespace, "pi", "Failed", within=120)
    failed = condition(job, "Failed")
    assert failed is not None and failed["reason"].startswith("BackoffLimitExceeded"), failed
    assert job["status"].get("completionTime")


async def test_active_deadline_fails_the_job(operator: OperatorProcess, api: Client, namespace: str) -> None:
    await create_mpijob(api, namespace, with_annotations(pi(activeDeadlineSeconds=2), "Launcher", {RUN: "inf"}))
    job = await wait_condition(api, namespace, "pi", "Failed", within=90)
    failed = condition(job, "Failed")
    assert failed is not None and failed["reason"] == "DeadlineExceeded", failed


async def test_ttl_deletes_the_launcher_job_after_the_result_is_recorded(operator: OperatorProcess, api: Client,
                                                                         namespace: str, ground: Ground) -> None:
    await create_mpijob(api, namespace, pi(ttlSecondsAfterFinished=1))
    await wait_condition(api, namespace, "pi", "Succeeded", within=90)
    await eventually(lambda: _none(launcher_job(api, namespace)), 60, "the launcher Job deleted by its TTL")
    job = await mpijob(api, namespace, "pi")
    assert is_true(job, "Succeeded") and job is not None
    assert job["status"]["replicaStatuses"]["Launcher"]["succeeded"] == 1
    # A finished job never runs again (Q31): no new launcher appears.
    assert await items(api, jobs_path(namespace)) == []


async def test_state_column_is_truthful_through_suspend_and_resume(ground: Ground, operator: OperatorProcess,
                                                                   api: Client, namespace: str) -> None:
    """kubectl renders the State column from the server's printer columns (real ground: kube-apiserver)."""
    def state() -> str:
        rows = ground.kubectl("get", "mpijob", "pi", "-n", namespace, "--no-headers").stdout.split()
        return rows[1] if len(rows) > 1 else ""

    async def shows(expected: str) -> bool:
        return state() == expected
    await create_mpijob(api, namespace, with_annotations(pi(suspend=True), "Launcher", {RUN: "3"}))
    await eventually(lambda: shows("Suspended"), 30, "State Suspended")
    await patch_mpijob(api, namespace, "pi", {"spec": {"runPolicy": {"suspend": False}}})
    await eventually(lambda: shows("Running"), 60, "State Running after the resume")
    job = await mpijob(api, namespace, "pi")
    assert condition(job, "Suspended")["status"] == "False"  # type: ignore[index]
    await eventually(lambda: shows("Succeeded"), 90, "State Succeeded")
    await patch_mpijob(api, namespace, "pi", {"spec": {"runPolicy": {"suspend": True}}})
    await wait_condition(api, namespace, "pi", "Succeeded")
    assert state() == "Succeeded"  # a finished job stays finished whatever its spec says now
