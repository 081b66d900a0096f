"""Create, get, list, update and status semantics (contract §2, §3.1-3.5, §5; checklist 6-12, 17-23)."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest
from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from mpi_operator.sandbox import Sandbox
from tests.sandbox.conftest import Http, unique

pytestmark = pytest.mark.asyncio(loop_scope="module")

CM = "/api/v1/namespaces/default/configmaps"
PODS = "/api/v1/namespaces/default/pods"
JOBS = "/apis/batch/v1/namespaces/default/jobs"
MPIJOBS = "/apis/kubeflow.org/v2beta1/namespaces/default/mpijobs"


def pod(name: str, **labels: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": labels},
            "spec": {"containers": [{"name": "c", "image": "busybox:1.36"}]}}


def job(name: str) -> dict[str, Any]:
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name},
            "spec": {"template": {"spec": {"restartPolicy": "Never",
                                           "containers": [{"name": "c", "image": "busybox:1.36"}]}}}}


def mpijob(name: str) -> dict[str, Any]:
    return {"apiVersion": "kubeflow.org/v2beta1", "kind": "MPIJob", "metadata": {"name": name},
            "spec": {"slotsPerWorker": 1, "mpiReplicaSpecs": {"Launcher": {"replicas": 1, "template": {"spec": {
                "containers": [{"name": "l", "image": "mpi:1"}]}}}}}}


async def test_create_sets_server_fields(http: Http, sandbox: Sandbox) -> None:
    before = int(sandbox.store.resource_version)
    r = await http.post(MPIJOBS, mpijob(unique("mj")))
    assert r.status == 201
    meta = r.body["metadata"]
    assert re.fullmatch(r"[0-9a-f-]{36}", meta["uid"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", meta["creationTimestamp"])
    assert isinstance(meta["resourceVersion"], str) and int(meta["resourceVersion"]) == before + 1
    assert meta["generation"] == 1
    j = await http.post(JOBS, job(unique("job")))
    assert j.status == 201 and j.body["metadata"]["generation"] == 1
    cm = await http.post(CM, {"metadata": {"name": unique("cm")}, "data": {"a": "b"}})
    assert cm.status == 201 and "generation" not in cm.body["metadata"]
    assert cm.body["kind"] == "ConfigMap" and cm.body["apiVersion"] == "v1"


async def test_generate_name_uses_the_kubernetes_alphabet(http: Http) -> None:
    r = await http.post(CM, {"metadata": {"generateName": "gen-"}})
    assert r.status == 201
    assert re.fullmatch(r"gen-[bcdfghjklmnpqrstvwxz2456789]{5}", r.body["metadata"]["name"])


async def test_invalid_names_are_422_with_causes(http: Http) -> None:
    r = await http.post(CM, {"metadata": {"name": "Not_Valid"}})
    assert r.status == 422 and r.body["reason"] == "Invalid"
    assert r.body["details"]["causes"][0]["field"] == "metadata.name"
    r = await http.post(CM, {"metadata": {}})
    assert r.status == 422 and "name or generateName is required" in r.body["message"]


async def test_create_existing_is_409_already_exists(http: Http) -> None:
    name = unique("dup")
    assert (await http.post(JOBS, job(name))).status == 201
    r = await http.post(JOBS, job(name))
    assert r.status == 409 and r.body["reason"] == "AlreadyExists"
    assert r.body["message"] == f'jobs.batch "{name}" already exists'
    assert r.body["details"] == {"name": name, "group": "batch", "kind": "jobs"}


async def test_create_in_missing_namespace_is_404_and_mismatch_is_400(http: Http) -> None:
    r = await http.post("/api/v1/namespaces/nope/configmaps", {"metadata": {"name": "x"}})
    assert r.status == 404 and r.body["details"]["kind"] == "namespaces"
    r = await http.post(CM, {"metadata": {"name": "x", "namespace": "kube-system"}})
    assert r.status == 400 and r.body["reason"] == "BadRequest"


async def test_every_write_bumps_one_global_counter_and_noop_keeps_it(http: Http, sandbox: Sandbox) -> None:
    name = unique("cm")
    a = (await http.post(CM, {"metadata": {"name": name}, "data": {"k": "1"}})).body
    b = (await http.post(PODS, pod(unique("p")))).body
    assert int(b["metadata"]["resourceVersion"]) == int(a["metadata"]["resourceVersion"]) + 1
    watcher = sandbox.store.watch("configmaps", "default", sandbox.store.resource_version)
    same = await http.put(f"{CM}/{name}", a)
    assert same.status == 200 and same.body["metadata"]["resourceVersion"] == a["metadata"]["resourceVersion"]
    assert int(sandbox.store.resource_version) == int(b["metadata"]["resourceVersion"])
    assert not watcher.queue
    watcher.close()


async def test_stale_update_is_409_conflict(http: Http) -> None:
    name = unique("cm")
    v1 = (await http.post(CM, {"metadata": {"name": name}, "data": {"k": "1"}})).body
    v2 = (await http.put(f"{CM}/{name}", {**v1, "data": {"k": "2"}})).body
    assert v2["metadata"]["resourceVersion"] != v1["metadata"]["resourceVersion"]
    r = await http.put(f"{CM}/{name}", {**v1, "data": {"k": "3"}})
    assert r.status == 409 and r.body["reason"] == "Conflict"
    assert r.body["message"] == (f'Operation cannot be fulfilled on configmaps "{name}": the object has been '
                                 "modified; please apply your changes to the latest version and try again")


async def test_put_without_rv_allowed_for_pods_refused_for_mpijobs(http: Http) -> None:
    name = unique("p")
    created = (await http.post(PODS, pod(name))).body
    body = {**created, "metadata": {k: v for k, v in created["metadata"].items() if k != "resourceVersion"}}
    body["metadata"]["labels"] = {"x": "y"}
    assert (await http.put(f"{PODS}/{name}", body)).status == 200
    mj = (await http.post(MPIJOBS, mpijob(unique("mj")))).body
    mj["metadata"].pop("resourceVersion")
    r = await http.put(f"{MPIJOBS}/{mj['metadata']['name']}", mj)
    assert r.status == 422 and "must be specified for an update" in r.body["message"]


async def test_status_subresource_rules_for_mpijobs(http: Http) -> None:
    name = unique("mj")
    created = (await http.post(MPIJOBS, {**mpijob(name), "status": {"conditions": [{"type": "X"}]}})).body
    assert "status" not in created or not created["status"]
    body = {**created, "status": {"replicaStatuses": {"Launcher": {"active": 1}}}}
    main = (await http.put(f"{MPIJOBS}/{name}", body)).body
    assert not main.get("status")
    assert main["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]
    status = await http.put(f"{MPIJOBS}/{name}/status", {**body, "spec": {"slotsPerWorker": 9}})
    assert status.status == 200
    assert status.body["status"] == {"replicaStatuses": {"Launcher": {"active": 1}}}
    assert status.body["spec"]["slotsPerWorker"] == 1 and status.body["metadata"]["generation"] == 1
    patched = await http.patch(f"{MPIJOBS}/{name}/status", {"status": {"startTime": "2026-01-01T00:00:00Z"}})
    assert patched.status == 200 and patched.body["metadata"]["generation"] == 1


async def test_generation_bumps_on_spec_change_only(http: Http) -> None:
    name = unique("mj")
    await http.post(MPIJOBS, mpijob(name))
    labelled = (await http.patch(f"{MPIJOBS}/{name}", {"metadata": {"labels": {"a": "b"}}})).body
    assert labelled["metadata"]["generation"] == 1
    spec = (await http.patch(f"{MPIJOBS}/{name}", {"spec": {"slotsPerWorker": 2}})).body
    assert spec["metadata"]["generation"] == 2
    jname = unique("job")
    await http.post(JOBS, job(jname))
    j = (await http.patch(f"{JOBS}/{jname}", {"spec": {"suspend": True}})).body
    assert j["metadata"]["generation"] == 2
    j = (await http.patch(f"{JOBS}/{jname}/status", {"status": {"active": 1}})).body
    assert j["metadata"]["generation"] == 2 and j["status"]["active"] == 1


async def test_get_missing_is_404_with_resource_kind(http: Http) -> None:
    r = await http.get(f"{JOBS}/nope")
    assert r.status == 404
    assert r.body["message"] == 'jobs.batch "nope" not found'
    assert r.body["details"] == {"name": "nope", "group": "batch", "kind": "jobs"}
    for key in ("kind", "apiVersion", "status", "message", "reason", "code"):
        assert key in r.body


async def test_list_shape_and_resource_version(http: Http, sandbox: Sandbox) -> None:
    empty = await http.get("/api/v1/namespaces/kube-public/secrets")
    assert empty.body["items"] == [] and empty.body["kind"] == "SecretList"
    assert empty.body["metadata"]["resourceVersion"] == sandbox.store.resource_version
    pods = (await http.get(PODS)).body
    assert pods["items"] and all("kind" not in i and "apiVersion" not in i for i in pods["items"])
    mj = (await http.get(MPIJOBS)).body
    assert mj["items"] and all(i["kind"] == "MPIJob" for i in mj["items"])
    missing_ns = await http.get("/api/v1/namespaces/nope/pods")
    assert missing_ns.status == 200 and missing_ns.body["items"] == []


async def test_list_pages_at_one_snapshot(http: Http) -> None:
    for _ in range(5):
        await http.post("/api/v1/namespaces/kube-system/configmaps", {"metadata": {"generateName": "page-"}})
    first = (await http.get("/api/v1/namespaces/kube-system/configmaps?limit=2")).body
    assert len(first["items"]) == 2 and first["metadata"]["continue"]
    await http.post("/api/v1/namespaces/kube-system/configmaps", {"metadata": {"generateName": "page-"}})
    names = [i["metadata"]["name"] for i in first["items"]]
    token = first["metadata"]["continue"]
    while token:
        page = (await http.get(f"/api/v1/namespaces/kube-system/configmaps?limit=2&continue={token}")).body
        assert page["metadata"]["resourceVersion"] == first["metadata"]["resourceVersion"]
        names += [i["metadata"]["name"] for i in page["items"]]
        token = page["metadata"].get("continue")
    assert len(names) == len(set(names)) == 5
    bad = await http.get("/api/v1/namespaces/kube-system/configmaps?limit=2&continue=eyJrIjoieCIsIm8iOjJ9")
    assert bad.status == 410 and bad.body["reason"] == "Expired"


async def test_resource_version_match_misuse_is_422(http: Http) -> None:
    for query in ("resourceVersionMatch=Exact&resourceVersion=0", "resourceVersionMatch=NotOlderThan",
                  "resourceVersionMatch=Exact&resourceVersion=1&continue=abc"):
        r = await http.get(f"{PODS}?{query}")
        assert r.status == 422, query
        assert r.body["details"]["kind"] == "ListOptions" and r.body["details"]["group"] == "meta.k8s.io"


async def test_label_and_field_selectors(http: Http) -> None:
    tag = unique("t")
    for name, tier in (("sel-a", "web"), ("sel-b", "db"), ("sel-c", "")):
        labels = {"tag": tag, **({"tier": tier} if tier else {})}
        await http.post(PODS, pod(f"{name}-{tag}", **labels))

    async def names(selector: str) -> set[str]:
        r = await http.get(f"{PODS}?labelSelector={selector}")
        assert r.status == 200, r.body
        return {i["metadata"]["name"].rsplit("-", 2)[0] for i in r.body["items"]}
    assert await names(f"tag={tag},tier=web") == {"sel-a"}
    assert await names(f"tag=={tag},tier!=web") == {"sel-b", "sel-c"}
    assert await names(f"tag={tag},tier in (web,db)") == {"sel-a", "sel-b"}
    assert await names(f"tag={tag},tier notin (web)") == {"sel-b", "sel-c"}
    assert await names(f"tag={tag},tier") == {"sel-a", "sel-b"}
    assert await names(f"tag={tag},!tier") == {"sel-c"}
    assert (await http.get(f"{PODS}?labelSelector=a%20in%20(")).status == 400
    by_name = await http.get(f"{PODS}?fieldSelector=metadata.name=sel-a-{tag}")
    assert [i["metadata"]["name"] for i in by_name.body["items"]] == [f"sel-a-{tag}"]
    phase = await http.get(f"{PODS}?fieldSelector=status.phase=Pending&labelSelector=tag={tag}")
    assert len(phase.body["items"]) == 3
    bad = await http.get(f"{PODS}?fieldSelector=spec.nope=1")
    assert bad.status == 400
    bad = await http.get(f"{MPIJOBS}?fieldSelector=spec.nope=1")
    assert bad.status == 400 and "not a known field selector" in bad.body["message"]


async def test_concurrent_conflicting_writes_one_wins(http: Http) -> None:
    name = unique("cm")
    v1 = (await http.post(CM, {"metadata": {"name": name}})).body
    results = await asyncio.gather(*(http.put(f"{CM}/{name}", {**v1, "data": {"w": str(i)}}) for i in range(5)))
    assert sorted(r.status for r in results) == [200, 409, 409, 409, 409]


async def test_kubernetes_asyncio_typed_calls(api: client.ApiClient) -> None:
    core = client.CoreV1Api(api)
    pods = await core.list_namespaced_pod("kube-public")
    assert pods.items == []
    name = unique("typed")
    created = await core.create_namespaced_config_map("default", client.V1ConfigMap(
        metadata=client.V1ObjectMeta(name=name), data={"a": "1"}))
    assert created.metadata.uid
    with pytest.raises(ApiException) as exc:
        await core.create_namespaced_config_map("default", client.V1ConfigMap(metadata=client.V1ObjectMeta(
            name=name)))
    assert exc.value.status == 409
    jobs = client.BatchV1Api(api)
    j = await jobs.create_namespaced_job("default", client.V1Job(
        metadata=client.V1ObjectMeta(name=unique("tj")),
        spec=client.V1JobSpec(template=client.V1PodTemplateSpec(spec=client.V1PodSpec(
            restart_policy="Never", containers=[client.V1Container(name="c", image="busybox")])))))
    labels = j.spec.template.metadata.labels
    assert labels["batch.kubernetes.io/job-name"] == j.metadata.name
    assert labels["batch.kubernetes.io/controller-uid"] == j.metadata.uid
    assert j.spec.selector.match_labels == {"batch.kubernetes.io/controller-uid": j.metadata.uid}
    custom = client.CustomObjectsApi(api)
    mj = await custom.create_namespaced_custom_object("kubeflow.org", "v2beta1", "default", "mpijobs",
                                                      mpijob(unique("tmj")))
    listed = await custom.list_namespaced_custom_object("kubeflow.org", "v2beta1", "default", "mpijobs")
    assert mj["metadata"]["name"] in {i["metadata"]["name"] for i in listed["items"]}


async def test_job_restart_policy_always_is_422(http: Http) -> None:
    body = job(unique("bad"))
    body["spec"]["template"]["spec"]["restartPolicy"] = "Always"
    r = await http.post(JOBS, body)
    assert r.status == 422
    assert r.body["details"]["causes"][0]["field"] == "spec.template.spec.restartPolicy"


async def test_only_unsupported_accept_is_406(http: Http) -> None:
    r = await http.get(PODS, headers={"Accept": "application/vnd.kubernetes.protobuf"})
    assert r.status == 406 and r.body["reason"] == "NotAcceptable"
    r = await http.get(PODS, headers={"Accept": "application/vnd.kubernetes.protobuf,application/json"})
    assert r.status == 200 and r.headers["Content-Type"].startswith("application/json")


async def test_core_event_message_limit(http: Http) -> None:
    ev = {"metadata": {"name": unique("ev")}, "involvedObject": {"kind": "Pod", "name": "x", "namespace": "default"},
          "reason": "Test", "message": "x" * 1025, "type": "Normal"}
    r = await http.post("/api/v1/namespaces/default/events", ev)
    assert r.status == 422
    ev["message"] = "fine"
    assert (await http.post("/api/v1/namespaces/default/events", ev)).status == 201


async def test_job_template_is_immutable_unless_suspended_and_never_started(http: Http) -> None:
    name = unique("tmpl")
    body = job(name)
    body["spec"]["suspend"] = True
    created = (await http.post(JOBS, body)).body
    ok = await http.patch(f"{JOBS}/{name}", {"spec": {"template": {"spec": {"nodeSelector": {"a": "b"}}}}})
    assert ok.status == 200, ok.body
    bad = await http.patch(f"{JOBS}/{name}", {"spec": {"template": {"spec": {"activeDeadlineSeconds": 5}}}})
    assert bad.status == 422 and bad.body["details"]["causes"][0]["field"] == "spec.template"
    await http.patch(f"{JOBS}/{name}/status", {"status": {"startTime": "2026-01-01T00:00:00Z"}})
    started = await http.patch(f"{JOBS}/{name}", {"spec": {"template": {"spec": {"nodeSelector": {"a": "c"}}}}})
    assert started.status == 422
    assert created["metadata"]["uid"]


async def test_job_status_terminal_conditions_cannot_be_undone(http: Http) -> None:
    name = unique("term")
    await http.post(JOBS, job(name))
    done = {"type": "Complete", "status": "True", "lastTransitionTime": "2026-01-01T00:00:00Z"}
    r = await http.patch(f"{JOBS}/{name}/status", {"status": {"conditions": [done],
                                                             "completionTime": "2026-01-01T00:00:00Z"}})
    assert r.status == 200, r.body
    r = await http.patch(f"{JOBS}/{name}/status", {"status": {"conditions": None}})
    assert r.status == 422


async def test_dry_run_persists_nothing(http: Http, sandbox: Sandbox) -> None:
    before = sandbox.store.resource_version
    name = unique("dry")
    r = await http.post(f"{CM}?dryRun=All", {"metadata": {"name": name}})
    assert r.status == 201 and r.body["metadata"]["name"] == name
    assert (await http.get(f"{CM}/{name}")).status == 404
    assert sandbox.store.resource_version == before
