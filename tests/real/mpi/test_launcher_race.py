"""How often the launcher's first mpirun starts before a worker's sshd can be reached, with and without the
images' wait (wait-for-hosts behind the mpirun wrapper and the entrypoint): `launcherCreationPolicy:
AtStartup`, `backoffLimit: 0`, the shared examples' workers. A measurement, not a check, so it runs only when
asked: `LAUNCHER_RACE_RUNS=10 pytest tests/real/mpi/test_launcher_race.py -s` prints one line per MPI and
mode; docs/images.md records the figures. The matrix (test_matrix.py) is the regression: it runs every MPI
this way and a race fails it.
"""

from __future__ import annotations

import os

import pytest

from mpi_operator.kube.client import Client
from tests.real.ground import Ground, OperatorProcess
from tests.real.helpers import JSON, create_mpijob, eventually, is_true, mpijob
from tests.real.mpi.helpers import PI_LINE, kubectl_logs
from tests.real.mpi.test_matrix import MPIS, job_for

RUNS = int(os.environ.get("LAUNCHER_RACE_RUNS", "0"))


def without_wait(doc: JSON) -> JSON:
    launcher = doc["spec"]["mpiReplicaSpecs"]["Launcher"]["template"]["spec"]["containers"][0]
    launcher.setdefault("env", []).append({"name": "MPI_WAIT_FOR_HOSTS_MS", "value": "0"})
    return doc


@pytest.mark.skipif(RUNS == 0, reason="a measurement: set LAUNCHER_RACE_RUNS=N to run it")
@pytest.mark.parametrize("wait", [False, True], ids=["no-wait", "wait"])
@pytest.mark.parametrize("mpi_name", list(MPIS))
async def test_measure_launcher_before_sshd(ground: Ground, operator: OperatorProcess, api: Client,
                                            namespace: str, mpi_name: str, wait: bool) -> None:
    failed: list[str] = []
    for run in range(RUNS):
        doc = job_for(MPIS[mpi_name], "non-root")
        name = f"pi-{run}"
        doc["metadata"]["name"] = name
        if not wait:
            doc = without_wait(doc)
        await create_mpijob(api, namespace, doc)

        async def outcome(name: str = name) -> str | None:
            job = await mpijob(api, namespace, name)
            if is_true(job, "Failed"):
                return "failed"
            # Rank 0 printed pi: the first mpirun reached every worker (MPICH 4.0.2 may then hang in Finalize).
            return "ok" if PI_LINE in kubectl_logs(ground, namespace, name) else None
        if await eventually(outcome, 180, f"{name} to print pi or fail") == "failed":
            lines = kubectl_logs(ground, namespace, name).strip().splitlines()
            failed.append(lines[-1] if lines else "(no log)")
        await api.request("DELETE", f"/apis/kubeflow.org/v2beta1/namespaces/{namespace}/mpijobs/{name}")
    print(f"\nlauncher race {ground.name} {mpi_name} {'wait' if wait else 'no-wait'}: "
          f"{len(failed)}/{RUNS} first runs failed {failed[:3]}")
