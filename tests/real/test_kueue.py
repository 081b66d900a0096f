"""Kueue v0.17 queueing MPIJobs on the real control plane, with the operator's conditions and Events kept truthful.

Kueue runs as a process (its own ServiceAccount, its webhooks reached by kube-apiserver over TLS); its MPIJob
integration suspends each labelled job at creation, admits it when its ClusterQueue has quota (un-suspending it
and injecting the flavor's nodeSelector) and frees the quota when the job's Succeeded condition is True. The
ClusterQueue holds one pi job (launcher + 2 workers at 1 CPU each), so the second job waits for the first.
Real ground only: the sandbox serves no admission or conversion webhooks.
"""

from __future__ import annotations

import asyncio
import copy
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import pytest_asyncio

from mpi_operator.controlplane import kueue
from mpi_operator.controlplane.binaries import Unavailable
from mpi_operator.kube.client import Client
from mpi_operator.kube.errors import ApiError
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
    pods_path,
    wait_condition,
    with_annotations,
)

API = kueue.API
FLAVOR = "kueue-test-flavor"
CLUSTER_QUEUE = "kueue-test-cq"
LOCAL_QUEUE = "mpi-queue"
FLAVOR_LABELS = {"kubernetes.io/os": "linux"}
RUN = "sandbox.mpi-operator/run-seconds"
OPERATOR_REASONS = ["MPIJobCreated", "MPIJobSuspended", "MPIJobResumed", "MPIJobRunning", "MPIJobSucceeded"]


@pytest.fixture(scope="module")
def kueue_manager(ground: Ground) -> Iterator[kueue.Kueue]:
    if not ground.real:
        pytest.skip("Kueue needs admission and conversion webhooks, which the sandbox does not serve")
    assert ground.controlplane is not None
    try:
        build = kueue.locate()
    except Unavailable as e:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true requires Kueue: {e}")
        pytest.skip(f"Kueue unavailable: {e}")
    manager = kueue.Kueue(ground.controlplane, build, ground.workdir / "kueue").start()
    cp = ground.controlplane
    flavor = {"apiVersion": "kueue.x-k8s.io/v1beta2", "kind": "ResourceFlavor", "metadata": {"name": FLAVOR},
              "spec": {"nodeLabels": FLAVOR_LABELS}}
    # Quota for exactly one pi job: its launcher and 2 workers ask 1 CPU and 1Gi each (as limits).
    queue = {"apiVersion": "kueue.x-k8s.io/v1beta2", "kind": "ClusterQueue", "metadata": {"name": CLUSTER_QUEUE},
             "spec": {"namespaceSelector": {}, "resourceGroups": [{
                 "coveredResources": ["cpu", "memory"],
                 "flavors": [{"name": FLAVOR, "resources": [{"name": "cpu", "nominalQuota": "3"},
                                                            {"name": "memory", "nominalQuota": "64Gi"}]}]}]}}
    try:
        for path, body in ((f"{API}/resourceflavors", flavor), (f"{API}/clusterqueues", queue)):
            code, answer = cp.request("POST", path, body)
            assert code == 201, answer
        yield manager
    finally:
        # While Kueue runs, so that it releases the finalizers it put on them.
        cp.request("DELETE", f"{API}/clusterqueues/{CLUSTER_QUEUE}")
        cp.request("DELETE", f"{API}/resourceflavors/{FLAVOR}")
        manager.stop()


@pytest_asyncio.fixture
async def queue(kueue_manager: kueue.Kueue, api: Client, namespace: str) -> str:
    """A LocalQueue in the test's namespace, held (admitting nothing) until `open_queue`; its ClusterQueue
    active."""
    async def active() -> JSON | None:
        cq = await get(api, f"{API}/clusterqueues/{CLUSTER_QUEUE}")
        return cq if is_true(cq, "Active") else None
    await eventually(active, 30, f"ClusterQueue {CLUSTER_QUEUE} Active")
    await api.request("POST", f"{API}/namespaces/{namespace}/localqueues", body={
        "apiVersion": "kueue.x-k8s.io/v1beta2", "kind": "LocalQueue",
        "metadata": {"name": LOCAL_QUEUE, "namespace": namespace},
        "spec": {"clusterQueue": CLUSTER_QUEUE, "stopPolicy": "Hold"}})
    return LOCAL_QUEUE


async def open_queue(api: Client, ns: str, name: str) -> None:
    await api.request("PATCH", f"{API}/namespaces/{ns}/localqueues/{name}", body={"spec": {"stopPolicy": "None"}},
                      content_type="application/merge-patch+json")


def queued_pi(name: str, local_queue: str, run_seconds: str) -> JSON:
    doc = with_annotations(copy.deepcopy(example("pi.yaml")), "Launcher", {RUN: run_seconds})
    doc["metadata"] = {"name": name, "labels": {kueue.QUEUE_NAME_LABEL: local_queue}}
    return doc


async def workers(api: Client, ns: str, name: str) -> list[JSON]:
    return await items(api, pods_path(ns), f"training.kubeflow.org/job-name={name},"
                                           "training.kubeflow.org/job-role=worker")


async def workload_of(api: Client, ns: str, job: JSON) -> JSON | None:
    for wl in await items(api, f"{API}/namespaces/{ns}/workloads"):
        if any(o.get("uid") == job["metadata"]["uid"] for o in wl["metadata"].get("ownerReferences") or []):
            return wl
    return None


def state(job: JSON | None) -> str:
    """The operator's account of a job, in one word (its conditions, not its spec)."""
    for ctype in ("Succeeded", "Failed", "Running", "Suspended"):
        if is_true(job, ctype):
            return ctype
    return "Pending"


@dataclass
class Observer:
    """Polls both jobs until stopped, recording each one's states in order and every broken invariant."""

    api: Client
    ns: str
    first: str
    second: str
    states: dict[str, list[str]] = field(default_factory=dict)
    violations: list[str] = field(default_factory=list)
    worker_selectors: dict[str, list[dict[str, str]]] = field(default_factory=dict)

    def note(self, name: str, job: JSON | None) -> None:
        seen = self.states.setdefault(name, [])
        now = state(job)
        if not seen or seen[-1] != now:
            seen.append(now)
        if is_true(job, "Running") and is_true(job, "Suspended"):
            self.violations.append(f"{name} Running and Suspended at once: {job and job.get('status')}")

    async def run(self) -> None:
        while True:
            # The second job is read before the first: if the first has not finished by the later read, it
            # had not finished when the second was read either, so the second must still be held.
            second = await mpijob(self.api, self.ns, self.second)
            first = await mpijob(self.api, self.ns, self.first)
            self.note(self.second, second)
            self.note(self.first, first)
            if second is not None and first is not None and not is_true(first, "Succeeded"):
                if second["spec"]["runPolicy"].get("suspend") is not True or state(second) not in (
                        "Suspended", "Pending"):
                    self.violations.append(f"{self.second} let run before {self.first} finished: "
                                           f"{second['spec']['runPolicy']}, {state(second)}")
                if await workers(self.api, self.ns, self.second):
                    self.violations.append(f"{self.second} has worker pods before {self.first} finished")
            for name in (self.first, self.second):
                for pod in await workers(self.api, self.ns, name):
                    self.worker_selectors.setdefault(name, []).append(pod["spec"].get("nodeSelector") or {})
            await asyncio.sleep(0.1)


async def mpijob_events(api: Client, ns: str) -> list[JSON]:
    """The namespace's Events about MPIJobs, in the order kube-apiserver stored them.

    A created object's resourceVersion is etcd's revision at that write, which only grows; every reason
    here is recorded once per job, so its Event's resourceVersion is the revision of its creation.
    """
    events = await items(api, f"/api/v1/namespaces/{ns}/events")
    mine = [e for e in events if e["involvedObject"].get("kind") == "MPIJob"]
    return sorted(mine, key=lambda e: int(e["metadata"]["resourceVersion"]))


def transition(job: JSON, ctype: str) -> str:
    c = condition(job, ctype)
    assert c is not None, f"{job['metadata']['name']} has no {ctype} condition: {job.get('status')}"
    return str(c["lastTransitionTime"])


def test_kueues_manifest_is_applied_without_its_deployment_and_with_every_webhook_on_loopback() -> None:
    service = {"service": {"name": "kueue-webhook-service", "namespace": "kueue-system", "path": "/convert"}}
    rendered: list[JSON] = [
        {"kind": "Deployment", "metadata": {"name": "kueue-controller-manager"}},
        {"kind": "APIService", "metadata": {"name": "v1beta2.visibility.kueue.x-k8s.io"}},
        {"kind": "CustomResourceDefinition", "metadata": {"name": "workloads.kueue.x-k8s.io"},
         "spec": {"conversion": {"strategy": "Webhook", "webhook": {"clientConfig": service}}}},
        {"kind": "CustomResourceDefinition", "metadata": {"name": "topologies.kueue.x-k8s.io"}, "spec": {}},
        {"kind": "ValidatingWebhookConfiguration", "metadata": {"name": "kueue-validating-webhook-configuration"},
         "webhooks": [{"name": "vmpijob.kb.io", "clientConfig": {"service": {
             "name": "kueue-webhook-service", "namespace": "kueue-system", "path": "/validate-mpijob"}}}]},
    ]
    applied = kueue.loopback_manifest(rendered, "https://127.0.0.1:9443", b"PEM")
    assert [d["metadata"]["name"] for d in applied] == [
        "workloads.kueue.x-k8s.io", "topologies.kueue.x-k8s.io", "kueue-validating-webhook-configuration"]
    bundle = "UEVN"  # base64 of b"PEM"
    assert applied[0]["spec"]["conversion"]["webhook"]["clientConfig"] == {
        "url": "https://127.0.0.1:9443/convert", "caBundle": bundle}
    assert applied[1]["spec"] == {}
    assert applied[2]["webhooks"][0]["clientConfig"] == {
        "url": "https://127.0.0.1:9443/validate-mpijob", "caBundle": bundle}
    assert rendered[2]["spec"]["conversion"]["webhook"]["clientConfig"] is service  # the input is not edited


def test_kueues_shipped_configuration_is_kept_but_for_what_one_loopback_process_needs() -> None:
    shipped = {"apiVersion": "config.kueue.x-k8s.io/v1beta2", "kind": "Configuration",
               "webhook": {"port": 9443}, "leaderElection": {"leaderElect": True},
               "clientConnection": {"qps": 50, "burst": 100}, "featureGates": {"TopologyAwareScheduling": True},
               "integrations": {"frameworks": ["batch/job", "kubeflow.org/mpijob", "pod"]}}
    config = kueue.configuration(shipped, webhook_port=1, health_port=2, metrics_port=3, cert_dir=Path("/c"),
                                 frameworks=("kubeflow.org/mpijob",))
    assert config["clientConnection"] == {"qps": 50, "burst": 100}
    assert config["webhook"] == {"host": "127.0.0.1", "port": 1, "certDir": "/c"}
    assert config["health"] == {"healthProbeBindAddress": "127.0.0.1:2"}
    assert config["metrics"] == {"bindAddress": "127.0.0.1:3"}
    assert config["internalCertManagement"] == {"enable": False}
    assert config["leaderElection"] == {"leaderElect": False}
    assert config["integrations"] == {"frameworks": ["kubeflow.org/mpijob"]}
    assert config["featureGates"] == {"TopologyAwareScheduling": True, "VisibilityOnDemand": False}
    assert shipped["webhook"] == {"port": 9443}


async def test_kube_apiserver_reaches_kueues_webhooks_over_tls(queue: str, api: Client, namespace: str) -> None:
    # Conversion: ClusterQueues are stored as v1beta2, so a v1beta1 read goes through Kueue's /convert.
    old = await api.request("GET", f"/apis/kueue.x-k8s.io/v1beta1/clusterqueues/{CLUSTER_QUEUE}")
    assert old["apiVersion"] == "kueue.x-k8s.io/v1beta1" and old["spec"]["resourceGroups"], old
    # Validation: Kueue's MPIJob webhook denies a queue name that cannot name a LocalQueue.
    with pytest.raises(ApiError) as denied:
        await create_mpijob(api, namespace, queued_pi("badqueue", "Not_A_Queue", run_seconds="1"))
    assert 'admission webhook "vmpijob.kb.io" denied the request' in denied.value.message, denied.value.message
    assert await mpijob(api, namespace, "badqueue") is None


async def test_second_job_waits_suspended_until_the_first_finishes_then_runs(
        queue: str, operator: OperatorProcess, api: Client, namespace: str) -> None:
    observer = Observer(api, namespace, "first", "second")
    watching = asyncio.create_task(observer.run())
    try:
        created = await create_mpijob(api, namespace, queued_pi("first", queue, run_seconds="6"))
        # Kueue's mutating webhook suspends a queued job at creation; the operator keeps it so until admission.
        assert created["spec"]["runPolicy"]["suspend"] is True, created["spec"]["runPolicy"]
        await wait_condition(api, namespace, "first", "Suspended", within=30)
        await open_queue(api, namespace, queue)
        await wait_condition(api, namespace, "first", "Running", within=90)

        second = await create_mpijob(api, namespace, queued_pi("second", queue, run_seconds="2"))
        assert second["spec"]["runPolicy"]["suspend"] is True

        async def pending_for_quota() -> JSON | None:
            wl = await workload_of(api, namespace, second)
            reserved = condition(wl, "QuotaReserved")
            return wl if reserved is not None and reserved["status"] == "False" else None
        pending = await eventually(pending_for_quota, 60, "the second job's Workload pending for quota")
        reserved = condition(pending, "QuotaReserved")
        assert reserved is not None and reserved["reason"] == "Pending", pending["status"]
        assert "insufficient unused quota for cpu" in reserved["message"], reserved
        await wait_condition(api, namespace, "second", "Suspended", within=30)
        held = await eventually(lambda: get(api, f"{jobs_path(namespace)}/second-launcher"), 30,
                                "the second job's launcher Job")
        assert held["spec"]["suspend"] is True, held["spec"]

        await wait_condition(api, namespace, "first", "Succeeded", within=120)
        await wait_condition(api, namespace, "second", "Succeeded", within=120)
    finally:
        watching.cancel()
    first, second_done = await mpijob(api, namespace, "first"), await mpijob(api, namespace, "second")
    assert first is not None and second_done is not None
    observer.note("first", first)
    observer.note("second", second_done)
    assert not observer.violations, observer.violations

    # What the operator said, as it said it: each job Suspended, then Running, then Succeeded.
    for name in ("first", "second"):
        seen = [s for s in observer.states[name] if s != "Pending"]
        assert seen in (["Suspended", "Running", "Succeeded"], ["Suspended", "Succeeded"]), observer.states

    for job in (first, second_done):
        resumed = condition(job, "Suspended")
        assert resumed is not None and resumed["status"] == "False" and resumed["reason"] == "MPIJobResumed"
        # RFC 3339 seconds compare as strings; ties are the same second.
        times = [transition(job, t) for t in ("Created", "Suspended", "Running", "Succeeded")]
        assert times == sorted(times), (job["metadata"]["name"], times)
        assert job["spec"]["runPolicy"].get("managedBy") is None  # Kueue leaves the job to this operator
    assert transition(first, "Succeeded") <= transition(second_done, "Suspended"), "second resumed too early"
    assert transition(second_done, "Created") < transition(second_done, "Suspended")

    events = await mpijob_events(api, namespace)
    for name in ("first", "second"):
        ours = [e["reason"] for e in events
                if e["involvedObject"]["name"] == name and e["source"].get("component") == "mpi-job-controller"]
        assert ours == OPERATOR_REASONS, (name, ours)
    order = [(e["involvedObject"]["name"], e["reason"]) for e in events]
    started = [e for e in events if e["involvedObject"]["name"] == "second" and e["reason"] == "Started"]
    assert started and CLUSTER_QUEUE in started[0]["message"], order
    assert order.index(("first", "MPIJobSucceeded")) < order.index(("second", "Started")) \
        < order.index(("second", "MPIJobResumed")), order

    # Kueue's admission injected the flavor's nodeSelector into the templates. The launcher Job made while the
    # job was held lacked it, so the operator replaced that suspended Job (decision Q13); the workers it
    # created on resume have it too.
    launcher = await get(api, f"{jobs_path(namespace)}/second-launcher")
    assert launcher is not None and launcher["metadata"]["uid"] != held["metadata"]["uid"]
    assert not (held["spec"]["template"]["spec"].get("nodeSelector") or {})
    assert FLAVOR_LABELS.items() <= (launcher["spec"]["template"]["spec"].get("nodeSelector") or {}).items()
    selectors = observer.worker_selectors.get("second") or []
    assert selectors and all(FLAVOR_LABELS.items() <= s.items() for s in selectors), selectors


async def test_kueue_evicting_a_running_job_suspends_it_and_readmission_runs_it_to_succeeded(
        queue: str, operator: OperatorProcess, api: Client, namespace: str) -> None:
    observer = Observer(api, namespace, "evicted", "none")
    watching = asyncio.create_task(observer.run())
    job = await create_mpijob(api, namespace, queued_pi("evicted", queue, run_seconds="8"))
    await wait_condition(api, namespace, "evicted", "Suspended", within=30)
    await open_queue(api, namespace, queue)
    await wait_condition(api, namespace, "evicted", "Running", within=90)
    workload = await eventually(lambda: workload_of(api, namespace, job), 30, "the job's Workload")
    workload_path = f"{API}/namespaces/{namespace}/workloads/{workload['metadata']['name']}"

    # Deactivating the Workload makes Kueue evict it: it suspends the MPIJob and takes back the flavor's
    # nodeSelector, as it does on preemption.
    await api.request("PATCH", workload_path, body={"spec": {"active": False}},
                      content_type="application/merge-patch+json")
    suspended = await wait_condition(api, namespace, "evicted", "Suspended", within=60)
    assert suspended["spec"]["runPolicy"]["suspend"] is True
    assert condition(suspended, "Running")["status"] == "False"  # type: ignore[index]

    async def stopped() -> bool:
        launcher = await get(api, f"{jobs_path(namespace)}/evicted-launcher")
        active = ((launcher or {}).get("status") or {}).get("active", 0)
        return not await workers(api, namespace, "evicted") and launcher is not None \
            and launcher["spec"]["suspend"] is True and not active
    await eventually(stopped, 60, "workers deleted and the launcher Job suspended")
    assert not is_true(await mpijob(api, namespace, "evicted"), "Succeeded")

    await api.request("PATCH", workload_path, body={"spec": {"active": True}},
                      content_type="application/merge-patch+json")
    try:
        done = await wait_condition(api, namespace, "evicted", "Succeeded", within=120)
    finally:
        watching.cancel()
    observer.note("evicted", done)
    assert not observer.violations, observer.violations
    seen = [s for s in observer.states["evicted"] if s != "Pending"]
    assert seen == ["Suspended", "Running", "Suspended", "Running", "Succeeded"], observer.states
    assert condition(done, "Suspended")["reason"] == "MPIJobResumed"  # type: ignore[index]

    # A repeated Event is one Event with a count, as client-go records it; its last write orders it.
    events = await mpijob_events(api, namespace)
    ours = [(e["reason"], e["count"]) for e in events if e["source"].get("component") == "mpi-job-controller"]
    assert ours == [("MPIJobCreated", 1), ("MPIJobSuspended", 2), ("MPIJobResumed", 2), ("MPIJobRunning", 2),
                    ("MPIJobSucceeded", 1)], ours
