"""The chart's life on a real control plane with real helm v4: install, a job, upgrade, uninstall.

A fresh control plane of its own (not the shared ground, which already holds manifests/install.yaml), so helm
installs everything itself, the CRD from crds/ included. There is no container runtime here: the node agent's
simulated runtime shows the operator's Deployment pods Running and Ready, but nothing executes in them. So the
operator that runs the pi example is `mpi-operator run` as a process, with the token of the chart's
ServiceAccount and the arguments read back from the installed Deployment (only the two ports are moved to free
ones): the chart's RBAC and flags are what is proven. The tests run in file order, each on the state the
previous one left, as a user would go through them.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import yaml

from mpi_operator.controlplane.binaries import locate
from mpi_operator.controlplane.cluster import ControlPlane, free_port
from mpi_operator.controlplane.install import start_node_agent
from tests.conftest import examples_dir
from tests.helm.helm import CHART, Helm, require
from tests.real.ground import AGENT_ARGS, KUBECTL, real_unavailable, stop_process

JSON = dict[str, Any]
RELEASE = "mpi-operator"
NAMESPACE = "mpi-operator"
CRD = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/mpijobs.kubeflow.org"
DEPLOYMENT = f"/apis/apps/v1/namespaces/{NAMESPACE}/deployments/mpi-operator"
# Where each kind of the chart is read back from (namespaced paths take the object's namespace).
PATHS = {"Deployment": "/apis/apps/v1/namespaces/{ns}/deployments",
         "ServiceAccount": "/api/v1/namespaces/{ns}/serviceaccounts",
         "Service": "/api/v1/namespaces/{ns}/services",
         "NetworkPolicy": "/apis/networking.k8s.io/v1/namespaces/{ns}/networkpolicies",
         "PodDisruptionBudget": "/apis/policy/v1/namespaces/{ns}/poddisruptionbudgets",
         "Role": "/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/roles",
         "RoleBinding": "/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/rolebindings",
         "ClusterRole": "/apis/rbac.authorization.k8s.io/v1/clusterroles",
         "ClusterRoleBinding": "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings"}
INSTALL_TIMEOUT = "4m"


@dataclass
class Cluster:
    cp: ControlPlane
    helm: Helm
    workdir: Path

    def get(self, path: str) -> JSON | None:
        code, body = self.cp.request("GET", path)
        if code == 404:
            return None
        assert code == 200, f"GET {path}: {code} {body}"
        return dict(body)

    def kubectl(self, *args: str, stdin: str | None = None) -> str:
        done = subprocess.run([str(KUBECTL), "--kubeconfig", str(self.cp.admin_kubeconfig), *args], input=stdin,
                              capture_output=True, text=True, timeout=60, check=False)
        assert done.returncode == 0, f"kubectl {' '.join(args)}: {done.stderr}"
        return done.stdout

    def namespace(self, name: str) -> str:
        self.cp.request("POST", "/api/v1/namespaces", {"metadata": {"name": name}})
        wait_for(lambda: self.get(f"/api/v1/namespaces/{name}/serviceaccounts/default"), 60,
                 f"ServiceAccount {name}/default")
        return name


def wait_for(check: Callable[[], Any], within: float, what: str) -> Any:
    deadline = time.monotonic() + within
    while True:
        last = check()
        if last:
            return last
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within}s waiting for {what} (last: {last!r})")
        time.sleep(0.2)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    require()
    reason = real_unavailable()
    if reason is not None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true requires the real control plane: {reason}")
        pytest.skip(f"real control plane unavailable: {reason}")
    workdir = tmp_path_factory.mktemp("helm-real")
    cp = ControlPlane(locate(), workdir / "controlplane").start()
    agent: subprocess.Popen[bytes] | None = None
    helm = Helm(cp.admin_kubeconfig)
    try:
        agent, _ = start_node_agent(cp, nodes=2, runtime="simulated", extra_args=AGENT_ARGS)
        yield Cluster(cp, helm, workdir)
    finally:
        if agent is not None:
            stop_process(agent)
        cp.stop()
        helm.close()


def installed_deployment(cluster: Cluster) -> JSON:
    deployment = cluster.get(DEPLOYMENT)
    assert deployment is not None, "the chart's Deployment is not there"
    return deployment


def operator_argv(cluster: Cluster, deployment: JSON, kubeconfig: Path) -> tuple[list[str], int]:
    """`mpi-operator run` with the Deployment's args ($(VAR) expanded as the kubelet does), on free ports."""
    pod = deployment["spec"]["template"]["spec"]
    container = pod["containers"][0]
    env = {e["name"]: e.get("value", "") for e in container.get("env", [])}
    for entry in container.get("env", []):
        if (entry.get("valueFrom") or {}).get("fieldRef", {}).get("fieldPath") == "metadata.namespace":
            env[entry["name"]] = deployment["metadata"]["namespace"]
    args = [re.sub(r"\$\((\w+)\)", lambda m: env.get(m.group(1), m.group(0)), a) for a in container["args"]]
    assert args[0] == "run"
    health = free_port()
    moved = {"--health-port": str(health), "--monitoring-port": str(free_port())}
    ported = []
    for arg in args[1:]:
        flag, _, _ = arg.partition("=")
        ported.append(f"{flag}={moved[flag]}" if flag in moved else arg)
    return [sys.executable, "-m", "mpi_operator", "run", "--kubeconfig", str(kubeconfig), *ported], health


def ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as resp:
            return int(resp.status) == 200
    except (OSError, urllib.error.URLError):
        return False


def run_operator(cluster: Cluster, name: str) -> tuple[subprocess.Popen[bytes], list[str]]:
    """The operator as the installed chart would run it: the chart's ServiceAccount token and Deployment args."""
    deployment = installed_deployment(cluster)
    account = deployment["spec"]["template"]["spec"]["serviceAccountName"]
    kubeconfig = cluster.cp.service_account_kubeconfig(NAMESPACE, account, cluster.workdir / f"{name}.kubeconfig")
    argv, health = operator_argv(cluster, deployment, kubeconfig)
    log = cluster.workdir / f"{name}.log"
    env = {k: v for k, v in os.environ.items() if k not in ("KUBECONFIG", "KUBEFLOW_NAMESPACE")}
    with log.open("ab") as handle:
        proc = subprocess.Popen(argv, stdout=handle, stderr=subprocess.STDOUT, env=env, start_new_session=True)

    def up() -> bool:
        assert proc.poll() is None, f"the operator exited:\n{log.read_text()[-3000:]}"
        return ready(health)

    wait_for(up, 90, f"the operator's /readyz (log {log})")
    return proc, argv


def run_pi(cluster: Cluster, namespace: str) -> None:
    cluster.kubectl("apply", "-n", namespace, "-f", str(examples_dir() / "pi.yaml"))


def succeeded(cluster: Cluster, namespace: str) -> JSON | None:
    job = cluster.get(f"/apis/kubeflow.org/v2beta1/namespaces/{namespace}/mpijobs/pi")
    conditions = ((job or {}).get("status") or {}).get("conditions") or []
    return job if any(c["type"] == "Succeeded" and c["status"] == "True" for c in conditions) else None


def rolled_out(cluster: Cluster) -> JSON | None:
    d = installed_deployment(cluster)
    status, want = d.get("status") or {}, d["spec"]["replicas"]
    done = (status.get("observedGeneration") == d["metadata"]["generation"] and status.get("updatedReplicas") == want
            and status.get("availableReplicas") == want and status.get("replicas") == want)
    return d if done else None


def replica_sets(cluster: Cluster) -> dict[str, JSON]:
    """The Deployment's ReplicaSets by pod-template-hash."""
    answer = cluster.get(f"/apis/apps/v1/namespaces/{NAMESPACE}/replicasets") or {}
    return {rs["metadata"]["labels"]["pod-template-hash"]: rs for rs in answer.get("items", [])}


def release_objects(cluster: Cluster) -> list[tuple[str, str, str | None]]:
    manifest = cluster.helm.run("get", "manifest", RELEASE, "-n", NAMESPACE).stdout
    return [(d["kind"], d["metadata"]["name"], d["metadata"].get("namespace")) for d in yaml.safe_load_all(manifest)
            if d]


def absent(cluster: Cluster, path: str) -> bool:
    return cluster.get(path) is None


def object_path(kind: str, name: str, namespace: str | None) -> str:
    return f"{PATHS[kind].format(ns=namespace or NAMESPACE)}/{name}"


# ---------------------------------------------------------------------------------------------- the life cycle


def test_helm_install_creates_the_crd_and_rolls_out_the_operator(cluster: Cluster) -> None:
    assert cluster.get(CRD) is None
    cluster.helm.run("install", RELEASE, str(CHART), "-n", NAMESPACE, "--create-namespace", "--wait",
                     "--timeout", INSTALL_TIMEOUT)
    crd = cluster.get(CRD)
    assert crd is not None and any(c["type"] == "Established" and c["status"] == "True"
                                   for c in crd["status"]["conditions"])
    assert "app.kubernetes.io/managed-by" not in crd["metadata"].get("labels", {}), "crds/ is installed verbatim"
    deployment = wait_for(lambda: rolled_out(cluster), 120, "the Deployment rolled out")
    assert deployment["status"]["readyReplicas"] == 2
    for kind, name, namespace in release_objects(cluster):
        assert cluster.get(object_path(kind, name, namespace)) is not None, f"{kind}/{name}"
    status = json.loads(cluster.helm.run("status", RELEASE, "-n", NAMESPACE, "-o", "json").stdout)
    assert status["info"]["status"] == "deployed" and status["version"] == 1


def test_pi_runs_to_succeeded_with_the_charts_service_account_and_args(cluster: Cluster) -> None:
    proc, argv = run_operator(cluster, "operator-install")
    try:
        assert "--lock-namespace=mpi-operator" in argv, "$(POD_NAMESPACE) is the release namespace"
        namespace = cluster.namespace("pi-helm")
        run_pi(cluster, namespace)
        job = wait_for(lambda: succeeded(cluster, namespace), 120, "MPIJob pi-helm/pi Succeeded")
        assert job["status"]["replicaStatuses"]["Launcher"]["succeeded"] == 1
        lease = cluster.get(f"/apis/coordination.k8s.io/v1/namespaces/{NAMESPACE}/leases/mpi-operator")
        assert lease is not None and lease["spec"].get("holderIdentity"), "the lease is in the release namespace"
        assert stop_process(proc) == 0, "SIGTERM: exit 0"
    finally:
        stop_process(proc)


def test_a_bad_value_fails_helm_install_and_creates_nothing(cluster: Cluster) -> None:
    done = cluster.helm.run("install", "bad", str(CHART), "-n", NAMESPACE, "--set", "replicaCount=0",
                            "--set", "watchNamespace=Team_A", check=False)
    assert done.returncode != 0
    assert "values don't meet the specifications of the schema(s)" in done.stderr, done.stderr
    assert "- at '/replicaCount': minimum: got 0, want 1" in done.stderr, done.stderr
    releases = json.loads(cluster.helm.run("list", "-A", "--deployed", "--failed", "--pending", "-o", "json").stdout)
    assert [r["name"] for r in releases] == [RELEASE]


def test_helm_upgrade_with_changed_values_rolls_the_deployment(cluster: Cluster) -> None:
    before = rolled_out(cluster)
    assert before is not None
    old_hashes = set(replica_sets(cluster))
    watched = cluster.namespace("team-a")
    cluster.helm.run("upgrade", RELEASE, str(CHART), "-n", NAMESPACE, "--wait", "--timeout", INSTALL_TIMEOUT,
                     "--set", f"watchNamespace={watched}", "--set", "workqueue.threadiness=4",
                     "--set", "resources.limits.memory=1Gi")
    after = wait_for(lambda: rolled_out(cluster), 120, "the upgraded Deployment rolled out")
    assert after["metadata"]["generation"] > before["metadata"]["generation"]
    args = after["spec"]["template"]["spec"]["containers"][0]["args"]
    assert {f"--namespace={watched}", "--threadiness=4"} <= set(args)
    sets = replica_sets(cluster)
    new_hashes = set(sets) - old_hashes
    assert len(new_hashes) == 1, f"one new ReplicaSet (pod-template-hash), got {sorted(sets)}"
    assert sets[new_hashes.pop()]["spec"]["replicas"] == 2
    assert all(sets[h]["spec"]["replicas"] == 0 for h in old_hashes), "the old ReplicaSet is scaled down"
    history = json.loads(cluster.helm.run("history", RELEASE, "-n", NAMESPACE, "-o", "json").stdout)
    assert [(h["revision"], h["status"]) for h in history] == [(1, "superseded"), (2, "deployed")]
    # watchNamespace swapped the ClusterRole for Roles: the cluster-wide grant is gone.
    assert cluster.get(object_path("ClusterRoleBinding", "mpi-operator", None)) is None
    assert cluster.get(object_path("Role", "mpi-operator", watched)) is not None


def test_the_upgraded_operator_runs_pi_in_its_namespace_only(cluster: Cluster) -> None:
    elsewhere = cluster.namespace("not-watched")
    run_pi(cluster, elsewhere)
    proc, argv = run_operator(cluster, "operator-upgrade")
    try:
        assert "--namespace=team-a" in argv
        run_pi(cluster, "team-a")
        wait_for(lambda: succeeded(cluster, "team-a"), 120, "MPIJob team-a/pi Succeeded")
        ignored = cluster.get(f"/apis/kubeflow.org/v2beta1/namespaces/{elsewhere}/mpijobs/pi")
        assert ignored is not None and not (ignored.get("status") or {}).get("conditions"), \
            "an MPIJob outside the watched namespace is left alone"
        assert stop_process(proc) == 0, "SIGTERM: exit 0"
    finally:
        stop_process(proc)


def test_helm_uninstall_removes_everything_but_the_crd(cluster: Cluster) -> None:
    objects = release_objects(cluster)
    assert {kind for kind, _, _ in objects} >= {"Deployment", "ServiceAccount", "Role", "RoleBinding", "ClusterRole",
                                                "Service", "NetworkPolicy", "PodDisruptionBudget"}
    cluster.helm.run("uninstall", RELEASE, "-n", NAMESPACE, "--wait", "--timeout", INSTALL_TIMEOUT)
    for kind, name, namespace in objects:
        wait_for(partial(absent, cluster, object_path(kind, name, namespace)), 60, f"{kind}/{name} deleted")
    wait_for(lambda: not (cluster.get(f"/apis/apps/v1/namespaces/{NAMESPACE}/replicasets") or {}).get("items"), 60,
             "the ReplicaSets garbage-collected")
    assert cluster.get(CRD) is not None, "Helm keeps the CRDs of crds/ on uninstall"
    assert succeeded(cluster, "team-a") is not None, "MPIJobs (custom resources) stay with their CRD"
    assert json.loads(cluster.helm.run("list", "-A", "--deployed", "--failed", "--pending", "-o", "json").stdout) == []
