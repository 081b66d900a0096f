"""One source of truth: the chart with its default values renders the kustomize install, object for object.

The CRD is generated (`make manifests` writes the same file into manifests/base/ and the chart's crds/);
every other object is compared after `helm template` and `kubectl kustomize`, both real. The only allowed
differences are Helm's four labels on the objects, the Namespace (Helm's `--create-namespace` makes it) and
the labels kustomize adds to the CRD (Helm installs crds/ verbatim).
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from mpi_operator.api.crd import crd_manifest
from tests.conftest import REPO
from tests.helm.helm import CHART, Helm, find
from tests.manifests.kustomize import MANIFESTS, MONITORED_OVERLAY, copy_manifests, render

JSON = dict[str, Any]
HELM_LABELS = {"app.kubernetes.io/instance", "app.kubernetes.io/managed-by", "app.kubernetes.io/version",
               "helm.sh/chart"}
CHART_CRD = CHART / "crds" / "kubeflow.org_mpijobs.yaml"


@pytest.fixture(scope="module")
def kustomized(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[JSON]]:
    root = copy_manifests(tmp_path_factory.mktemp("helm-kustomize"))
    return {overlay: render(root, overlay) for overlay in ("standalone", "kubeflow", MONITORED_OVERLAY)}


def without_helm_labels(doc: JSON) -> JSON:
    labels = {k: v for k, v in doc["metadata"].get("labels", {}).items() if k not in HELM_LABELS}
    return {**doc, "metadata": {**doc["metadata"], "labels": labels}}


def comparable(docs: list[JSON]) -> dict[tuple[str, str], JSON]:
    """Objects by (kind, name), without the CRD (compared as a file) and the Namespace (Helm's to make)."""
    return {(d["kind"], d["metadata"]["name"]): d for d in docs
            if d["kind"] not in ("CustomResourceDefinition", "Namespace")}


def assert_same_objects(charted: list[JSON], kustomized: list[JSON]) -> None:
    ours = comparable([without_helm_labels(d) for d in charted])
    theirs = comparable(kustomized)
    assert sorted(ours) == sorted(theirs), "the chart and the kustomize base render different object sets"
    for key, obj in ours.items():
        assert obj == theirs[key], f"{key[0]}/{key[1]} differs:\nhelm:\n{yaml.safe_dump(obj)}\n" \
                                   f"kustomize:\n{yaml.safe_dump(theirs[key])}"


@pytest.mark.parametrize(("overlay", "namespace"), [("standalone", "mpi-operator"), ("kubeflow", "kubeflow")])
def test_default_values_render_the_kustomize_overlay(helm: Helm, kustomized: dict[str, list[JSON]], overlay: str,
                                                     namespace: str) -> None:
    assert_same_objects(helm.template(namespace=namespace), kustomized[overlay])


def test_service_monitor_renders_the_kustomize_component(helm: Helm, kustomized: dict[str, list[JSON]]) -> None:
    charted = helm.template({"serviceMonitor": {"enabled": True}})
    assert_same_objects(charted, kustomized[MONITORED_OVERLAY])


def test_helm_labels_are_on_objects_not_on_selectors_or_the_pod_template(helm: Helm) -> None:
    docs = helm.template()
    for doc in docs:
        assert set(doc["metadata"]["labels"]) >= HELM_LABELS, f"{doc['kind']}/{doc['metadata']['name']}"
    deployment = find(docs, "Deployment", "mpi-operator")
    # A chart upgrade alone (new helm.sh/chart label) must not roll the operator's pods.
    assert not HELM_LABELS & set(deployment["spec"]["template"]["metadata"]["labels"])
    assert not HELM_LABELS & set(deployment["spec"]["selector"]["matchLabels"])


def test_the_charts_crd_is_the_generated_crd() -> None:
    base = MANIFESTS / "base" / "kubeflow.org_mpijobs.yaml"
    assert CHART_CRD.read_bytes() == base.read_bytes(), "the chart's crds/ is stale: run `make manifests`"
    documents = [d for d in yaml.safe_load_all(CHART_CRD.read_text()) if d]
    assert documents == [crd_manifest()], "the CRD files are stale: run `make manifests`"


def test_the_chart_with_include_crds_carries_the_generated_crd(helm: Helm) -> None:
    crds = [d for d in helm.template(crds=True) if d["kind"] == "CustomResourceDefinition"]
    assert crds == [crd_manifest()]
    assert not [d for d in helm.template() if d["kind"] == "CustomResourceDefinition"], \
        "the CRD must come from crds/ (installed once, never templated)"


def test_chart_app_version_is_the_operators_version(helm: Helm) -> None:
    version = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert chart["appVersion"] == version
    image = find(helm.template(), "Deployment", "mpi-operator")["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image == f"mpi-operator:{version}"


def test_helm_lint_is_clean_with_default_and_non_default_values(helm: Helm, tmp_path: Path) -> None:
    values = tmp_path / "values.yaml"
    values.write_text(yaml.safe_dump({"watchNamespace": "team-a", "gangScheduling": "volcano",
                                      "serviceMonitor": {"enabled": True}, "replicaCount": 1,
                                      "leaderElection": {"enabled": False}}))
    for extra in ([], ["--values", str(values)]):
        done = helm.run("lint", "--strict", str(CHART), *extra)
        assert "1 chart(s) linted, 0 chart(s) failed" in done.stdout, done.stdout
        assert "[WARNING]" not in done.stdout and "[ERROR]" not in done.stdout, done.stdout
