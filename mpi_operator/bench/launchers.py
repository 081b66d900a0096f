"""The launchers of the MPI target's MPIJobs, followed from outside: their pods (node, container restarts) and
Jobs (`status.failed`) from watches, and their logs read from the node agent's kubelet endpoint
(`GET /containerLogs/...`, what `kubectl logs` reaches through kube-apiserver) every `poll` seconds, for the pi
program's `Rank r of n running on HOST` lines (printed by each rank once `MPI_Init` returned).

Invariant: a line is timed when the first read that shows it returns; it was written after the previous read
(or a 404: no container yet) was sent, so each time has a bound: the line is at most that much older.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import aiohttp

from mpi_operator.api.constants import JOB_NAME_LABEL, JOB_ROLE_LABEL, KIND
from mpi_operator.kube.client import Client
from mpi_operator.kube.informer import Informer, wait_for_cache_sync
from mpi_operator.kube.resource import JOBS, PODS

JSON = dict[str, Any]
RANK_LINE = re.compile(r"^Rank (\d+) of (\d+) running on (\S+?)\r?$", re.MULTILINE)
PI_LINE = re.compile(r"^pi is approximately (\S+?)\r?$", re.MULTILINE)
LAUNCHER_CONTAINER = "mpi-launcher"  # the pi example's


@dataclass
class LauncherPod:
    name: str
    node: str = ""
    restarts: int = 0  # the container's restartCount (restartPolicy OnFailure restarts it in place)
    phase: str = ""

    @property
    def terminal(self) -> bool:
        return self.phase in ("Succeeded", "Failed")


@dataclass
class Launcher:
    """What was seen of one MPIJob's launcher; times are `time.monotonic()`."""

    namespace: str
    job: str  # the MPIJob's name
    pods: dict[str, LauncherPod] = field(default_factory=dict)  # in the order they were first seen
    job_failed: int = 0  # the launcher Job's status.failed: pods that failed (restartPolicy Never)
    first_rank_at: float | None = None
    first_rank_bound: float | None = None
    all_ranks_at: float | None = None
    all_ranks_bound: float | None = None
    ranks: int = 0  # n of `Rank r of n`
    hosts: dict[int, str] = field(default_factory=dict)  # rank -> host, as the last read showed them
    pi: str | None = None
    reads: int = 0
    done: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def restarts(self) -> int:
        return sum(p.restarts for p in self.pods.values())

    @property
    def failed_attempts(self) -> int:
        """Launcher runs that failed before the one that succeeded: failed pods plus in-place restarts."""
        return self.job_failed + self.restarts

    def current_pod(self) -> LauncherPod | None:
        """The newest pod on a node that still runs, else the newest pod on a node."""
        placed = [p for p in self.pods.values() if p.node]
        running = [p for p in placed if not p.terminal]
        candidates = running or placed
        return candidates[-1] if candidates else None

    def read(self, log: str, received: float, previous: float | None) -> None:
        """Record what one read of the log shows; `previous` is when the last read before it was sent (None: this
        is the first, and how old its lines are is unknown)."""
        self.reads += 1
        lines = RANK_LINE.findall(log)
        bound = None if previous is None else round(received - previous, 3)
        if lines and self.first_rank_at is None:
            self.first_rank_at, self.first_rank_bound = received, bound
        self.hosts = {int(rank): host for rank, _, host in lines}
        self.ranks = max((int(n) for _, n, _ in lines), default=self.ranks)
        if self.ranks and len(self.hosts) == self.ranks and self.all_ranks_at is None:
            self.all_ranks_at, self.all_ranks_bound = received, bound
        pi = PI_LINE.search(log)
        if pi is not None:
            self.pi = pi.group(1)

    def as_json(self, t0: float) -> JSON:
        def since(at: float | None) -> float | None:
            return None if at is None else round(at - t0, 3)

        return {"job": self.job, "seconds_to_first_rank": since(self.first_rank_at),
                "first_rank_bound": self.first_rank_bound, "seconds_to_all_ranks": since(self.all_ranks_at),
                "all_ranks_bound": self.all_ranks_bound, "ranks": self.ranks,
                "rank_hosts": [self.hosts[r] for r in sorted(self.hosts)], "pi": self.pi,
                "launcher_job_failed": self.job_failed, "launcher_restarts": self.restarts,
                "launcher_failed_attempts": self.failed_attempts, "launcher_pods": len(self.pods),
                "log_reads": self.reads}


def _slim_pod(obj: JSON) -> JSON:
    meta, spec, status = obj.get("metadata") or {}, obj.get("spec") or {}, obj.get("status") or {}
    return {"metadata": {k: meta.get(k) for k in ("name", "namespace", "uid", "resourceVersion", "labels")},
            "spec": {"nodeName": spec.get("nodeName", "")},
            "status": {"phase": status.get("phase"),
                       "restarts": sum(int(c.get("restartCount") or 0)
                                       for c in status.get("containerStatuses") or [])}}


def _slim_job(obj: JSON) -> JSON:
    meta = obj.get("metadata") or {}
    owner = next((r.get("name") for r in meta.get("ownerReferences") or []
                  if r.get("controller") and r.get("kind") == KIND), None)
    return {"metadata": {k: meta.get(k) for k in ("name", "namespace", "uid", "resourceVersion")},
            "owner": owner, "status": {"failed": int((obj.get("status") or {}).get("failed") or 0)}}


class Launchers:
    """`async with Launchers(client) as launchers:` synced watches; `follow` a job before it is applied."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.launchers: dict[tuple[str, str], Launcher] = {}
        self.pods = Informer(client.resource(PODS), label_selector=f"{JOB_ROLE_LABEL}=launcher",
                             transform=_slim_pod)
        self.jobs = Informer(client.resource(JOBS), transform=_slim_job)
        self.pods.add_handler(on_add=self._on_pod, on_update=lambda _old, new: self._on_pod(new))
        self.jobs.add_handler(on_add=self._on_job, on_update=lambda _old, new: self._on_job(new))
        self._endpoints: dict[str, str] = {}  # node -> https://address:port of its kubelet endpoint
        self._session: aiohttp.ClientSession | None = None
        self._tasks: list[asyncio.Task[None]] = []

    def _on_pod(self, pod: JSON) -> None:
        meta = pod["metadata"]
        launcher = self.launchers.get((meta["namespace"], (meta.get("labels") or {}).get(JOB_NAME_LABEL, "")))
        if launcher is None:
            return
        seen = launcher.pods.setdefault(meta["name"], LauncherPod(meta["name"]))
        seen.node = pod["spec"]["nodeName"] or seen.node
        seen.restarts = max(seen.restarts, pod["status"]["restarts"])
        seen.phase = pod["status"]["phase"] or seen.phase

    def _on_job(self, job: JSON) -> None:
        launcher = self.launchers.get((job["metadata"]["namespace"], job.get("owner") or ""))
        if launcher is not None:
            launcher.job_failed = max(launcher.job_failed, job["status"]["failed"])

    def follow(self, namespace: str, job: str, poll: float) -> Launcher:
        """Start reading the launcher log of MPIJob `namespace/job` every `poll` seconds."""
        launcher = self.launchers[(namespace, job)] = Launcher(namespace, job)
        self._tasks.append(asyncio.create_task(self._poll(launcher, poll), name=f"launcher-log-{namespace}/{job}"))
        return launcher

    async def wait(self, launchers: list[Launcher], within: float, alive: Callable[[], None]) -> None:
        """Until every launcher's log was read to its end (pi printed, or read after the pod ended)."""
        deadline = time.monotonic() + within
        for launcher in launchers:
            while not launcher.done.is_set():
                if time.monotonic() > deadline:
                    raise TimeoutError(f"launcher log of {launcher.namespace}/{launcher.job} not read to its end "
                                       f"within {within:.0f}s ({launcher.reads} reads)")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(launcher.done.wait(), 1.0)
                alive()

    async def _poll(self, launcher: Launcher, poll: float) -> None:
        previous: float | None = None  # when the last successful read was sent
        while True:
            pod = launcher.current_pod()
            ended = pod is not None and pod.phase == "Succeeded"  # so the next read is the whole log
            if pod is None:
                await asyncio.sleep(poll)
                continue
            sent = time.monotonic()
            log = await self._read_log(launcher.namespace, pod)
            received = time.monotonic()
            if log is not None:
                launcher.read(log, received, previous)
                previous = sent
            if (launcher.all_ranks_at is not None and launcher.pi is not None) or (ended and log is not None):
                launcher.done.set()
                return
            await asyncio.sleep(poll)

    async def _read_log(self, namespace: str, pod: LauncherPod) -> str | None:
        """The container's log; "" when it has not started (404), None when the read failed."""
        try:
            base = await self._endpoint(pod.node)
            assert self._session is not None
            url = f"{base}/containerLogs/{namespace}/{pod.name}/{LAUNCHER_CONTAINER}"
            async with self._session.get(url) as resp:
                if resp.status == 404:
                    return ""
                resp.raise_for_status()
                return await resp.text(errors="replace")
        except (aiohttp.ClientError, OSError, TimeoutError):
            return None

    async def _endpoint(self, node: str) -> str:
        if node not in self._endpoints:
            obj = await self.client.request("GET", f"/api/v1/nodes/{node}")
            status = obj.get("status") or {}
            port = status["daemonEndpoints"]["kubeletEndpoint"]["Port"]
            address = next(a["address"] for a in status.get("addresses") or [] if a.get("type") == "InternalIP")
            self._endpoints[node] = f"https://{address}:{port}"
        return self._endpoints[node]

    async def __aenter__(self) -> Launchers:
        # The kubelet endpoint's certificate is self-signed (kube-apiserver does not verify it either).
        self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=False, limit=32),
                                              timeout=aiohttp.ClientTimeout(total=10))
        self.pods.start()
        self.jobs.start()
        if not await wait_for_cache_sync([self.pods, self.jobs], within=60.0):
            await self._stop()
            raise TimeoutError("the launcher watches did not sync within 60s")
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self._stop()

    async def _stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await asyncio.gather(self.pods.stop(), self.jobs.stop())
        if self._session is not None:
            await self._session.close()
