"""The simulated runtime: containers are timers, their outcome chosen by pod annotations.

No process runs. Without annotations a Job-like container exits 0 after `run_seconds`; a long-running one
(an MPI worker: sshd in its command, the worker role label, or restartPolicy Always) runs until stopped.
The annotations (prefix `sandbox.mpi-operator/`, the same the sandbox's simulated kubelet reads):
`exit-code`, `run-seconds` (`inf` = forever), `failures` (the first N runs per controlling owner fail),
`start-seconds`, `ready-seconds` (`inf` = never ready), `termination-seconds`, `logs`.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from mpi_operator.nodeagent.runtime import Container, ContainerSpec, HostEntry, PodIdentity, Volume

PREFIX = "sandbox.mpi-operator/"
EXIT_CODE = PREFIX + "exit-code"
RUN_SECONDS = PREFIX + "run-seconds"
FAILURES = PREFIX + "failures"
START_SECONDS = PREFIX + "start-seconds"
READY_SECONDS = PREFIX + "ready-seconds"
TERMINATION_SECONDS = PREFIX + "termination-seconds"
LOGS = PREFIX + "logs"
UNSCHEDULABLE = PREFIX + "unschedulable"       # read by the agent's binder
EVICT_AFTER = PREFIX + "evict-after-seconds"   # read by the agent
WORKER_ROLE_LABEL = ("training.kubeflow.org/job-role", "worker")
SIGTERM_EXIT = 143


def seconds(text: str | None, default: float) -> float:
    """An annotation's duration: `inf`/`forever`/`never`/`-1` are infinite; garbage gives the default."""
    if text is None:
        return default
    value = text.strip().lower()
    if value in ("inf", "forever", "never", "-1"):
        return math.inf
    try:
        return max(float(value), 0.0)
    except ValueError:
        return default


def _int(text: str | None, default: int) -> int:
    try:
        return int(text) if text is not None else default
    except ValueError:
        return default


def is_long_running(pod: PodIdentity, spec: ContainerSpec) -> bool:
    if WORKER_ROLE_LABEL in pod.labels or pod.restart_policy == "Always":
        return True
    return any("sshd" in word for word in (*spec.command, *spec.args[:1]))


@dataclass
class SimulatedSandbox:
    identity: PodIdentity
    ip: str
    hosts: tuple[HostEntry, ...] = ()
    volumes: dict[str, Volume] = field(default_factory=dict)


class SimulatedContainer:
    def __init__(self, runtime: SimulatedRuntime, pod: PodIdentity, spec: ContainerSpec) -> None:
        annotations = dict(pod.annotations)
        self._annotations = annotations
        self._spec = spec
        self._id = "sim://" + hashlib.sha256(f"{pod.uid}/{spec.name}/{spec.restart_count}".encode()).hexdigest()
        self._image_id = f"{spec.image.split(':', 1)[0]}@sha256:{hashlib.sha256(spec.image.encode()).hexdigest()}"
        default_run = math.inf if is_long_running(pod, spec) else runtime.run_seconds
        self._run = seconds(annotations.get(RUN_SECONDS), default_run)
        self._ready_after = seconds(annotations.get(READY_SECONDS), 0.0)
        self._termination = seconds(annotations.get(TERMINATION_SECONDS), runtime.termination_seconds)
        self._exit_code = runtime.exit_code_for(pod, annotations)
        self._done: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._started = time.monotonic()
        self._timer: asyncio.TimerHandle | None = None
        if not math.isinf(self._run):
            self._timer = asyncio.get_running_loop().call_later(self._run, self._finish, self._exit_code)

    @property
    def id(self) -> str:
        return self._id

    @property
    def image_id(self) -> str:
        return self._image_id

    def _finish(self, code: int) -> None:
        if self._timer is not None:
            self._timer.cancel()
        if not self._done.done():
            self._done.set_result(code)

    async def wait(self) -> int:
        return await asyncio.shield(self._done)

    async def wait_ready(self) -> None:
        if math.isinf(self._ready_after):
            await asyncio.Event().wait()
        left = self._ready_after - (time.monotonic() - self._started)
        if left > 0:
            await asyncio.sleep(left)

    async def stop(self, grace: float) -> None:
        if self._done.done():
            return
        delay = min(self._termination, grace)
        if delay > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._done), delay)
        # Ended on SIGTERM within the grace period, or SIGKILLed when it would have taken longer.
        self._finish(SIGTERM_EXIT if self._termination <= grace else 137)

    def logs(self) -> bytes:
        text = self._annotations.get(LOGS)
        if text is None:
            text = f"simulated container {self._spec.name} ({self._spec.image})"
        return (text if text.endswith("\n") or not text else text + "\n").encode()


class SimulatedRuntime:
    """Timers instead of processes; IPs from a counter in 10.244.0.0/16."""

    name = "simulated"

    def __init__(self, run_seconds: float = 1.0, termination_seconds: float = 0.0) -> None:
        self.run_seconds = run_seconds
        self.termination_seconds = termination_seconds
        self._ips = (f"10.244.{i // 250}.{i % 250 + 2}" for i in itertools.count())
        self._runs: dict[str, int] = {}   # failed runs so far, per controlling owner (or pod) uid

    def exit_code_for(self, pod: PodIdentity, annotations: dict[str, str]) -> int:
        code = _int(annotations.get(EXIT_CODE), 0)
        failures = _int(annotations.get(FAILURES), 0)
        if failures <= 0:
            return code
        owner = pod.controller_uid or pod.uid
        done = self._runs.get(owner, 0)
        if done >= failures:
            return 0
        self._runs[owner] = done + 1
        return code or 1

    async def create_sandbox(self, pod: PodIdentity) -> SimulatedSandbox:
        return SimulatedSandbox(pod, "127.0.0.1" if pod.host_network else next(self._ips))

    async def write_volume(self, sandbox: SimulatedSandbox, volume: Volume) -> None:
        sandbox.volumes[volume.name] = volume

    async def write_hosts(self, sandbox: SimulatedSandbox, entries: Sequence[HostEntry]) -> None:
        sandbox.hosts = tuple(entries)

    async def start_container(self, sandbox: SimulatedSandbox, spec: ContainerSpec) -> Container:
        delay = seconds(dict(sandbox.identity.annotations).get(START_SECONDS), 0.0)
        if delay > 0 and spec.restart_count == 0:
            await asyncio.sleep(delay)
        return SimulatedContainer(self, sandbox.identity, spec)

    async def remove_sandbox(self, sandbox: SimulatedSandbox) -> None:
        sandbox.volumes.clear()

    async def close(self) -> None:
        return None
