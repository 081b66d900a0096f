"""The shared examples run unchanged to Succeeded; admission and `kubectl get` answer as the API server does.

The CEL rules, the schema and the printer columns come from the CRD in manifests/; on the real ground the
real kube-apiserver evaluates them, so the texts asserted here are what users see from kubectl.
"""

from __future__ import annotations

import copy

import pytest
import yaml

from mpi_operator.kube.client import Client
from tests.conftest import examples_dir
from tests.real.ground import Ground, OperatorProcess
from tests.real.helpers import create_mpijob, example, items, jobs_path, wait_condition

EXAMPLES = sorted(p.name for p in examples_dir().glob("*.yaml"))


@pytest.mark.parametrize("name", EXAMPLES)
async def test_shared_example_runs_to_succeeded(ground: Ground, operator: OperatorProcess, api: Client,
                                                namespace: str, name: str) -> None:
    doc = example(name)
    ground.kubectl("apply", "-n", namespace, "-f", str(examples_dir() / name))
    job_name = doc["metadata"]["name"]
    done = await wait_condition(api, namespace, job_name, "Succeeded", within=90)
    assert done["status"]["replicaStatuses"]["Launcher"]["succeeded"] == 1
    assert done["status"].get("completionTime")
    launchers = await items(api, jobs_path(namespace))
    assert [j["metadata"]["name"] for j in launchers] == [f"{job_name}-launcher"]
    # kubectl logs goes through the API server to the node's kubelet endpoint.
    logs = ground.kubectl("logs", "-n", namespace, f"job/{job_name}-launcher")
    assert "simulated container" in logs.stdout


async def test_printer_columns_from_the_server(ground: Ground, operator: OperatorProcess, api: Client,
                                               namespace: str) -> None:
    ground.kubectl("apply", "-n", namespace, "-f", str(examples_dir() / "pi.yaml"))
    await wait_condition(api, namespace, "pi", "Succeeded", within=90)
    table = ground.kubectl("get", "mpijobs", "-n", namespace).stdout.splitlines()
    assert table[0].split() == ["NAME", "STATE", "WORKERS", "AGE"]
    assert table[1].split()[:3] == ["pi", "Succeeded", "2"]
    short = ground.kubectl("get", "mpij", "-n", namespace, "-o", "name").stdout.split()
    assert short == ["mpijob.kubeflow.org/pi"]


@pytest.mark.parametrize(("role", "replicas", "message"), [
    ("Launcher", 2, "Launcher replicas must be 1"),
    ("Worker", 0, "Worker replicas must be greater than or equal to 1"),
])
async def test_cel_rules_reject_bad_replicas(ground: Ground, namespace: str, role: str, replicas: int,
                                             message: str) -> None:
    doc = copy.deepcopy(example("pi.yaml"))
    doc["spec"]["mpiReplicaSpecs"][role]["replicas"] = replicas
    done = ground.kubectl("apply", "-n", namespace, "-f", "-", stdin=yaml.safe_dump(doc), check=False)
    assert done.returncode != 0
    assert f'The MPIJob "pi" is invalid: spec.mpiReplicaSpecs: Invalid value: {message}' in done.stderr, done.stderr


async def test_managed_by_is_immutable(ground: Ground, api: Client, namespace: str) -> None:
    doc = copy.deepcopy(example("pi.yaml"))
    doc["spec"]["runPolicy"]["suspend"] = True
    await create_mpijob(api, namespace, doc)
    done = ground.kubectl("patch", "mpijob", "pi", "-n", namespace, "--type=merge", "-p",
                          '{"spec":{"runPolicy":{"managedBy":"kueue.x-k8s.io/multikueue"}}}', check=False)
    assert done.returncode != 0
    assert "spec.runPolicy.managedBy is immutable" in done.stderr, done.stderr


async def test_schema_rejects_a_bad_enum_and_a_negative_count(ground: Ground, namespace: str) -> None:
    doc = copy.deepcopy(example("pi.yaml"))
    doc["spec"]["launcherCreationPolicy"] = "Sometimes"
    doc["spec"]["slotsPerWorker"] = -1
    done = ground.kubectl("apply", "-n", namespace, "-f", "-", stdin=yaml.safe_dump(doc), check=False)
    assert done.returncode != 0
    assert 'spec.launcherCreationPolicy: Unsupported value: "Sometimes": supported values: "AtStartup", ' \
        '"WaitForWorkersReady"' in done.stderr, done.stderr
    assert "spec.slotsPerWorker: Invalid value: -1: spec.slotsPerWorker in body should be greater than or " \
        "equal to 0" in done.stderr, done.stderr

