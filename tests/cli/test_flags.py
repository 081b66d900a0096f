"""The operator accepts every upstream flag with upstream's defaults and Go-style single dashes."""

from __future__ import annotations

import subprocess
import sys

import pytest

from mpi_operator.cli import parse_operator_settings


def test_upstream_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KUBEFLOW_NAMESPACE", raising=False)
    monkeypatch.delenv("KUBECONFIG", raising=False)
    s, version = parse_operator_settings([])
    assert not version
    assert (s.master, s.kubeconfig, s.namespace, s.threadiness, s.monitoring_port) == ("", "", "", 2, 0)
    assert (s.gang_scheduling, s.lock_namespace, s.cluster_domain) == ("", "mpi-operator", "")
    assert (s.kube_api_qps, s.kube_api_burst) == (5.0, 10)
    assert (s.controller_queue_rate_limit, s.controller_queue_burst) == (10.0, 100)


def test_go_style_flags_and_klog_flags_are_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KUBECONFIG", raising=False)
    s, _ = parse_operator_settings(["-alsologtostderr", "-kubeConfig=/k", "-threadiness", "4",
                                    "--lock-namespace=kubeflow", "-v=2", "--gang-scheduling", "volcano"])
    assert (s.kubeconfig, s.threadiness, s.lock_namespace, s.gang_scheduling) == ("/k", 4, "kubeflow", "volcano")


def test_environment_seeds_namespace_and_overrides_kubeconfig(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUBEFLOW_NAMESPACE", "kubeflow")
    monkeypatch.setenv("KUBECONFIG", "/env/config")
    s, _ = parse_operator_settings(["--kubeconfig", "/flag/config"])
    assert (s.namespace, s.kubeconfig) == ("kubeflow", "/env/config")
    s, _ = parse_operator_settings(["--namespace", "other"])
    assert s.namespace == "other"


def test_version_flag_prints_and_exits_zero() -> None:
    out = subprocess.run([sys.executable, "-m", "mpi_operator", "--version"], capture_output=True, text=True,
                         check=True)
    assert out.stdout.startswith("API Version: v2\n")
