"""Render the kustomize overlays with the real kubectl from the dev dependencies, on a copy of manifests/.

The copy gets a stand-in CRD when manifests/base/kubeflow.org_mpijobs.yaml has not been generated yet
(`make manifests` writes it once the CRD generator exists), so RBAC, Deployment and overlay tests run either way.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from tests.conftest import REPO

MANIFESTS = REPO / "manifests"
CRD_FILE = "kubeflow.org_mpijobs.yaml"
KUBECTL = Path(sys.executable).parent / "kubectl"
OVERLAYS = ("standalone", "kubeflow")
# A test-only overlay: standalone plus the optional ServiceMonitor component, used as documented in
# manifests/components/servicemonitor/kustomization.yaml (the including overlay sets the namespace).
MONITORED_OVERLAY = "standalone-with-servicemonitor"

STANDIN_CRD: dict[str, Any] = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {
        "name": "mpijobs.kubeflow.org",
        "annotations": {"mpi-operator.kubeflow.org/stand-in": "schema-less placeholder; run make manifests"},
    },
    "spec": {
        "group": "kubeflow.org",
        "names": {"kind": "MPIJob", "listKind": "MPIJobList", "plural": "mpijobs", "singular": "mpijob",
                  "shortNames": ["mpij"]},
        "scope": "Namespaced",
        "versions": [{
            "name": "v2beta1", "served": True, "storage": True, "subresources": {"status": {}},
            "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}},
        }],
    },
}


def real_crd_exists() -> bool:
    path = MANIFESTS / "base" / CRD_FILE
    return path.is_file() and path.stat().st_size > 0


def copy_manifests(target: Path) -> Path:
    """manifests/ copied to target (with the stand-in CRD if needed) plus the test-only monitored overlay."""
    root = target / "manifests"
    shutil.copytree(MANIFESTS, root)
    if not real_crd_exists():
        (root / "base" / CRD_FILE).write_text(yaml.safe_dump(STANDIN_CRD, sort_keys=False))
    monitored = root / "overlays" / MONITORED_OVERLAY
    monitored.mkdir()
    (monitored / "kustomization.yaml").write_text(yaml.safe_dump({
        "apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization", "namespace": "mpi-operator",
        "resources": ["../standalone"], "components": ["../../components/servicemonitor"]}))
    return root


def render(root: Path, overlay: str) -> list[dict[str, Any]]:
    result = subprocess.run([str(KUBECTL), "kustomize", str(root / "overlays" / overlay)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def find(docs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    matches = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(matches) == 1, f"expected one {kind}/{name}, found {len(matches)}"
    return matches[0]
