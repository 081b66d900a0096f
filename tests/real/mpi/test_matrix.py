"""Every MPI the images map, run for real: Open MPI 4.1 and 5, MPICH 4.0.2 and 5.0.2, Intel MPI 2021.19,
each as root, with the seed's non-root settings, with two slots per worker and with the launcher as a worker.

Each run asserts which MPI library the ranks loaded (pi's rank 0 names it) and exactly where the ranks ran:
the workers, `slotsPerWorker` times each, plus the launcher only with `runLauncherAsWorker`. Every run keeps
the defaults that race the workers' sshd (`launcherCreationPolicy: AtStartup`, workers without a readiness
probe for Open MPI) with `backoffLimit: 0`, so a launcher that starts too early fails the test instead of
being retried. The whole matrix runs on the real control plane; the sandbox runs one job per MPI.
"""

from __future__ import annotations

import collections
import copy
import re
from dataclasses import dataclass

import pytest

from mpi_operator.kube.client import Client
from mpi_operator.nodeagent.process.images import debian_version
from tests.real.ground import Ground, OperatorProcess
from tests.real.helpers import JSON, create_mpijob, example, wait_condition
from tests.real.mpi.helpers import PI_LINE, RANK_LINE, kubectl_logs, wait_log

WORKERS = ("pi-worker-0", "pi-worker-1")
LAUNCHER = "pi-launcher"
FINALIZE_GRACE = 30.0   # seconds a launcher may take to finish once rank 0 printed pi


@dataclass(frozen=True)
class MPI:
    image: str
    example: str                 # the shared example it is a variant of
    library: str                 # a regex for pi's "MPI library:" line

    @property
    def implementation(self) -> str:
        return str(example(self.example)["spec"].get("mpiImplementation", "OpenMPI"))


MPIS = {
    "openmpi-4.1": MPI("mpioperator/mpi-pi:openmpi-bookworm", "pi.yaml", r"Open MPI v4\.1\."),
    "openmpi-5.0.11": MPI("mpioperator/mpi-pi:openmpi", "pi.yaml", r"Open MPI v5\.0\.11\b"),
    "mpich-4.0.2": MPI("mpioperator/mpi-pi:mpich", "pi-mpich.yaml", r"MPICH Version:\s+4\.0\.2\b"),
    "mpich-5.0.2": MPI("mpioperator/mpi-pi:mpich-5.0.2", "pi-mpich.yaml", r"MPICH Version:\s+5\.0\.2\b"),
    "intel-2021.19": MPI("mpioperator/mpi-pi:intel", "pi-intel.yaml", r"Intel\(R\) MPI Library 2021\.19\b"),
}
SETTINGS = ("non-root", "root", "two-slots", "launcher-as-worker")


def known_finalize_hang(log: str) -> bool:
    """Debian bookworm's MPICH 4.0.2 (ch4:ucx) over the node's UCX 1.13 deadlocks in MPI_Finalize now and
    then, after the work is done (docs/node-agent.md); the wheels bring their own UCX and are not affected."""
    return (bool(re.search(r"^MPI library: MPICH Version:\s+4\.0\.2", log, re.MULTILINE)) and PI_LINE in log
            and debian_version("libucx0").startswith("1.13"))


def _containers(doc: JSON) -> tuple[JSON, JSON]:
    specs = doc["spec"]["mpiReplicaSpecs"]
    return (specs["Launcher"]["template"]["spec"]["containers"][0],
            specs["Worker"]["template"]["spec"]["containers"][0])


def _set_ranks(launcher: JSON, ranks: int) -> None:
    for key in ("command", "args"):
        words = launcher.get(key) or []
        if "-n" in words:
            words[words.index("-n") + 1] = str(ranks)


def job_for(mpi: MPI, setting: str) -> JSON:
    """The MPI's shared example with its image, changed only by `setting`; `backoffLimit: 0`."""
    doc = copy.deepcopy(example(mpi.example))
    launcher, worker = _containers(doc)
    launcher["image"] = worker["image"] = mpi.image
    doc["spec"].setdefault("runPolicy", {})["backoffLimit"] = 0
    doc["spec"]["runPolicy"].pop("ttlSecondsAfterFinished", None)
    if setting == "root":
        # The operator's root defaults (docs/images.md): keys at /root/.ssh, the system sshd on 2222, uid 0.
        doc["spec"].pop("sshAuthMountPath", None)
        for container in (launcher, worker):
            container["securityContext"] = {"runAsUser": 0}
        if worker.get("command"):
            worker["args"] = ["-De"]
        else:
            worker["args"] = ["/usr/sbin/sshd", "-De"]
        if mpi.implementation == "OpenMPI":   # Open MPI refuses root without it
            launcher["args"] = ["--allow-run-as-root", *launcher["args"]]
    elif setting == "two-slots":
        doc["spec"]["slotsPerWorker"] = 2
        _set_ranks(launcher, 2 * len(WORKERS))
    elif setting == "launcher-as-worker":
        doc["spec"]["runLauncherAsWorker"] = True
        _set_ranks(launcher, len(WORKERS) + 1)
        if mpi.implementation != "OpenMPI":
            # Hydra does not take the hostfile's `pi-launcher.pi.<ns>.svc` for itself (the hosts file names
            # the IP `...svc.cluster.local` first), so it reaches its own rank over ssh: the launcher runs
            # sshd too (docs/images.md, "MPI implementations").
            launcher["args"] = ["sh", "-c", "/usr/sbin/sshd -f /home/mpiuser/.sshd_config && exec "
                                + " ".join(launcher["args"])]
    return doc


def expected_hosts(doc: JSON) -> collections.Counter[str]:
    slots = int(doc["spec"].get("slotsPerWorker") or 1)
    hosts = collections.Counter({w: slots for w in WORKERS})
    if doc["spec"].get("runLauncherAsWorker"):
        hosts[LAUNCHER] = slots
    return hosts


async def run_and_check(ground: Ground, api: Client, ns: str, mpi_name: str, setting: str) -> None:
    mpi = MPIS[mpi_name]
    doc = job_for(mpi, setting)
    await create_mpijob(api, ns, doc)
    log = await wait_log(ground, ns, "pi", PI_LINE, within=120)
    ranks = RANK_LINE.findall(log)
    assert collections.Counter(host for _, _, host in ranks) == expected_hosts(doc), log
    assert sorted(int(rank) for rank, _, _ in ranks) == list(range(sum(expected_hosts(doc).values()))), log
    assert re.search(rf"^MPI library: .*{mpi.library}", log, re.MULTILINE), log
    try:
        await wait_condition(api, ns, "pi", "Succeeded", within=FINALIZE_GRACE)
    except AssertionError:
        log = kubectl_logs(ground, ns, "pi")
        if known_finalize_hang(log):
            pytest.xfail("MPICH 4.0.2 + UCX 1.13 (Debian bookworm) deadlocked in MPI_Finalize after computing pi")
        raise


def _cases() -> list[object]:
    cases: list[object] = []
    for mpi_name in MPIS:
        for setting in SETTINGS:
            cases.append(pytest.param(mpi_name, setting, id=f"{mpi_name}-{setting}"))
    return cases


@pytest.mark.parametrize(("mpi_name", "setting"), _cases())
async def test_every_mpi_runs_its_ranks_exactly_where_the_hostfile_says(
        ground: Ground, operator: OperatorProcess, api: Client, namespace: str, mpi_name: str, setting: str) -> None:
    if not ground.real and setting != "non-root":
        pytest.skip("the sandbox runs one job per MPI; the real control plane runs the whole matrix")
    await run_and_check(ground, api, namespace, mpi_name, setting)
