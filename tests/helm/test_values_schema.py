"""values.schema.json: a bad value fails `helm install` before anything is sent, naming the value and the rule.

`helm install --dry-run=client` runs the same validation as a real install (tests/real/test_helm.py does one
against the real API server) without a cluster. The operator's flag bounds in the schema are the operator's
own (mpi_operator/settings.py), so the chart never rejects what the operator accepts, nor the reverse.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml

from mpi_operator.cliflags import LOG_LEVELS
from mpi_operator.settings import OperatorSettings
from tests.conftest import REPO
from tests.helm.helm import CHART, Helm

JSON = dict[str, Any]
SCHEMA: JSON = json.loads((CHART / "values.schema.json").read_text())
DEFAULTS: JSON = yaml.safe_load((CHART / "values.yaml").read_text())
REJECTED = "Error: INSTALLATION FAILED: values don't meet the specifications of the schema(s) in the following " \
           "chart(s):\nmpi-operator:\n"
# Schema path -> the operator setting whose flag the value becomes.
FLAG_VALUES: dict[tuple[str, ...], str] = {
    ("workqueue", "threadiness"): "threadiness",
    ("workqueue", "retryRateLimit"): "controller_queue_rate_limit",
    ("workqueue", "retryBurst"): "controller_queue_burst",
    ("kubeAPI", "qps"): "kube_api_qps",
    ("kubeAPI", "burst"): "kube_api_burst",
    ("leaderElection", "leaseDuration"): "leader_elect_lease_duration",
    ("leaderElection", "renewDeadline"): "leader_elect_renew_deadline",
    ("leaderElection", "retryPeriod"): "leader_elect_retry_period",
    ("shutdownGracePeriod",): "shutdown_grace_period",
}
# The chart needs both ports listening (the probes use one); the operator also takes 0 (off) for each.
PORT_VALUES: dict[tuple[str, ...], str] = {("health", "port"): "health_port", ("metrics", "port"): "monitoring_port"}


def install(helm: Helm, values: JSON) -> str:
    done = helm.run("install", "x", str(CHART), "--dry-run=client", *helm.values_args(values), check=False)
    assert done.returncode != 0, f"accepted: {values}"
    return done.stderr


@pytest.mark.parametrize(("values", "line"), [
    ({"replicaCount": 0}, "- at '/replicaCount': minimum: got 0, want 1"),
    ({"replicas": 3}, "- at '': additional properties 'replicas' not allowed"),
    ({"workqueue": {"threadiness": 0}}, "- at '/workqueue/threadiness': minimum: got 0, want 1"),
    ({"kubeAPI": {"qps": "fast"}}, "- at '/kubeAPI/qps': got string, want null or number"),
    ({"kubeAPI": {"qps": 0}}, "- at '/kubeAPI/qps': exclusiveMinimum: got 0, want 0"),
    ({"watchNamespace": "Team_A"},
     "- at '/watchNamespace': 'Team_A' does not match pattern '^([a-z0-9]([-a-z0-9]*[a-z0-9])?)?$'"),
    ({"gangScheduling": "Volcano!"}, "- at '/gangScheduling': 'Volcano!' does not match pattern"),
    ({"logging": {"level": "verbose"}},
     "- at '/logging/level': value must be one of '', 'DEBUG', 'INFO', 'WARNING', 'ERROR', 'CRITICAL'"),
    ({"image": {"digest": "latest"}}, "- at '/image/digest': 'latest' does not match pattern"),
    ({"image": {"pullPolicy": "Sometimes"}},
     "- at '/image/pullPolicy': value must be one of 'Always', 'IfNotPresent', 'Never'"),
    ({"health": {"port": 70000}}, "- at '/health/port': maximum: got 70,000, want 65,535"),
    ({"metrics": {"enabled": "yes"}}, "- at '/metrics/enabled': got string, want boolean"),
    ({"resources": {"request": {"cpu": "1"}}}, "- at '/resources': additional properties 'request' not allowed"),
    ({"extraArgs": ["verbose"]}, "- at '/extraArgs/0': 'verbose' does not match pattern '^-'"),
    ({"serviceMonitor": {"interval": "often"}}, "- at '/serviceMonitor/interval': 'often' does not match pattern"),
])
def test_a_bad_value_fails_install_naming_the_value_and_the_rule(helm: Helm, values: JSON, line: str) -> None:
    error = install(helm, values)
    assert error.startswith(REJECTED), error
    assert line in error, error


def test_every_bad_value_is_reported_at_once(helm: Helm) -> None:
    error = install(helm, {"replicaCount": 0, "workqueue": {"threadiness": 0}, "watchNamespace": "Team_A"})
    assert sorted(ln for ln in error.splitlines() if ln.startswith("- at ")) == [
        "- at '/replicaCount': minimum: got 0, want 1",
        "- at '/watchNamespace': 'Team_A' does not match pattern '^([a-z0-9]([-a-z0-9]*[a-z0-9])?)?$'",
        "- at '/workqueue/threadiness': minimum: got 0, want 1"]


@pytest.mark.parametrize(("values", "message"), [
    ({"leaderElection": {"enabled": False}},
     "replicaCount=2 needs leaderElection.enabled=true: without leader election every replica would reconcile"),
    ({"metrics": {"enabled": False}, "serviceMonitor": {"enabled": True}},
     "serviceMonitor.enabled=true needs metrics.enabled=true"),
    ({"metrics": {"port": 8080}}, "metrics.port and health.port are both 8080"),
    ({"shutdownGracePeriod": 30}, "shutdownGracePeriod (30) must be below terminationGracePeriodSeconds (30)"),
])
def test_values_that_contradict_each_other_fail_install_with_the_reason(helm: Helm, values: JSON,
                                                                       message: str) -> None:
    error = install(helm, values)
    assert "Error: INSTALLATION FAILED: execution error at (mpi-operator/templates/deployment.yaml" in error, error
    assert message in error, error


def _schema_at(path: tuple[str, ...]) -> JSON:
    node = SCHEMA
    for key in path:
        node = node["properties"][key]
    return node


def _bounds(field: str) -> JSON:
    info = OperatorSettings.model_fields[field]
    return {name: getattr(m, name) for m in info.metadata for name in ("ge", "gt", "le") if hasattr(m, name)}


@pytest.mark.parametrize("path", list(FLAG_VALUES), ids=".".join)
def test_flag_bounds_are_the_operators(path: tuple[str, ...]) -> None:
    node, field = _schema_at(path), FLAG_VALUES[path]
    integer = OperatorSettings.model_fields[field].annotation in (int, "int")
    assert node["type"] == ["integer" if integer else "number", "null"]
    schema_bounds = {k: v for k, v in (("ge", node.get("minimum")), ("gt", node.get("exclusiveMinimum")),
                                        ("le", node.get("maximum"))) if v is not None}
    assert schema_bounds == _bounds(field)


@pytest.mark.parametrize("path", list(PORT_VALUES), ids=".".join)
def test_ports_are_within_the_operators_range(path: tuple[str, ...]) -> None:
    node, bounds = _schema_at(path), _bounds(PORT_VALUES[path])
    assert node["type"] == "integer"
    assert bounds["ge"] <= node["minimum"] and node["maximum"] == bounds["le"]


def test_log_levels_are_the_operators() -> None:
    assert _schema_at(("logging", "level"))["enum"] == ["", *LOG_LEVELS]


def test_the_schema_and_values_yaml_name_the_same_values() -> None:
    def keys(schema: JSON, values: JSON, prefix: str) -> None:
        props = schema["properties"]
        assert set(props) == set(values), f"{prefix or 'top level'}: schema {sorted(props)} values {sorted(values)}"
        for key, sub in props.items():
            if sub.get("additionalProperties") is False and isinstance(values[key], dict):
                keys(sub, values[key], f"{prefix}{key}.")
            assert sub.get("description"), f"{prefix}{key} has no description"

    keys(SCHEMA, DEFAULTS, "")
    assert SCHEMA["additionalProperties"] is False, "a misspelt value must fail, not be ignored"


def _leaves(schema: JSON, values: JSON, prefix: str = "") -> list[str]:
    names = []
    for key, sub in schema["properties"].items():
        if sub.get("additionalProperties") is False and isinstance(values[key], dict):
            names += _leaves(sub, values[key], f"{prefix}{key}.")
        else:
            names.append(prefix + key)
    return names


def test_the_values_table_of_the_installation_guide_lists_every_value() -> None:
    text = (REPO / "docs" / "installation.md").read_text()
    table = text.split("<!-- helm-values-table", 1)[1].split("<!-- end helm-values-table -->", 1)[0]
    documented = [line.split("|")[1].strip().strip("`") for line in table.strip().splitlines()[3:]]
    assert documented == _leaves(SCHEMA, DEFAULTS), "docs/installation.md's values table is out of date"
