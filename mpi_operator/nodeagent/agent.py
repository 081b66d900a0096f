"""The node agent: registers Nodes, keeps their Leases fresh, and runs the pods bound to them.

An ordinary API client, so it serves the sandbox and a real control plane alike. One `PodWorker` per pod
uid follows the pod's object level-triggered: each wake-up re-reads the cached pod, starts what should run,
records exits, applies the restart policy, handles deletion (stop within the grace period, report the
terminal phase, then delete with grace 0 as the kubelet does) and writes `pods/status` only when it
changed. With `bind` it also binds the pods no scheduler takes (the sandbox has no kube-scheduler).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from mpi_operator.kube.client import Client
from mpi_operator.kube.errors import AlreadyExists, Conflict, KubeError, NotFound
from mpi_operator.kube.informer import Informer
from mpi_operator.kube.meta import JSON, is_newer
from mpi_operator.kube.resource import CONFIGMAPS, LEASES, PODS, SECRETS, SERVICES, ResourceType
from mpi_operator.nodeagent import hosts, podspec
from mpi_operator.nodeagent.podstatus import (
    TERMINAL_PHASES,
    ContainerRecord,
    PodView,
    now_rfc3339,
    pod_status,
    rfc3339_seconds,
)
from mpi_operator.nodeagent.runtime import Container, HostEntry, ImageError, Runtime, Sandbox, StartError
from mpi_operator.nodeagent.simulated import EVICT_AFTER, UNSCHEDULABLE, seconds

log = logging.getLogger(__name__)
NODES = ResourceType("", "v1", "nodes", False, "Node")
NODE_LEASE_NAMESPACE = "kube-node-lease"
BACKOFF_CAP = 300.0
# The container runtime manager never gives a container less than this to stop (kuberuntime's
# minimumGracePeriodInSeconds), so even a hard eviction's grace 0 sends SIGTERM first.
MINIMUM_GRACE_SECONDS = 2.0
DEFAULT_GRACE_SECONDS = 30.0  # spec.terminationGracePeriodSeconds when unset


def micro_time() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + f".{int(time.time() * 1e6) % 1_000_000:06d}Z"


@dataclass
class AgentOptions:
    nodes: tuple[str, ...] = ("node-0",)
    node_ip: str = "127.0.0.1"
    capacity: dict[str, str] = field(default_factory=lambda: {
        "cpu": "64", "memory": "256Gi", "pods": "250", "ephemeral-storage": "1Ti"})
    labels: dict[str, str] = field(default_factory=dict)
    # Bind pods that no scheduler takes (a server without kube-scheduler), for these scheduler names.
    bind: bool = False
    schedulers: tuple[str, ...] = ("default-scheduler",)
    cluster_domain: str = "cluster.local"
    lease_seconds: int = 40
    heartbeat_seconds: float = 10.0
    restart_backoff: float = 10.0      # the kubelet's: 10 s doubling to 5 min; the first restart is at once
    kubelet_port: int | None = 0       # the log endpoint (0: any free port; None: none)
    kubelet_version: str = "v1.37.2"


@dataclass
class _Run:
    """One running container: its handle and the tasks waiting for its exit and readiness."""

    handle: Container
    exit: asyncio.Task[int]
    ready: asyncio.Task[None]
    started: float


class PodWorker:
    """Runs one pod (by uid) on this node until it is terminal or gone."""

    def __init__(self, agent: NodeAgent, pod: JSON) -> None:
        self.agent = agent
        self.uid: str = pod["metadata"]["uid"]
        self.namespace: str = pod["metadata"].get("namespace", "")
        self.key = f"{self.namespace}/{pod['metadata']['name']}"
        self.kicked = asyncio.Event()
        self.kicked.set()
        self.volumes_dirty = False
        self.hosts_dirty = True
        self.sandbox: Sandbox | None = None
        self.records: dict[str, ContainerRecord] = {}
        self.inits: dict[str, ContainerRecord] = {}
        self.runs: dict[str, _Run] = {}
        self.restart_at: dict[str, float] = {}
        self.start_errors: dict[str, str] = {}  # container -> why its last start failed (logged once, not per retry)
        self.backoff: dict[str, float] = {}
        self.view = PodView(host_ip=agent.options.node_ip)
        self.first_started: float | None = None  # eviction counts from here (time.monotonic())
        self.admitted: float | None = None       # activeDeadlineSeconds counts from here: status.startTime
        self.latest: JSON | None = None           # the newest pod object seen (informer or write answer)
        self.written_volumes: dict[str, Any] = {}
        self.written_hosts: tuple[HostEntry, ...] | None = None
        self.write_failures = 0
        self.task: asyncio.Task[None] | None = None

    # ------------------------------------------------------------------ driving loop

    def kick(self) -> None:
        self.kicked.set()

    def _pod(self) -> JSON | None:
        cached = self.agent.pods.store.get(self.key)
        if cached is not None and cached["metadata"].get("uid") != self.uid:
            cached = None
        if cached is None:
            return None
        if self.latest is not None and is_newer(self.latest, cached):
            return self.latest
        self.latest = cached
        return cached

    async def run(self) -> None:
        try:
            while True:
                try:
                    await self._loop()
                    return
                except KubeError as e:
                    # The API server went away mid-step: the containers keep running; try again.
                    log.warning("node agent: pod %s: %s; retrying", self.key, e)
                    await asyncio.sleep(1.0)
        except asyncio.CancelledError:
            await asyncio.shield(self._shutdown(0))
            raise
        except Exception:
            log.exception("node agent: pod %s failed; stopping its containers", self.key)
            await self._shutdown(0)
        finally:
            self.agent.workers.pop(self.uid, None)

    async def _loop(self) -> None:
        while True:
            self.kicked.clear()
            pod = self._pod()
            if pod is None:
                await self._shutdown(0)
                return
            meta, status = pod["metadata"], pod.get("status") or {}
            if meta.get("deletionTimestamp"):
                await self._terminate(pod)
                return
            if status.get("phase") in TERMINAL_PHASES and not self.runs:
                await self._shutdown(0)
                return
            if self.sandbox is None and not await self._create_sandbox(pod):
                await self._report(pod)
                await self._sleep(self.agent.options.restart_backoff)
                continue
            if self.volumes_dirty:
                await self._write_volumes(pod)
            if self.hosts_dirty:
                await self._write_hosts(pod)
            self._collect_exits(pod)
            await self._check_timers(pod)
            if self.view.phase_override is None:
                await self._start_due(pod)
            desired = await self._report(pod)
            if desired is not None and desired["phase"] in TERMINAL_PHASES:
                await self._shutdown(0)
                return
            timer = self._next_timer(pod)
            if desired is None and self.write_failures:
                retry = min(0.2 * 2 ** self.write_failures, 5.0)
                timer = retry if timer is None else min(timer, retry)
            await self._sleep(timer)

    async def _sleep(self, within: float | None) -> None:
        waits: list[asyncio.Future[Any]] = [asyncio.ensure_future(self.kicked.wait())]
        waits += [r.exit for r in self.runs.values()]
        waits += [r.ready for r in self.runs.values() if not r.ready.done()]
        try:
            await asyncio.wait(waits, timeout=within, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waits[0].cancel()

    def _next_timer(self, pod: JSON) -> float | None:
        now = time.monotonic()
        deadlines = list(self.restart_at.values())
        if self.first_started is not None:
            evict = seconds((pod["metadata"].get("annotations") or {}).get(EVICT_AFTER), math.inf)
            if not math.isinf(evict):
                deadlines.append(self.first_started + evict)
        active = (pod.get("spec") or {}).get("activeDeadlineSeconds")
        if self.admitted is not None and active is not None:
            deadlines.append(self.admitted + float(active))
        if not deadlines:
            return None
        return max(min(deadlines) - now, 0.0)

    # ------------------------------------------------------------------ sandbox, volumes, hosts

    async def _create_sandbox(self, pod: JSON) -> bool:
        self.view.scheduled = True
        self._ensure_records(pod)
        try:
            vols = self.agent.volumes_of(pod)
        except podspec.SpecError as e:
            # As the kubelet: the containers stay ContainerCreating while a volume cannot be mounted.
            log.info("node agent: pod %s waits for its volumes: %s", self.key, e)
            return False
        try:
            self.sandbox = await self.agent.runtime.create_sandbox(
                podspec.identity(pod, self.agent.options.cluster_domain))
        except Exception as e:  # the kubelet's FailedCreatePodSandBox: stay ContainerCreating and retry
            log.warning("node agent: creating the sandbox of pod %s failed: %s", self.key, e)
            return False
        self.view.sandbox_ready = True
        self.view.pod_ip = self.sandbox.ip
        started = (pod.get("status") or {}).get("startTime")
        self.view.start_time = started or now_rfc3339()
        # As the kubelet: the active deadline runs from the pod's startTime (its admission), not from its first
        # container (an agent restarted meanwhile reads the time back, whole seconds only).
        self.admitted = time.monotonic() - (max(time.time() - rfc3339_seconds(started), 0.0) if started else 0.0)
        for vol in vols:
            await self.agent.runtime.write_volume(self.sandbox, vol)
            self.written_volumes[vol.name] = vol
        await self._write_hosts(pod)
        return True

    def _ensure_records(self, pod: JSON) -> None:
        spec = pod.get("spec") or {}
        for target, key, init in ((self.inits, "initContainers", True), (self.records, "containers", False)):
            for c in spec.get(key) or []:
                target.setdefault(c.get("name", ""), ContainerRecord(c.get("name", ""), str(c.get("image", "")),
                                                                     init=init))

    async def _write_volumes(self, pod: JSON) -> None:
        self.volumes_dirty = False
        if self.sandbox is None:
            return
        try:
            vols = self.agent.volumes_of(pod)
        except podspec.SpecError as e:
            log.info("node agent: volumes of pod %s not updated: %s", self.key, e)
            return
        for vol in vols:
            if self.written_volumes.get(vol.name) != vol:
                await self.agent.runtime.write_volume(self.sandbox, vol)
                self.written_volumes[vol.name] = vol

    async def _write_hosts(self, pod: JSON) -> None:
        self.hosts_dirty = False
        if self.sandbox is None or not self.agent.runtime_needs_files:
            return
        domain = self.agent.options.cluster_domain
        entries = tuple(hosts.with_search_aliases(
            (hosts.own_entry(pod, self.sandbox.ip, domain), *self.agent.published_hosts(self.namespace)),
            podspec.dns_searches(pod, domain)))
        if entries != self.written_hosts:
            await self.agent.runtime.write_hosts(self.sandbox, entries)
            self.written_hosts = entries

    # ------------------------------------------------------------------ containers

    def _policy(self, pod: JSON) -> str:
        return str((pod.get("spec") or {}).get("restartPolicy", "Always"))

    def _collect_exits(self, pod: JSON) -> None:
        now = now_rfc3339()
        for name, run in list(self.runs.items()):
            rec = self.inits.get(name) or self.records[name]
            if run.ready.done() and not run.exit.done() and not rec.ready:
                rec.ready = True
            if not run.exit.done():
                continue
            del self.runs[name]
            run.ready.cancel()
            code = run.exit.result() if not run.exit.cancelled() else 137
            rec.end(code, now)
            policy = self._policy(pod)
            restart = (policy == "Always" and not rec.init) or (policy != "Never" and code != 0)
            if restart and self.view.phase_override is None:
                delay = self.backoff.get(name, 0.0)
                self.backoff[name] = min(max(delay * 2, self.agent.options.restart_backoff), BACKOFF_CAP)
                self.restart_at[name] = time.monotonic() + delay
                if delay > 0:
                    rec.wait("CrashLoopBackOff", f"back-off {delay:g}s restarting failed container={name} "
                                                 f"pod={pod['metadata']['name']}_{self.namespace}({self.uid})")
                else:
                    rec.wait("ContainerCreating")

    def _due(self) -> list[tuple[ContainerRecord, JSON]]:
        """The containers to start now: the next init container, else every main container not running."""
        pod = self.latest or {}
        spec = pod.get("spec") or {}
        now = time.monotonic()
        for c in spec.get("initContainers") or []:
            rec = self.inits[c.get("name", "")]
            if rec.succeeded:
                continue
            if rec.name in self.runs or self.restart_at.get(rec.name, 0.0) > now:
                return []
            if rec.state == "terminated":
                return []  # failed with restartPolicy Never: the pod fails
            return [(rec, c)]
        due = []
        for c in spec.get("containers") or []:
            rec = self.records[c.get("name", "")]
            if rec.name in self.runs or rec.state == "terminated" or self.restart_at.get(rec.name, 0.0) > now:
                continue
            due.append((rec, c))
        return due

    async def _start_due(self, pod: JSON) -> None:
        due = self._due()
        if not due or self.sandbox is None:
            return
        starts = [asyncio.ensure_future(self._start(pod, rec, c)) for rec, c in due]
        _, pending = await asyncio.wait(starts, timeout=0.05)
        if pending:
            # A slow start (image preparation, start-seconds): show ContainerCreating meanwhile.
            await self._report(pod)
            await asyncio.wait(pending)

    async def _start(self, pod: JSON, rec: ContainerRecord, container: JSON) -> None:
        assert self.sandbox is not None
        self.restart_at.pop(rec.name, None)
        restarts = rec.restart_count + (1 if rec.last_terminated is not None or rec.state == "terminated" else 0)
        try:
            spec = podspec.container_spec(pod, container, self.agent.configmap, self.agent.secret, init=rec.init,
                                          restart_count=restarts, pod_ip=self.sandbox.ip)
            handle = await self.agent.runtime.start_container(self.sandbox, spec)
        except (ImageError, StartError, podspec.SpecError) as e:
            rec.wait(e.reason, str(e))
            self.restart_at[rec.name] = time.monotonic() + max(self.agent.options.restart_backoff, 1.0)
            repeated = self.start_errors.get(rec.name) == str(e)
            self.start_errors[rec.name] = str(e)
            log.log(logging.DEBUG if repeated else logging.INFO, "node agent: container %s of pod %s not started%s: %s",
                    rec.name, self.key, " (again)" if repeated else "", e)
            return
        self.start_errors.pop(rec.name, None)
        if rec.state == "terminated" or rec.last_terminated is not None:
            if rec.state == "terminated":
                rec.last_terminated = rec.terminated_state()
            rec.restart_count = restarts
        rec.state, rec.reason, rec.message, rec.exit_code = "running", "", "", None
        rec.started_at, rec.finished_at = now_rfc3339(), ""
        rec.container_id, rec.image_id, rec.ready = handle.id, handle.image_id, False
        self.agent.logs.attach(self.namespace, pod["metadata"]["name"], rec.name, handle)
        self.runs[rec.name] = _Run(handle, asyncio.ensure_future(handle.wait()),
                                   asyncio.ensure_future(self._readiness(handle, container)), time.monotonic())
        if self.first_started is None and not rec.init:
            self.first_started = time.monotonic()

    async def _readiness(self, handle: Container, container: JSON) -> None:
        """Returns once the container is ready: the runtime's word, then a tcpSocket readiness probe when the
        runtime can run one (`tcp_probe`). Other probe kinds are not run: the container is ready at start."""
        await handle.wait_ready()
        probe = container.get("readinessProbe") or {}
        prober = getattr(self.agent.runtime, "tcp_probe", None)
        if "tcpSocket" not in probe or prober is None or self.sandbox is None:
            return
        port = _probe_port(probe["tcpSocket"].get("port"), container)
        if port is None:
            return
        sandbox = self.sandbox
        await asyncio.sleep(float(probe.get("initialDelaySeconds") or 0))
        period = float(probe.get("periodSeconds") or 10)
        # A probe is periodic by definition (the kubelet's periodSeconds), not a wait for an event.
        while not await prober(sandbox, port):  # noqa: ASYNC110
            await asyncio.sleep(period)

    async def _kill(self, grace: float) -> None:
        """Stop every container as the kubelet kills a pod: SIGTERM, then SIGKILL after the grace (at least 2 s)."""
        await self._stop_all(max(grace, MINIMUM_GRACE_SECONDS))

    async def _stop_all(self, grace: float) -> None:
        runs = list(self.runs.values())
        if runs:
            await asyncio.gather(*(r.handle.stop(grace) for r in runs), return_exceptions=True)
            await asyncio.gather(*(r.exit for r in runs), return_exceptions=True)

    async def _check_timers(self, pod: JSON) -> None:
        """Node-pressure eviction (annotation; a hard eviction, grace 0) and spec.activeDeadlineSeconds (the pod's
        grace period): kill and fail the pod."""
        if self.view.phase_override is not None:
            return
        now = time.monotonic()
        annotations, spec = pod["metadata"].get("annotations") or {}, pod.get("spec") or {}
        active = spec.get("activeDeadlineSeconds")
        running_for = -math.inf if self.first_started is None else now - self.first_started
        if running_for >= seconds(annotations.get(EVICT_AFTER), math.inf):
            grace = 0.0
            message = "The node was low on resource: memory. "
            self.view.reason, self.view.message = "Evicted", message
            self.view.extra_conditions = [{"type": "DisruptionTarget", "status": "True",
                                           "reason": "TerminationByKubelet", "message": message.strip()}]
        elif active is not None and self.admitted is not None and now - self.admitted >= float(active):
            pod_grace = spec.get("terminationGracePeriodSeconds")
            grace = DEFAULT_GRACE_SECONDS if pod_grace is None else float(pod_grace)
            self.view.reason = "DeadlineExceeded"
            self.view.message = "Pod was active on the node longer than the specified deadline"
        else:
            return
        self.view.phase_override = "Failed"
        self.restart_at.clear()
        await self._kill(grace)
        self._collect_exits(pod)

    # ------------------------------------------------------------------ status and the end

    async def _report(self, pod: JSON) -> JSON | None:
        current = pod.get("status") or {}
        desired = pod_status(current, self._policy(pod), list(self.records.values()), list(self.inits.values()),
                             self.view)
        if all(current.get(k) == v for k, v in desired.items() if k != "conditions") and \
                _same_conditions(current.get("conditions") or [], desired["conditions"]):
            return desired
        try:
            self.latest = await self.agent.pods_api.patch(pod["metadata"]["name"], {"status": desired},
                                                          self.namespace, type="strategic",
                                                          subresource="status")
        except NotFound:
            return None
        except KubeError as e:
            # The server is away or refused (a restart, a conflict): report again on the next turn.
            log.warning("node agent: status of pod %s not written: %s", self.key, e)
            self.write_failures += 1
            return None
        self.write_failures = 0
        return desired

    async def _terminate(self, pod: JSON) -> None:
        """Graceful deletion: stop within the grace period, report the terminal phase, delete with grace 0."""
        grace = float(pod["metadata"].get("deletionGracePeriodSeconds") or 0)
        already_terminal = (pod.get("status") or {}).get("phase") in TERMINAL_PHASES
        await self._kill(grace)
        self.restart_at.clear()
        self.view.phase_override = self.view.phase_override or "Failed"
        self._collect_exits(pod)
        now = now_rfc3339()
        for rec in [*self.inits.values(), *self.records.values()]:
            if rec.state != "terminated":
                rec.end(137, now, "ContainerStatusUnknown",
                        "The container could not be located when the pod was terminated")
        if all(r.succeeded for r in self.records.values()) and self.records:
            self.view.phase_override = "Succeeded"
        if not already_terminal:
            await self._report(pod)
        await self._shutdown(0)
        for attempt in range(8):
            try:
                await self.agent.pods_api.delete(pod["metadata"]["name"], self.namespace, grace_period_seconds=0,
                                                 preconditions={"uid": self.uid})
                return
            except (NotFound, Conflict):
                return
            except KubeError as e:
                log.warning("node agent: deleting pod %s failed: %s", self.key, e)
                await asyncio.sleep(min(0.2 * 2 ** attempt, 5.0))

    async def _shutdown(self, grace: float) -> None:
        await self._stop_all(grace)
        for run in self.runs.values():
            run.ready.cancel()
        self.runs.clear()
        if self.sandbox is not None:
            sandbox, self.sandbox = self.sandbox, None
            self.view.sandbox_ready = False
            self.agent.logs.detach(self.namespace, self.key.split("/", 1)[1])
            try:
                await self.agent.runtime.remove_sandbox(sandbox)
            except Exception:
                log.exception("node agent: removing the sandbox of pod %s failed", self.key)


def _probe_port(port: Any, container: JSON) -> int | None:
    """A probe's port: a number, or the name of one of the container's ports."""
    if isinstance(port, int) or (isinstance(port, str) and port.isdigit()):
        return int(port)
    for p in container.get("ports") or []:
        if p.get("name") == port and p.get("containerPort"):
            return int(p["containerPort"])
    return None


def _same_conditions(current: list[JSON], desired: list[JSON]) -> bool:
    def key(conds: Iterable[JSON]) -> dict[str, tuple[Any, Any, Any]]:
        return {c.get("type", ""): (c.get("status"), c.get("reason"), c.get("message")) for c in conds}
    return key(current) == key(desired)


class ContainerLogs:
    """Each container's output, kept after it ends (until its pod is gone) for `kubectl logs`."""

    def __init__(self, limit: int = 1 << 20) -> None:
        self.limit = limit
        self._live: dict[tuple[str, str, str], Container] = {}
        self._previous: dict[tuple[str, str, str], bytes] = {}
        self._kept: dict[tuple[str, str, str], bytes] = {}

    def attach(self, namespace: str, pod: str, container: str, handle: Container) -> None:
        key = (namespace, pod, container)
        old = self._live.get(key)
        if old is not None:
            self._previous[key] = old.logs()[-self.limit:]
        self._live[key] = handle

    def detach(self, namespace: str, pod: str) -> None:
        for key in [k for k in self._live if k[:2] == (namespace, pod)]:
            self._kept[key] = self._live.pop(key).logs()[-self.limit:]

    def forget(self, namespace: str, pod: str) -> None:
        for table in (self._live, self._previous, self._kept):
            for key in [k for k in table if k[:2] == (namespace, pod)]:
                del table[key]

    def get(self, namespace: str, pod: str, container: str, previous: bool = False) -> bytes | None:
        key = (namespace, pod, container)
        if previous:
            return self._previous.get(key)
        live = self._live.get(key)
        return live.logs() if live is not None else self._kept.get(key)

    def containers(self, namespace: str, pod: str) -> list[str]:
        return sorted({k[2] for table in (self._live, self._kept) for k in table if k[:2] == (namespace, pod)})


class NodeAgent:
    """The kubelets of `options.nodes`, as one API client. `await agent.run(ready)` until cancelled."""

    def __init__(self, client: Client, runtime: Runtime[Any], options: AgentOptions | None = None) -> None:
        self.client = client
        self.runtime = runtime
        self.options = options or AgentOptions()
        self.runtime_needs_files = runtime.name != "simulated"
        self.pods_api = client.resource(PODS)
        self.nodes_api = client.resource(NODES)
        self.leases_api = client.resource(LEASES)
        self.pods = Informer(self.pods_api, name="pods")
        self.informers = [self.pods]
        self.configmaps: Informer | None = None
        self.secrets: Informer | None = None
        self.services: Informer | None = None
        if self.runtime_needs_files:
            self.configmaps = Informer(client.resource(CONFIGMAPS), name="configmaps")
            self.secrets = Informer(client.resource(SECRETS), name="secrets")
            self.services = Informer(client.resource(SERVICES), name="services")
            self.informers += [self.configmaps, self.secrets, self.services]
        self.workers: dict[str, PodWorker] = {}
        self.logs = ContainerLogs()
        self.kubelet_port = 0
        self._unbound: set[str] = set()
        self._bind_wakeup = asyncio.Event()
        self._next_node = 0
        self._dns_dirty: set[str] = set()
        self._dns_scheduled = False
        self._tasks: list[asyncio.Task[Any]] = []

    # ------------------------------------------------------------------ lookups for the workers

    def configmap(self, namespace: str, name: str) -> JSON | None:
        return self.configmaps.store.get(f"{namespace}/{name}") if self.configmaps is not None else None

    def secret(self, namespace: str, name: str) -> JSON | None:
        return self.secrets.store.get(f"{namespace}/{name}") if self.secrets is not None else None

    def volumes_of(self, pod: JSON) -> list[Any]:
        if not self.runtime_needs_files:
            return []
        return podspec.volumes(pod, self.configmap, self.secret)

    def published_hosts(self, namespace: str) -> list[HostEntry]:
        if self.services is None:
            return []
        return hosts.published(self.pods.store.by_namespace(namespace), self.services.store.by_namespace(namespace),
                               self.options.cluster_domain)

    # ------------------------------------------------------------------ lifecycle

    async def run(self, ready: asyncio.Event | None = None) -> None:
        from mpi_operator.nodeagent.logserver import serve_logs

        runner = None
        try:
            if self.options.kubelet_port is not None:
                runner, self.kubelet_port = await serve_logs(self, self.options.node_ip, self.options.kubelet_port)
            for name in self.options.nodes:
                await self._register(name)
            self.pods.add_handler(self._on_pod, lambda _old, new: self._on_pod(new),
                                  lambda pod: self._on_pod(pod, deleted=True))
            for inf in (self.configmaps, self.secrets):
                if inf is not None:
                    inf.add_handler(self._on_volume_source, lambda _old, new: self._on_volume_source(new),
                                    self._on_volume_source)
            if self.services is not None:
                self.services.add_handler(self._on_service, lambda _old, new: self._on_service(new), self._on_service)
            for inf in self.informers:
                self._tasks.append(inf.start())
            for inf in self.informers:
                await inf.wait_for_sync()
            self._tasks.append(asyncio.create_task(self._heartbeat(), name="node-heartbeat"))
            if self.options.bind:
                self._tasks.append(asyncio.create_task(self._binder(), name="node-binder"))
            if ready is not None:
                ready.set()
            await asyncio.Event().wait()
        finally:
            workers = [w.task for w in self.workers.values() if w.task is not None]
            for task in workers:
                task.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
            for task in self._tasks:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            for inf in self.informers:
                await inf.stop()
            await self.runtime.close()
            if runner is not None:
                await runner.cleanup()

    # ------------------------------------------------------------------ nodes and leases

    def _node_object(self, name: str) -> JSON:
        now = now_rfc3339()
        labels = {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
                  **self.options.labels}
        conditions = [
            {"type": t, "status": "False", "reason": reason, "message": message, "lastHeartbeatTime": now,
             "lastTransitionTime": now}
            for t, reason, message in (
                ("MemoryPressure", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
                ("DiskPressure", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
                ("PIDPressure", "KubeletHasSufficientPID", "kubelet has sufficient PID available"))]
        conditions.append({"type": "Ready", "status": "True", "reason": "KubeletReady",
                           "message": "kubelet is posting ready status", "lastHeartbeatTime": now,
                           "lastTransitionTime": now})
        return {
            "apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": labels},
            "spec": {},
            "status": {
                "capacity": dict(self.options.capacity), "allocatable": dict(self.options.capacity),
                "conditions": conditions,
                "addresses": [{"type": "InternalIP", "address": self.options.node_ip},
                              {"type": "Hostname", "address": name}],
                "daemonEndpoints": {"kubeletEndpoint": {"Port": self.kubelet_port}},
                "nodeInfo": {"kubeletVersion": self.options.kubelet_version,
                             "containerRuntimeVersion": f"mpi-operator-nodeagent://{self.runtime.name}",
                             "operatingSystem": "linux", "architecture": "amd64", "osImage": "mpi-operator node agent",
                             "kernelVersion": "", "kubeProxyVersion": "", "machineID": "", "systemUUID": "",
                             "bootID": ""}}}

    async def _register(self, name: str) -> None:
        node = self._node_object(name)
        try:
            await self.nodes_api.create(node)
        except AlreadyExists:
            await self.nodes_api.patch(name, {"metadata": {"labels": node["metadata"]["labels"]}})
        # The status of a create may be dropped (a real server keeps it, but be explicit), so write it too.
        await self.nodes_api.patch(name, {"status": node["status"]}, subresource="status")
        await self._renew_lease(name)

    async def _renew_lease(self, name: str) -> None:
        lease = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                 "metadata": {"name": name, "namespace": NODE_LEASE_NAMESPACE},
                 "spec": {"holderIdentity": name, "leaseDurationSeconds": self.options.lease_seconds,
                          "renewTime": micro_time()}}
        try:
            await self.leases_api.patch(name, {"spec": lease["spec"]}, NODE_LEASE_NAMESPACE)
        except NotFound:
            with contextlib.suppress(AlreadyExists):
                await self.leases_api.create(lease, NODE_LEASE_NAMESPACE)

    async def _heartbeat(self) -> None:
        last_status = time.monotonic()
        while True:
            await asyncio.sleep(self.options.heartbeat_seconds)
            for name in self.options.nodes:
                try:
                    await self._renew_lease(name)
                    if time.monotonic() - last_status >= 60:
                        now = now_rfc3339()
                        node = await self.nodes_api.get(name)
                        conditions = (node.get("status") or {}).get("conditions") or []
                        for c in conditions:
                            c["lastHeartbeatTime"] = now
                        await self.nodes_api.patch(name, {"status": {"conditions": conditions}},
                                                   subresource="status")
                except NotFound:
                    await self._register(name)
                except Exception as e:  # keep beating: a failed renewal is retried on the next beat
                    log.warning("node agent: heartbeat of node %s failed: %s", name, e)
            if time.monotonic() - last_status >= 60:
                last_status = time.monotonic()

    # ------------------------------------------------------------------ pods

    def _on_pod(self, pod: JSON, deleted: bool = False) -> None:
        meta, spec = pod["metadata"], pod.get("spec") or {}
        uid = meta.get("uid", "")
        worker = self.workers.get(uid)
        namespace = meta.get("namespace", "")
        if self.services is not None:
            self._mark_dns(namespace)
        if deleted:
            if worker is not None:
                worker.kick()
            self._unbound.discard(f"{namespace}/{meta['name']}")
            self.logs.forget(namespace, meta["name"])
            return
        if worker is not None:
            worker.kick()
            return
        node = spec.get("nodeName")
        if not node:
            if self.options.bind:
                self._unbound.add(f"{namespace}/{meta['name']}")
                self._bind_wakeup.set()
            return
        if node not in self.options.nodes:
            return
        if (pod.get("status") or {}).get("phase") in TERMINAL_PHASES and not meta.get("deletionTimestamp"):
            return
        worker = PodWorker(self, pod)
        self.workers[uid] = worker
        worker.task = asyncio.create_task(worker.run(), name=f"pod-{namespace}/{meta['name']}")

    def _on_volume_source(self, obj: JSON) -> None:
        namespace = obj["metadata"].get("namespace", "")
        for worker in self.workers.values():
            if worker.namespace == namespace:
                worker.volumes_dirty = True
                worker.kick()

    def _on_service(self, obj: JSON) -> None:
        self._mark_dns(obj["metadata"].get("namespace", ""))

    def _mark_dns(self, namespace: str) -> None:
        """Coalesce DNS changes of a namespace: its pods' hosts files are rewritten once per loop turn."""
        self._dns_dirty.add(namespace)
        if not self._dns_scheduled:
            self._dns_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush_dns)

    def _flush_dns(self) -> None:
        self._dns_scheduled = False
        dirty, self._dns_dirty = self._dns_dirty, set()
        for worker in self.workers.values():
            if worker.namespace in dirty and worker.sandbox is not None:
                worker.hosts_dirty = True
                worker.kick()

    # ------------------------------------------------------------------ binding (no scheduler)

    def _bindable(self, pod: JSON) -> bool:
        meta, spec = pod["metadata"], pod.get("spec") or {}
        return not (spec.get("nodeName") or meta.get("deletionTimestamp") or spec.get("schedulingGates")
                    or (meta.get("annotations") or {}).get(UNSCHEDULABLE, "").lower() == "true"
                    or spec.get("schedulerName", "default-scheduler") not in self.options.schedulers
                    or (pod.get("status") or {}).get("phase") in TERMINAL_PHASES)

    async def _binder(self) -> None:
        while True:
            await self._bind_wakeup.wait()
            self._bind_wakeup.clear()
            keys, self._unbound = self._unbound, set()
            for key in sorted(keys):
                pod = self.pods.store.get(key)
                if pod is None:
                    continue
                try:
                    await self._bind(pod)
                except KubeError as e:
                    log.warning("node agent: binding pod %s failed: %s; retrying", key, e)
                    self._unbound.add(key)
                    asyncio.get_running_loop().call_later(1.0, self._bind_wakeup.set)

    async def _bind(self, pod: JSON) -> None:
        if not self._bindable(pod):
            await self._mark_unschedulable(pod)
            return
        node = self.options.nodes[self._next_node % len(self.options.nodes)]
        self._next_node += 1
        meta = pod["metadata"]
        binding = {"apiVersion": "v1", "kind": "Binding",
                   "metadata": {"name": meta["name"], "namespace": meta["namespace"], "uid": meta["uid"]},
                   "target": {"apiVersion": "v1", "kind": "Node", "name": node}}
        with contextlib.suppress(NotFound, Conflict):
            await self.client.request("POST", self.pods_api.type.path(meta["namespace"], meta["name"], "binding"),
                                      body=binding)

    async def _mark_unschedulable(self, pod: JSON) -> None:
        meta, spec = pod["metadata"], pod.get("spec") or {}
        if spec.get("nodeName") or meta.get("deletionTimestamp"):
            return
        if spec.get("schedulingGates"):
            reason, message = "SchedulingGated", "Scheduling is blocked due to non-empty scheduling gates"
        elif (meta.get("annotations") or {}).get(UNSCHEDULABLE, "").lower() == "true":
            reason, message = "Unschedulable", (f"0/{len(self.options.nodes)} nodes are available: "
                                                "the pod asks to stay unschedulable.")
        else:
            return  # another scheduler's pod
        current = next((c for c in (pod.get("status") or {}).get("conditions") or []
                        if c.get("type") == "PodScheduled"), None)
        if current is not None and current.get("reason") == reason:
            return
        condition = {"type": "PodScheduled", "status": "False", "reason": reason, "message": message,
                     "lastProbeTime": None, "lastTransitionTime": now_rfc3339()}
        with contextlib.suppress(NotFound):
            await self.pods_api.patch(meta["name"], {"status": {"conditions": [condition]}}, meta["namespace"],
                                      type="strategic", subresource="status")

