"""Fixtures for runtime tests: a fresh sandbox API server and a real client of it; a scripted HTTP server
(exact answers, for client mechanics); helpers."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from mpi_operator.kube.client import Client
from mpi_operator.sandbox import Sandbox


def unique(prefix: str) -> str:
    return f"{prefix}-{os.urandom(3).hex()}"


async def eventually(predicate: Callable[[], Any], within: float = 5.0) -> Any:
    """Wait until `predicate()` is truthy, re-checking on every loop turn (no fixed sleeps in assertions)."""
    async with asyncio.timeout(within):
        while not (value := predicate()):  # noqa: ASYNC110 (state of other tasks; no event to wait on)
            await asyncio.sleep(0.01)
        return value


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def status(code: int, reason: str, **details: Any) -> web.Response:
    body = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "code": code,
            "reason": reason, "message": f"{reason} happened", "details": details}
    return web.json_response(body, status=code)


class Scripted:
    """A server whose answers are queued per test; every request is recorded."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, dict[str, str], bytes]] = []
        self.answers: list[Callable[[web.Request], Awaitable[web.StreamResponse]]] = []
        self.default: Handler = self._ok

    @staticmethod
    async def _ok(request: web.Request) -> web.StreamResponse:
        return web.json_response({"kind": "ConfigMap", "metadata": {"name": "x", "resourceVersion": "1"}})

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        self.requests.append((request.method, request.path_qs, dict(request.headers), body))
        handler = self.answers.pop(0) if self.answers else self.default
        return await handler(request)

    def then(self, *responses: Callable[[], web.StreamResponse]) -> None:
        for make in responses:
            async def answer(request: web.Request, make: Callable[[], web.StreamResponse] = make
                             ) -> web.StreamResponse:
                return make()
            self.answers.append(answer)


@pytest.fixture
async def server() -> AsyncIterator[tuple[Scripted, str]]:
    scripted = Scripted()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", scripted.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield scripted, f"http://127.0.0.1:{port}"
    await runner.cleanup()


@pytest.fixture
async def client(server: tuple[Scripted, str]) -> AsyncIterator[Client]:
    """A client of the scripted server, with no meaningful QPS limit."""
    async with await Client.connect(master=server[1], qps=1000, burst=1000) as c:
        yield c




@pytest.fixture
async def sandbox() -> AsyncIterator[Sandbox]:
    """A fresh sandbox API server per test (starts in milliseconds), bookmarks every 0.2 s."""
    async with Sandbox(port=0, bookmark_interval=0.2) as sb:
        yield sb


@pytest.fixture
async def kube(sandbox: Sandbox, tmp_path: Path) -> AsyncIterator[Client]:
    """A client of the sandbox configured the way the operator is: from a kubeconfig file."""
    path = sandbox.write_kubeconfig(tmp_path / "kubeconfig")
    async with await Client.connect(kubeconfig=str(path), qps=1000, burst=1000) as client:
        yield client
