"""Watch streams: initial state, resume, expiry, bookmarks, filters, timeouts, watch-list (contract §3.3)."""

from __future__ import annotations

import asyncio
import time

import orjson
import pytest
from kubernetes_asyncio import client, watch
from kubernetes_asyncio.client.exceptions import ApiException

from mpi_operator.sandbox import Sandbox
from tests.sandbox.conftest import Http, unique, wait_for

pytestmark = pytest.mark.asyncio(loop_scope="module")


def cm(name: str, **labels: str) -> dict[str, object]:
    return {"metadata": {"name": name, "labels": labels}}


async def test_watch_headers_arrive_before_any_event(http: Http, sandbox: Sandbox) -> None:
    ns = "kube-public"
    rv = sandbox.store.resource_version
    t0 = time.monotonic()
    async with http.session.get(f"{http.url}/api/v1/namespaces/{ns}/configmaps?watch=true&resourceVersion={rv}"
                                "&timeoutSeconds=5") as resp:
        assert time.monotonic() - t0 < 1.0
        assert resp.status == 200 and resp.headers["Content-Type"] == "application/json"
        assert resp.headers.get("Transfer-Encoding") == "chunked"
        assert resp.headers.get("Content-Encoding") is None


async def test_watch_without_rv_starts_with_added_then_live(http: Http) -> None:
    tag = unique("w")
    for i in range(3):
        await http.post("/api/v1/namespaces/default/configmaps", cm(f"{tag}-{i}", tag=tag))

    async def later() -> None:
        await asyncio.sleep(0.1)
        await http.post("/api/v1/namespaces/default/configmaps", cm(f"{tag}-live", tag=tag))
    task = asyncio.create_task(later())
    events, _ = await http.watch_lines(f"/api/v1/namespaces/default/configmaps?watch=1&labelSelector=tag={tag}", 4)
    await task
    assert [e["type"] for e in events] == ["ADDED"] * 4
    assert events[-1]["object"]["metadata"]["name"] == f"{tag}-live"
    assert all(e["object"]["kind"] == "ConfigMap" and e["object"]["apiVersion"] == "v1" for e in events)


async def test_watch_from_list_rv_gets_exactly_later_changes_in_order(http: Http) -> None:
    ns = "kube-system"
    name = unique("seq")
    listed = (await http.get(f"/api/v1/namespaces/{ns}/configmaps")).body
    rv = listed["metadata"]["resourceVersion"]
    created = (await http.post(f"/api/v1/namespaces/{ns}/configmaps", cm(name))).body
    await http.patch(f"/api/v1/namespaces/{ns}/configmaps/{name}", {"data": {"a": "1"}})
    deleted = await http.delete(f"/api/v1/namespaces/{ns}/configmaps/{name}")
    assert deleted.status == 200
    events, _ = await http.watch_lines(f"/api/v1/namespaces/{ns}/configmaps?watch=1&resourceVersion={rv}", 3)
    assert [e["type"] for e in events] == ["ADDED", "MODIFIED", "DELETED"]
    rvs = [int(e["object"]["metadata"]["resourceVersion"]) for e in events]
    assert rvs == sorted(rvs) and rvs[0] == int(created["metadata"]["resourceVersion"])
    # DELETED carries the last state, stamped with the deletion's own revision.
    assert events[2]["object"]["data"] == {"a": "1"} and rvs[2] > rvs[1]


async def test_label_filtered_watch_sees_enter_and_leave(http: Http, sandbox: Sandbox) -> None:
    name = unique("flt")
    path = "/api/v1/namespaces/default/configmaps"
    await http.post(path, cm(name, color="red"))
    rv = sandbox.store.resource_version
    await http.patch(f"{path}/{name}", {"metadata": {"labels": {"color": "blue"}}})
    await http.patch(f"{path}/{name}", {"data": {"x": "1"}})
    await http.patch(f"{path}/{name}", {"metadata": {"labels": {"color": "red"}}})
    events, _ = await http.watch_lines(f"{path}?watch=1&resourceVersion={rv}&labelSelector=color=blue", 3)
    assert [e["type"] for e in events] == ["ADDED", "MODIFIED", "DELETED"]
    assert events[2]["object"]["metadata"]["labels"]["color"] == "blue"


async def test_watch_from_expired_rv_is_200_then_410_error(http: Http, sandbox: Sandbox) -> None:
    old = sandbox.store.resource_version
    await http.post("/api/v1/namespaces/default/configmaps", cm(unique("exp")))
    sandbox.store.compact()
    events, resp = await http.watch_lines(f"/api/v1/namespaces/default/configmaps?watch=1&resourceVersion={old}", 2)
    assert resp.status == 200
    assert len(events) == 1 and events[0]["type"] == "ERROR"
    status = events[0]["object"]
    assert (status["kind"], status["code"], status["reason"]) == ("Status", 410, "Expired")
    assert status["message"].startswith("too old resource version")


async def test_bookmarks_carry_only_kind_apiversion_and_rv(http: Http) -> None:
    events, _ = await http.watch_lines(
        "/api/v1/namespaces/kube-public/pods?watch=1&allowWatchBookmarks=true&timeoutSeconds=3", 2, timeout=5)
    bookmarks = [e for e in events if e["type"] == "BOOKMARK"]
    assert bookmarks
    obj = bookmarks[0]["object"]
    assert set(obj) == {"kind", "apiVersion", "metadata"} and set(obj["metadata"]) == {"resourceVersion"}


async def test_timeout_seconds_ends_stream_cleanly(http: Http) -> None:
    t0 = time.monotonic()
    events, resp = await http.watch_lines("/api/v1/namespaces/kube-public/pods?watch=1&timeoutSeconds=1", 10)
    assert events == [] and resp.status == 200
    assert 0.9 <= time.monotonic() - t0 < 3


async def test_watch_list_ends_initial_events_with_annotated_bookmark(http: Http) -> None:
    tag = unique("wl")
    for i in range(2):
        await http.post("/api/v1/namespaces/default/configmaps", cm(f"{tag}-{i}", tag=tag))
    events, _ = await http.watch_lines(
        f"/api/v1/namespaces/default/configmaps?watch=1&sendInitialEvents=true&allowWatchBookmarks=true"
        f"&resourceVersionMatch=NotOlderThan&labelSelector=tag={tag}", 3)
    assert [e["type"] for e in events] == ["ADDED", "ADDED", "BOOKMARK"]
    assert events[2]["object"]["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}
    bad = await http.get("/api/v1/namespaces/default/configmaps?watch=1&sendInitialEvents=true")
    assert bad.status == 422


async def test_watch_never_crosses_namespaces_or_resources(http: Http, sandbox: Sandbox) -> None:
    rv = sandbox.store.resource_version
    await http.post("/api/v1/namespaces/kube-system/configmaps", cm(unique("other")))
    await http.post("/api/v1/namespaces/default/secrets", cm(unique("sec")))
    mine = (await http.post("/api/v1/namespaces/default/configmaps", cm(unique("mine")))).body
    events, _ = await http.watch_lines(f"/api/v1/namespaces/default/configmaps?watch=1&resourceVersion={rv}", 1)
    assert events[0]["object"]["metadata"]["uid"] == mine["metadata"]["uid"]


async def test_slow_watcher_is_closed_not_blocking_writers(sandbox: Sandbox) -> None:
    w = sandbox.store.watch("configmaps", "default", sandbox.store.resource_version, queue_size=5)
    for i in range(20):
        sandbox.store.create("configmaps", "default", {"metadata": {"name": unique(f"slow{i}")}})
    assert w.overflowed
    got = [ev async for ev in w]
    assert got == []


async def test_kubernetes_asyncio_watch_relists_after_410(api: client.ApiClient, http: Http,
                                                           sandbox: Sandbox) -> None:
    core = client.CoreV1Api(api)
    listed = await core.list_namespaced_config_map("default")
    old_rv = listed.metadata.resource_version
    name = unique("kw")
    await http.post("/api/v1/namespaces/default/configmaps", cm(name))
    sandbox.store.compact()
    w = watch.Watch()
    with pytest.raises(ApiException) as exc:
        async for _ in w.stream(core.list_namespaced_config_map, "default", resource_version=old_rv,
                                timeout_seconds=2):
            pass
    assert exc.value.status == 410
    relisted = await core.list_namespaced_config_map("default")
    assert name in {i.metadata.name for i in relisted.items}
    seen = []
    w2 = watch.Watch()
    after = relisted.metadata.resource_version
    await http.post("/api/v1/namespaces/default/configmaps", cm(name + "-2"))
    async for ev in w2.stream(core.list_namespaced_config_map, "default", resource_version=after,
                              timeout_seconds=2):
        seen.append((ev["type"], ev["object"].metadata.name))
        if len(seen) == 1:
            w2.stop()
    assert seen == [("ADDED", name + "-2")]


async def test_watch_lines_are_single_json_documents(http: Http, sandbox: Sandbox) -> None:
    rv = sandbox.store.resource_version
    await http.post("/api/v1/namespaces/default/configmaps", {"metadata": {"name": unique("line")},
                                                               "data": {"multi": "a\nb"}})
    async with http.session.get(f"{http.url}/api/v1/namespaces/default/configmaps?watch=1&resourceVersion={rv}"
                                "&timeoutSeconds=1") as resp:
        raw = await resp.read()
    lines = raw.split(b"\n")
    assert lines[-1] == b"" and all(lines[:-1])
    assert all(orjson.loads(line)["type"] for line in lines[:-1])


async def test_resuming_from_a_bookmark_misses_nothing(http: Http) -> None:
    ns = "kube-node-lease"
    events, _ = await http.watch_lines(f"/api/v1/namespaces/{ns}/configmaps?watch=1&allowWatchBookmarks=true"
                                       "&timeoutSeconds=2", 1, timeout=5)
    assert events[0]["type"] == "BOOKMARK"
    rv = events[0]["object"]["metadata"]["resourceVersion"]
    name = unique("after-bm")
    await http.post(f"/api/v1/namespaces/{ns}/configmaps", cm(name))
    resumed, _ = await http.watch_lines(f"/api/v1/namespaces/{ns}/configmaps?watch=1&resourceVersion={rv}", 1)
    assert resumed[0]["type"] == "ADDED" and resumed[0]["object"]["metadata"]["name"] == name


async def test_idle_watch_of_a_departed_client_is_released(http: Http, sandbox: Sandbox) -> None:
    sandbox.server.disconnect_check = 0.1
    try:
        before = sandbox.store.watch_count("serviceaccounts")
        resp = await http.session.get(f"{http.url}/api/v1/namespaces/default/serviceaccounts?watch=1")
        assert resp.status == 200
        await wait_for(lambda: sandbox.store.watch_count("serviceaccounts") == before + 1)
        resp.close()  # drops the connection without reading the (idle) stream
        await wait_for(lambda: sandbox.store.watch_count("serviceaccounts") == before)
    finally:
        sandbox.server.disconnect_check = 5.0
