"""Real MPI over real SSH on the process runtime, from what the operator generates: its SSH Secret, its
hostfile ConfigMap, its launcher env, its worker and launcher pods. The pi example runs with Open MPI 5 (the
example's image, PyPI's build), Open MPI 4.1 and MPICH (Debian's, hostfile `host:slots`), as the seed's
non-root user on port 2222 and as root; every rank says where it ran, and the set of hosts must be exactly
the workers. tests/real/mpi/test_matrix.py runs every MPI the images map through the operator."""

from __future__ import annotations

import asyncio
import collections
import re
import subprocess
from typing import Any

import pytest
import yaml

from mpi_operator.nodeagent.process import ProcessRuntime
from tests.conftest import examples_dir
from tests.nodeagent.process.leftovers import processes_in
from tests.nodeagent.process.mpijob_pods import load_job, render, start_job, wait_for

SSH_PORT = 2222
RANK = re.compile(r"^Rank (\d+) of (\d+) running on (\S+)$", re.MULTILINE)
PI = "pi is approximately 3.14159"
FINALIZE_GRACE = 20.0   # seconds a launcher may take to exit once rank 0 printed pi


def node_ucx_version() -> str:
    query = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", "libucx0"], capture_output=True, text=True,
                           check=False)
    return query.stdout.strip() if query.returncode == 0 else ""


def known_finalize_hang(document: dict[str, Any], log: str) -> bool:
    """Debian bookworm's MPICH 4.0.2 (ch4:ucx) over UCX 1.13's TCP transport: MPI_Finalize deadlocks now
    and then after the job's work is done. One rank's endpoint close waits for a TCP ack from a peer that
    already sits in the PMI barrier and no longer progresses UCX (the class of openucx/ucx#8738; trixie's
    UCX 1.18, which the project's images use, is not affected the same way). Nothing the operator or the
    runtime controls: the ranks ran where they should and computed pi."""
    return (document["spec"].get("mpiImplementation") == "MPICH" and node_ucx_version().startswith("1.13")
            and PI in log)


def example(name: str) -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((examples_dir() / name).read_text())
    return document


def containers_of(document: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    specs = document["spec"]["mpiReplicaSpecs"]
    return (specs["Launcher"]["template"]["spec"]["containers"][0],
            specs["Worker"]["template"]["spec"]["containers"][0])


def as_root(document: dict[str, Any]) -> dict[str, Any]:
    """The operator's root defaults (docs/images.md, "Running as root instead"): keys at /root/.ssh (mode
    0600), `sshd -De` with the system configuration, uid 0, and Open MPI's --allow-run-as-root."""
    document["spec"].pop("sshAuthMountPath", None)
    launcher, worker = containers_of(document)
    for container in (launcher, worker):
        container["securityContext"] = {"runAsUser": 0}
    if worker.get("command"):
        worker["command"], worker["args"] = ["/usr/sbin/sshd"], ["-De"]
    else:   # the MPICH image keeps its entrypoint: the whole command line is in args
        worker["args"] = ["/usr/sbin/sshd", "-De"]
    if document["spec"].get("mpiImplementation", "OpenMPI") == "OpenMPI":
        launcher["args"] = ["--allow-run-as-root", *launcher["args"]]
    return document


def with_slots(document: dict[str, Any], slots: int, ranks: int) -> dict[str, Any]:
    document["spec"]["slotsPerWorker"] = slots
    launcher, _ = containers_of(document)
    args = launcher["args"]
    args[args.index("-n") + 1] = str(ranks)
    return document


def with_image(document: dict[str, Any], image: str) -> dict[str, Any]:
    for container in containers_of(document):
        container["image"] = image
    return document


CASES = {
    "openmpi-nonroot": lambda: example("pi.yaml"),
    "openmpi-root": lambda: as_root(example("pi.yaml")),
    "openmpi-two-slots": lambda: with_slots(example("pi.yaml"), 2, 4),
    "openmpi4-nonroot": lambda: with_image(example("pi.yaml"), "mpioperator/mpi-pi:openmpi-bookworm"),
    "openmpi4-root": lambda: as_root(with_image(example("pi.yaml"), "mpioperator/mpi-pi:openmpi-bookworm")),
    "mpich-nonroot": lambda: example("pi-mpich.yaml"),
    "mpich-root": lambda: as_root(example("pi-mpich.yaml")),
}


@pytest.mark.parametrize("case", list(CASES))
async def test_pi_runs_on_exactly_the_workers(runtime: ProcessRuntime, case: str) -> None:
    document = CASES[case]()
    rendered = render(load_job(yaml.safe_dump(document)))
    running = await start_job(runtime, rendered, SSH_PORT)

    async def pi_printed() -> bool:
        return PI.encode() in running.launcher.logs() or running.launcher.wait_done()
    await wait_for(pi_printed, 120, "the launcher to print pi or exit")
    try:
        code: int | None = await asyncio.wait_for(running.launcher.wait(), FINALIZE_GRACE)
    except TimeoutError:
        code = None
    log = running.launcher.logs().decode()
    assert PI in log, log

    slots = rendered.job.spec.slots_per_worker or 1
    ranks = RANK.findall(log)
    workers = [w["spec"]["hostname"] for w in rendered.workers]
    assert collections.Counter(host for _, _, host in ranks) == {w: slots for w in workers}, log
    assert sorted(int(rank) for rank, _, _ in ranks) == list(range(len(workers) * slots))
    if code is None and known_finalize_hang(document, log):
        pytest.xfail("MPICH 4.0.2 + UCX 1.13 (Debian bookworm) deadlocked in MPI_Finalize after computing pi")
    assert code == 0, log


OPEN_MPI_5_LOST_DAEMON = ("Open MPI 5.0.11 (PRRTE) printed 'PRTE has lost communication with a remote daemon' "
                          "and still exited 0 (docs/images.md, known issues)")


@pytest.mark.parametrize(("image", "daemon"), [
    ("mpioperator/mpi-pi:openmpi-bookworm", "orted"),
    ("mpioperator/mpi-pi:openmpi", "prted"),
], ids=["openmpi-4.1", "openmpi-5.0.11"])
async def test_stopping_a_worker_mid_run_ends_its_whole_process_tree(runtime: ProcessRuntime, image: str,
                                                                     daemon: str) -> None:
    document = with_image(example("pi.yaml"), image)
    launcher, _ = containers_of(document)
    launcher["args"] = ["-n", "2", "sh", "-c", 'echo "rank up on $(hostname)"; exec sleep 600']
    rendered = render(load_job(yaml.safe_dump(document)))
    running = await start_job(runtime, rendered, SSH_PORT)
    workers = running.containers[:-1]

    async def ranks_sleeping() -> bool:
        return all(any("(sleep)" in p for p in processes_in({w.pid_namespace})) for w in workers)
    await wait_for(ranks_sleeping, 60, "a sleeping rank on each worker")
    tree = processes_in({workers[0].pid_namespace})
    assert any(f"({daemon})" in p for p in tree) and any("(sshd)" in p for p in tree), tree

    await workers[0].stop(grace=5)
    assert processes_in({workers[0].pid_namespace}) == []   # sshd, its session, the daemon and the rank
    code = await asyncio.wait_for(running.launcher.wait(), 60)
    log = running.launcher.logs().decode()
    if code == 0 and daemon == "prted" and "lost communication with a remote daemon" in log:
        pytest.xfail(OPEN_MPI_5_LOST_DAEMON)  # most runs on an idle machine; a loaded one often fails as it should
    assert code != 0, log   # mpirun notices the lost daemon and fails
