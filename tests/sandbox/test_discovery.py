"""Discovery, /version and OpenAPI: what kubectl and client-go read before anything else (contract §1)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mpi_operator.sandbox import Sandbox
from tests.sandbox.conftest import Http, kubectl

pytestmark = pytest.mark.asyncio(loop_scope="module")

AGGREGATED_ACCEPT = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json"


async def test_version_reports_1_37(http: Http) -> None:
    r = await http.get("/version")
    assert r.status == 200
    assert (r.body["major"], r.body["minor"]) == ("1", "37")
    assert r.body["gitVersion"].startswith("v1.37")


async def test_api_and_apis_answer_legacy_json_by_default(http: Http) -> None:
    api = await http.get("/api", headers={"Accept": "application/json"})
    assert api.status == 200 and api.headers["Content-Type"] == "application/json"
    assert api.body["versions"] == ["v1"]
    apis = await http.get("/apis")
    assert apis.status == 200
    groups = {g["name"]: g for g in apis.body["groups"]}
    for name in ("batch", "coordination.k8s.io", "events.k8s.io", "scheduling.k8s.io", "apiextensions.k8s.io",
                 "kubeflow.org"):
        assert name in groups
    assert groups["kubeflow.org"]["preferredVersion"]["version"] == "v2beta1"


async def test_aggregated_discovery_when_asked_with_the_exact_content_type(http: Http) -> None:
    api = await http.get("/api", headers={"Accept": AGGREGATED_ACCEPT})
    assert api.status == 200
    params = set(api.headers["Content-Type"].split(";"))
    assert params == {"application/json", "g=apidiscovery.k8s.io", "v=v2", "as=APIGroupDiscoveryList"}
    assert api.body["kind"] == "APIGroupDiscoveryList" and [i["metadata"]["name"] for i in api.body["items"]] == [""]
    pods = next(r for r in api.body["items"][0]["versions"][0]["resources"] if r["resource"] == "pods")
    assert pods["scope"] == "Namespaced" and pods["responseKind"]["kind"] == "Pod"
    assert {s["subresource"] for s in pods["subresources"]} >= {"status", "eviction"}
    apis = (await http.get("/apis", headers={"Accept": AGGREGATED_ACCEPT})).body
    mpi = next(i for i in apis["items"] if i["metadata"]["name"] == "kubeflow.org")
    assert mpi["versions"][0]["version"] == "v2beta1"
    assert mpi["versions"][0]["resources"][0]["resource"] == "mpijobs"


async def test_resource_lists_include_status_subresources(http: Http) -> None:
    core = (await http.get("/api/v1")).body
    by_name = {r["name"]: r for r in core["resources"]}
    pods = by_name["pods"]
    assert pods["namespaced"] and pods["kind"] == "Pod" and pods["singularName"] == "pod"
    assert "watch" in pods["verbs"] and "po" in pods["shortNames"]
    assert by_name["pods/status"]["verbs"] == ["get", "patch", "update"]
    assert by_name["namespaces"]["namespaced"] is False
    batch = {r["name"]: r for r in (await http.get("/apis/batch/v1")).body["resources"]}
    assert "jobs/status" in batch
    mpi = {r["name"]: r for r in (await http.get("/apis/kubeflow.org/v2beta1")).body["resources"]}
    assert mpi["mpijobs"]["kind"] == "MPIJob" and "mpijobs/status" in mpi


async def test_unknown_paths_are_status_404(http: Http) -> None:
    r = await http.get("/apis/nope.example.com/v1/widgets")
    assert r.status == 404 and r.body["kind"] == "Status" and r.body["reason"] == "NotFound"


async def test_openapi_v3_declares_field_validation_on_patch(http: Http) -> None:
    index = (await http.get("/openapi/v3")).body
    assert "api/v1" in index["paths"] and "apis/kubeflow.org/v2beta1" in index["paths"]
    doc = (await http.get(index["paths"]["apis/kubeflow.org/v2beta1"]["serverRelativeURL"])).body
    ops = [p["patch"] for p in doc["paths"].values() if "patch" in p]
    assert any(o["x-kubernetes-group-version-kind"]["kind"] == "MPIJob" and
               any(par["name"] == "fieldValidation" for par in o["parameters"]) for o in ops)


async def test_kubectl_version_and_api_resources(sandbox: Sandbox, kube_home: Path) -> None:
    code, out, err = await kubectl(sandbox, kube_home, "version")
    assert code == 0, err
    assert "Server Version: v1.37.0-sandbox" in out and "WARNING" not in err
    code, out, err = await kubectl(sandbox, kube_home, "api-resources")
    assert code == 0, err
    for resource in ("pods", "jobs", "leases", "events", "customresourcedefinitions", "mpijobs"):
        assert resource in out


async def test_installing_a_crd_serves_it_at_once(http: Http, sandbox: Sandbox) -> None:
    crd = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
           "metadata": {"name": "widgets.example.com"},
           "spec": {"group": "example.com", "scope": "Namespaced",
                    "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
                    "versions": [{"name": "v1", "served": True, "storage": True,
                                  "schema": {"openAPIV3Schema": {"type": "object",
                                                                 "x-kubernetes-preserve-unknown-fields": True}}}]}}
    r = await http.post("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd)
    assert r.status == 201, r.body
    conditions = {c["type"]: c["status"] for c in r.body["status"]["conditions"]}
    assert conditions == {"NamesAccepted": "True", "Established": "True"}
    assert r.body["status"]["acceptedNames"]["kind"] == "Widget"
    created = await http.post("/apis/example.com/v1/namespaces/default/widgets",
                              {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w1"}})
    assert created.status == 201
    code, out, err = await kubectl(sandbox, sandbox.kubeconfig_path.parent / "home", "get", "widgets")
    assert code == 0 and "w1" in out, err
    watcher = sandbox.store.watch("widgets.example.com", "default", sandbox.store.resource_version)
    deleted = await http.delete("/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.example.com")
    assert deleted.status == 200

    async def gone() -> bool:
        return (await http.get("/apis/example.com/v1")).status == 404
    from tests.sandbox.conftest import wait_for
    await wait_for(gone)
    assert watcher.closed and [e.type for e in watcher.queue] == ["DELETED"]


async def test_kubectl_applies_the_project_crd_then_serves_mpijobs(kube_home: Path) -> None:
    from mpi_operator.api.crd import crd_yaml

    async with Sandbox(install_mpijob_crd=False) as sb:
        code, out, err = await kubectl(sb, kube_home, "apply", "-f", "-", stdin=crd_yaml().encode())
        assert code == 0 and "created" in out, err
        crd = sb.store.get("customresourcedefinitions.apiextensions.k8s.io", None, "mpijobs.kubeflow.org")
        assert {c["type"] for c in crd["status"]["conditions"] if c["status"] == "True"} >= {
            "NamesAccepted", "Established"}
        code, out, err = await kubectl(sb, kube_home, "api-resources", "--api-group=kubeflow.org")
        assert code == 0 and "mpijobs" in out, err
