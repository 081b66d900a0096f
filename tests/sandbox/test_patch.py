"""PATCH content types: merge, JSON patch, strategic merge, apply (contract §3.6-3.7; checklist 13-16)."""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from tests.sandbox.conftest import Http, unique

pytestmark = pytest.mark.asyncio(loop_scope="module")

PODS = "/api/v1/namespaces/default/pods"
MPIJOBS = "/apis/kubeflow.org/v2beta1/namespaces/default/mpijobs"
SMP = "application/strategic-merge-patch+json"
JSONPATCH = "application/json-patch+json"


def pod(name: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "finalizers": ["a.example.com/x", "b.example.com/y"]},
            "spec": {"containers": [{"name": "main", "image": "busybox:1", "env": [{"name": "A", "value": "1"}]},
                                    {"name": "side", "image": "busybox:1"}],
                     "volumes": [{"name": "v1", "emptyDir": {}}]}}


def mpijob(name: str) -> dict[str, Any]:
    return {"apiVersion": "kubeflow.org/v2beta1", "kind": "MPIJob", "metadata": {"name": name},
            "spec": {"mpiReplicaSpecs": {"Launcher": {"replicas": 1, "template": {"spec": {
                "containers": [{"name": "l", "image": "mpi:1"}]}}}}}}


async def test_merge_patch_replaces_lists(http: Http) -> None:
    name = unique("mp")
    await http.post(PODS, pod(name))
    r = await http.patch(f"{PODS}/{name}", {"metadata": {"finalizers": ["c.example.com/z"]}})
    assert r.status == 200 and r.body["metadata"]["finalizers"] == ["c.example.com/z"]


async def test_strategic_merge_merges_by_key(http: Http) -> None:
    name = unique("smp")
    await http.post(PODS, pod(name))
    r = await http.patch(f"{PODS}/{name}", {"spec": {"containers": [{"name": "main", "image": "busybox:2"}]}},
                         content_type=SMP)
    assert r.status == 200, r.body
    containers = {c["name"]: c for c in r.body["spec"]["containers"]}
    assert set(containers) == {"main", "side"} and containers["main"]["image"] == "busybox:2"
    assert containers["main"]["env"] == [{"name": "A", "value": "1"}]
    # Pod specs are immutable apart from images (and a few scheduling fields), as on a real cluster.
    r = await http.patch(f"{PODS}/{name}", {"spec": {"containers": [
        {"name": "main", "env": [{"name": "B", "value": "2"}]}]}}, content_type=SMP)
    assert r.status == 422
    status = await http.patch(f"{PODS}/{name}/status", {"status": {"conditions": [
        {"type": "PodScheduled", "status": "True"}]}}, content_type=SMP)
    status = await http.patch(f"{PODS}/{name}/status", {"status": {"conditions": [
        {"type": "Ready", "status": "False"}]}}, content_type=SMP)
    assert {c["type"] for c in status.body["status"]["conditions"]} == {"PodScheduled", "Ready"}


async def test_delete_from_primitive_list_removes_one_finalizer(http: Http) -> None:
    name = unique("fin")
    await http.post(PODS, pod(name))
    r = await http.patch(f"{PODS}/{name}", {"metadata": {"$deleteFromPrimitiveList/finalizers": ["a.example.com/x"]}},
                         content_type=SMP)
    assert r.status == 200 and r.body["metadata"]["finalizers"] == ["b.example.com/y"]


async def test_strategic_merge_on_custom_resource_is_415(http: Http) -> None:
    name = unique("mj")
    await http.post(MPIJOBS, mpijob(name))
    r = await http.patch(f"{MPIJOBS}/{name}", {"spec": {"slotsPerWorker": 2}}, content_type=SMP)
    assert r.status == 415 and r.body["reason"] == "UnsupportedMediaType"


async def test_json_patch_object_body_is_400_and_failed_test_is_422(http: Http) -> None:
    name = unique("mj")
    await http.post(MPIJOBS, mpijob(name))
    r = await http.patch(f"{MPIJOBS}/{name}", {"spec": {"slotsPerWorker": 2}}, content_type=JSONPATCH)
    assert r.status == 400 and r.body["reason"] == "BadRequest"
    r = await http.patch(f"{MPIJOBS}/{name}", [{"op": "test", "path": "/spec/slotsPerWorker", "value": 7}],
                         content_type=JSONPATCH)
    assert r.status == 422
    r = await http.patch(f"{MPIJOBS}/{name}", [{"op": "replace", "path": "/spec/slotsPerWorker", "value": 3}],
                         content_type=JSONPATCH)
    assert r.status == 200 and r.body["spec"]["slotsPerWorker"] == 3


async def test_patch_with_stale_resource_version_conflicts(http: Http) -> None:
    name = unique("mj")
    created = (await http.post(MPIJOBS, mpijob(name))).body
    await http.patch(f"{MPIJOBS}/{name}", {"spec": {"slotsPerWorker": 2}})
    r = await http.patch(f"{MPIJOBS}/{name}", {"metadata": {"resourceVersion": created["metadata"]["resourceVersion"]},
                                               "spec": {"slotsPerWorker": 4}})
    assert r.status == 409 and r.body["reason"] == "Conflict"


async def test_apply_patch_needs_field_manager_then_creates_and_merges(http: Http) -> None:
    name = unique("ap")
    path = f"/api/v1/namespaces/default/configmaps/{name}"
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"a": "1"}}
    r = await http.patch(path, body, content_type="application/apply-patch+yaml")
    assert r.status == 422 and r.body["details"]["kind"] == "PatchOptions"
    r = await http.patch(f"{path}?fieldManager=test", body, content_type="application/apply-patch+yaml")
    assert r.status == 201
    r = await http.patch(f"{path}?fieldManager=test", {**body, "data": {"b": "2"}},
                         content_type="application/apply-patch+yaml")
    assert r.status == 200 and r.body["data"] == {"a": "1", "b": "2"}


async def test_unsupported_patch_type_is_415(http: Http) -> None:
    r = await http.patch(f"{PODS}/whatever", {}, content_type="text/plain")
    assert r.status == 415


async def test_kubernetes_asyncio_custom_object_patch_needs_merge_content_type(api: client.ApiClient,
                                                                                http: Http) -> None:
    name = unique("mj")
    await http.post(MPIJOBS, mpijob(name))
    custom = client.CustomObjectsApi(api)
    with pytest.raises(ApiException) as exc:
        await custom.patch_namespaced_custom_object("kubeflow.org", "v2beta1", "default", "mpijobs", name,
                                                    {"spec": {"slotsPerWorker": 5}})
    assert exc.value.status in (400, 415)
    patched = await custom.patch_namespaced_custom_object(
        "kubeflow.org", "v2beta1", "default", "mpijobs", name, {"spec": {"slotsPerWorker": 5}},
        _content_type="application/merge-patch+json")  # type: ignore[call-arg]
    assert patched["spec"]["slotsPerWorker"] == 5
