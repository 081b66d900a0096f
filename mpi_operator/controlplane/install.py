"""What runs on a fresh control plane besides its own components: the operator's install and a node agent.

`install_operator_rbac` applies the cluster-scoped part of `manifests/install.yaml` (namespace, CRD,
ServiceAccount, ClusterRoles and bindings; not the Deployment, which needs the operator's image) and
writes a kubeconfig carrying the operator ServiceAccount's own token, so the operator runs with exactly
the RBAC it ships with. `start_node_agent` runs `mpi-operator node-agent` as a child process.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from mpi_operator.controlplane.cluster import ControlPlane, StartError

REPO = Path(__file__).resolve().parents[2]
INSTALL = REPO / "manifests" / "install.yaml"
RBAC_KINDS = ("Namespace", "CustomResourceDefinition", "ServiceAccount", "ClusterRole", "ClusterRoleBinding",
              "Role", "RoleBinding")
PATHS = {"Namespace": "/api/v1/namespaces",
         "CustomResourceDefinition": "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
         "ServiceAccount": "/api/v1/namespaces/{ns}/serviceaccounts",
         "ClusterRole": "/apis/rbac.authorization.k8s.io/v1/clusterroles",
         "ClusterRoleBinding": "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
         "Role": "/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/roles",
         "RoleBinding": "/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/rolebindings",
         "MutatingWebhookConfiguration": "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations",
         "ValidatingWebhookConfiguration": "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations"}


def manifests(path: Path = INSTALL, kinds: tuple[str, ...] = RBAC_KINDS) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d and d.get("kind") in kinds]


def apply(cp: ControlPlane, doc: dict[str, Any]) -> None:
    """Create `doc`, or replace it when it exists (admin credentials)."""
    namespace = doc["metadata"].get("namespace", "default")
    collection = PATHS[doc["kind"]].format(ns=namespace)
    code, answer = cp.request("POST", collection, doc)
    if code == 409:
        name = doc["metadata"]["name"]
        code, current = cp.request("GET", f"{collection}/{name}")
        body = dict(doc, metadata=dict(doc["metadata"], resourceVersion=current["metadata"]["resourceVersion"]))
        code, answer = cp.request("PUT", f"{collection}/{name}", body)
    if code not in (200, 201):
        raise StartError(f"applying {doc['kind']} {doc['metadata']['name']} answered {code}: {answer}")


def wait_established(cp: ControlPlane, crd: str, within: float = 30.0) -> None:
    deadline = time.monotonic() + within
    while True:
        code, obj = cp.request("GET", f"{PATHS['CustomResourceDefinition']}/{crd}")
        conditions = (obj or {}).get("status", {}).get("conditions") or [] if code == 200 else []
        if any(c.get("type") == "Established" and c.get("status") == "True" for c in conditions):
            return
        if time.monotonic() > deadline:
            raise StartError(f"CRD {crd} not Established within {within:.0f}s")
        time.sleep(0.1)


def install_operator_rbac(cp: ControlPlane, kubeconfig_path: Path) -> Path:
    docs = manifests()
    for doc in docs:
        apply(cp, doc)
    for doc in docs:
        if doc["kind"] == "CustomResourceDefinition":
            wait_established(cp, doc["metadata"]["name"])
    account = next(d for d in docs if d["kind"] == "ServiceAccount")
    return cp.service_account_kubeconfig(account["metadata"]["namespace"], account["metadata"]["name"],
                                         kubeconfig_path)


def start_node_agent(cp: ControlPlane, *, nodes: int = 2, runtime: str = "auto", within: float = 60.0,
                     extra_args: tuple[str, ...] = ()) -> tuple[subprocess.Popen[bytes], str]:
    """The node agent as a child process with admin credentials; returns it and its ready line."""
    log = cp.logs / "node-agent.log"
    args = [sys.executable, "-m", "mpi_operator", "node-agent", "--kubeconfig", str(cp.admin_kubeconfig),
            "--nodes", str(nodes), "--runtime", runtime, *extra_args]
    env = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}
    start = log.stat().st_size if log.exists() else 0
    with log.open("ab") as handle:
        proc = subprocess.Popen(args, stdout=handle, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    deadline = time.monotonic() + within
    while True:
        text = log.read_bytes()[start:].decode(errors="replace")
        line = next((ln for ln in text.splitlines() if ln.startswith("node agent ready")), None)
        if line is not None:
            return proc, line
        if proc.poll() is not None or time.monotonic() > deadline:
            if proc.poll() is None:
                proc.kill()
            raise StartError(f"the node agent did not become ready:\n{text[-3000:]}")
        time.sleep(0.1)
