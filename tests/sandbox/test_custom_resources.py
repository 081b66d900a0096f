"""Custom resources against the MPIJob CRD: pruning, defaulting, schema and CEL validation (checklist 43-46)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.sandbox.conftest import Http, unique

pytestmark = pytest.mark.asyncio(loop_scope="module")

MPIJOBS = "/apis/kubeflow.org/v2beta1/namespaces/default/mpijobs"


def mpijob(name: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "kubeflow.org/v2beta1", "kind": "MPIJob", "metadata": {"name": name},
            "spec": {"mpiReplicaSpecs": {"Launcher": {"replicas": 1, "template": {"spec": {
                "containers": [{"name": "l", "image": "mpi:1"}]}}}}, **spec}}


async def test_schema_defaults_are_applied_on_create(http: Http) -> None:
    r = await http.post(MPIJOBS, mpijob(unique("def")))
    assert r.status == 201, r.body
    spec = r.body["spec"]
    assert spec["launcherCreationPolicy"] == "AtStartup" and spec["mpiImplementation"] == "OpenMPI"
    assert spec["slotsPerWorker"] == 1 and spec["sshAuthMountPath"] == "/root/.ssh"


async def test_unknown_fields_warn_by_default_ignore_silently_strict_fails(http: Http) -> None:
    body = mpijob(unique("unk"), bogus=1)
    warned = await http.post(MPIJOBS, body)
    assert warned.status == 201 and "bogus" not in warned.body["spec"]
    assert any("unknown field" in w and "spec.bogus" in w for w in warned.headers.getall("Warning", []))
    ignored = await http.post(f"{MPIJOBS}?fieldValidation=Ignore", mpijob(unique("unk"), bogus=1))
    assert ignored.status == 201 and "Warning" not in ignored.headers
    strict = await http.post(f"{MPIJOBS}?fieldValidation=Strict", mpijob(unique("unk"), bogus=1))
    assert strict.status == 400 and 'unknown field "spec.bogus"' in strict.body["message"]


async def test_schema_violations_are_422_with_field_causes(http: Http) -> None:
    r = await http.post(MPIJOBS, mpijob(unique("bad"), mpiImplementation="LAM", slotsPerWorker="many"))
    assert r.status == 422 and r.body["reason"] == "Invalid"
    fields = {c["field"] for c in r.body["details"]["causes"]}
    assert {"spec.mpiImplementation", "spec.slotsPerWorker"} <= fields
    assert r.body["details"]["kind"] == "MPIJob" and r.body["details"]["group"] == "kubeflow.org"


async def test_cel_transition_rule_is_enforced(http: Http) -> None:
    name = unique("cel")
    created = await http.post(MPIJOBS, mpijob(name, runPolicy={"managedBy": "kubeflow.org/mpi-operator"}))
    assert created.status == 201, created.body
    r = await http.patch(f"{MPIJOBS}/{name}", {"spec": {"runPolicy": {"managedBy": "kueue.x-k8s.io/multikueue"}}})
    assert r.status == 422 and "managedBy is immutable" in r.body["message"]


async def test_metadata_unknown_keys_are_pruned(http: Http) -> None:
    body = mpijob(unique("meta"))
    body["metadata"]["color"] = "red"
    r = await http.post(f"{MPIJOBS}?fieldValidation=Ignore", body)
    assert r.status == 201 and "color" not in r.body["metadata"]
