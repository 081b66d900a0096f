"""Deletion: finalizers, preconditions, grace, and garbage collection by ownerReferences (contract §3.8, §6)."""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes_asyncio import client

from mpi_operator.sandbox import Sandbox
from tests.sandbox.conftest import Http, unique, wait_for

pytestmark = pytest.mark.asyncio(loop_scope="module")

CM = "/api/v1/namespaces/default/configmaps"
PODS = "/api/v1/namespaces/default/pods"
JOBS = "/apis/batch/v1/namespaces/default/jobs"
MPIJOBS = "/apis/kubeflow.org/v2beta1/namespaces/default/mpijobs"


def owned_pod(name: str, owner: dict[str, Any], block: bool = True) -> dict[str, Any]:
    meta = owner["metadata"]
    return {"metadata": {"name": name, "ownerReferences": [{
        "apiVersion": owner["apiVersion"], "kind": owner["kind"], "name": meta["name"], "uid": meta["uid"],
        "controller": True, "blockOwnerDeletion": block}]},
        "spec": {"containers": [{"name": "c", "image": "busybox:1"}]}}


def job(name: str) -> dict[str, Any]:
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name},
            "spec": {"template": {"spec": {"restartPolicy": "Never",
                                           "containers": [{"name": "c", "image": "busybox:1"}]}}}}


async def exists(http: Http, path: str) -> bool:
    return (await http.get(path)).status == 200


async def test_delete_returns_status_for_crs_and_object_for_pods(http: Http, sandbox: Sandbox) -> None:
    name = unique("mj")
    await http.post(MPIJOBS, {"apiVersion": "kubeflow.org/v2beta1", "kind": "MPIJob", "metadata": {"name": name},
                              "spec": {"mpiReplicaSpecs": {}}})
    watcher = sandbox.store.watch("mpijobs.kubeflow.org", "default", sandbox.store.resource_version)
    r = await http.delete(f"{MPIJOBS}/{name}")
    assert r.status == 200 and r.body["kind"] == "Status" and r.body["status"] == "Success"
    assert r.body["details"]["name"] == name and r.body["details"]["kind"] == "mpijobs"
    assert [e.type for e in watcher.queue] == ["DELETED"]
    watcher.close()
    pname = unique("p")
    await http.post(PODS, {"metadata": {"name": pname}, "spec": {"containers": [{"name": "c", "image": "b"}]}})
    r = await http.delete(f"{PODS}/{pname}")
    assert r.status == 200 and r.body["kind"] == "Pod"


async def test_finalizers_hold_the_object_until_removed(http: Http) -> None:
    name = unique("fin")
    await http.post(CM, {"metadata": {"name": name, "finalizers": ["example.com/hold"]}})
    r = await http.delete(f"{CM}/{name}")
    assert r.status == 200 and r.body["metadata"]["deletionTimestamp"]
    assert r.body["metadata"]["deletionGracePeriodSeconds"] == 0
    held = (await http.get(f"{CM}/{name}")).body
    add = await http.patch(f"{CM}/{name}", {"metadata": {"finalizers": ["example.com/hold", "example.com/more"]}})
    assert add.status == 422
    moved = await http.patch(f"{CM}/{name}", {"metadata": {"deletionTimestamp": "2030-01-01T00:00:00Z"}})
    assert moved.body["metadata"]["deletionTimestamp"] == held["metadata"]["deletionTimestamp"]
    done = await http.patch(f"{CM}/{name}", {"metadata": {"finalizers": None}})
    assert done.status == 200
    assert not await exists(http, f"{CM}/{name}")


async def test_delete_preconditions_conflict(http: Http) -> None:
    name = unique("pre")
    await http.post(CM, {"metadata": {"name": name}})
    r = await http.delete(f"{CM}/{name}", {"kind": "DeleteOptions", "apiVersion": "v1",
                                           "preconditions": {"uid": "not-the-uid"}})
    assert r.status == 409 and r.body["reason"] == "Conflict"
    r = await http.delete(f"{CM}/{name}", {"preconditions": {"resourceVersion": "1"}})
    assert r.status == 409
    assert (await http.delete(f"{CM}/missing-{name}")).status == 404


async def test_graceful_pod_delete_waits_for_kubelet_unless_unscheduled(http: Http, sandbox: Sandbox) -> None:
    name = unique("gp")
    await http.post(PODS, {"metadata": {"name": name}, "spec": {"nodeName": "node-1", "containers": [
        {"name": "c", "image": "b"}]}})
    r = await http.delete(f"{PODS}/{name}", {"gracePeriodSeconds": 20})
    assert r.body["metadata"]["deletionGracePeriodSeconds"] == 20
    assert await exists(http, f"{PODS}/{name}")
    # What the simulated kubelet does once containers stopped: delete with grace 0.
    sandbox.store.delete("pods", "default", name, {"gracePeriodSeconds": 0})
    assert not await exists(http, f"{PODS}/{name}")


async def test_a_fractional_grace_period_is_refused_not_rounded_to_a_force_delete(http: Http,
                                                                                 sandbox: Sandbox) -> None:
    name = unique("gp")
    await http.post(PODS, {"metadata": {"name": name}, "spec": {"nodeName": "node-1", "containers": [
        {"name": "c", "image": "b"}]}})
    r = await http.delete(f"{PODS}/{name}", {"gracePeriodSeconds": 0.2})  # an int64 in DeleteOptions
    assert r.status == 400 and "gracePeriodSeconds" in r.body["message"]
    pod = (await http.get(f"{PODS}/{name}")).body
    assert "deletionTimestamp" not in pod["metadata"], "nothing was deleted"
    sandbox.store.delete("pods", "default", name, {"gracePeriodSeconds": 0})


async def test_background_propagation_collects_dependents(http: Http) -> None:
    owner = (await http.post(JOBS, job(unique("bg")))).body
    dep = unique("dep")
    await http.post(PODS, owned_pod(dep, owner))
    r = await http.delete(f"{JOBS}/{owner['metadata']['name']}", {"propagationPolicy": "Background"})
    assert r.status == 200

    async def dep_gone() -> bool:
        return not await exists(http, f"{PODS}/{dep}")
    await wait_for(dep_gone)


async def test_foreground_propagation_deletes_dependents_first(http: Http, sandbox: Sandbox) -> None:
    owner = (await http.post(JOBS, job(unique("fg")))).body
    oname = owner["metadata"]["name"]
    deps = [unique("fgdep") for _ in range(2)]
    for d in deps:
        await http.post(PODS, owned_pod(d, owner))
    watcher = sandbox.store.watch("jobs.batch", "default", sandbox.store.resource_version)
    r = await http.delete(f"{JOBS}/{oname}", {"propagationPolicy": "Foreground"})
    assert "foregroundDeletion" in r.body["metadata"]["finalizers"]

    async def owner_gone() -> bool:
        return not await exists(http, f"{JOBS}/{oname}")
    await wait_for(owner_gone)
    for d in deps:
        assert not await exists(http, f"{PODS}/{d}")
    assert watcher.queue[0].type == "MODIFIED" and watcher.queue[-1].type == "DELETED"
    watcher.close()


async def test_job_delete_without_policy_orphans_pods(api: client.ApiClient, http: Http) -> None:
    owner = (await http.post(JOBS, job(unique("orph")))).body
    dep = unique("orphdep")
    await http.post(PODS, owned_pod(dep, owner))
    await client.BatchV1Api(api).delete_namespaced_job(owner["metadata"]["name"], "default")

    async def orphaned() -> bool:
        r = await http.get(f"{PODS}/{dep}")
        return r.status == 200 and not r.body["metadata"].get("ownerReferences") and not await exists(
            http, f"{JOBS}/{owner['metadata']['name']}")
    await wait_for(orphaned)


async def test_dependent_with_several_owners_loses_only_one_reference(http: Http) -> None:
    a = (await http.post(CM, {"metadata": {"name": unique("own-a")}})).body
    b = (await http.post(CM, {"metadata": {"name": unique("own-b")}})).body
    dep = owned_pod(unique("multi"), {**a, "apiVersion": "v1", "kind": "ConfigMap"}, block=False)
    dep["metadata"]["ownerReferences"].append({"apiVersion": "v1", "kind": "ConfigMap", "name": b["metadata"]["name"],
                                               "uid": b["metadata"]["uid"]})
    await http.post(PODS, dep)
    await http.delete(f"{CM}/{a['metadata']['name']}")

    async def one_ref() -> bool:
        r = await http.get(f"{PODS}/{dep['metadata']['name']}")
        return r.status == 200 and [o["uid"] for o in r.body["metadata"]["ownerReferences"]] == [b["metadata"]["uid"]]
    await wait_for(one_ref)


async def test_deletecollection_honours_selector_and_finalizers(http: Http) -> None:
    tag = unique("dc")
    await http.post(CM, {"metadata": {"name": f"{tag}-a", "labels": {"tag": tag}}})
    await http.post(CM, {"metadata": {"name": f"{tag}-b", "labels": {"tag": tag}, "finalizers": ["x.io/y"]}})
    await http.post(CM, {"metadata": {"name": f"{tag}-c"}})
    r = await http.delete(f"{CM}?labelSelector=tag={tag}")
    assert r.status == 200
    assert not await exists(http, f"{CM}/{tag}-a")
    held = await http.get(f"{CM}/{tag}-b")
    assert held.body["metadata"]["deletionTimestamp"]
    assert await exists(http, f"{CM}/{tag}-c")


async def test_namespace_deletion_empties_then_removes_it(http: Http) -> None:
    ns = unique("ns")
    assert (await http.post("/api/v1/namespaces", {"metadata": {"name": ns}})).status == 201
    await http.post(f"/api/v1/namespaces/{ns}/configmaps", {"metadata": {"name": "x"}})
    await http.post(f"/api/v1/namespaces/{ns}/configmaps", {"metadata": {"name": "held", "finalizers": ["x.io/y"]}})
    r = await http.delete(f"/api/v1/namespaces/{ns}")
    assert r.body["status"]["phase"] == "Terminating"
    blocked = await http.post(f"/api/v1/namespaces/{ns}/configmaps", {"metadata": {"name": "y"}})
    assert blocked.status == 403
    assert blocked.body["details"]["causes"][0]["reason"] == "NamespaceTerminating"

    async def only_held_left() -> bool:
        items = (await http.get(f"/api/v1/namespaces/{ns}/configmaps")).body["items"]
        return [i["metadata"]["name"] for i in items] == ["held"]
    await wait_for(only_held_left)
    assert await exists(http, f"/api/v1/namespaces/{ns}")
    await http.patch(f"/api/v1/namespaces/{ns}/configmaps/held", {"metadata": {"finalizers": None}})

    async def gone() -> bool:
        return not await exists(http, f"/api/v1/namespaces/{ns}")
    await wait_for(gone)


async def test_dry_run_delete_from_the_body_keeps_the_object(http: Http) -> None:
    name = unique("drydel")
    await http.post(CM, {"metadata": {"name": name}})
    r = await http.delete(f"{CM}/{name}", {"kind": "DeleteOptions", "apiVersion": "v1", "dryRun": ["All"]})
    assert r.status == 200
    assert await exists(http, f"{CM}/{name}")
