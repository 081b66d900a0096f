"""Each value of the chart reaches the object it is for: `helm template` with non-default values, read back.

The operator's flags are checked twice: as rendered, and as parsed by the operator's own command line, so a
value the chart renders is one the operator accepts and means what the value's name says.
"""

from __future__ import annotations

from typing import Any

import kubernetes_validate
import pytest

from mpi_operator.cli import parse_operator_settings
from tests.helm.helm import Helm, container, find
from tests.manifests.rbac_usage import expected_operator_grants, granted

JSON = dict[str, Any]
EVERYTHING: JSON = {
    "image": {"repository": "registry.example.com/mpi-operator", "tag": "0.1.0-rc1"},
    "replicaCount": 3,
    "leaderElection": {"leaseDuration": 30, "renewDeadline": 20, "retryPeriod": 4},
    "watchNamespace": "team-a",
    "gangScheduling": "scheduler-plugins-scheduler",
    "kubeAPI": {"qps": 50.5, "burst": 100},
    "workqueue": {"threadiness": 8, "retryRateLimit": 20, "retryBurst": 2000000},
    "clusterDomain": "cluster.example",
    "shutdownGracePeriod": 20,
    "terminationGracePeriodSeconds": 45,
    "logging": {"level": "DEBUG", "format": "json"},
    "extraArgs": ["--master=https://10.0.0.1:6443"],
    "extraEnv": [{"name": "PYTHONFAULTHANDLER", "value": "1"}],
    "health": {"port": 8081},
    "metrics": {"port": 9091},
    "resources": {"requests": {"cpu": "500m", "memory": "256Mi"}, "limits": {"cpu": "2", "memory": "1Gi"}},
    "nodeSelector": {"node-role.kubernetes.io/control-plane": ""},
    "tolerations": [{"key": "node-role.kubernetes.io/control-plane", "operator": "Exists", "effect": "NoSchedule"}],
    "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchExpressions": [{"key": "kubernetes.io/arch", "operator": "In", "values": ["amd64"]}]}]}}},
    "podSecurityContext": {"runAsNonRoot": True, "runAsUser": 1001, "fsGroup": 1001,
                           "seccompProfile": {"type": "RuntimeDefault"}},
    "priorityClassName": "system-cluster-critical",
    "podLabels": {"team": "ml"},
    "podAnnotations": {"example.com/scrape": "true"},
    "imagePullSecrets": [{"name": "regcred"}],
    "serviceAccount": {"name": "mpi-robot", "annotations": {"example.com/role": "operator"}},
    "serviceMonitor": {"enabled": True, "interval": "15s", "labels": {"release": "prometheus"}},
}


@pytest.fixture(scope="module")
def everything(helm: Helm) -> list[JSON]:
    return helm.template(EVERYTHING, release="ml", namespace="ml-system")


def pod_spec(docs: list[JSON], name: str = "mpi-operator") -> JSON:
    spec: JSON = find(docs, "Deployment", name)["spec"]["template"]["spec"]
    return spec


def test_every_operator_value_becomes_its_flag(everything: list[JSON]) -> None:
    args = container(everything, "ml-mpi-operator")["args"]
    assert args == [
        "run", "--lock-namespace=$(POD_NAMESPACE)", "--monitoring-port=9091", "--health-port=8081",
        "--namespace=team-a", "--gang-scheduling=scheduler-plugins-scheduler", "--threadiness=8",
        "--controller-queue-rate-limit=20", "--controller-queue-burst=2000000", "--kube-api-qps=50.5",
        "--kube-api-burst=100", "--leader-elect-lease-duration=30", "--leader-elect-renew-deadline=20",
        "--leader-elect-retry-period=4", "--shutdown-grace-period=20", "--cluster-domain=cluster.example",
        "--log-level=DEBUG", "--log-format=json", "--master=https://10.0.0.1:6443"]


def test_the_operator_parses_the_rendered_flags_as_the_values_say(everything: list[JSON],
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KUBEFLOW_NAMESPACE", raising=False)
    monkeypatch.delenv("KUBECONFIG", raising=False)
    args = [a.replace("$(POD_NAMESPACE)", "ml-system") for a in container(everything, "ml-mpi-operator")["args"]]
    settings, _ = parse_operator_settings(args[1:])
    assert (settings.namespace, settings.lock_namespace, settings.gang_scheduling) == (
        "team-a", "ml-system", "scheduler-plugins-scheduler")
    assert (settings.threadiness, settings.controller_queue_rate_limit, settings.controller_queue_burst) == (
        8, 20, 2000000)
    assert (settings.kube_api_qps, settings.kube_api_burst) == (50.5, 100)
    assert (settings.leader_elect, settings.leader_elect_lease_duration, settings.leader_elect_renew_deadline,
            settings.leader_elect_retry_period) == (True, 30, 20, 4)
    assert (settings.health_port, settings.monitoring_port, settings.shutdown_grace_period) == (8081, 9091, 20)
    assert (settings.cluster_domain, settings.log_level, settings.log_format) == ("cluster.example", "DEBUG", "json")


def test_replicas_image_resources_and_scheduling_fields_reach_the_pod(everything: list[JSON]) -> None:
    deployment = find(everything, "Deployment", "ml-mpi-operator")
    assert deployment["metadata"]["namespace"] == "ml-system"
    assert deployment["spec"]["replicas"] == 3
    pod = deployment["spec"]["template"]
    assert pod["metadata"]["labels"]["team"] == "ml"
    assert pod["metadata"]["annotations"] == {"sidecar.istio.io/inject": "false", "example.com/scrape": "true"}
    spec = pod["spec"]
    main = container(everything, "ml-mpi-operator")
    assert main["image"] == "registry.example.com/mpi-operator:0.1.0-rc1"
    assert main["resources"] == EVERYTHING["resources"]
    assert {"name": "PYTHONFAULTHANDLER", "value": "1"} in main["env"]
    assert [(p["name"], p["containerPort"]) for p in main["ports"]] == [("health", 8081), ("metrics", 9091)]
    assert spec["nodeSelector"] == EVERYTHING["nodeSelector"]
    assert spec["tolerations"] == EVERYTHING["tolerations"]
    assert spec["affinity"] == EVERYTHING["affinity"], "a given affinity replaces the default anti-affinity"
    # Helm merges a given map into the default one: runAsGroup stays unless set to null.
    assert spec["securityContext"] == {**EVERYTHING["podSecurityContext"], "runAsGroup": 65532}
    assert spec["priorityClassName"] == "system-cluster-critical"
    assert spec["imagePullSecrets"] == [{"name": "regcred"}]
    assert spec["serviceAccountName"] == "mpi-robot"
    assert spec["terminationGracePeriodSeconds"] == 45


def test_an_image_digest_wins_over_the_tag(helm: Helm) -> None:
    digest = "sha256:" + "ab" * 32
    image = container(helm.template({"image": {"tag": "ignored", "digest": digest}}))["image"]
    assert image == f"mpi-operator@{digest}"


def test_default_affinity_spreads_the_replicas_over_nodes(helm: Helm) -> None:
    affinity = pod_spec(helm.template())["affinity"]
    term = affinity["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"][0]
    assert term["podAffinityTerm"]["topologyKey"] == "kubernetes.io/hostname"


def test_namespace_scope_grants_roles_where_they_are_used(everything: list[JSON]) -> None:
    role = find(everything, "Role", "ml-mpi-operator", namespace="team-a")
    binding = find(everything, "RoleBinding", "ml-mpi-operator", namespace="team-a")
    lease_role = find(everything, "Role", "ml-mpi-operator-leader-election", namespace="ml-system")
    find(everything, "RoleBinding", "ml-mpi-operator-leader-election", namespace="ml-system")
    cluster_role = find(everything, "ClusterRole", "ml-mpi-operator")
    subject = {"kind": "ServiceAccount", "name": "mpi-robot", "namespace": "ml-system"}
    assert binding["subjects"] == [subject]
    assert find(everything, "ClusterRoleBinding", "ml-mpi-operator")["subjects"] == [subject]
    # Cluster-wide only what is cluster-scoped: PriorityClasses, for gang scheduling's minResources.
    assert granted(cluster_role["rules"]) == {("scheduling.k8s.io", "priorityclasses", v) for v in ("list", "watch")}
    assert {r for _, r, _ in granted(lease_role["rules"])} == {"leases", "events"}
    everything_granted = granted(role["rules"]) | granted(lease_role["rules"]) | granted(cluster_role["rules"])
    assert everything_granted == expected_operator_grants(), "the Roles together grant manifests/rbac-usage.md"


def test_namespace_scope_without_gang_scheduling_has_no_cluster_role(helm: Helm) -> None:
    docs = helm.template({"watchNamespace": "team-a"})
    assert not {d["kind"] for d in docs} & {"ClusterRoleBinding"}
    assert {d["metadata"]["name"] for d in docs if d["kind"] == "ClusterRole"} == {
        "kubeflow-mpijobs-admin", "kubeflow-mpijobs-edit", "kubeflow-mpijobs-view"}


def test_gang_scheduling_with_volcano(helm: Helm) -> None:
    assert "--gang-scheduling=volcano" in container(helm.template({"gangScheduling": "volcano"}))["args"]


def test_one_replica_without_leader_election_has_no_disruption_budget(helm: Helm) -> None:
    docs = helm.template({"replicaCount": 1, "leaderElection": {"enabled": False}})
    assert "--no-leader-elect" in container(docs)["args"]
    assert find(docs, "Deployment", "mpi-operator")["spec"]["replicas"] == 1
    assert "PodDisruptionBudget" not in {d["kind"] for d in docs}


def test_metrics_off_drops_the_port_the_service_and_the_policy_rule(helm: Helm) -> None:
    docs = helm.template({"metrics": {"enabled": False}})
    main = container(docs)
    assert not [a for a in main["args"] if a.startswith("--monitoring-port")]
    assert [p["name"] for p in main["ports"]] == ["health"]
    assert "Service" not in {d["kind"] for d in docs}
    policy = find(docs, "NetworkPolicy", "mpi-operator")
    assert [p["port"] for p in policy["spec"]["ingress"][0]["ports"]] == ["health"]


def test_service_monitor_is_off_by_default_and_on_when_asked(helm: Helm, everything: list[JSON]) -> None:
    assert "ServiceMonitor" not in {d["kind"] for d in helm.template()}
    monitor = find(everything, "ServiceMonitor", "ml-mpi-operator")
    assert monitor["metadata"]["namespace"] == "ml-system"
    assert monitor["metadata"]["labels"]["release"] == "prometheus"
    assert monitor["spec"]["endpoints"] == [{"port": "metrics", "path": "/metrics", "interval": "15s"}]
    service = find(everything, "Service", "ml-mpi-operator-metrics")
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()


def test_switches_leave_out_what_they_switch_off(helm: Helm) -> None:
    docs = helm.template({"serviceAccount": {"create": False, "name": "existing"}, "networkPolicy": {
        "enabled": False}, "podDisruptionBudget": {"enabled": False}, "rbac": {"create": False, "userRoles": False}})
    assert {d["kind"] for d in docs} == {"Deployment", "Service"}
    assert pod_spec(docs)["serviceAccountName"] == "existing"


@pytest.mark.parametrize("version", ["1.30.0", kubernetes_validate.latest_version()])
def test_rendered_objects_match_the_kubernetes_schemas(helm: Helm, everything: list[JSON], version: str) -> None:
    for doc in [*helm.template(), *everything]:
        if doc["kind"] != "ServiceMonitor":  # not a built-in kind; its fields are asserted above
            kubernetes_validate.validate(doc, version, strict=True)
