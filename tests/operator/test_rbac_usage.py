"""RBAC equals usage: the operator process, driven through every code path that writes (create, drift
repair, scale-down, suspend, resume with a started launcher, launcher template change, finish, gang
scheduling, repeated Events, lease release), makes only requests its ClusterRole grants, and the ClusterRole
grants nothing it does not use except the allow-listed rows documented in manifests/rbac-usage.md."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path
from typing import Any

import pytest
import yaml

from mpi_operator.sandbox import Sandbox
from tests.conftest import REPO
from tests.operator.test_process import MPIJOBS, Operator, eventually, pi

pytestmark = pytest.mark.asyncio(loop_scope="function")

# Granted but not exercised by a Volcano run, with the reason (also in manifests/rbac-usage.md).
ALLOWED_UNUSED = {
    # The other gang scheduler's PodGroups: the same code path with another API group.
    *{("scheduling.x-k8s.io", "podgroups", v) for v in ("create", "list", "watch", "update", "patch", "delete")},
    # Needed by the API server to set blockOwnerDeletion on children (OwnerReferencesPermissionEnforcement);
    # never a request of ours.
    ("kubeflow.org", "mpijobs/finalizers", "update"),
}


def grant_of(verb: str, key: str) -> tuple[str, str, str]:
    resource, _, sub = key.partition("/")
    plural, _, group = resource.partition(".")
    return group, plural + (f"/{sub}" if sub else ""), verb


def cluster_role_grants() -> set[tuple[str, str, str]]:
    role: dict[str, Any] = yaml.safe_load((REPO / "manifests" / "base" / "cluster-role.yaml").read_text())
    return {(g, r, v) for rule in role["rules"] for g in rule["apiGroups"] for r in rule["resources"]
            for v in rule["verbs"]}


def status_patch(sb: Sandbox, resource: str, ns: str, name: str, status: dict[str, Any]) -> None:
    sb.store.patch(resource, ns, name, "merge", {"status": status}, subresource="status")


async def test_cluster_role_grants_exactly_what_the_operator_uses(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "config"
    async with Sandbox(port=0, kubeconfig_path=kubeconfig, gang=["volcano"]) as sb:
        op = Operator(kubeconfig, "--gang-scheduling", "volcano", "--lock-namespace", "default")
        await op.start()
        try:
            await drive_every_write_path(sb, op)
            assert op.proc is not None
            op.proc.send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(op.proc.wait(), 20) == 0
        finally:
            await op.stop()
        used = {grant_of(k.verb, k.resource) for k in sb.requests.counts if k.client == "mpi-operator"}

    granted = cluster_role_grants()
    assert used - granted == set(), "requests the ClusterRole does not allow"
    assert granted - used - ALLOWED_UNUSED == set(), "grants nothing uses"


async def drive_every_write_path(sb: Sandbox, op: Operator) -> None:
    ns = "default"
    await eventually(op.ready, 20, "operator ready")
    sb.store.create("priorityclasses.scheduling.k8s.io", None, {"metadata": {"name": "high"}, "value": 1000})
    job = pi(ns, "rbac")
    job["spec"]["mpiReplicaSpecs"]["Worker"]["replicas"] = 2
    sb.store.create(MPIJOBS, ns, job)
    await eventually(lambda: sb.store.find("jobs.batch", ns, "rbac-launcher"), 15, "launcher Job")
    await eventually(lambda: sb.store.find("podgroups.scheduling.volcano.sh", ns, "rbac"), 15, "PodGroup")

    # A worker becomes Running: discover_hosts.sh changes (ConfigMap patch).
    status_patch(sb, "pods", ns, "rbac-worker-0", {"phase": "Running"})
    await eventually(lambda: "rbac-worker-0" in sb.store.get("configmaps", ns, "rbac-config")["data"][
        "discover_hosts.sh"], 10, "ConfigMap follows the running worker")
    # Drift: Service selector, Secret keys, PodGroup spec.
    sb.store.patch("services", ns, "rbac", "merge", {"spec": {"selector": {"x": "y"}}})
    await eventually(lambda: "x" not in sb.store.get("services", ns, "rbac")["spec"]["selector"], 10, "Service")
    sb.store.update("secrets", ns, "rbac-ssh", {**sb.store.get("secrets", ns, "rbac-ssh"), "data": {"a": "Yg=="}})
    await eventually(lambda: "ssh-privatekey" in sb.store.get("secrets", ns, "rbac-ssh")["data"], 10, "Secret")
    sb.store.patch("podgroups.scheduling.volcano.sh", ns, "rbac", "merge", {"spec": {"minMember": 7}})
    await eventually(lambda: sb.store.get("podgroups.scheduling.volcano.sh", ns, "rbac")["spec"]["minMember"] == 3,
                     10, "PodGroup")
    # Scale down: a worker pod deleted.
    sb.store.patch(MPIJOBS, ns, "rbac", "merge", {"spec": {"mpiReplicaSpecs": {"Worker": {"replicas": 1}}}})
    await eventually(lambda: sb.store.find("pods", ns, "rbac-worker-1") is None
                     or sb.store.get("pods", ns, "rbac-worker-1")["metadata"].get("deletionTimestamp"), 10,
                     "scale-down")
    # Launcher template change before it started: the Job is replaced (finalizer patch, delete, create).
    old_uid = sb.store.get("jobs.batch", ns, "rbac-launcher")["metadata"]["uid"]
    sb.store.patch(MPIJOBS, ns, "rbac", "merge", {"spec": {"mpiReplicaSpecs": {"Launcher": {"template": {
        "metadata": {"labels": {"edited": "yes"}}}}}}})
    await eventually(lambda: (j := sb.store.find("jobs.batch", ns, "rbac-launcher")) is not None
                     and j["metadata"]["uid"] != old_uid, 15, "launcher replaced")
    # Suspend (launcher suspended, workers and PodGroup deleted), then resume a launcher that had started.
    sb.store.patch(MPIJOBS, ns, "rbac", "merge", {"spec": {"runPolicy": {"suspend": True}}})
    await eventually(lambda: sb.store.get("jobs.batch", ns, "rbac-launcher")["spec"].get("suspend") is True, 10,
                     "launcher suspended")
    status_patch(sb, "jobs.batch", ns, "rbac-launcher", {"startTime": "2026-01-01T00:00:00Z"})
    sb.store.patch(MPIJOBS, ns, "rbac", "merge", {"spec": {"runPolicy": {"suspend": False}}})
    await eventually(lambda: sb.store.get("jobs.batch", ns, "rbac-launcher")["spec"].get("suspend") is False, 10,
                     "launcher resumed")
    # Finish: launcher Complete; the finalizer is released and workers are cleaned up.
    status_patch(sb, "jobs.batch", ns, "rbac-launcher", {
        "startTime": "2026-01-01T00:00:00Z", "completionTime": "2026-01-01T00:01:00Z", "succeeded": 1,
        "conditions": [{"type": "Complete", "status": "True"}]})
    await eventually(lambda: not sb.store.get("jobs.batch", ns, "rbac-launcher")["metadata"].get("finalizers"),
                     15, "finalizer released")
    # Repeated Warning Events (an object we do not control) are aggregated with a patch.
    sb.store.create("services", ns, {"metadata": {"name": "clash"}, "spec": {"clusterIP": "None"}})
    sb.store.create(MPIJOBS, ns, pi(ns, "clash"))
    await eventually(lambda: any(e.get("count", 1) > 1 for e in sb.store.iter_objects("events", ns)
                                 if e.get("reason") == "ErrResourceExists"), 20, "aggregated Event")
