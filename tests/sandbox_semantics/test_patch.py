"""PATCH semantics: JSON merge patch, JSON patch and strategic merge patch on built-in objects."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from mpi_operator.sandbox.wire.patch import PatchError, json_merge_patch, json_patch, strategic_merge_patch


def pod() -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "pi-worker-0",
            "labels": {"app": "pi", "tier": "worker"},
            "finalizers": ["batch.kubernetes.io/job-tracking", "example.com/keep"],
            "ownerReferences": [{"apiVersion": "batch/v1", "kind": "Job", "name": "pi", "uid": "u1"}],
        },
        "spec": {
            "containers": [
                {
                    "name": "main",
                    "image": "mpi:1",
                    "args": ["a", "b"],
                    "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
                    "ports": [{"containerPort": 22, "name": "ssh"}],
                    "volumeMounts": [{"mountPath": "/etc/mpi", "name": "config"}],
                },
                {"name": "sidecar", "image": "side:1"},
            ],
            "volumes": [{"name": "config", "configMap": {"name": "pi-config"}}],
            "tolerations": [{"key": "a", "operator": "Exists"}],
        },
        "status": {
            "phase": "Running",
            "conditions": [
                {"type": "PodScheduled", "status": "True"},
                {"type": "Ready", "status": "False"},
            ],
        },
    }


# --- JSON merge patch -------------------------------------------------------------------------------------------


def test_merge_patch_merges_maps_replaces_lists_and_null_deletes() -> None:
    original = pod()
    result = json_merge_patch(
        original,
        {"metadata": {"labels": {"tier": None, "new": "x"}}, "spec": {"containers": [{"name": "only"}]}},
    )
    assert result["metadata"]["labels"] == {"app": "pi", "new": "x"}
    assert result["spec"]["containers"] == [{"name": "only"}]
    assert result["spec"]["volumes"] == original["spec"]["volumes"]
    assert original == pod(), "the target must not be mutated"


def test_merge_patch_creates_missing_maps_and_rejects_non_objects() -> None:
    assert json_merge_patch({}, {"a": {"b": {"c": 1, "d": None}}}) == {"a": {"b": {"c": 1}}}
    with pytest.raises(PatchError) as err:
        json_merge_patch({}, [{"op": "add"}])
    assert err.value.code == 400


# --- JSON patch -------------------------------------------------------------------------------------------------


def test_json_patch_applies_operations_in_order() -> None:
    result = json_patch(
        pod(),
        [
            {"op": "test", "path": "/status/phase", "value": "Running"},
            {"op": "replace", "path": "/status/phase", "value": "Succeeded"},
            {"op": "add", "path": "/metadata/labels/done", "value": "yes"},
            {"op": "remove", "path": "/metadata/finalizers/0"},
            {"op": "add", "path": "/spec/containers/0/env/-", "value": {"name": "C", "value": "3"}},
        ],
    )
    assert result["status"]["phase"] == "Succeeded"
    assert result["metadata"]["labels"]["done"] == "yes"
    assert result["metadata"]["finalizers"] == ["example.com/keep"]
    assert [e["name"] for e in result["spec"]["containers"][0]["env"]] == ["A", "B", "C"]


def test_json_patch_with_object_body_is_a_bad_request() -> None:
    with pytest.raises(PatchError) as err:
        json_patch(pod(), {"metadata": {"labels": {"a": "b"}}})
    assert err.value.code == 400


@pytest.mark.parametrize(
    "ops",
    [
        [{"op": "test", "path": "/status/phase", "value": "Pending"}],
        [{"op": "remove", "path": "/metadata/annotations"}],
        [{"op": "replace", "path": "/spec/containers/9/image", "value": "x"}],
    ],
)
def test_json_patch_that_cannot_apply_is_unprocessable(ops: list[dict[str, Any]]) -> None:
    with pytest.raises(PatchError) as err:
        json_patch(pod(), ops)
    assert err.value.code == 422


def test_json_patch_with_malformed_operation_is_a_bad_request() -> None:
    with pytest.raises(PatchError) as err:
        json_patch(pod(), [{"op": "frobnicate", "path": "/a"}])
    assert err.value.code == 400
    with pytest.raises(PatchError) as err:
        json_patch(pod(), ["not an op"])
    assert err.value.code == 400


# --- strategic merge patch --------------------------------------------------------------------------------------


def test_smp_merges_containers_by_name_and_env_by_name() -> None:
    result = strategic_merge_patch(
        pod(),
        {"spec": {"containers": [
            {"name": "main", "image": "mpi:2", "env": [{"name": "B", "value": "20"}, {"name": "C", "value": "3"}]},
            {"name": "new", "image": "new:1"},
        ]}},
    )
    main, sidecar, new = result["spec"]["containers"]
    assert main["image"] == "mpi:2"
    assert main["env"] == [{"name": "A", "value": "1"}, {"name": "B", "value": "20"}, {"name": "C", "value": "3"}]
    assert main["args"] == ["a", "b"]
    assert sidecar == {"name": "sidecar", "image": "side:1"}
    assert new == {"name": "new", "image": "new:1"}


def test_smp_replaces_primitive_and_unkeyed_lists() -> None:
    result = strategic_merge_patch(
        pod(),
        {"spec": {"containers": [{"name": "main", "args": ["c"]}], "tolerations": [{"key": "b"}]}},
    )
    assert result["spec"]["containers"][0]["args"] == ["c"]
    assert result["spec"]["tolerations"] == [{"key": "b"}]


def test_smp_merges_ports_mounts_volumes_conditions_and_owner_references_by_their_keys() -> None:
    result = strategic_merge_patch(
        pod(),
        {
            "metadata": {"ownerReferences": [{"uid": "u2", "kind": "MPIJob", "name": "pi", "apiVersion": "v"}]},
            "spec": {
                "containers": [{
                    "name": "main",
                    "ports": [{"containerPort": 22, "protocol": "TCP"}],
                    "volumeMounts": [{"mountPath": "/data", "name": "data"}],
                }],
                "volumes": [{"name": "data", "emptyDir": {}}],
            },
            "status": {"conditions": [{"type": "Ready", "status": "True"}, {"type": "Initialized", "status": "True"}]},
        },
    )
    main = result["spec"]["containers"][0]
    assert main["ports"] == [{"containerPort": 22, "name": "ssh", "protocol": "TCP"}]
    assert [m["mountPath"] for m in main["volumeMounts"]] == ["/etc/mpi", "/data"]
    assert [v["name"] for v in result["spec"]["volumes"]] == ["config", "data"]
    assert result["status"]["conditions"] == [
        {"type": "PodScheduled", "status": "True"},
        {"type": "Ready", "status": "True"},
        {"type": "Initialized", "status": "True"},
    ]
    assert [o["uid"] for o in result["metadata"]["ownerReferences"]] == ["u1", "u2"]


def test_smp_service_ports_merge_by_port() -> None:
    service = {"spec": {"ports": [{"port": 80, "name": "http"}], "clusterIP": "None"}}
    result = strategic_merge_patch(service, {"spec": {"ports": [{"port": 80, "targetPort": 8080}, {"port": 22}]}})
    assert result["spec"]["ports"] == [{"port": 80, "name": "http", "targetPort": 8080}, {"port": 22}]


def test_smp_finalizers_are_unioned() -> None:
    result = strategic_merge_patch(pod(), {"metadata": {"finalizers": ["example.com/keep", "example.com/new"]}})
    assert result["metadata"]["finalizers"] == [
        "batch.kubernetes.io/job-tracking", "example.com/keep", "example.com/new"]


def test_smp_delete_from_primitive_list_removes_exactly_the_job_tracking_finalizer() -> None:
    result = strategic_merge_patch(
        pod(), {"metadata": {"$deleteFromPrimitiveList/finalizers": ["batch.kubernetes.io/job-tracking"]}}
    )
    assert result["metadata"]["finalizers"] == ["example.com/keep"]
    assert "$deleteFromPrimitiveList/finalizers" not in result["metadata"]


def test_smp_null_deletes_keys_and_patch_delete_removes_list_elements() -> None:
    result = strategic_merge_patch(
        pod(),
        {
            "metadata": {"labels": {"tier": None}},
            "spec": {"containers": [
                {"name": "sidecar", "$patch": "delete"},
                {"name": "main", "env": [{"name": "A", "$patch": "delete"}], "args": None},
            ]},
        },
    )
    assert result["metadata"]["labels"] == {"app": "pi"}
    assert [c["name"] for c in result["spec"]["containers"]] == ["main"]
    assert result["spec"]["containers"][0]["env"] == [{"name": "B", "value": "2"}]
    assert "args" not in result["spec"]["containers"][0]


def test_smp_patch_replace_replaces_a_map_or_a_keyed_list() -> None:
    result = strategic_merge_patch(
        pod(),
        {
            "metadata": {"labels": {"$patch": "replace", "only": "this"}},
            "spec": {"volumes": [{"$patch": "replace"}, {"name": "fresh", "emptyDir": {}}]},
        },
    )
    assert result["metadata"]["labels"] == {"only": "this"}
    assert result["spec"]["volumes"] == [{"name": "fresh", "emptyDir": {}}]


def test_smp_patch_delete_on_a_map_removes_it() -> None:
    result = strategic_merge_patch(pod(), {"status": {"$patch": "delete"}})
    assert "status" not in result


def test_smp_retain_keys_swaps_a_volume_source() -> None:
    result = strategic_merge_patch(
        pod(),
        {"spec": {"volumes": [{"name": "config", "$retainKeys": ["name", "secret"], "secret": {"secretName": "s"}}]}},
    )
    assert result["spec"]["volumes"] == [{"name": "config", "secret": {"secretName": "s"}}]


def test_smp_set_element_order_reorders_merged_lists() -> None:
    result = strategic_merge_patch(
        pod(),
        {"spec": {
            "$setElementOrder/containers": [{"name": "sidecar"}, {"name": "main"}],
            "containers": [{"name": "sidecar", "image": "side:2"}],
        }},
    )
    assert [c["name"] for c in result["spec"]["containers"]] == ["sidecar", "main"]
    assert result["spec"]["containers"][0]["image"] == "side:2"
    assert "$setElementOrder/containers" not in result["spec"]


def test_smp_event_count_update_as_the_event_recorder_sends_it() -> None:
    event = {"metadata": {"name": "pi.1"}, "count": 1, "message": "m", "lastTimestamp": "2026-01-01T00:00:00Z"}
    result = strategic_merge_patch(event, {"count": 2, "lastTimestamp": "2026-01-01T00:00:05Z", "message": "m2"})
    assert result == {"metadata": {"name": "pi.1"}, "count": 2, "message": "m2",
                      "lastTimestamp": "2026-01-01T00:00:05Z"}


def test_smp_does_not_mutate_target_and_rejects_bad_input() -> None:
    original = pod()
    snapshot = copy.deepcopy(original)
    strategic_merge_patch(original, {"spec": {"containers": [{"name": "main", "image": "x"}]}})
    assert original == snapshot
    with pytest.raises(PatchError) as err:
        strategic_merge_patch(original, [{"op": "add"}])
    assert err.value.code == 400
    with pytest.raises(PatchError):
        strategic_merge_patch(original, {"spec": {"containers": [{"image": "no-name"}]}})
    with pytest.raises(PatchError):
        strategic_merge_patch(original, {"metadata": {"$patch": "explode"}})
