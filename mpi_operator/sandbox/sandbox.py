"""`Sandbox`: the in-memory API server as an async context manager for tests, benchmarks and the CLI.

    async with Sandbox(port=0) as sb:
        sb.url, sb.kubeconfig_path, sb.store (in-process access), sb.requests (accounting), sb.faults
Starts the store, the garbage collector and the HTTP server on 127.0.0.1; creates the standard namespaces and
installs the MPIJob CRD (plus PodGroup CRDs when `gang` names a scheduler).

Simulated cluster parts are `Component`s (async start/stop) started after the server and stopped before it. Pass
them as `components=`; with `simulate=True` the sandbox also runs a `cluster.Cluster` (kubelet and Job controller,
tuned by `simulation=SimulationOptions(...)`), published as `sb.cluster`, with node-pressure eviction served at
`POST /debug/evict?namespace=NS&name=POD` and `kubectl logs` answered by the kubelet. Components act through
`sb.store` (the same write path as HTTP requests) and may set `sb.server.eviction_hook` / `sb.server.log_hook`.
"""

from __future__ import annotations

import contextlib
import os
import socket
import tempfile
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol

from aiohttp import web

from mpi_operator.sandbox.apiserver import debug
from mpi_operator.sandbox.apiserver.accounting import RequestLog
from mpi_operator.sandbox.apiserver.faults import Faults
from mpi_operator.sandbox.apiserver.server import ApiServer
from mpi_operator.sandbox.apiserver.storage import CRD_KEY, Storage
from mpi_operator.sandbox.cluster import Cluster, SimulationOptions
from mpi_operator.sandbox.cluster.gc import GarbageCollector
from mpi_operator.sandbox.cluster.kubelet import pod_logs
from mpi_operator.sandbox.crds import GANG_CRDS, mpijob_crd
from mpi_operator.sandbox.kubeconfig import write_kubeconfig

DEFAULT_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease", "mpi-operator")
MAX_HEADER_BYTES = 1 << 20


class StartError(Exception):
    """The sandbox cannot start (port in use, kubeconfig not writable); the message says which and why."""


class Component(Protocol):
    """A part of the simulated cluster running next to the API server (kubelet, Job controller, ...)."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


class Sandbox:
    def __init__(self, port: int = 0, host: str = "127.0.0.1", *, simulate: bool = False,
                 gang: str | Iterable[str] | None = None, faults: Faults | str | None = None,
                 install_mpijob_crd: bool = True, bookmark_interval: float = 60.0, history_size: int = 20000,
                 history_seconds: float = 300.0, watch_queue_size: int = 10000,
                 namespaces: Iterable[str] = DEFAULT_NAMESPACES, kubeconfig_path: str | Path | None = None,
                 components: Iterable[Component] = (), simulation: SimulationOptions | None = None) -> None:
        if not 0 <= port <= 65535:
            raise ValueError(f"port {port} is not a port number (0 to 65535; 0 picks a free one)")
        self.host = host
        self.port = port
        self.simulate = simulate
        self.gang = [gang] if isinstance(gang, str) else list(gang or [])
        for g in self.gang:
            if g not in GANG_CRDS:
                raise ValueError(f"unknown gang scheduler {g!r}; choose from {sorted(GANG_CRDS)}")
        self.faults = Faults.parse(faults) if isinstance(faults, str) else (faults or Faults())
        self.requests = RequestLog()
        self.store = Storage(history_size=history_size, history_seconds=history_seconds,
                           watch_queue_size=watch_queue_size)
        self.server = ApiServer(self.store, self.requests, self.faults, bookmark_interval)
        self.gc = GarbageCollector(self.store)
        self.install_mpijob_crd = install_mpijob_crd
        self.namespaces = tuple(namespaces)
        self._kubeconfig_path = Path(kubeconfig_path) if kubeconfig_path else None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._runner: web.AppRunner | None = None
        self.url = ""
        self.components: list[Component] = list(components)
        # The simulated cluster's parts and settings (None: defaults); `cluster` is set when it runs.
        self.simulation = simulation or SimulationOptions()
        self.cluster: Cluster | None = None

    async def start(self) -> None:
        """Serve; a port that cannot be bound or a kubeconfig that cannot be written raises StartError, with
        everything started so far stopped again (a failed start leaves no task or socket behind)."""
        try:
            await self._start()
        except BaseException:
            await self.stop()
            raise

    async def _start(self) -> None:
        self.gc.start()
        for name in self.namespaces:
            if self.store.find("namespaces", None, name) is None:
                self.store.create("namespaces", None, {"metadata": {"name": name}})
        crds: list[dict[str, Any]] = [mpijob_crd()] if self.install_mpijob_crd else []
        crds += [GANG_CRDS[g]() for g in self.gang]
        for crd in crds:
            self.install_crd(crd)
        # Request line and headers up to 1 MiB, as Go's http.Server (kube-apiserver) allows: long selectors pass.
        self._runner = web.AppRunner(self.server.app(), access_log=None, shutdown_timeout=1.0,
                                     max_line_size=MAX_HEADER_BYTES, max_field_size=MAX_HEADER_BYTES)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        try:
            await site.start()
        except OSError as exc:
            # asyncio's text repeats the address; the errno's text is the news (a host-name error has its own).
            why = exc.strerror if isinstance(exc, socket.gaierror) or not exc.errno else os.strerror(exc.errno)
            raise StartError(f"cannot listen on {self.host}:{self.port}: {why}") from None
        self.port = int(self._runner.addresses[0][1])
        self.url = f"http://{self.host}:{self.port}"
        self.server.server_address = f"{self.host}:{self.port}"
        if self._kubeconfig_path is not None:
            try:
                write_kubeconfig(self._kubeconfig_path, self.url)
            except OSError as exc:
                raise StartError(f"cannot write the kubeconfig to {self._kubeconfig_path}: "
                                 f"{exc.strerror or exc}") from None
        if self.simulate:
            self.components += self._simulators()
        for component in self.components:
            await component.start()

    def _simulators(self) -> list[Component]:
        cluster = Cluster(self.store, kubelet=self.simulation.kubelet, job_controller=self.simulation.job_controller)
        self.cluster = cluster
        if cluster.kubelet is not None:
            self.server.debug_handlers["/debug/evict"] = debug.evict_endpoint(cluster.evict)
            if self.server.log_hook is None:
                self.server.log_hook = pod_logs
        return [cluster]

    async def stop(self) -> None:
        for component in reversed(self.components):
            with contextlib.suppress(Exception):
                await component.stop()
        await self.server.close_watches()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        await self.gc.stop()
        if self._tmp is not None:
            with contextlib.suppress(OSError):
                self._tmp.cleanup()
            self._tmp = None

    async def __aenter__(self) -> Sandbox:
        await self.start()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.stop()

    def install_crd(self, crd: dict[str, Any]) -> dict[str, Any]:
        """Create (or replace the spec of) a CRD; its resources are served as soon as this returns."""
        existing = self.store.find(CRD_KEY, None, crd["metadata"]["name"])
        if existing is None:
            return self.store.create(CRD_KEY, None, crd)
        body = dict(crd)
        body["metadata"] = {**crd["metadata"], "resourceVersion": existing["metadata"]["resourceVersion"]}
        return self.store.update(CRD_KEY, None, crd["metadata"]["name"], body)

    def write_kubeconfig(self, path: str | Path, namespace: str = "default") -> Path:
        return write_kubeconfig(path, self.url, namespace)

    @property
    def kubeconfig_path(self) -> Path:
        """A kubeconfig for this sandbox (written on first use into a temp dir unless a path was given)."""
        if self._kubeconfig_path is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="mpi-sandbox-")
            self._kubeconfig_path = Path(self._tmp.name) / "kubeconfig"
            write_kubeconfig(self._kubeconfig_path, self.url)
        return self._kubeconfig_path
