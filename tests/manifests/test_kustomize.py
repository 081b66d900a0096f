"""The kustomize manifests: every overlay renders with real kubectl, install.yaml is the standalone render,
the Deployment meets Pod Security "restricted" and agrees with the operator's CLI, and the ClusterRole grants
exactly what manifests/rbac-usage.md lists.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from mpi_operator.cli import parse_operator_settings
from tests.conftest import REPO
from tests.manifests.kustomize import (
    MANIFESTS,
    MONITORED_OVERLAY,
    OVERLAYS,
    copy_manifests,
    find,
    real_crd_exists,
    render,
)
from tests.manifests.rbac_usage import expected_operator_grants, granted

NAMESPACES = {"standalone": "mpi-operator", "kubeflow": "kubeflow", MONITORED_OVERLAY: "mpi-operator"}
CLUSTER_SCOPED = {"Namespace", "CustomResourceDefinition", "ClusterRole", "ClusterRoleBinding"}
# Pod Security Standards "restricted": the only volume types allowed.
RESTRICTED_VOLUME_TYPES = {"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim",
                           "projected", "secret"}
UPSTREAM_LABELS = {"app": "mpi-operator", "app.kubernetes.io/component": "mpijob",
                   "app.kubernetes.io/name": "mpi-operator", "kustomize.component": "mpi-operator"}


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[dict[str, Any]]]:
    root = copy_manifests(tmp_path_factory.mktemp("kustomize"))
    return {overlay: render(root, overlay) for overlay in NAMESPACES}


def _deployment(docs: list[dict[str, Any]]) -> dict[str, Any]:
    return find(docs, "Deployment", "mpi-operator")


def _container(docs: list[dict[str, Any]]) -> dict[str, Any]:
    containers = _deployment(docs)["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return dict(containers[0])


def _port(container: dict[str, Any], name: str) -> int:
    return int(next(p["containerPort"] for p in container["ports"] if p["name"] == name))


def test_every_overlay_renders_the_whole_install(rendered: dict[str, list[dict[str, Any]]]) -> None:
    for overlay in OVERLAYS:
        kinds = {(d["kind"], d["metadata"]["name"]) for d in rendered[overlay]}
        assert {("CustomResourceDefinition", "mpijobs.kubeflow.org"), ("ServiceAccount", "mpi-operator"),
                ("ClusterRole", "mpi-operator"), ("ClusterRoleBinding", "mpi-operator"),
                ("ClusterRole", "kubeflow-mpijobs-admin"), ("ClusterRole", "kubeflow-mpijobs-edit"),
                ("ClusterRole", "kubeflow-mpijobs-view"), ("Deployment", "mpi-operator"),
                ("Service", "mpi-operator-metrics"), ("PodDisruptionBudget", "mpi-operator"),
                ("NetworkPolicy", "mpi-operator")} <= kinds
    assert ("Namespace", "mpi-operator") in {(d["kind"], d["metadata"]["name"]) for d in rendered["standalone"]}
    # Kubeflow owns its namespace; the overlay must not create (or, on delete, remove) it.
    assert "Namespace" not in {d["kind"] for d in rendered["kubeflow"]}


def test_install_yaml_is_the_standalone_render(rendered: dict[str, list[dict[str, Any]]]) -> None:
    installed = [d for d in yaml.safe_load_all((MANIFESTS / "install.yaml").read_text()) if d]
    assert installed == rendered["standalone"], "manifests/install.yaml is stale: run `make manifests`"
    crd = find(installed, "CustomResourceDefinition", "mpijobs.kubeflow.org")
    stand_in = "mpi-operator.kubeflow.org/stand-in" in crd["metadata"].get("annotations", {})
    assert stand_in != real_crd_exists(), "install.yaml must carry the generated CRD once it exists"


@pytest.mark.parametrize("overlay", list(NAMESPACES))
def test_namespaced_objects_lease_and_binding_share_the_overlay_namespace(
        rendered: dict[str, list[dict[str, Any]]], overlay: str) -> None:
    namespace = NAMESPACES[overlay]
    docs = rendered[overlay]
    for doc in docs:
        if doc["kind"] not in CLUSTER_SCOPED:
            assert doc["metadata"]["namespace"] == namespace, f"{doc['kind']}/{doc['metadata']['name']}"
    binding = find(docs, "ClusterRoleBinding", "mpi-operator")
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "mpi-operator", "namespace": namespace}]
    # Q25: the lease namespace is the pod's own namespace, whatever namespace an overlay picks.
    container = _container(docs)
    assert "--lock-namespace=$(POD_NAMESPACE)" in container["args"]
    assert {"name": "POD_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}} in container[
        "env"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_deployment_args_are_flags_the_operator_accepts(rendered: dict[str, list[dict[str, Any]]], overlay: str,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KUBEFLOW_NAMESPACE", raising=False)
    monkeypatch.delenv("KUBECONFIG", raising=False)
    container = _container(rendered[overlay])
    args = [a.replace("$(POD_NAMESPACE)", NAMESPACES[overlay]) for a in container["args"]]
    assert args[0] == "run"
    settings, version = parse_operator_settings(args[1:])
    assert not version
    assert settings.lock_namespace == NAMESPACES[overlay]
    assert settings.leader_elect, "two replicas are only safe with leader election"
    assert settings.namespace == "", "the operator must watch MPIJobs in every namespace"
    assert settings.monitoring_port == _port(container, "metrics")
    assert settings.health_port == _port(container, "health")
    # KUBEFLOW_NAMESPACE would narrow the watch to one namespace; upstream's kubeflow overlay does not set it.
    assert "KUBEFLOW_NAMESPACE" not in {e["name"] for e in container.get("env", [])}


def test_deployment_runs_two_replicas_of_the_project_image(rendered: dict[str, list[dict[str, Any]]]) -> None:
    version = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    deployment = _deployment(rendered["standalone"])
    assert deployment["spec"]["replicas"] == 2
    assert _container(rendered["standalone"])["image"] == f"mpi-operator:{version}"
    assert deployment["spec"]["template"]["spec"]["serviceAccountName"] == "mpi-operator"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_deployment_meets_pod_security_restricted(rendered: dict[str, list[dict[str, Any]]], overlay: str) -> None:
    pod = _deployment(rendered[overlay])["spec"]["template"]["spec"]
    for key in ("hostNetwork", "hostPID", "hostIPC"):
        assert not pod.get(key, False), key
    pod_sc = pod.get("securityContext", {})
    assert pod_sc.get("runAsNonRoot") is True and pod_sc.get("runAsUser", 1) != 0
    assert pod_sc.get("seccompProfile", {}).get("type") == "RuntimeDefault"
    assert "sysctls" not in pod_sc
    for volume in pod.get("volumes", []):
        assert set(volume) - {"name"} <= RESTRICTED_VOLUME_TYPES, volume
    for container in [*pod.get("initContainers", []), *pod["containers"]]:
        sc = container["securityContext"]
        assert sc["allowPrivilegeEscalation"] is False
        assert sc.get("privileged", False) is False
        assert sc["capabilities"]["drop"] == ["ALL"] and not sc["capabilities"].get("add")
        assert sc["readOnlyRootFilesystem"] is True
        assert sc.get("runAsUser", 1) != 0
        assert sc.get("seccompProfile", {"type": "RuntimeDefault"})["type"] == "RuntimeDefault"
        assert all("hostPort" not in p for p in container.get("ports", []))
        assert {"cpu", "memory"} <= set(container["resources"]["requests"])
        assert {"cpu", "memory"} <= set(container["resources"]["limits"])


def test_deployment_probes_health_endpoints_on_the_health_port(rendered: dict[str, list[dict[str, Any]]]) -> None:
    container = _container(rendered["standalone"])
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "health"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "health"}
    assert _port(container, "health") == 8080


def test_labels_and_selectors_are_upstreams_so_apply_upgrades_a_go_install(
        rendered: dict[str, list[dict[str, Any]]]) -> None:
    deployment = _deployment(rendered["standalone"])
    assert deployment["spec"]["selector"] == {"matchLabels": UPSTREAM_LABELS}
    assert deployment["spec"]["template"]["metadata"]["annotations"] == {"sidecar.istio.io/inject": "false"}


def test_cluster_role_grants_exactly_the_documented_usage(rendered: dict[str, list[dict[str, Any]]]) -> None:
    role = find(rendered["standalone"], "ClusterRole", "mpi-operator")
    grants = granted(role["rules"])
    assert not any("*" in g for grant in grants for g in grant), "no wildcards"
    expected = expected_operator_grants()
    assert grants - expected == set(), "granted but not in manifests/rbac-usage.md"
    assert expected - grants == set(), "in manifests/rbac-usage.md but not granted"


def test_cluster_role_drops_upstreams_unused_grants(rendered: dict[str, list[dict[str, Any]]]) -> None:
    resources = {r for _, r, _ in granted(find(rendered["standalone"], "ClusterRole", "mpi-operator")["rules"])}
    assert not resources & {"pods/exec", "endpoints", "customresourcedefinitions", "queues"}
    assert {("batch", "jobs/status", "patch")} <= expected_operator_grants()  # Q24: resume clears startTime


def test_user_roles_aggregate_like_upstream(rendered: dict[str, list[dict[str, Any]]]) -> None:
    docs = rendered["standalone"]
    label = "rbac.authorization.kubeflow.org/aggregate-to-"
    admin = find(docs, "ClusterRole", "kubeflow-mpijobs-admin")
    assert admin["metadata"]["labels"][f"{label}kubeflow-admin"] == "true"
    assert admin["aggregationRule"]["clusterRoleSelectors"] == [
        {"matchLabels": {f"{label}kubeflow-mpijobs-admin": "true"}}]
    assert "rules" not in admin, "the aggregation controller owns the admin rules"
    edit = find(docs, "ClusterRole", "kubeflow-mpijobs-edit")
    assert edit["metadata"]["labels"][f"{label}kubeflow-edit"] == "true"
    assert edit["metadata"]["labels"][f"{label}kubeflow-mpijobs-admin"] == "true"
    assert granted(edit["rules"]) == {("kubeflow.org", r, v) for r in ("mpijobs", "mpijobs/status") for v in (
        "get", "list", "watch", "create", "delete", "deletecollection", "patch", "update")}
    view = find(docs, "ClusterRole", "kubeflow-mpijobs-view")
    assert view["metadata"]["labels"][f"{label}kubeflow-view"] == "true"
    assert granted(view["rules"]) == {("kubeflow.org", r, v) for r in ("mpijobs", "mpijobs/status") for v in (
        "get", "list", "watch")}


def test_metrics_service_and_service_monitor_reach_the_metrics_port(
        rendered: dict[str, list[dict[str, Any]]]) -> None:
    docs = rendered[MONITORED_OVERLAY]
    service = find(docs, "Service", "mpi-operator-metrics")
    pod_labels = _deployment(docs)["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    assert service["spec"]["ports"] == [{"name": "metrics", "port": 9090, "targetPort": "metrics", "protocol": "TCP"}]
    monitor = find(docs, "ServiceMonitor", "mpi-operator")
    assert monitor["metadata"]["namespace"] == "mpi-operator"
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert [e["port"] for e in monitor["spec"]["endpoints"]] == ["metrics"]
    assert "ServiceMonitor" not in {d["kind"] for d in rendered["standalone"]}, "the ServiceMonitor is opt-in"


def test_pod_disruption_budget_keeps_one_replica(rendered: dict[str, list[dict[str, Any]]]) -> None:
    pdb = find(rendered["standalone"], "PodDisruptionBudget", "mpi-operator")
    assert pdb["spec"] == {"minAvailable": 1, "selector": {"matchLabels": UPSTREAM_LABELS}}


def test_network_policy_admits_only_the_health_and_metrics_ports(rendered: dict[str, list[dict[str, Any]]]) -> None:
    docs = rendered["standalone"]
    policy = find(docs, "NetworkPolicy", "mpi-operator")
    assert policy["spec"]["podSelector"] == {"matchLabels": UPSTREAM_LABELS}
    assert policy["spec"]["policyTypes"] == ["Ingress"]
    ports = [p["port"] for rule in policy["spec"]["ingress"] for p in rule["ports"]]
    assert sorted(ports) == sorted(p["name"] for p in _container(docs)["ports"])


def test_rbac_usage_table_is_not_empty() -> None:
    assert len(expected_operator_grants()) >= 30
    assert Path(MANIFESTS / "rbac-usage.md").is_file()


# Kinds whose schema kubernetes-validate does not bundle (custom resources of other projects); their fields are
# checked by the tests above instead.
UNSCHEMED_KINDS = {"ServiceMonitor"}
# Oldest Kubernetes minor the manifests support, and the newest whose schemas kubernetes-validate bundles.
SCHEMA_VERSIONS = ("1.30.0", kubernetes_validate.latest_version())


@pytest.mark.parametrize("version", SCHEMA_VERSIONS)
@pytest.mark.parametrize("overlay", list(NAMESPACES))
def test_rendered_objects_match_the_kubernetes_schemas(rendered: dict[str, list[dict[str, Any]]], overlay: str,
                                                       version: str) -> None:
    for doc in rendered[overlay]:
        if doc["kind"] not in UNSCHEMED_KINDS:
            kubernetes_validate.validate(doc, version, strict=True)  # raises ValidationError with the field path
