"""Informer on a scripted stream: a connection cut mid-line loses nothing, the resume uses the last RV,
malformed lines are skipped, and an ERROR 410 event triggers a relist."""

from __future__ import annotations

from aiohttp import web

from mpi_operator.kube.client import Client
from mpi_operator.kube.informer import Informer
from mpi_operator.kube.ratelimit import Backoff
from mpi_operator.kube.resource import CONFIGMAPS
from tests.kube.conftest import Scripted, eventually, status


def event(type_: str, name: str, rv: str) -> bytes:
    return (b'{"type":"%s","object":{"metadata":{"name":"%s","namespace":"d","resourceVersion":"%s"}}}\n'
            % (type_.encode(), name.encode(), rv.encode()))


def listing(rv: str, *names: str) -> web.Response:
    return web.json_response({"kind": "ConfigMapList", "metadata": {"resourceVersion": rv},
                              "items": [{"metadata": {"name": n, "namespace": "d", "resourceVersion": rv}}
                                        for n in names]})


async def test_a_stream_cut_mid_line_resumes_from_the_last_complete_event(
        server: tuple[Scripted, str], client: Client) -> None:
    scripted, _ = server

    async def list_answer(request: web.Request) -> web.StreamResponse:
        return listing("10", "a")

    async def cut_mid_line(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "application/json"})
        await resp.prepare(request)
        await resp.write(event("ADDED", "b", "11") + b"garbage line\n" + event("ADDED", "c", "12")[:25])
        assert request.transport is not None
        request.transport.close()  # connection drops in the middle of the "c" event
        return resp

    async def resumed(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "application/json"})
        await resp.prepare(request)
        await resp.write(event("ADDED", "c", "12") + event("DELETED", "a", "13"))
        return resp

    scripted.answers += [list_answer, cut_mid_line, resumed]
    informer = Informer(client.resource(CONFIGMAPS), backoff=Backoff(base=0.01, cap=0.05))
    informer.start()
    try:
        await eventually(lambda: informer.resource_version == "13")
    finally:
        await informer.stop()
    assert sorted(informer.store.keys()) == ["d/b", "d/c"]
    watch_queries = [q for m, q, _, _ in scripted.requests if "watch=true" in q]
    assert "resourceVersion=10" in watch_queries[0]
    assert "resourceVersion=12" not in watch_queries[1] and "resourceVersion=11" in watch_queries[1]
    assert informer.relists == 0


async def test_an_error_410_event_relists(server: tuple[Scripted, str], client: Client) -> None:
    scripted, _ = server

    async def first_list(request: web.Request) -> web.StreamResponse:
        return listing("10", "a", "b")

    async def expired(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "application/json"})
        await resp.prepare(request)
        await resp.write(b'{"type":"ERROR","object":{"kind":"Status","apiVersion":"v1","status":"Failure",'
                         b'"code":410,"reason":"Expired","message":"too old resource version: 10 (20)"}}\n')
        return resp

    async def second_list(request: web.Request) -> web.StreamResponse:
        return listing("20", "b", "c")

    scripted.answers += [first_list, expired, second_list]
    informer = Informer(client.resource(CONFIGMAPS), backoff=Backoff(base=0.01, cap=0.05))
    deleted: list[str] = []
    informer.add_handler(on_delete=lambda o: deleted.append(o["metadata"]["name"]))
    informer.start()
    try:
        await eventually(lambda: informer.relists == 1)
    finally:
        await informer.stop()
    assert sorted(informer.store.keys()) == ["d/b", "d/c"]
    assert deleted == ["a"]
    lists = [q for m, q, _, _ in scripted.requests if "watch=true" not in q]
    assert len(lists) == 2


async def test_a_too_large_resource_version_makes_the_informer_relist(
        server: tuple[Scripted, str], client: Client) -> None:
    scripted, _ = server

    async def first_list(request: web.Request) -> web.StreamResponse:
        return listing("10", "a")

    async def too_large(request: web.Request) -> web.StreamResponse:
        return status(504, "Timeout", causes=[{"reason": "ResourceVersionTooLarge",
                                               "message": "Too large resource version"}], retryAfterSeconds=0)

    async def second_list(request: web.Request) -> web.StreamResponse:
        return listing("11", "a", "b")

    # The watch start is retried like a read, so every attempt must see the 504.
    scripted.answers += [first_list] + [too_large] * 6 + [second_list]
    informer = Informer(client.resource(CONFIGMAPS), backoff=Backoff(base=0.01, cap=0.05))
    informer.start()
    try:
        await eventually(lambda: informer.relists == 1)
    finally:
        await informer.stop()
    assert sorted(informer.store.keys()) == ["d/a", "d/b"]
