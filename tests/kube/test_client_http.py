"""The client over real HTTP against a scripted server: typed errors, which verbs are retried, Retry-After,
the QPS limit, kubeconfig credentials, and watch streams. (Cluster semantics are tested against the sandbox.)"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import orjson
import pytest
from aiohttp import web

from mpi_operator.kube.client import Client, load_configuration
from mpi_operator.kube.errors import AlreadyExists, Conflict, Invalid, NotFound, ServerError
from mpi_operator.kube.resource import CONFIGMAPS, ResourceType
from tests.kube.conftest import Scripted, status

MPIJOBS = ResourceType("kubeflow.org", "v2beta1", "mpijobs", True, "MPIJob")

async def test_api_errors_become_typed_exceptions(server: tuple[Scripted, str], client: Client) -> None:
    scripted, _ = server
    cms = client.resource(CONFIGMAPS)
    scripted.then(lambda: status(404, "NotFound", name="x", kind="configmaps"))
    with pytest.raises(NotFound) as nf:
        await cms.get("x", "default")
    assert nf.value.details["name"] == "x"
    scripted.then(lambda: status(409, "AlreadyExists"))
    with pytest.raises(AlreadyExists):
        await cms.create({"metadata": {"name": "x"}}, "default")
    scripted.then(lambda: status(409, "Conflict"))
    with pytest.raises(Conflict):
        await cms.update({"metadata": {"name": "x", "namespace": "default", "resourceVersion": "1"}})
    scripted.then(lambda: status(422, "Invalid", causes=[{"reason": "FieldValueRequired", "message": "Required",
                                                          "field": "spec.x"}]))
    with pytest.raises(Invalid) as inv:
        await cms.create({"metadata": {"name": "y"}}, "default")
    assert [(c.field, c.reason) for c in inv.value.causes] == [("spec.x", "FieldValueRequired")]
    scripted.then(*[lambda: web.Response(status=502, text="<html>bad gateway</html>")] * 2)
    async with await Client.connect(master=server[1], max_retries=1) as impatient:
        with pytest.raises(ServerError) as se:
            await impatient.resource(CONFIGMAPS).get("x", "default")
    assert se.value.code == 502 and "bad gateway" in se.value.message


async def test_reads_are_retried_on_5xx_until_success(server: tuple[Scripted, str], client: Client) -> None:
    scripted, _ = server
    scripted.then(lambda: status(500, "InternalError"), lambda: status(503, "ServiceUnavailable"))
    obj = await client.resource(CONFIGMAPS).get("x", "default")
    assert obj["metadata"]["name"] == "x"
    assert len(scripted.requests) == 3


async def test_429_waits_for_retry_after_even_for_unsafe_writes(server: tuple[Scripted, str],
                                                               client: Client) -> None:
    scripted, _ = server

    def throttled() -> web.Response:
        resp = status(429, "TooManyRequests")
        resp.headers["Retry-After"] = "1"
        return resp

    scripted.then(throttled)
    start = time.monotonic()
    await client.resource(CONFIGMAPS).create({"metadata": {"generateName": "x-"}}, "default")
    assert time.monotonic() - start >= 0.9
    assert len(scripted.requests) == 2


async def test_generate_name_creates_and_json_patches_are_not_retried_on_5xx(server: tuple[Scripted, str],
                                                                            client: Client) -> None:
    scripted, _ = server
    cms = client.resource(CONFIGMAPS)
    scripted.then(lambda: status(500, "InternalError"))
    with pytest.raises(ServerError):
        await cms.create({"metadata": {"generateName": "x-"}}, "default")
    scripted.then(lambda: status(500, "InternalError"))
    with pytest.raises(ServerError):
        await cms.patch("x", [{"op": "add", "path": "/data/a", "value": "1"}], "default", type="json")
    assert len(scripted.requests) == 2
    scripted.then(lambda: status(500, "InternalError"))
    await cms.create({"metadata": {"name": "fixed"}}, "default")  # named: a repeat cannot duplicate
    scripted.then(lambda: status(500, "InternalError"))
    await cms.patch("x", {"data": {"a": "1"}}, "default")  # merge patch: idempotent
    assert len(scripted.requests) == 6


async def test_patch_content_types_and_status_subresource(server: tuple[Scripted, str], client: Client) -> None:
    scripted, _ = server
    jobs = client.resource(MPIJOBS)
    await jobs.patch_status("pi", {"status": {}}, "default")
    await jobs.patch("pi", {"spec": {}}, "default", type="strategic")
    await jobs.update_status({"metadata": {"name": "pi", "namespace": "default", "resourceVersion": "3"}})
    await jobs.delete("pi", "default", propagation_policy="Foreground")
    (m1, p1, h1, _), (_, _, h2, _), (m3, p3, _, _), (m4, _, _, b4) = scripted.requests
    assert (m1, p1) == ("PATCH", "/apis/kubeflow.org/v2beta1/namespaces/default/mpijobs/pi/status")
    assert h1["Content-Type"] == "application/merge-patch+json"
    assert h2["Content-Type"] == "application/strategic-merge-patch+json"
    assert (m3, p3) == ("PUT", "/apis/kubeflow.org/v2beta1/namespaces/default/mpijobs/pi/status")
    assert m4 == "DELETE" and orjson.loads(b4)["propagationPolicy"] == "Foreground"


async def test_client_side_qps_limit_holds(server: tuple[Scripted, str]) -> None:
    _, url = server
    async with await Client.connect(master=url, qps=20, burst=2) as limited:
        start = time.monotonic()
        await asyncio.gather(*(limited.resource(CONFIGMAPS).get("x", "default") for _ in range(12)))
        elapsed = time.monotonic() - start
    assert elapsed >= (12 - 2) / 20 * 0.95


async def test_list_all_follows_continue_tokens(server: tuple[Scripted, str], client: Client) -> None:
    scripted, _ = server
    scripted.then(
        lambda: web.json_response({"kind": "ConfigMapList", "metadata": {"resourceVersion": "10", "continue": "t1"},
                                   "items": [{"metadata": {"name": "a", "namespace": "d"}}]}),
        lambda: web.json_response({"kind": "ConfigMapList", "metadata": {"resourceVersion": "10"},
                                   "items": [{"metadata": {"name": "b", "namespace": "d"}}]}))
    items, rv = await client.resource(CONFIGMAPS).list_all(page_size=1)
    assert rv == "10" and [i["metadata"]["name"] for i in items] == ["a", "b"]
    assert all(i["kind"] == "ConfigMap" and i["apiVersion"] == "v1" for i in items)
    assert "continue=t1" in scripted.requests[1][1] and "limit=1" in scripted.requests[1][1]


async def test_watch_reads_events_split_across_chunks_and_skips_bad_lines(server: tuple[Scripted, str],
                                                                        client: Client) -> None:
    scripted, _ = server

    async def stream(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "application/json"})
        await resp.prepare(request)
        data = (b'{"type":"ADDED","object":{"metadata":{"name":"a","resourceVersion":"2"}}}\n'
                b"not json\n"
                b'{"type":"BOOKMARK","object":{"metadata":{"resourceVersion":"5"}}}\n')
        for i in range(0, len(data), 7):
            await resp.write(data[i:i + 7])
        return resp

    scripted.answers.append(stream)
    events = [e async for e in client.resource(CONFIGMAPS).watch("default", resource_version="1")]
    assert [(e.type, e.resource_version) for e in events] == [("ADDED", "2"), ("BOOKMARK", "5")]
    query = scripted.requests[0][1]
    assert "watch=true" in query and "allowWatchBookmarks=true" in query and "resourceVersion=1" in query


async def test_kubeconfig_credentials_are_sent_and_master_overrides_server(server: tuple[Scripted, str],
                                                                          tmp_path: Path) -> None:
    scripted, url = server
    kubeconfig = tmp_path / "config"
    kubeconfig.write_text("""
apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "http://127.0.0.1:1"}}]
users: [{name: u, user: {token: sekrit-token}}]
contexts: [{name: ctx, context: {cluster: c, user: u}}]
current-context: ctx
""")
    cfg = await load_configuration(str(kubeconfig), master=url)
    async with Client(cfg) as c:
        await c.resource(CONFIGMAPS).get("x", "default")
    assert scripted.requests[0][2]["Authorization"] == "Bearer sekrit-token"


async def test_a_derived_client_has_its_own_limiter_and_session(server: tuple[Scripted, str]) -> None:
    _, url = server
    base = await Client.connect(master=url, qps=1, burst=1)
    async with base, base.derive(qps=1000, burst=1000, user_agent="leader-election") as derived:
        assert derived.limiter is not base.limiter and derived.host == base.host
        await base.resource(CONFIGMAPS).get("x", "default")  # spends the base client's only token
        start = time.monotonic()
        await asyncio.gather(*(derived.resource(CONFIGMAPS).get("x", "default") for _ in range(5)))
        assert time.monotonic() - start < 0.5
