"""Built-in validation that catches badly built objects: pod specs (also inside Jobs), Secrets (checklist 7, 45)."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from tests.sandbox.conftest import Http, unique

pytestmark = pytest.mark.asyncio(loop_scope="module")

PODS = "/api/v1/namespaces/default/pods"
JOBS = "/apis/batch/v1/namespaces/default/jobs"


def pod_spec(**extra: Any) -> dict[str, Any]:
    return {"containers": [{"name": "main", "image": "busybox:1"}], **extra}


async def fields_of(http: Http, path: str, body: dict[str, Any]) -> set[str]:
    r = await http.post(path, body)
    assert r.status == 422, r.body
    return {c["field"] for c in r.body["details"]["causes"]}


async def test_volume_mount_must_name_a_volume(http: Http) -> None:
    spec = pod_spec(volumes=[{"name": "ssh", "secret": {"secretName": "s"}}])
    spec["containers"][0]["volumeMounts"] = [{"name": "ssh", "mountPath": "/root/.ssh"},
                                             {"name": "hostfile", "mountPath": "/etc/mpi"}]
    fields = await fields_of(http, PODS, {"metadata": {"name": unique("vm")}, "spec": spec})
    assert fields == {"spec.containers[0].volumeMounts[1].name"}


async def test_job_template_is_validated_like_a_pod(http: Http) -> None:
    spec = pod_spec(restartPolicy="Never", volumes=[{"name": "Bad_Name", "emptyDir": {}}])
    spec["containers"].append({"name": "main", "image": "x"})
    fields = await fields_of(http, JOBS, {"metadata": {"name": unique("jv")}, "spec": {"template": {"spec": spec}}})
    assert fields == {"spec.template.spec.volumes[0].name", "spec.template.spec.containers[1].name"}


async def test_ports_env_and_enums(http: Http) -> None:
    spec = pod_spec(dnsPolicy="Sometimes")
    spec["containers"][0]["ports"] = [{"containerPort": 70000}, {"containerPort": 22, "name": "Way-Too-Long-Name"}]
    spec["containers"][0]["env"] = [{"name": "A=B", "value": "1"}, {"name": "OK_NAME", "value": "2"}]
    fields = await fields_of(http, PODS, {"metadata": {"name": unique("pe")}, "spec": spec})
    assert fields == {"spec.containers[0].ports[0].containerPort", "spec.containers[0].ports[1].name",
                      "spec.containers[0].env[0].name", "spec.dnsPolicy"}


async def test_valid_pod_with_volumes_and_ports_is_accepted(http: Http) -> None:
    spec = pod_spec(hostname="worker-0", subdomain="job-worker",
                    volumes=[{"name": "ssh", "secret": {"secretName": "s"}}, {"name": "cfg", "configMap": {
                        "name": "c"}}])
    spec["containers"][0].update({"volumeMounts": [{"name": "ssh", "mountPath": "/root/.ssh"},
                                                   {"name": "cfg", "mountPath": "/etc/mpi"}],
                                  "ports": [{"containerPort": 22, "name": "ssh"}],
                                  "env": [{"name": "OMPI_MCA_orte_keep_fqdn_hostnames", "value": "true"}]})
    r = await http.post(PODS, {"metadata": {"name": unique("ok")}, "spec": spec})
    assert r.status == 201, r.body


async def test_secret_string_data_becomes_base64_data(http: Http) -> None:
    r = await http.post("/api/v1/namespaces/default/secrets", {"metadata": {"name": unique("sec")}, "type": "Opaque",
                                                                "stringData": {"id_rsa": "key"}})
    assert r.status == 201 and "stringData" not in r.body
    assert base64.b64decode(r.body["data"]["id_rsa"]) == b"key"
    bad = await http.post("/api/v1/namespaces/default/secrets", {"metadata": {"name": unique("sec")},
                                                                  "data": {"k": "not base64!"}})
    assert bad.status == 422


async def test_job_name_longer_than_a_label_value_is_rejected(http: Http) -> None:
    name = "j" * 64
    body = {"metadata": {"name": name}, "spec": {"template": {"spec": pod_spec(restartPolicy="Never")}}}
    assert "spec.template.metadata.labels" in await fields_of(http, JOBS, body)


async def test_service_ports_and_configmap_keys(http: Http) -> None:
    svc = "/api/v1/namespaces/default/services"
    assert await fields_of(http, svc, {"metadata": {"name": unique("svc")}, "spec": {"selector": {"a": "b"}}}) == {
        "spec.ports"}
    two = {"metadata": {"name": unique("svc")}, "spec": {"ports": [{"port": 80}, {"port": 0, "name": "x"}]}}
    assert await fields_of(http, svc, two) == {"spec.ports[0].name", "spec.ports[1].port"}
    headless = await http.post(svc, {"metadata": {"name": unique("svc")}, "spec": {"clusterIP": "None"}})
    assert headless.status == 201
    cm = {"metadata": {"name": unique("cm")}, "data": {"bad key": "x", "hostfile": "a slots=1"}}
    assert await fields_of(http, "/api/v1/namespaces/default/configmaps", cm) == {"data[bad key]"}


async def test_unknown_fields_of_builtins_are_dropped_and_reported(http: Http) -> None:
    body: dict[str, Any] = {"metadata": {"name": unique("unk"), "colour": "red"},
            "spec": {"containers": [{"name": "c", "image": "busybox:1", "imagePullPolicyy": "Always"}]}}
    r = await http.post(PODS, body)
    assert r.status == 201
    assert "colour" not in r.body["metadata"] and "imagePullPolicyy" not in r.body["spec"]["containers"][0]
    # RFC 7234 quoted-strings: the inner quotes are escaped, as kube-apiserver writes them.
    assert r'299 - "unknown field \"spec.containers[0].imagePullPolicyy\""' in r.headers.getall("Warning", [])
    body["metadata"]["name"] = unique("unk")
    strict = await http.post(f"{PODS}?fieldValidation=Strict", body)
    assert strict.status == 400 and 'unknown field "metadata.colour"' in strict.body["message"]
    status = await http.patch(f"{PODS}/{r.body['metadata']['name']}/status",
                              {"status": {"phase": "Pending", "mood": "happy"}})
    assert status.status == 200 and "mood" not in status.body["status"]


async def test_wrongly_typed_metadata_is_a_400_not_a_500(http: Http) -> None:
    for meta in ({"name": "x", "labels": ["a"]}, {"name": "x", "ownerReferences": ["uid"]}, {"name": 5}):
        r = await http.post("/api/v1/namespaces/default/configmaps", {"metadata": meta})
        assert r.status == 400 and r.body["reason"] == "BadRequest", (meta, r.body)
