"""Fault injection at run time through /debug/faults, mid-line watch cuts, and eviction on demand (§9.5, item 74)."""

from __future__ import annotations

from typing import Any

import aiohttp
import orjson
import pytest
from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from mpi_operator.sandbox import Sandbox
from mpi_operator.sandbox.apiserver.faults import Faults
from mpi_operator.sandbox.cluster import Cluster
from tests.sandbox_sim.conftest import condition, pod_body, unique, until

pytestmark = pytest.mark.asyncio(loop_scope="module")
NS = "default"
SSHD = ["/usr/sbin/sshd", "-De"]


async def running_pod(sb: Sandbox) -> str:
    name = unique("victim")
    sb.store.create("pods", NS, pod_body(name, command=SSHD))
    await until(sb.store, lambda: condition(sb.store.find("pods", NS, name), "Ready"))
    return name


async def test_faults_are_read_and_replaced_through_the_debug_endpoint(sandbox: Sandbox,
                                                                      api: client.ApiClient) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.put(sandbox.url + "/debug/faults",
                            data="error=1,error_code=429,retry_after=2,verbs=create,resources=configmaps") as resp:
            assert resp.status == 200
            settings = orjson.loads(await resp.read())
        assert settings["error_rate"] == 1.0 and settings["verbs"] == ["create"]
        assert sandbox.faults.error_code == 429
        body: Any = {"metadata": {"name": unique("cm")}}
        with pytest.raises(ApiException) as err:
            await client.CoreV1Api(api).create_namespaced_config_map(NS, body)
        assert err.value.status == 429
        assert err.value.headers is not None and err.value.headers["Retry-After"] == "2"
        assert err.value.body is not None and orjson.loads(err.value.body)["reason"] == "TooManyRequests"
        async with http.put(sandbox.url + "/debug/faults", data="") as resp:
            assert resp.status == 200
        await client.CoreV1Api(api).create_namespaced_config_map(NS, body)
        async with http.put(sandbox.url + "/debug/faults", data="nonsense=1") as resp:
            assert resp.status == 400
            assert orjson.loads(await resp.read())["reason"] == "BadRequest"


async def test_watch_cut_midline_leaves_a_truncated_line(sandbox: Sandbox) -> None:
    sandbox.faults.replace("watch_cut=0.3,watch_cut_midline=1")
    try:
        received = b""
        watch = sandbox.url + "/api/v1/namespaces/default/configmaps?watch=true"
        async with aiohttp.ClientSession() as http, http.get(watch) as resp:
            with pytest.raises(aiohttp.ClientPayloadError):
                async for data in resp.content.iter_any():
                    received += data
        complete, _, partial = received.rpartition(b"\n")
        assert partial and complete  # whole events first, then half of one
        with pytest.raises(orjson.JSONDecodeError):
            orjson.loads(partial)
    finally:
        sandbox.faults.replace("")


async def test_fault_spec_accepts_midline_cuts() -> None:
    faults = Faults.parse("watch_cut=5,watch_cut_midline=1")
    assert faults.watch_cut_midline and faults.settings()["watch_cut_seconds"] == 5.0


async def test_debug_evict_is_a_node_pressure_eviction(sandbox: Sandbox, cluster: Cluster) -> None:
    name = await running_pod(sandbox)
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{sandbox.url}/debug/evict?namespace={NS}&name={name}") as resp:
            assert resp.status == 200
            pod = orjson.loads(await resp.read())
        async with http.post(f"{sandbox.url}/debug/evict?namespace={NS}&name=missing") as resp:
            assert resp.status == 404
    assert pod["status"]["phase"] == "Failed" and pod["status"]["reason"] == "Evicted"
    target = condition(pod, "DisruptionTarget")
    assert target is not None and target["reason"] == "TerminationByKubelet"
    terminated = pod["status"]["containerStatuses"][0]["state"]["terminated"]
    assert terminated["exitCode"] == 143  # killed with SIGTERM first, and the simulated container stops on it
    assert sandbox.store.find("pods", NS, name) is not None  # the kubelet does not delete evicted pods


async def test_eviction_api_marks_the_pod_then_deletes_it_gracefully(sandbox: Sandbox, cluster: Cluster,
                                                                    api: client.ApiClient) -> None:
    name = await running_pod(sandbox)
    seen: list[dict[str, Any]] = []
    unlisten = sandbox.store.listen(lambda ev: seen.append(ev.object) if ev.name == name else None)
    body: Any = {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": name, "namespace": NS}}
    await client.CoreV1Api(api).create_namespaced_pod_eviction(name, NS, body)
    await until(sandbox.store, lambda: sandbox.store.find("pods", NS, name) is None)
    unlisten()
    target = condition(seen[0], "DisruptionTarget")
    assert target is not None and target["reason"] == "EvictionByEvictionAPI"
    assert any(o["metadata"].get("deletionTimestamp") and o["status"]["phase"] == "Failed" for o in seen)
