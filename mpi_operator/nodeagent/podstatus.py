"""Pod status as a kubelet reports it, computed from what the agent knows of each container.

Pure: `ContainerRecord`s in, a `status` dict out (phase, conditions, container statuses, IPs, start time).
The phase follows the kubelet's rules per restart policy; conditions keep their lastTransitionTime unless
their status changes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from mpi_operator.kube.meta import JSON

TERMINAL_PHASES = ("Succeeded", "Failed")


def now_rfc3339() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def rfc3339_seconds(text: str) -> float:
    """Seconds since the epoch of an RFC 3339 time as the API writes it (`2026-01-02T03:04:05Z`)."""
    return datetime.strptime(text[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC).timestamp()


def image_id(image: str) -> str:
    return f"{image.split(':', 1)[0]}@sha256:{hashlib.sha256(image.encode()).hexdigest()}"


@dataclass
class ContainerRecord:
    """The agent's view of one container: its current state and the last one it ended in."""

    name: str
    image: str
    init: bool = False
    state: str = "waiting"                      # waiting | running | terminated
    reason: str = "ContainerCreating"           # waiting reason (or terminated reason)
    message: str = ""
    started_at: str = ""
    finished_at: str = ""
    exit_code: int | None = None
    container_id: str = ""
    image_id: str = ""
    ready: bool = False
    restart_count: int = 0
    last_terminated: JSON | None = None

    def terminated_state(self) -> JSON:
        out: JSON = {"exitCode": self.exit_code if self.exit_code is not None else 137, "reason": self.reason}
        if self.message:
            out["message"] = self.message
        if self.started_at:
            out["startedAt"] = self.started_at
        if self.finished_at:
            out["finishedAt"] = self.finished_at
        if self.container_id:
            out["containerID"] = self.container_id
        return out

    def status(self) -> JSON:
        if self.state == "running":
            state: JSON = {"running": {"startedAt": self.started_at}}
        elif self.state == "terminated":
            state = {"terminated": self.terminated_state()}
        else:
            waiting: JSON = {"reason": self.reason}
            if self.message:
                waiting["message"] = self.message
            state = {"waiting": waiting}
        out: JSON = {"name": self.name, "image": self.image, "imageID": self.image_id, "ready": self.ready,
                     "restartCount": self.restart_count, "started": self.state == "running", "state": state,
                     "lastState": {"terminated": self.last_terminated} if self.last_terminated else {}}
        if self.container_id:
            out["containerID"] = self.container_id
        if not self.image_id:
            out.pop("imageID")
        return out

    def end(self, exit_code: int, now: str, reason: str | None = None, message: str = "") -> None:
        self.state = "terminated"
        self.exit_code = exit_code
        self.reason = reason or ("Completed" if exit_code == 0 else "Error")
        self.message = message
        self.finished_at = now
        self.ready = False

    def wait(self, reason: str, message: str = "") -> None:
        """Leave the terminated state for waiting (a restart pending); the ended run becomes lastState."""
        if self.state == "terminated":
            self.last_terminated = self.terminated_state()
        self.state = "waiting"
        self.reason = reason
        self.message = message
        self.ready = False

    @property
    def succeeded(self) -> bool:
        return self.state == "terminated" and self.exit_code == 0


@dataclass
class PodView:
    """What the status needs besides the containers."""

    phase_override: str | None = None           # Failed for eviction, deadline
    reason: str | None = None
    message: str | None = None
    scheduled: bool = True
    sandbox_ready: bool = False
    host_ip: str = ""
    pod_ip: str = ""
    start_time: str = ""
    extra_conditions: list[JSON] = field(default_factory=list)


def phase(restart_policy: str, containers: Sequence[ContainerRecord], inits: Sequence[ContainerRecord]) -> str:
    """The kubelet's pod phase: Pending until every init container succeeded and a container ran."""
    if any(c.state == "terminated" and not c.succeeded for c in inits) and restart_policy == "Never":
        return "Failed"
    if not all(c.succeeded for c in inits):
        return "Pending"
    if not containers or all(c.state == "waiting" and c.restart_count == 0 and c.last_terminated is None
                             for c in containers):
        return "Pending"
    if all(c.state == "terminated" for c in containers):
        if restart_policy == "Always":
            return "Running"
        if all(c.succeeded for c in containers):
            return "Succeeded"
        if restart_policy == "Never":
            return "Failed"
    return "Running"


def set_condition(conditions: list[JSON], type_: str, status: str, now: str, reason: str | None = None,
                  message: str | None = None) -> None:
    """Set one condition in place; lastTransitionTime moves only when the status changes."""
    for c in conditions:
        if c.get("type") == type_:
            if c.get("status") != status:
                c["lastTransitionTime"] = now
            c["status"] = status
            for key, value in (("reason", reason), ("message", message)):
                if value is None:
                    c.pop(key, None)
                else:
                    c[key] = value
            return
    cond: JSON = {"type": type_, "status": status, "lastProbeTime": None, "lastTransitionTime": now}
    if reason is not None:
        cond["reason"] = reason
    if message is not None:
        cond["message"] = message
    conditions.append(cond)


def _names(records: Iterable[ContainerRecord]) -> str:
    return "[" + " ".join(c.name for c in records) + "]"


def pod_status(current: JSON, restart_policy: str, containers: Sequence[ContainerRecord],
               inits: Sequence[ContainerRecord], view: PodView, now: str | None = None) -> JSON:
    """The status to report, starting from the pod's `current` status (conditions others set are kept)."""
    now = now or now_rfc3339()
    conditions = [dict(c) for c in current.get("conditions") or []]
    pod_phase = view.phase_override or phase(restart_policy, containers, inits)
    terminal = pod_phase in TERMINAL_PHASES
    if view.scheduled:
        set_condition(conditions, "PodScheduled", "True", now)
    set_condition(conditions, "PodReadyToStartContainers", "True" if view.sandbox_ready and not terminal
                  else "False", now)
    initialized = all(c.succeeded for c in inits)
    if initialized:
        set_condition(conditions, "Initialized", "True", now)
    else:
        set_condition(conditions, "Initialized", "False", now, "ContainersNotInitialized",
                      "containers with incomplete status: " + _names(c for c in inits if not c.succeeded))
    unready = [c for c in containers if not c.ready]
    if pod_phase == "Succeeded":
        ready_reason: tuple[str, str | None] | None = ("PodCompleted", None)
    elif unready:
        ready_reason = ("ContainersNotReady", "containers with unready status: " + _names(unready))
    else:
        ready_reason = None
    for type_ in ("ContainersReady", "Ready"):
        if ready_reason is None:
            set_condition(conditions, type_, "True", now)
        else:
            set_condition(conditions, type_, "False", now, ready_reason[0], ready_reason[1])
    for extra in view.extra_conditions:
        set_condition(conditions, extra["type"], extra["status"], now, extra.get("reason"), extra.get("message"))
    status: JSON = {"phase": pod_phase, "conditions": conditions,
                    "containerStatuses": [c.status() for c in containers]}
    if inits:
        status["initContainerStatuses"] = [c.status() for c in inits]
    if view.host_ip:
        status["hostIP"] = view.host_ip
        status["hostIPs"] = [{"ip": view.host_ip}]
    if view.pod_ip:
        status["podIP"] = view.pod_ip
        status["podIPs"] = [{"ip": view.pod_ip}]
    if view.start_time:
        status["startTime"] = view.start_time
    if view.reason:
        status["reason"] = view.reason
    if view.message:
        status["message"] = view.message
    return status


def status_changed(current: JSON, desired: JSON) -> bool:
    """True when `desired` differs from what the server has in any field the agent reports."""
    return any(current.get(key) != value for key, value in desired.items())
