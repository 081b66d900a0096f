"""Fixtures for the sandbox tests: one sandbox per test module, raw HTTP and kubernetes_asyncio clients, kubectl."""

from __future__ import annotations

import asyncio
import os
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
import pytest_asyncio
from kubernetes_asyncio import client, config

from mpi_operator.sandbox import Sandbox
from tests.conftest import REPO

KUBECTL = REPO / ".venv" / "bin" / "kubectl"


@dataclass
class Reply:
    status: int
    body: Any
    headers: Any


class Http:
    """A thin JSON client over aiohttp for checks on exact codes, headers and bodies."""

    def __init__(self, url: str, session: aiohttp.ClientSession) -> None:
        self.url = url
        self.session = session

    async def request(self, method: str, path: str, body: Any = None, content_type: str = "application/json",
                      headers: dict[str, str] | None = None, raw: bytes | None = None) -> Reply:
        data = raw if raw is not None else (orjson.dumps(body) if body is not None else None)
        hdrs = {"Content-Type": content_type, **(headers or {})}
        async with self.session.request(method, self.url + path, data=data, headers=hdrs) as resp:
            text = await resp.read()
            try:
                parsed = orjson.loads(text) if text else None
            except orjson.JSONDecodeError:
                parsed = text.decode()
            return Reply(resp.status, parsed, resp.headers)

    async def get(self, path: str, **kw: Any) -> Reply:
        return await self.request("GET", path, **kw)

    async def post(self, path: str, body: Any, **kw: Any) -> Reply:
        return await self.request("POST", path, body, **kw)

    async def put(self, path: str, body: Any, **kw: Any) -> Reply:
        return await self.request("PUT", path, body, **kw)

    async def patch(self, path: str, body: Any, content_type: str = "application/merge-patch+json",
                    **kw: Any) -> Reply:
        return await self.request("PATCH", path, body, content_type=content_type, **kw)

    async def delete(self, path: str, body: Any = None, **kw: Any) -> Reply:
        return await self.request("DELETE", path, body, **kw)

    async def watch_lines(self, path: str, count: int, timeout: float = 5.0,  # noqa: ASYNC109
                          headers: dict[str, str] | None = None) -> tuple[list[Any], aiohttp.ClientResponse]:
        """Open a watch and read `count` events (or until the stream ends / timeout)."""
        events: list[Any] = []
        async with self.session.get(self.url + path, headers=headers or {}) as resp:
            async with asyncio.timeout(timeout):
                while len(events) < count:
                    line = await resp.content.readline()
                    if not line:
                        break
                    assert line.endswith(b"\n") and line.strip(), f"malformed watch line {line!r}"
                    events.append(orjson.loads(line))
            return events, resp


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def sandbox() -> AsyncIterator[Sandbox]:
    async with Sandbox(port=0, bookmark_interval=0.5) as sb:
        yield sb


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def http(sandbox: Sandbox) -> AsyncIterator[Http]:
    async with aiohttp.ClientSession() as session:
        yield Http(sandbox.url, session)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def api(sandbox: Sandbox) -> AsyncIterator[client.ApiClient]:
    cfg = client.Configuration()
    await config.load_kube_config(config_file=str(sandbox.kubeconfig_path), client_configuration=cfg)
    async with client.ApiClient(cfg) as api_client:
        yield api_client


@pytest.fixture(scope="module")
def kube_home() -> Path:
    return Path(tempfile.mkdtemp(prefix="kubectl-home-"))


async def kubectl(sb: Sandbox, home: Path, *args: str, timeout: float = 30.0,  # noqa: ASYNC109
                  stdin: bytes | None = None) -> tuple[int, str, str]:
    """Run real kubectl against the sandbox with a private HOME (no shared discovery cache)."""
    env = dict(os.environ, HOME=str(home), KUBECONFIG=str(sb.kubeconfig_path))
    proc = await asyncio.create_subprocess_exec(
        str(KUBECTL), *args, env=env, stdin=asyncio.subprocess.PIPE if stdin is not None else None,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(stdin), timeout)
    return proc.returncode or 0, out.decode(), err.decode()


def unique(prefix: str) -> str:
    return f"{prefix}-{os.urandom(3).hex()}"


async def wait_for(predicate: Any, timeout: float = 5.0, interval: float = 0.02) -> Any:  # noqa: ASYNC109
    """Poll `predicate()` until it returns something truthy; the value is returned."""
    async with asyncio.timeout(timeout):
        while True:
            value = predicate()
            if asyncio.iscoroutine(value):
                value = await value
            if value:
                return value
            await asyncio.sleep(interval)
