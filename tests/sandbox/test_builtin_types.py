"""Built-in type rules: pods (eviction, binding), events, leases, services, tables on watches (checklist 39, 72-73)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from mpi_operator.sandbox import Sandbox
from tests.sandbox.conftest import Http, kubectl, unique

pytestmark = pytest.mark.asyncio(loop_scope="module")

PODS = "/api/v1/namespaces/default/pods"
TABLE = ("application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,"
         "application/json")


def pod(name: str, node: str | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"containers": [{"name": "c", "image": "busybox:1"}]}
    if node:
        spec["nodeName"] = node
    return {"metadata": {"name": name}, "spec": spec}


async def test_pod_create_defaults_status_pending(http: Http) -> None:
    r = (await http.post(PODS, pod(unique("def")))).body
    assert r["status"]["phase"] == "Pending" and r["status"]["qosClass"] == "BestEffort"
    assert r["spec"]["restartPolicy"] == "Always" and r["spec"]["terminationGracePeriodSeconds"] == 30


async def test_eviction_marks_disruption_target_then_deletes_gracefully(http: Http) -> None:
    name = unique("ev")
    await http.post(PODS, pod(name, node="node-1"))
    r = await http.post(f"{PODS}/{name}/eviction", {"apiVersion": "policy/v1", "kind": "Eviction",
                                                    "metadata": {"name": name, "namespace": "default"}})
    assert r.status == 201, r.body
    after = (await http.get(f"{PODS}/{name}")).body
    assert after["metadata"]["deletionTimestamp"]
    cond = {c["type"]: c for c in after["status"]["conditions"]}
    assert cond["DisruptionTarget"]["reason"] == "EvictionByEvictionAPI"


async def test_binding_sets_node_once(http: Http) -> None:
    name = unique("bind")
    await http.post(PODS, pod(name))
    body = {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": name}, "target": {"kind": "Node",
                                                                                          "name": "node-2"}}
    assert (await http.post(f"{PODS}/{name}/binding", body)).status == 201
    assert (await http.get(f"{PODS}/{name}")).body["spec"]["nodeName"] == "node-2"
    assert (await http.post(f"{PODS}/{name}/binding", body)).status == 409


async def test_kubectl_delete_unscheduled_pod_returns_promptly(sandbox: Sandbox, kube_home: Path,
                                                               http: Http) -> None:
    name = unique("del")
    await http.post(PODS, pod(name))
    code, out, err = await kubectl(sandbox, kube_home, "delete", "pod", name, timeout=15)
    assert code == 0 and "deleted" in out, err


async def test_event_repeat_patch_increments_count(http: Http) -> None:
    name = unique("evt")
    path = "/api/v1/namespaces/default/events"
    await http.post(path, {"metadata": {"name": name}, "involvedObject": {"kind": "Pod", "name": "p",
                                                                          "namespace": "default"},
                           "reason": "Started", "message": "hi", "type": "Normal", "count": 1})
    r = await http.patch(f"{path}/{name}", {"count": 2, "lastTimestamp": "2026-01-01T00:00:00Z"},
                         content_type="application/strategic-merge-patch+json")
    assert r.status == 200 and r.body["count"] == 2
    listed = await http.get(f"{path}?fieldSelector=involvedObject.name=p,involvedObject.kind=Pod")
    assert [i["metadata"]["name"] for i in listed.body["items"]] == [name]


async def test_lease_conflict_and_microtime_roundtrip(api: client.ApiClient, http: Http) -> None:
    coord = client.CoordinationV1Api(api)
    name = unique("lease")
    micro = "2026-01-02T03:04:05.123456Z"
    await http.post("/apis/coordination.k8s.io/v1/namespaces/mpi-operator/leases", {
        "metadata": {"name": name}, "spec": {"holderIdentity": "a", "leaseDurationSeconds": 15,
                                             "renewTime": micro, "acquireTime": micro}})
    raw = await http.get(f"/apis/coordination.k8s.io/v1/namespaces/mpi-operator/leases/{name}")
    assert raw.body["spec"]["renewTime"] == micro
    created = await coord.read_namespaced_lease(name, "mpi-operator")
    created.spec.holder_identity = "b"
    await coord.replace_namespaced_lease(name, "mpi-operator", created)
    created.spec.holder_identity = "c"
    with pytest.raises(ApiException) as exc:
        await coord.replace_namespaced_lease(name, "mpi-operator", created)
    assert exc.value.status == 409


async def test_service_gets_cluster_ip(http: Http) -> None:
    r = await http.post("/api/v1/namespaces/default/services", {"metadata": {"name": unique("svc")}, "spec": {
        "clusterIP": "None", "selector": {"a": "b"}, "ports": [{"port": 22}]}})
    assert r.status == 201 and r.body["spec"]["clusterIP"] == "None"
    r = await http.post("/api/v1/namespaces/default/services", {"metadata": {"name": unique("svc")}, "spec": {
        "ports": [{"port": 80}]}})
    assert r.body["spec"]["clusterIP"].startswith("10.96.") and r.body["spec"]["ports"][0]["targetPort"] == 80


async def test_table_on_list_get_and_watch(http: Http, sandbox: Sandbox) -> None:
    name = unique("tbl")
    await http.post(PODS, pod(name))
    listed = (await http.get(PODS, headers={"Accept": TABLE})).body
    assert listed["kind"] == "Table" and listed["apiVersion"] == "meta.k8s.io/v1"
    assert listed["metadata"]["resourceVersion"] == sandbox.store.resource_version
    assert [c["name"] for c in listed["columnDefinitions"]][:2] == ["Name", "Ready"]
    row = next(r for r in listed["rows"] if r["cells"][0] == name)
    assert row["object"]["kind"] == "PartialObjectMetadata"
    one = (await http.get(f"{PODS}/{name}", headers={"Accept": TABLE})).body
    assert one["kind"] == "Table" and len(one["rows"]) == 1
    rv = sandbox.store.resource_version
    await http.patch(f"{PODS}/{name}", {"metadata": {"labels": {"a": "1"}}})
    await http.patch(f"{PODS}/{name}", {"metadata": {"labels": {"a": "2"}}})
    events, _ = await http.watch_lines(f"{PODS}?watch=1&resourceVersion={rv}", 2, headers={"Accept": TABLE})
    assert all(e["object"]["kind"] == "Table" for e in events)
    assert "columnDefinitions" in events[0]["object"] and not events[1]["object"].get("columnDefinitions")


async def test_resource_versions_never_go_backwards_across_restarts() -> None:
    async with Sandbox() as first:
        last = int(first.store.create("configmaps", "default", {"metadata": {"name": "x"}})["metadata"][
            "resourceVersion"])
    async with Sandbox() as second:
        assert int(second.store.resource_version) > last


async def test_gang_scheduler_crds_are_served_on_request() -> None:
    async with Sandbox(gang=["volcano", "scheduler-plugins"], install_mpijob_crd=False) as sb:
        reg = sb.store.registry
        assert reg.lookup("scheduling.volcano.sh", "v1beta1", "podgroups") is not None
        assert reg.lookup("scheduling.x-k8s.io", "v1alpha1", "podgroups") is not None
        assert reg.lookup("kubeflow.org", "v2beta1", "mpijobs") is None
        pg = sb.store.create("podgroups.scheduling.volcano.sh", "default", {
            "apiVersion": "scheduling.volcano.sh/v1beta1", "kind": "PodGroup", "metadata": {"name": "pg"},
            "spec": {"minMember": 3, "queue": "default"}})
        assert pg["spec"]["minMember"] == 3
