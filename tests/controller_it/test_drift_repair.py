"""Children edited or deleted behind the controller's back are put right: the Service's selector and
publishNotReadyAddresses, the ConfigMap's data, the Secret's key set (keys regenerated only when the set is
wrong), and deleted children are created again."""

from __future__ import annotations

import base64

import pytest
import pytest_asyncio

from tests.controller_it.cluster import JOBS, live
from tests.controller_it.conftest import MPIJOBS, Env, example

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def ns(env: Env) -> str:
    """One converged job shared by these tests: each one drifts a child and waits for the repair."""
    namespace = env.namespace()
    env.create(MPIJOBS, namespace, example("pi.yaml"))
    await env.eventually(lambda: env.get(JOBS, namespace, "pi-launcher"), what="launcher Job")
    await env.settled()
    return namespace


async def test_service_spec_drift_is_repaired(env: Env, ns: str) -> None:
    service = env.get("services", ns, "pi")
    assert service is not None
    wanted = service["spec"]["selector"]
    env.patch("services", ns, "pi", "merge", {"spec": {"selector": {"extra": "x"},
                                                                "publishNotReadyAddresses": True}})
    await env.eventually(lambda: (s := env.get("services", ns, "pi")) and s["spec"]["selector"] == wanted
                         and not s["spec"].get("publishNotReadyAddresses"), what="Service repaired")


async def test_configmap_data_drift_is_repaired(env: Env, ns: str) -> None:
    cm = env.get("configmaps", ns, "pi-config")
    assert cm is not None
    wanted = cm["data"]
    env.patch("configmaps", ns, "pi-config", "merge", {"data": {"hostfile": "evil\n", "extra": "x"}})
    await env.eventually(lambda: (env.get("configmaps", ns, "pi-config") or {}).get("data") == wanted,
                         what="ConfigMap repaired")


async def test_secret_keys_are_regenerated_only_when_the_key_set_is_wrong(env: Env, ns: str) -> None:
    env.patch("secrets", ns, "pi-ssh", "merge", {"data": {"ssh-publickey": base64.b64encode(
        b"ecdsa-sha2-nistp521 AAAA\n").decode()}})
    await env.settled()
    secret = env.get("secrets", ns, "pi-ssh")
    assert secret is not None
    assert base64.b64decode(secret["data"]["ssh-publickey"]) == b"ecdsa-sha2-nistp521 AAAA\n"  # keys not compared

    env.patch("secrets", ns, "pi-ssh", "merge", {"data": {"ssh-publickey": None, "other": "eA=="}})
    regenerated = await env.eventually(
        lambda: (s := env.get("secrets", ns, "pi-ssh")) and sorted(s["data"]) == ["ssh-privatekey", "ssh-publickey"]
        and s, what="Secret regenerated")
    assert base64.b64decode(regenerated["data"]["ssh-publickey"]).startswith(b"ecdsa-sha2-nistp521 ")
    assert base64.b64decode(regenerated["data"]["ssh-publickey"]) != b"ecdsa-sha2-nistp521 AAAA\n"


@pytest.mark.parametrize(("resource", "name"), [("services", "pi"), ("configmaps", "pi-config"),
                                                ("secrets", "pi-ssh"), ("pods", "pi-worker-1")])
async def test_deleted_child_is_created_again(env: Env, ns: str, resource: str, name: str) -> None:
    before = env.get(resource, ns, name)
    assert before is not None
    env.delete(resource, ns, name, {"gracePeriodSeconds": 0})
    old_uid = before["metadata"]["uid"]
    await env.eventually(lambda: (o := env.get(resource, ns, name)) and o["metadata"]["uid"] != old_uid,
                         what=f"{resource}/{name} recreated")
    if resource == "pods":
        assert live(env, ns, name)
