"""The JSONPath subset used by CRD additionalPrinterColumns."""

from __future__ import annotations

from typing import Any

import pytest

from mpi_operator.sandbox.wire.jsonpath import JSONPathError, find

JOB: dict[str, Any] = {
    "metadata": {"name": "pi", "labels": {"app.kubernetes.io/name": "pi"}},
    "spec": {"slotsPerWorker": 2, "mpiReplicaSpecs": {"Worker": {"replicas": 4}, "Launcher": {"replicas": 1}}},
    "status": {
        "conditions": [
            {"type": "Created", "status": "True", "lastTransitionTime": "2026-01-01T00:00:00Z"},
            {"type": "Running", "status": "True", "lastTransitionTime": "2026-01-01T00:01:00Z"},
            {"type": "Succeeded", "status": "False"},
        ],
        "replicaStatuses": {"Worker": {"active": 4}},
    },
}


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        (".metadata.name", ["pi"]),
        ("{.metadata.name}", ["pi"]),
        ("$.spec.slotsPerWorker", [2]),
        (".spec.mpiReplicaSpecs.Worker.replicas", [4]),
        (".spec.missing.deeper", []),
        (".status.conditions[0].type", ["Created"]),
        (".status.conditions[-1].type", ["Succeeded"]),
        (".status.conditions[9].type", []),
        (".status.conditions[-1:].type", ["Succeeded"]),
        (".status.conditions[0:2].type", ["Created", "Running"]),
        (".status.conditions[*].type", ["Created", "Running", "Succeeded"]),
        ('.status.conditions[?(@.type=="Running")].status', ["True"]),
        (".status.conditions[?(@.type == 'Running')].lastTransitionTime", ["2026-01-01T00:01:00Z"]),
        ('.status.conditions[?(@.status!="True")].type', ["Succeeded"]),
        (".status.conditions[?(@.lastTransitionTime)].type", ["Created", "Running"]),
        (".spec.mpiReplicaSpecs.*.replicas", [1, 4]),
        ("..replicas", [1, 4]),
        (r".metadata.labels.app\.kubernetes\.io/name", ["pi"]),
        (".metadata.labels['app.kubernetes.io/name']", ["pi"]),
        ('.spec.mpiReplicaSpecs[?(@.replicas > 2)].replicas', [4]),
    ],
)
def test_find_selects_values(path: str, expected: list[Any]) -> None:
    assert find(JOB, path) == expected


@pytest.mark.parametrize("path", [".a[", ".a[x]", ".a[?(@.b ~ 1)]"])
def test_unsupported_paths_raise(path: str) -> None:
    with pytest.raises(JSONPathError):
        find(JOB, path)
