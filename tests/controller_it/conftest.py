"""The operator's controller running as a task against an API server reached only over HTTP: the sandbox as a
process of its own (no simulated kubelet or Job controller unless a module asks), so the tier could run on any
API server. No mocks. One API server and one controller per test module; each test uses its own namespace.

The test's own reads and writes go straight to the server (`Env.get`, `create`, `patch`, `delete`: a small
synchronous client, so checks stay plain lambdas). The controller reaches the server through `FrontDoor`, an
HTTP proxy in the test that counts the controller's requests (verb, resource, namespace, as the API server's
audit log would) and can refuse some of them (as a quota or RBAC would).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import random
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest_asyncio
import yaml
from aiohttp import web
from prometheus_client import CollectorRegistry

from mpi_operator.controller.controller import MPIJobController
from mpi_operator.controller.metrics import ControllerMetrics
from mpi_operator.controller.options import ControllerOptions
from mpi_operator.kube.client import Client
from tests.conftest import examples_dir

JSON = dict[str, Any]
MPIJOBS = "mpijobs.kubeflow.org"
_namespaces = itertools.count()

# resource (as the API server's audit log names it) -> (group, version, namespaced)
RESOURCES: dict[str, tuple[str, str, bool]] = {
    "pods": ("", "v1", True), "services": ("", "v1", True), "configmaps": ("", "v1", True),
    "secrets": ("", "v1", True), "events": ("", "v1", True), "namespaces": ("", "v1", False),
    "jobs.batch": ("batch", "v1", True), MPIJOBS: ("kubeflow.org", "v2beta1", True),
    "podgroups.scheduling.volcano.sh": ("scheduling.volcano.sh", "v1beta1", True),
    "podgroups.scheduling.x-k8s.io": ("scheduling.x-k8s.io", "v1alpha1", True),
    "priorityclasses.scheduling.k8s.io": ("scheduling.k8s.io", "v1", False),
}
PATCH_TYPES = {"merge": "application/merge-patch+json", "json": "application/json-patch+json",
               "strategic": "application/strategic-merge-patch+json"}


def resource_path(resource: str, namespace: str | None, name: str | None = None,
                  subresource: str | None = None) -> str:
    group, version, namespaced = RESOURCES[resource]
    path = f"/apis/{group}/{version}" if group else f"/api/{version}"
    if namespaced and namespace:
        path += f"/namespaces/{namespace}"
    path += "/" + resource.split(".", 1)[0]
    if name is not None:
        path += f"/{name}" + (f"/{subresource}" if subresource else "")
    return path


def request_info(method: str, path: str, query: Any) -> tuple[str, str, str]:
    """(verb, resource, namespace) of a request, as kube-apiserver's RequestInfo names them."""
    parts = [p for p in path.split("/") if p]
    if parts[:1] == ["api"]:
        group, rest = "", parts[2:]
    elif parts[:1] == ["apis"] and len(parts) >= 3:
        group, rest = parts[1], parts[3:]
    else:
        return (method.lower(), path, "")
    namespace = ""
    if len(rest) >= 3 and rest[0] == "namespaces":
        namespace, rest = rest[1], rest[2:]
    plural = rest[0] if rest else ""
    resource = f"{plural}.{group}" if group else plural
    if len(rest) >= 3:
        resource += f"/{rest[2]}"
    named = len(rest) >= 2
    if method == "GET":
        verb = "get" if named else ("watch" if query.get("watch") in ("true", "1") else "list")
    else:
        verb = {"POST": "create", "PUT": "update", "PATCH": "patch"}.get(method) or (
            "delete" if named else "deletecollection")
    return verb, resource, namespace


@dataclass
class Requests:
    """The controller's requests the front door saw."""

    seen: list[tuple[str, str, str]] = field(default_factory=list)

    @property
    def total(self) -> int:
        return len(self.seen)

    def reset(self) -> None:
        self.seen.clear()

    def count(self, verb: str | None = None, resource: str | None = None, namespace: str | None = None) -> int:
        return sum(1 for v, r, n in self.seen
                   if verb in (None, v) and resource in (None, r) and namespace in (None, n))

    def by_verb(self) -> dict[str, int]:
        return dict(Counter(v for v, _, _ in self.seen))


@dataclass
class Faults:
    """Requests of these verbs on these resources (their subresources included) are answered `error_code` with
    probability `error_rate`."""

    error_rate: float = 0.0
    error_code: int = 403
    verbs: set[str] = field(default_factory=set)
    resources: set[str] = field(default_factory=set)

    def refuses(self, verb: str, resource: str) -> bool:
        return (self.error_rate > 0 and verb in self.verbs and resource.split("/")[0] in self.resources
                and random.random() < self.error_rate)


class FrontDoor:
    """An HTTP proxy between the controller and the API server: counts requests, injects faults, streams
    watches through unchanged."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.requests = Requests()
        self.faults = Faults()
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self.url = ""

    async def start(self) -> str:
        self._session = aiohttp.ClientSession(auto_decompress=False, timeout=aiohttp.ClientTimeout(total=None))
        app = web.Application(client_max_size=8 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._forward)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"
        return self.url

    async def stop(self) -> None:
        if self._session is not None:
            await self._session.close()  # ends the watches streaming through, so the server stops at once
        if self._runner is not None:
            await self._runner.cleanup()

    async def _forward(self, request: web.Request) -> web.StreamResponse:
        verb, resource, namespace = request_info(request.method, request.path, request.query)
        self.requests.seen.append((verb, resource, namespace))
        if self.faults.refuses(verb, resource):
            code = self.faults.error_code
            status = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": code,
                      "reason": "Forbidden" if code == 403 else "InternalError",
                      "message": f"{verb} {resource} refused by the test's front door"}
            return web.json_response(status, status=code)
        assert self._session is not None
        headers = {k: v for k, v in request.headers.items() if k.lower() not in ("host", "content-length")}
        body = await request.read()
        async with self._session.request(request.method, self.upstream + request.path_qs, headers=headers,
                                         data=body or None) as upstream:
            response = web.StreamResponse(status=upstream.status, headers={
                k: v for k, v in upstream.headers.items()
                if k.lower() not in ("content-length", "transfer-encoding", "connection")})
            await response.prepare(request)
            with contextlib.suppress(ConnectionResetError, aiohttp.ClientPayloadError):
                async for chunk in upstream.content.iter_any():
                    await response.write(chunk)
            with contextlib.suppress(ConnectionResetError):
                await response.write_eof()
            return response


class ApiClient:
    """The test's own synchronous client: plain HTTP with the kubeconfig's server and token."""

    def __init__(self, kubeconfig: Path) -> None:
        config = yaml.safe_load(kubeconfig.read_text())
        self.server = str(config["clusters"][0]["cluster"]["server"]).rstrip("/")
        self.token = str((config["users"][0].get("user") or {}).get("token") or "")

    def request(self, method: str, path: str, body: Any = None, content_type: str = "application/json",
                query: dict[str, str] | None = None) -> Any:
        url = self.server + path + ("?" + urllib.parse.urlencode(query) if query else "")
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(url, data=data, method=method)
        req.add_header("Content-Type", content_type)
        req.add_header("Accept", "application/json")
        if self.token:
            req.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                return json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")
            if exc.code == 404 and method == "GET":
                return None
            raise AssertionError(f"{method} {path}: HTTP {exc.code}: {detail}") from None


class Env:
    def __init__(self, kubeconfig: Path, front_door: FrontDoor, client: Client,
                 controller: MPIJobController) -> None:
        self.kubeconfig = kubeconfig
        self.api = ApiClient(kubeconfig)
        self.front_door = front_door
        self.requests = front_door.requests
        self.faults = front_door.faults
        self.client = client
        self.controller = controller

    def namespace(self) -> str:
        name = f"it-{next(_namespaces)}"
        self.create("namespaces", None, {"metadata": {"name": name}})
        return name

    def get(self, resource: str, namespace: str | None, name: str) -> JSON | None:
        found: JSON | None = self.api.request("GET", resource_path(resource, namespace, name))
        return found

    def list(self, resource: str, namespace: str | None) -> list[JSON]:
        items: list[JSON] = self.api.request("GET", resource_path(resource, namespace))["items"]
        return items

    def create(self, resource: str, namespace: str | None, obj: JSON) -> JSON:
        body = {**obj, "metadata": {**obj.get("metadata", {}), **({"namespace": namespace} if namespace else {})}}
        created: JSON = self.api.request("POST", resource_path(resource, namespace), body)
        return created

    def patch(self, resource: str, namespace: str | None, name: str, patch_type: str, patch: Any,
              subresource: str | None = None) -> JSON:
        patched: JSON = self.api.request("PATCH", resource_path(resource, namespace, name, subresource), patch,
                                         PATCH_TYPES[patch_type])
        return patched

    def delete(self, resource: str, namespace: str | None, name: str, options: JSON | None = None) -> None:
        self.api.request("DELETE", resource_path(resource, namespace, name),
                         {"kind": "DeleteOptions", "apiVersion": "v1", **(options or {})})

    async def eventually(self, check: Callable[[], Any], within: float = 10.0, what: str = "condition") -> Any:
        deadline = time.monotonic() + within
        while True:
            result = check()
            if result:
                return result
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {within}s waiting for {what}")
            await asyncio.sleep(0.02)

    async def settled(self, quiet: float = 0.3, within: float = 10.0) -> None:
        """Wait until the work queue is idle and the controller sends nothing for `quiet` seconds."""
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if await self.controller.queue.wait_idle(within):
                before = self.requests.total
                await asyncio.sleep(quiet)
                if len(self.controller.queue) == 0 and self.requests.total == before:
                    return
        raise AssertionError("controller did not settle")


def example(name: str) -> JSON:
    doc: JSON = yaml.safe_load((examples_dir() / name).read_text())
    return doc


def start_process(argv: list[str], log: Path, ready_line: str, within: float = 60.0) -> subprocess.Popen[bytes]:
    """A child process whose log says `ready_line` once it serves."""
    with log.open("ab") as handle:
        proc = subprocess.Popen(argv, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + within
    while ready_line not in (log.read_text(errors="replace") if log.exists() else ""):
        if proc.poll() is not None or time.monotonic() > deadline:
            stop_process(proc)
            raise RuntimeError(f"{argv[3]} did not start:\n{log.read_text(errors='replace')[-3000:]}")
        time.sleep(0.05)
    return proc


def stop_process(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextlib.contextmanager
def api_server(workdir: Path, gang: tuple[str, ...] = (), cluster: bool = False) -> Any:
    """`mpi-operator sandbox` as a process: the API server alone, or with `cluster` its Job controller and the
    node agent (simulated runtime) as the kubelet. Yields the admin kubeconfig."""
    kubeconfig = workdir / "admin.kubeconfig"
    argv = [sys.executable, "-m", "mpi_operator", "sandbox", "--kubeconfig-out", str(kubeconfig),
            *(["--no-kubelet"] if cluster else ["--no-simulate"]), *(a for g in gang for a in ("--gang", g))]
    processes = [start_process(argv, workdir / "sandbox.log", "kubeconfig written")]
    try:
        if cluster:
            processes.append(start_process(
                [sys.executable, "-m", "mpi_operator", "node-agent", "--kubeconfig", str(kubeconfig), "--nodes",
                 "2", "--runtime", "simulated", "--bind", "--run-seconds", "0.5", "--restart-backoff", "1"],
                workdir / "node-agent.log", "node agent ready"))
        yield kubeconfig
    finally:
        for proc in reversed(processes):
            stop_process(proc)


@contextlib.asynccontextmanager
async def running_env(workdir: Path, options: ControllerOptions | None = None, gang: tuple[str, ...] = (),
                      cluster: bool = False) -> AsyncIterator[Env]:
    """An API server (with the PodGroup CRDs named in `gang`) and a controller task using `options`."""
    with api_server(workdir, gang, cluster) as kubeconfig:
        front_door = FrontDoor(ApiClient(kubeconfig).server)
        url = await front_door.start()
        config = yaml.safe_load(kubeconfig.read_text())
        config["clusters"][0]["cluster"]["server"] = url
        through_door = workdir / "operator.kubeconfig"
        through_door.write_text(yaml.safe_dump(config))
        client = await Client.connect(str(through_door), qps=1000, burst=1000)
        controller = MPIJobController(client, options or ControllerOptions(), ControllerMetrics(CollectorRegistry()),
                                      queue_rate=1000, queue_burst=1000, threadiness=4)
        ready = asyncio.Event()
        task = asyncio.create_task(controller.run(ready))
        try:
            await asyncio.wait_for(ready.wait(), 10)
            yield Env(kubeconfig, front_door, client, controller)
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await client.close()
            await front_door.stop()


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def env(tmp_path_factory: Any) -> AsyncIterator[Env]:
    async with running_env(tmp_path_factory.mktemp("api")) as started:
        yield started
