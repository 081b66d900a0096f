"""Table answers for `kubectl get`: custom-resource printer columns and built-in column sets."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from mpi_operator.sandbox.wire.table import human_duration, to_table

NOW = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


def meta(name: str, created: str = "2026-03-01T11:55:00Z", **extra: Any) -> dict[str, Any]:
    return {"name": name, "namespace": "default", "creationTimestamp": created, **extra}


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (-5, "<invalid>"), (-1, "0s"), (0, "0s"), (59, "59s"), (119, "119s"), (120, "2m"), (150, "2m30s"),
        (600, "10m"), (179 * 60, "179m"), (3 * 3600, "3h"), (3 * 3600 + 120, "3h2m"), (8 * 3600 + 59, "8h"),
        (47 * 3600, "47h"), (48 * 3600, "2d"), (50 * 3600, "2d2h"), (8 * 86400, "8d"), (400 * 86400, "400d"),
        (730 * 86400, "2y"), (800 * 86400, "2y70d"), (9 * 365 * 86400, "9y"),
    ],
)
def test_human_duration_matches_apimachinery(seconds: int, text: str) -> None:
    assert human_duration(seconds) == text


def test_custom_resource_without_printer_columns_shows_name_and_age() -> None:
    items = [{"apiVersion": "kubeflow.org/v2beta1", "kind": "MPIJob", "metadata": meta("pi", labels={"a": "b"})}]
    table = to_table("mpijobs", items, [], now=NOW)
    assert table["kind"] == "Table" and table["apiVersion"] == "meta.k8s.io/v1"
    assert [(c["name"], c["type"], c["format"]) for c in table["columnDefinitions"]] == [
        ("Name", "string", "name"), ("Age", "date", "")]
    assert table["rows"] == [{
        "cells": ["pi", "5m"],
        "object": {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                   "metadata": meta("pi", labels={"a": "b"})},
    }]


def test_printer_columns_are_typed_like_the_real_server() -> None:
    columns: list[dict[str, Any]] = [
        {"name": "Workers", "type": "integer", "jsonPath": ".spec.mpiReplicaSpecs.Worker.replicas"},
        {"name": "Slots", "type": "number", "jsonPath": ".spec.slotsPerWorker", "priority": 1},
        {"name": "Suspended", "type": "boolean", "jsonPath": ".spec.runPolicy.suspend"},
        {"name": "State", "type": "string", "jsonPath": '.status.conditions[?(@.status=="True")].type',
         "description": "current state"},
        {"name": "Last", "type": "string", "jsonPath": ".status.conditions[-1:].type"},
        {"name": "Started", "type": "date", "jsonPath": ".status.startTime"},
        {"name": "Missing", "type": "string", "jsonPath": ".status.nothing"},
        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
    ]
    job = {
        "metadata": meta("pi", created="2026-02-27T12:00:00Z"),
        "spec": {"slotsPerWorker": 2, "runPolicy": {"suspend": False}, "mpiReplicaSpecs": {"Worker": {"replicas": 3}}},
        "status": {"startTime": "2026-03-01T11:59:30Z",
                   "conditions": [{"type": "Created", "status": "True"}, {"type": "Running", "status": "True"}]},
    }
    table = to_table("mpijobs", [job], columns, now=NOW)
    definitions = table["columnDefinitions"]
    assert definitions[2]["priority"] == 1
    assert definitions[4]["description"] == "current state"
    assert definitions[1]["description"] == (
        "Custom resource definition column (in JSONPath format): .spec.mpiReplicaSpecs.Worker.replicas")
    assert table["rows"][0]["cells"] == ["pi", 3, 2.0, False, "Created", "Running", "30s", None, "2d"]


def test_watch_tables_after_the_first_omit_column_definitions() -> None:
    table = to_table("mpijobs", [{"metadata": meta("pi")}], [], with_definitions=False, now=NOW)
    assert "columnDefinitions" not in table
    assert table["rows"][0]["cells"] == ["pi", "5m"]


def test_include_object_variants() -> None:
    item = {"metadata": meta("pi"), "spec": {"x": 1}}
    assert to_table("mpijobs", [item], [], include_object="Object", now=NOW)["rows"][0]["object"] == item
    assert "object" not in to_table("mpijobs", [item], [], include_object="None", now=NOW)["rows"][0]


def test_empty_list_has_no_rows_but_keeps_definitions() -> None:
    table = to_table("pods", [], None, now=NOW)
    assert table["rows"] == []
    assert table["columnDefinitions"][0]["name"] == "Name"


def running_pod() -> dict[str, Any]:
    return {
        "metadata": meta("pi-worker-0"),
        "spec": {"nodeName": "node-1", "containers": [{"name": "main"}, {"name": "side"}]},
        "status": {
            "phase": "Running",
            "podIP": "10.0.0.4",
            "conditions": [{"type": "Ready", "status": "False"}],
            "containerStatuses": [
                {"name": "main", "ready": True, "restartCount": 2, "state": {"running": {}},
                 "lastState": {"terminated": {"exitCode": 1, "finishedAt": "2026-03-01T11:57:00Z"}}},
                {"name": "side", "ready": False, "restartCount": 0,
                 "state": {"waiting": {"reason": "CrashLoopBackOff"}}},
            ],
        },
    }


def test_pod_columns_show_ready_status_restarts_and_age() -> None:
    table = to_table("pods", [running_pod()], None, now=NOW)
    names = [c["name"] for c in table["columnDefinitions"]]
    assert names[:5] == ["Name", "Ready", "Status", "Restarts", "Age"]
    assert [c["priority"] for c in table["columnDefinitions"]][5:] == [1, 1, 1, 1]
    assert table["rows"][0]["cells"] == [
        "pi-worker-0", "1/2", "CrashLoopBackOff", "2 (3m ago)", "5m", "10.0.0.4", "node-1", "<none>", "<none>"]


@pytest.mark.parametrize(
    ("status", "deleting", "expected"),
    [
        ({"phase": "Pending"}, False, "Pending"),
        ({"phase": "Succeeded", "containerStatuses": [
            {"ready": False, "restartCount": 0, "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}]},
         False, "Completed"),
        ({"phase": "Failed", "containerStatuses": [
            {"ready": False, "restartCount": 0, "state": {"terminated": {"exitCode": 137}}}]}, False, "ExitCode:137"),
        ({"phase": "Failed", "reason": "Evicted"}, False, "Evicted"),
        ({"phase": "Running"}, True, "Terminating"),
        ({"phase": "Pending", "initContainerStatuses": [
            {"restartCount": 0, "state": {"running": {}}}]}, False, "Init:0/1"),
    ],
)
def test_pod_status_column(status: dict[str, Any], deleting: bool, expected: str) -> None:
    pod: dict[str, Any] = {"metadata": meta("p"), "spec": {"containers": [{"name": "c"}],
                                                           "initContainers": [{"name": "i"}]}, "status": status}
    if deleting:
        pod["metadata"]["deletionTimestamp"] = "2026-03-01T12:00:00Z"
    assert to_table("pods", [pod], None, now=NOW)["rows"][0]["cells"][2] == expected


def test_job_columns() -> None:
    job = {
        "metadata": meta("pi-launcher"),
        "spec": {"completions": 1, "parallelism": 1,
                 "selector": {"matchLabels": {"batch.kubernetes.io/controller-uid": "u1"}},
                 "template": {"spec": {"containers": [{"name": "launcher", "image": "mpioperator/mpi-pi"}]}}},
        "status": {"succeeded": 1, "startTime": "2026-03-01T11:56:00Z", "completionTime": "2026-03-01T11:57:05Z",
                   "conditions": [{"type": "SuccessCriteriaMet", "status": "True"},
                                  {"type": "Complete", "status": "True"}]},
    }
    table = to_table("jobs", [job], None, now=NOW)
    assert [c["name"] for c in table["columnDefinitions"]] == [
        "Name", "Status", "Completions", "Duration", "Age", "Containers", "Images", "Selector"]
    assert table["rows"][0]["cells"] == [
        "pi-launcher", "Complete", "1/1", "65s", "5m", "launcher", "mpioperator/mpi-pi",
        "batch.kubernetes.io/controller-uid=u1"]


def test_running_and_suspended_jobs() -> None:
    running = {"metadata": meta("j"), "spec": {"parallelism": 2}, "status": {"startTime": "2026-03-01T11:59:00Z"}}
    suspended = {"metadata": meta("k"), "spec": {"completions": 3},
                 "status": {"conditions": [{"type": "Suspended", "status": "True"}]}}
    rows = to_table("jobs", [running, suspended], None, now=NOW)["rows"]
    assert rows[0]["cells"][1:4] == ["Running", "0/1 of 2", "60s"]
    assert rows[1]["cells"][1:4] == ["Suspended", "0/3", ""]


def test_small_builtin_column_sets() -> None:
    cm = {"metadata": meta("cfg"), "data": {"hostfile": "x", "discover_hosts.sh": "y"}}
    secret = {"metadata": meta("ssh"), "type": "kubernetes.io/ssh-auth", "data": {"ssh-privatekey": "..."}}
    ns = {"metadata": meta("default"), "status": {"phase": "Active"}}
    lease = {"metadata": meta("lock"), "spec": {"holderIdentity": "op-1"}}
    svc = {"metadata": meta("pi"), "spec": {"clusterIP": "None", "selector": {"app": "pi"},
                                            "ports": [{"port": 22, "protocol": "TCP"}]}}
    assert to_table("configmaps", [cm], None, now=NOW)["rows"][0]["cells"] == ["cfg", 2, "5m"]
    assert to_table("secrets", [secret], None, now=NOW)["rows"][0]["cells"] == [
        "ssh", "kubernetes.io/ssh-auth", 1, "5m"]
    assert to_table("namespaces", [ns], None, now=NOW)["rows"][0]["cells"] == ["default", "Active", "5m"]
    assert to_table("leases", [lease], None, now=NOW)["rows"][0]["cells"] == ["lock", "op-1", "5m"]
    assert to_table("services", [svc], None, now=NOW)["rows"][0]["cells"] == [
        "pi", "ClusterIP", "None", "<none>", "22/TCP", "5m", "app=pi"]
    assert to_table("podgroups", [{"metadata": meta("pg")}], None, now=NOW)["rows"][0]["cells"] == ["pg", "5m"]


def test_event_columns() -> None:
    event = {
        "metadata": meta("pi.17"),
        "involvedObject": {"kind": "MPIJob", "name": "pi", "namespace": "default"},
        "reason": "MPIJobCreated", "message": "MPIJob default/pi is created.", "type": "Normal",
        "source": {"component": "mpi-job-controller"}, "count": 3,
        "firstTimestamp": "2026-03-01T11:50:00Z", "lastTimestamp": "2026-03-01T11:59:50Z",
    }
    table = to_table("events", [event], None, now=NOW)
    assert [c["name"] for c in table["columnDefinitions"]][:4] == ["Last Seen", "Type", "Reason", "Object"]
    assert table["rows"][0]["cells"] == [
        "10s", "Normal", "MPIJobCreated", "mpijob/pi", "", "mpi-job-controller", "MPIJob default/pi is created.",
        "10m", 3, "pi.17"]
