"""Real kubectl against the sandbox: apply, get (tables), watch, wait, delete with cascading (checklist 37-48)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from mpi_operator.sandbox import Sandbox
from tests.conftest import examples_dir
from tests.sandbox.conftest import KUBECTL, Http, kubectl, unique, wait_for

pytestmark = pytest.mark.asyncio(loop_scope="module")

PI = examples_dir() / "pi.yaml"


async def test_apply_example_twice_then_get_mpijobs(sandbox: Sandbox, kube_home: Path, http: Http) -> None:
    code, out, err = await kubectl(sandbox, kube_home, "apply", "-f", str(PI))
    assert code == 0, err
    assert "mpijob.kubeflow.org/pi created" in out
    assert "Warning" not in err, err
    sandbox.requests.reset()
    code, out, err = await kubectl(sandbox, kube_home, "apply", "-f", str(PI))
    assert code == 0 and "unchanged" in out, err
    assert sandbox.requests.count(verb="patch", resource="mpijobs.kubeflow.org") == 0
    code, out, err = await kubectl(sandbox, kube_home, "get", "mpijobs")
    assert code == 0, err
    header, row = out.splitlines()[:2]
    assert header.split() == ["NAME", "STATE", "WORKERS", "AGE"]
    assert row.split()[0] == "pi" and row.split()[-2] == "2"
    stored = (await http.get("/apis/kubeflow.org/v2beta1/namespaces/default/mpijobs/pi")).body
    assert stored["spec"]["launcherCreationPolicy"] == "AtStartup"
    assert stored["spec"]["mpiImplementation"] == "OpenMPI"


async def test_get_all_namespaces_and_labels(sandbox: Sandbox, kube_home: Path, http: Http) -> None:
    await http.post("/apis/kubeflow.org/v2beta1/namespaces/kube-system/mpijobs", {
        "apiVersion": "kubeflow.org/v2beta1", "kind": "MPIJob", "metadata": {"name": "other", "labels": {"a": "b"}},
        "spec": {"mpiReplicaSpecs": {}}})
    code, out, err = await kubectl(sandbox, kube_home, "get", "mpijobs", "-A", "--show-labels")
    assert code == 0, err
    lines = [line.split() for line in out.splitlines()]
    assert lines[0][0] == "NAMESPACE" and lines[0][-1] == "LABELS"
    assert lines[-1][:2] == ["kube-system", "other"] and lines[-1][-1] == "a=b"


async def test_get_pods_and_jobs_show_builtin_columns(sandbox: Sandbox, kube_home: Path, http: Http) -> None:
    await http.post("/api/v1/namespaces/default/pods", {"metadata": {"name": unique("col")}, "spec": {
        "containers": [{"name": "c", "image": "busybox:1"}]}})
    code, out, err = await kubectl(sandbox, kube_home, "get", "pods")
    assert code == 0, err
    assert out.splitlines()[0].split() == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    assert "Pending" in out
    await http.post("/apis/batch/v1/namespaces/default/jobs", {"metadata": {"name": unique("colj")}, "spec": {
        "template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox:1"}]}}}})
    code, out, err = await kubectl(sandbox, kube_home, "get", "jobs")
    assert code == 0, err
    assert out.splitlines()[0].split()[:4] == ["NAME", "STATUS", "COMPLETIONS", "DURATION"]
    code, out, err = await kubectl(sandbox, kube_home, "get", "secrets", "-n", "kube-public")
    assert code == 0 and "No resources found in kube-public namespace." in err


async def test_get_pods_watch_prints_current_state_then_updates(sandbox: Sandbox, kube_home: Path,
                                                               http: Http) -> None:
    ns = "kube-public"
    first = unique("w1")
    await http.post(f"/api/v1/namespaces/{ns}/pods", {"metadata": {"name": first}, "spec": {
        "containers": [{"name": "c", "image": "busybox:1"}]}})
    env = dict(os.environ, HOME=str(kube_home), KUBECONFIG=str(sandbox.kubeconfig_path))
    proc = await asyncio.create_subprocess_exec(str(KUBECTL), "get", "pods", "-w", "-n", ns, env=env,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    assert proc.stdout is not None
    try:
        async with asyncio.timeout(15):
            lines = [await proc.stdout.readline(), await proc.stdout.readline()]
            assert lines[0].split()[0] == b"NAME" and lines[1].split()[0] == first.encode()
            await wait_for(lambda: sandbox.store.watch_count("pods") > 0, timeout=10)
            second = unique("w2")
            await http.post(f"/api/v1/namespaces/{ns}/pods", {"metadata": {"name": second}, "spec": {
                "containers": [{"name": "c", "image": "busybox:1"}]}})
            line = await proc.stdout.readline()
            assert line.split()[0] == second.encode()
    finally:
        proc.kill()
        await proc.wait()


async def test_wait_for_condition_returns_promptly(sandbox: Sandbox, kube_home: Path, http: Http) -> None:
    name = unique("wait")
    await http.post("/apis/batch/v1/namespaces/default/jobs", {"metadata": {"name": name}, "spec": {
        "template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox:1"}]}}}})

    async def complete_later() -> None:
        await asyncio.sleep(0.5)
        await http.patch(f"/apis/batch/v1/namespaces/default/jobs/{name}/status", {"status": {"conditions": [
            {"type": "Complete", "status": "True", "lastTransitionTime": "2026-01-01T00:00:00Z"}],
            "succeeded": 1}})
    task = asyncio.create_task(complete_later())
    code, out, err = await kubectl(sandbox, kube_home, "wait", "--for=condition=Complete", f"job/{name}",
                                   "--timeout=20s", timeout=25)
    await task
    assert code == 0, err
    assert "condition met" in out


async def test_delete_job_cascades_to_owned_pods(sandbox: Sandbox, kube_home: Path, http: Http) -> None:
    name = unique("cascade")
    job = (await http.post("/apis/batch/v1/namespaces/default/jobs", {"metadata": {"name": name}, "spec": {
        "template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "b"}]}}}})).body
    pod = unique("cascade-pod")
    await http.post("/api/v1/namespaces/default/pods", {"metadata": {"name": pod, "ownerReferences": [{
        "apiVersion": "batch/v1", "kind": "Job", "name": name, "uid": job["metadata"]["uid"], "controller": True,
        "blockOwnerDeletion": True}]}, "spec": {"containers": [{"name": "c", "image": "b"}]}})
    code, out, err = await kubectl(sandbox, kube_home, "delete", "job", name)
    assert code == 0 and "deleted" in out, err

    async def pod_gone() -> bool:
        return (await http.get(f"/api/v1/namespaces/default/pods/{pod}")).status == 404
    await wait_for(pod_gone)
    code, out, err = await kubectl(sandbox, kube_home, "delete", "mpijob", "pi")
    assert code == 0, err


async def test_kubectl_logs_answers_clearly(sandbox: Sandbox, kube_home: Path, http: Http) -> None:
    name = unique("logs")
    await http.post("/api/v1/namespaces/default/pods", {"metadata": {"name": name}, "spec": {
        "containers": [{"name": "c", "image": "b"}]}})
    code, _, err = await kubectl(sandbox, kube_home, "logs", name)
    assert code != 0 and "is waiting to start" in err


async def test_strict_field_validation_rejects_unknown_fields(sandbox: Sandbox, kube_home: Path) -> None:
    manifest = PI.read_text().replace("slotsPerWorker: 1", "slotsPerWorker: 1\n  bogusField: 3").replace(
        "name: pi", "name: pi-strict")
    code, _, err = await kubectl(sandbox, kube_home, "apply", "-f", "-", stdin=manifest.encode())
    assert code != 0 and "bogusField" in err


async def test_get_single_mpijob_watch_prints_updates(sandbox: Sandbox, kube_home: Path, http: Http) -> None:
    name = unique("mjw")
    path = "/apis/kubeflow.org/v2beta1/namespaces/default/mpijobs"
    await http.post(path, {"apiVersion": "kubeflow.org/v2beta1", "kind": "MPIJob", "metadata": {"name": name},
                           "spec": {"mpiReplicaSpecs": {"Worker": {"replicas": 1, "template": {"spec": {
                               "containers": [{"name": "w", "image": "x"}]}}}}}})
    env = dict(os.environ, HOME=str(kube_home), KUBECONFIG=str(sandbox.kubeconfig_path))
    proc = await asyncio.create_subprocess_exec(str(KUBECTL), "get", "mpijob", name, "-w", env=env,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    assert proc.stdout is not None
    try:
        async with asyncio.timeout(15):
            header, first = await proc.stdout.readline(), await proc.stdout.readline()
            assert header.split()[:3] == [b"NAME", b"STATE", b"WORKERS"] and first.split()[0] == name.encode()
            # kubectl drops the watch's initial ADDED (it printed the GET): change only once it watches.
            await wait_for(lambda: sandbox.store.watch_count("mpijobs.kubeflow.org") > 0, timeout=10)
            await http.patch(f"{path}/{name}", {"spec": {"mpiReplicaSpecs": {"Worker": {"replicas": 3}}}})
            update = await proc.stdout.readline()
            assert update.split()[0] == name.encode() and b"3" in update.split()
    finally:
        proc.kill()
        await proc.wait()


async def test_delete_cascade_foreground_waits_for_dependents(sandbox: Sandbox, kube_home: Path,
                                                              http: Http) -> None:
    name = unique("fgk")
    job = (await http.post("/apis/batch/v1/namespaces/default/jobs", {"metadata": {"name": name}, "spec": {
        "template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "b"}]}}}})).body
    pod = unique("fgk-pod")
    await http.post("/api/v1/namespaces/default/pods", {"metadata": {"name": pod, "ownerReferences": [{
        "apiVersion": "batch/v1", "kind": "Job", "name": name, "uid": job["metadata"]["uid"], "controller": True,
        "blockOwnerDeletion": True}]}, "spec": {"containers": [{"name": "c", "image": "b"}]}})
    code, _out, err = await kubectl(sandbox, kube_home, "delete", "job", name, "--cascade=foreground")
    assert code == 0, err
    assert (await http.get(f"/api/v1/namespaces/default/pods/{pod}")).status == 404
    assert (await http.get(f"/apis/batch/v1/namespaces/default/jobs/{name}")).status == 404


async def test_apply_builtin_twice_sends_a_strategic_merge_patch(sandbox: Sandbox, kube_home: Path,
                                                                 http: Http) -> None:
    name = unique("applycm")
    doc = f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  a: '1'\n"
    code, out, err = await kubectl(sandbox, kube_home, "apply", "-f", "-", stdin=doc.encode())
    assert code == 0 and "created" in out, err
    code, out, err = await kubectl(sandbox, kube_home, "apply", "-f", "-", stdin=doc.replace("'1'", "'2'").encode())
    assert code == 0 and "configured" in out, err
    assert (await http.get(f"/api/v1/namespaces/default/configmaps/{name}")).body["data"] == {"a": "2"}


async def test_describe_lists_events_through_field_selectors(sandbox: Sandbox, kube_home: Path, http: Http) -> None:
    name = unique("desc")
    mj = (await http.post("/apis/kubeflow.org/v2beta1/namespaces/default/mpijobs", {
        "apiVersion": "kubeflow.org/v2beta1", "kind": "MPIJob", "metadata": {"name": name},
        "spec": {"mpiReplicaSpecs": {}}})).body
    await http.post("/api/v1/namespaces/default/events", {
        "metadata": {"name": f"{name}.1"}, "type": "Normal", "reason": "MPIJobCreated",
        "message": "MPIJob default/x is created.", "count": 1, "firstTimestamp": mj["metadata"]["creationTimestamp"],
        "lastTimestamp": mj["metadata"]["creationTimestamp"], "source": {"component": "mpi-job-controller"},
        "involvedObject": {"apiVersion": "kubeflow.org/v2beta1", "kind": "MPIJob", "name": name,
                           "namespace": "default", "uid": mj["metadata"]["uid"]}})
    code, out, err = await kubectl(sandbox, kube_home, "describe", "mpijob", name)
    assert code == 0, err
    assert "MPIJobCreated" in out and "mpi-job-controller" in out


async def test_kubectl_create_generators_send_protobuf_and_work(sandbox: Sandbox, kube_home: Path,
                                                                http: Http) -> None:
    cm, ns = unique("gen-cm"), unique("gen-ns")
    for args in (("create", "configmap", cm, "--from-literal=hostfile=w-0 slots=1", "--from-literal=b=c"),
                 ("create", "secret", "generic", cm, "--from-literal=id_rsa=key"),
                 ("create", "namespace", ns), ("create", "serviceaccount", cm),
                 ("create", "priorityclass", cm, "--value=100")):
        code, out, err = await kubectl(sandbox, kube_home, *args)
        assert code == 0 and "created" in out, err
    stored = (await http.get(f"/api/v1/namespaces/default/configmaps/{cm}")).body
    assert stored["data"] == {"hostfile": "w-0 slots=1", "b": "c"} and "generateName" not in stored["metadata"]
    secret = (await http.get(f"/api/v1/namespaces/default/secrets/{cm}")).body
    assert secret["data"] == {"id_rsa": "a2V5"} and secret["type"] == "Opaque"
    assert (await http.get(f"/api/v1/namespaces/{ns}")).body["status"]["phase"] == "Active"
    assert (await http.get(f"/apis/scheduling.k8s.io/v1/priorityclasses/{cm}")).body["value"] == 100
