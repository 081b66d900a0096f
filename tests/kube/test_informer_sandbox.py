"""Informer against the sandbox: list+watch follows the server; bookmarks, cut streams and 410 are survived."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from mpi_operator.kube.client import Client
from mpi_operator.kube.informer import Informer
from mpi_operator.kube.meta import object_key
from mpi_operator.kube.resource import CONFIGMAPS, Resource
from mpi_operator.sandbox import Sandbox
from tests.kube.conftest import eventually, unique


class Recorder:
    def __init__(self, informer: Informer) -> None:
        self.calls: list[tuple[str, str]] = []
        informer.add_handler(on_add=lambda o: self.calls.append(("add", object_key(o))),
                             on_update=lambda old, new: self.calls.append(("update", object_key(new))),
                             on_delete=lambda o: self.calls.append(("delete", object_key(o))))

    def of(self, kind: str) -> set[str]:
        return {key for k, key in self.calls if k == kind}


def cm(name: str, **labels: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "labels": labels},
            "data": {"v": "1"}}


async def server_keys(cms: Resource, namespace: str) -> set[str]:
    items, _ = await cms.list_all(namespace)
    return {object_key(i) for i in items}


@pytest.fixture
async def started(kube: Client) -> AsyncIterator[tuple[Informer, Recorder, Resource]]:
    cms = kube.resource(CONFIGMAPS)
    informer = Informer(cms, namespace="default", watch_timeout_seconds=30)
    recorder = Recorder(informer)
    informer.start()
    assert await informer.wait_for_sync(5)
    yield informer, recorder, cms
    await informer.stop()


async def test_list_then_watch_sees_creates_updates_and_deletes(
        started: tuple[Informer, Recorder, Resource]) -> None:
    informer, rec, cms = started
    name = unique("a")
    created = await cms.create(cm(name), "default")
    await eventually(lambda: ("add", f"default/{name}") in rec.calls)
    created["data"] = {"v": "2"}
    await cms.update(created)
    await eventually(lambda: (informer.store.get(f"default/{name}") or {}).get("data") == {"v": "2"})
    assert ("update", f"default/{name}") in rec.calls
    await cms.delete(name, "default")
    await eventually(lambda: f"default/{name}" not in informer.store)
    assert rec.calls[-1] == ("delete", f"default/{name}")


async def test_initial_list_reports_existing_objects_as_adds(kube: Client) -> None:
    cms = kube.resource(CONFIGMAPS)
    names = [unique("pre") for _ in range(3)]
    for n in names:
        await cms.create(cm(n), "default")
    informer = Informer(cms, namespace="default", page_size=2)
    rec = Recorder(informer)
    informer.start()
    try:
        assert await informer.wait_for_sync(5)
        assert {f"default/{n}" for n in names} <= rec.of("add")
        assert set(informer.store.keys()) == await server_keys(cms, "default")
    finally:
        await informer.stop()


async def test_bookmarks_advance_the_resource_version(
        started: tuple[Informer, Recorder, Resource], kube: Client) -> None:
    informer, rec, _ = started
    before = int(informer.resource_version)
    # Writes to another namespace bump the global counter but are invisible to this informer ...
    other = kube.resource(CONFIGMAPS)
    await other.create(cm(unique("elsewhere")), "kube-public")
    # ... so only a bookmark can move its resourceVersion past them.
    await eventually(lambda: int(informer.resource_version) > before, within=5)
    assert rec.calls == []


async def test_a_cut_watch_resumes_from_the_last_resource_version_without_relisting(
        sandbox: Sandbox, kube: Client) -> None:
    sandbox.faults.watch_cut_seconds = 0.1  # the server ends every watch stream after 0.1 s
    cms = kube.resource(CONFIGMAPS)
    informer = Informer(cms, namespace="default")
    rec = Recorder(informer)
    informer.start()
    try:
        assert await informer.wait_for_sync(5)
        names: list[str] = []
        for _ in range(5):
            names.append(unique("cut"))
            await cms.create(cm(names[-1]), "default")
            await eventually(lambda: f"default/{names[-1]}" in informer.store)
        await eventually(lambda: sandbox.requests.count(verb="watch", resource="configmaps") >= 3)
    finally:
        await informer.stop()
    assert sandbox.requests.count(verb="list", resource="configmaps") == 1
    assert informer.relists == 0
    assert rec.calls == [("add", f"default/{n}") for n in names]
    assert set(informer.store.keys()) == await server_keys(cms, "default")


async def test_410_relists_and_reports_objects_deleted_while_disconnected(
        sandbox: Sandbox, started: tuple[Informer, Recorder, Resource]) -> None:
    informer, rec, cms = started
    keep, gone, changed = unique("keep"), unique("gone"), unique("changed")
    for n in (keep, gone, changed):
        await cms.create(cm(n), "default")
    await eventually(lambda: len(informer.store) >= 3)
    await informer.stop()  # disconnected; the store and resourceVersion are kept
    rec.calls.clear()
    await cms.delete(gone, "default")
    obj = await cms.get(changed, "default")
    obj["data"] = {"v": "changed"}
    await cms.update(obj)
    new = unique("new")
    await cms.create(cm(new), "default")
    sandbox.faults.expire_watches = True  # the resumed watch gets 200 + ERROR 410 Expired
    informer.start()
    await eventually(lambda: informer.relists >= 1)
    sandbox.faults.expire_watches = False
    assert set(informer.store.keys()) == await server_keys(cms, "default")
    assert rec.of("delete") == {f"default/{gone}"}
    assert rec.of("add") == {f"default/{new}"}
    assert rec.of("update") == {f"default/{changed}"}
    assert (informer.store.get(f"default/{changed}") or {})["data"] == {"v": "changed"}
    assert f"default/{keep}" in informer.store


async def test_watch_from_a_resource_version_older_than_history_relists(
        sandbox: Sandbox, started: tuple[Informer, Recorder, Resource]) -> None:
    informer, rec, cms = started
    victim = unique("victim")
    await cms.create(cm(victim), "default")
    await eventually(lambda: f"default/{victim}" in informer.store)
    await informer.stop()
    rec.calls.clear()
    await cms.delete(victim, "default")
    sandbox.store.compact()  # the informer's resourceVersion is now older than the server's history
    informer.start()
    await eventually(lambda: informer.relists >= 1)
    assert rec.of("delete") == {f"default/{victim}"}
    assert set(informer.store.keys()) == await server_keys(cms, "default")


async def test_label_selector_scopes_the_cache(kube: Client) -> None:
    cms = kube.resource(CONFIGMAPS)
    informer = Informer(cms, namespace="default", label_selector="app=yes")
    informer.start()
    try:
        assert await informer.wait_for_sync(5)
        a, b = unique("sel"), unique("sel")
        await cms.create(cm(a, app="yes"), "default")
        await cms.create(cm(b, app="no"), "default")
        await eventually(lambda: f"default/{a}" in informer.store)
        obj = await cms.get(a, "default")
        obj["metadata"]["labels"] = {"app": "no"}
        await cms.update(obj)  # leaves the selection: arrives as DELETED
        await eventually(lambda: f"default/{a}" not in informer.store)
        assert f"default/{b}" not in informer.store
    finally:
        await informer.stop()


async def test_transform_and_field_selector_apply_to_listed_and_watched_objects(kube: Client) -> None:
    cms = kube.resource(CONFIGMAPS)
    wanted = unique("wanted")
    await cms.create(cm(wanted), "default")

    def drop_data(obj: dict[str, Any]) -> dict[str, Any]:
        obj.pop("data", None)
        return obj

    informer = Informer(cms, namespace="default", field_selector=f"metadata.name={wanted}", transform=drop_data)
    informer.start()
    try:
        assert await informer.wait_for_sync(5)
        await cms.create(cm(unique("other")), "default")
        obj = await cms.get(wanted, "default")
        obj["data"] = {"v": "2"}
        updated = await cms.update(obj)
        rv = updated["metadata"]["resourceVersion"]
        await eventually(lambda: (informer.store.get(f"default/{wanted}") or {}).get("metadata", {})
                         .get("resourceVersion") == rv)
        assert informer.store.keys() == [f"default/{wanted}"]
        assert all("data" not in o for o in informer.store.list())
    finally:
        await informer.stop()
