"""Real MPI on both grounds: the operator's Secret, hostfile, env and Service names judged by OpenSSH and MPI,
through the job's life (readiness gate, discover_hosts.sh, a worker killed, suspend, deletion, unmapped image).
test_matrix.py runs every MPI with root, non-root, two-slot and launcher-as-worker settings.

Every run checks where the ranks ran (each rank of the pi program prints its host): exactly the workers, plus
the launcher only with `runLauncherAsWorker`. An exit code alone would not catch an MPI that quietly runs
every rank on the launcher.
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
    items,
    jobs_path,
    patch_mpijob,
    pods_path,
    wait_condition,
)
from tests.real.mpi.helpers import (
    agent_pods,
    kubectl_logs,
    launcher_command,
    leftovers,
    rank_hosts,
    variant,
    wait_log,
)

WORKERS = ["pi-worker-0", "pi-worker-1"]
UNMAPPED = "mpioperator/mpi-pi:no-such-mpi"
OPEN_MPI_4 = "mpioperator/mpi-pi:openmpi-bookworm"


def open_mpi_4(doc: JSON) -> JSON:
    """Open MPI 4.1: Open MPI 5.0.11's mpirun exits 0 after losing a worker's daemon (docs/images.md, known
    issues), so the tests of a killed worker use the image that fails the run."""
    for role in ("Launcher", "Worker"):
        doc["spec"]["mpiReplicaSpecs"][role]["template"]["spec"]["containers"][0]["image"] = OPEN_MPI_4
    return doc


async def run_to_succeeded(ground: Ground, api: Client, ns: str, doc: JSON, within: float = 120) -> str:
    await create_mpijob(api, ns, doc)
    name = doc["metadata"]["name"]
    job = await wait_condition(api, ns, name, "Succeeded", within=within)
    assert job["status"]["replicaStatuses"]["Launcher"]["succeeded"] == 1
    return kubectl_logs(ground, ns, name)


async def test_wait_for_workers_ready(ground: Ground, operator: OperatorProcess, api: Client,
                                      namespace: str) -> None:
    log = await run_to_succeeded(ground, api, namespace,
                                 variant(example("pi.yaml"), launcherCreationPolicy="WaitForWorkersReady"))
    assert rank_hosts(log) == WORKERS, log
    events = await items(api, f"/api/v1/namespaces/{namespace}/events")
    assert not [e for e in events if e.get("reason") == "BackOff"], "the launcher had to retry"


async def test_discover_hosts_inside_the_launcher_lists_the_running_workers(
        ground: Ground, operator: OperatorProcess, api: Client, namespace: str) -> None:
    script = ("timeout 60 sh -c 'until [ \"$(/etc/mpi/discover_hosts.sh | wc -l)\" -ge 2 ]; do sleep 0.2; done'"
              " && /etc/mpi/discover_hosts.sh")
    log = await run_to_succeeded(ground, api, namespace, launcher_command(example("pi.yaml"), "sh", "-c", script))
    assert sorted(log.split()) == [f"{w}.pi.{namespace}.svc" for w in WORKERS], log


async def test_a_worker_killed_mid_run_fails_the_launcher_run_and_the_retry_succeeds(
        ground: Ground, operator: OperatorProcess, api: Client, namespace: str) -> None:
    doc = open_mpi_4(launcher_command(example("pi.yaml"), "mpirun", "-n", "2", "sh", "-c",
                                      "echo started on $(hostname); sleep 6"))
    doc["spec"]["runPolicy"]["backoffLimit"] = 2
    doc["spec"]["mpiReplicaSpecs"]["Launcher"]["restartPolicy"] = "Never"
    doc["spec"]["launcherCreationPolicy"] = "WaitForWorkersReady"  # the one failure is the kill
    await create_mpijob(api, namespace, doc)
    await wait_log(ground, namespace, "pi", "started on", count=2)
    await api.request("DELETE", f"{pods_path(namespace)}/pi-worker-0")
    await wait_condition(api, namespace, "pi", "Succeeded", within=120)
    launcher = await get(api, f"{jobs_path(namespace)}/pi-launcher")
    assert launcher is not None and launcher["status"].get("failed") == 1, launcher


async def test_a_worker_killed_with_no_retries_left_fails_the_job(ground: Ground, operator: OperatorProcess,
                                                                  api: Client, namespace: str) -> None:
    doc = open_mpi_4(launcher_command(example("pi.yaml"), "mpirun", "-n", "2", "sh", "-c",
                                      "echo started on $(hostname); sleep 30"))
    doc["spec"]["runPolicy"]["backoffLimit"] = 0
    doc["spec"]["mpiReplicaSpecs"]["Launcher"]["restartPolicy"] = "Never"
    doc["spec"]["launcherCreationPolicy"] = "WaitForWorkersReady"  # the one failure is the kill
    await create_mpijob(api, namespace, doc)
    await wait_log(ground, namespace, "pi", "started on", count=2)
    await api.request("DELETE", f"{pods_path(namespace)}/pi-worker-1")
    job = await wait_condition(api, namespace, "pi", "Failed", within=120)
    failed = condition(job, "Failed")
    assert failed is not None and failed["reason"].startswith("BackoffLimitExceeded"), failed


async def test_suspend_mid_run_stops_every_process_and_resume_finishes(
        ground: Ground, operator: OperatorProcess, api: Client, namespace: str) -> None:
    doc = launcher_command(example("pi.yaml"), "mpirun", "-n", "2", "sh", "-c", "echo started on $(hostname); sleep 8")
    await create_mpijob(api, namespace, doc)
    await wait_log(ground, namespace, "pi", "started on", count=2)
    sandboxes = [p["sandbox"] for p in agent_pods(ground) if p["namespace"] == namespace and "sandbox" in p]
    assert len(sandboxes) == 3, sandboxes
    await patch_mpijob(api, namespace, "pi", {"spec": {"runPolicy": {"suspend": True}}})
    await wait_condition(api, namespace, "pi", "Suspended", within=60)

    async def all_gone() -> bool:
        return not await items(api, pods_path(namespace)) and not leftovers(sandboxes)
    await eventually(all_gone, 60, "every pod and process of the suspended job gone")
    await patch_mpijob(api, namespace, "pi", {"spec": {"runPolicy": {"suspend": False}}})
    await wait_condition(api, namespace, "pi", "Succeeded", within=120)


async def test_nothing_is_left_after_the_job_is_deleted(ground: Ground, operator: OperatorProcess, api: Client,
                                                        namespace: str) -> None:
    doc = copy.deepcopy(example("pi.yaml"))
    doc["spec"]["runPolicy"]["cleanPodPolicy"] = "None"
    await run_to_succeeded(ground, api, namespace, doc)
    sandboxes = [p["sandbox"] for p in agent_pods(ground) if p["namespace"] == namespace and "sandbox" in p]
    assert len(sandboxes) == 2, sandboxes  # the workers keep running under cleanPodPolicy None
    await api.request("DELETE", f"/apis/kubeflow.org/v2beta1/namespaces/{namespace}/mpijobs/pi")

    async def nothing_left() -> list[str] | None:
        if await items(api, pods_path(namespace)):
            return None
        found = leftovers(sandboxes)
        return None if found else ["clean"]
    await eventually(nothing_left, 60, "no pod, process, namespace or mount left")


async def test_an_image_the_node_cannot_run_is_reported_on_the_pod(ground: Ground, operator: OperatorProcess,
                                                                   api: Client, namespace: str) -> None:
    """An image images.yaml does not map: the pods show ErrImagePull with the reason, nothing crashes."""
    doc = copy.deepcopy(example("pi.yaml"))
    for role in ("Launcher", "Worker"):
        doc["spec"]["mpiReplicaSpecs"][role]["template"]["spec"]["containers"][0]["image"] = UNMAPPED
    await create_mpijob(api, namespace, doc)

    async def pulled_error() -> JSON | None:
        for pod in await items(api, pods_path(namespace)):
            for status in (pod.get("status") or {}).get("containerStatuses") or []:
                waiting = (status.get("state") or {}).get("waiting") or {}
                if waiting.get("reason") == "ErrImagePull":
                    return waiting
        return None
    waiting = await eventually(pulled_error, 60, "a container waiting with ErrImagePull")
    assert UNMAPPED in waiting.get("message", ""), waiting
