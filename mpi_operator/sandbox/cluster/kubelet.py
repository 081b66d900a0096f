"""Simulated scheduler and kubelet for one node: binds pods, runs them on timers, kills them when deleted.

A store listener only notes which pods changed; a deferred pass compares each pod with what the node should do
next (bind, start, become ready, exit, restart, terminate) and arms at most one asyncio timer per action. Every
change is an ordinary store write, so clients see the same watch events a real node produces. A kill (deletion,
eviction, active deadline) is SIGTERM then SIGKILL after the grace period, as the node agent's. What a pod does
is chosen by annotations (`annotations.py`, prefix `sandbox.mpi-operator/`); without them Job-like pods
succeed after `run_seconds` and MPI worker pods (sshd, role `worker`, restartPolicy Always) run until deleted.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mpi_operator.sandbox.apiserver.changes import DELETED, Change
from mpi_operator.sandbox.apiserver.storage import Storage, deep_copy
from mpi_operator.sandbox.cluster.annotations import (
    EVICT_AFTER,
    EXIT_CODE,
    FAILURES,
    LOGS,
    READY_SECONDS,
    RUN_SECONDS,
    START_SECONDS,
    TERMINATION_SECONDS,
    UNSCHEDULABLE,
    integer,
    is_long_running,
    seconds,
)
from mpi_operator.sandbox.cluster.changequeue import ChangeQueue
from mpi_operator.sandbox.cluster.recorder import EventRecorder
from mpi_operator.sandbox.errors import ApiError
from mpi_operator.sandbox.timefmt import now_rfc3339, parse_rfc3339

log = logging.getLogger(__name__)
Obj = dict[str, Any]

NODE_NAME = "sandbox-node"
HOST_IP = "10.0.0.10"
TERMINAL = ("Succeeded", "Failed")
SIGTERM_EXIT, SIGKILL_EXIT = 143, 137
# The kubelet's container runtime manager never gives a container less than this to stop
# (kuberuntime's minimumGracePeriodInSeconds), so even a hard eviction's grace 0 sends SIGTERM first.
MINIMUM_GRACE_SECONDS = 2.0
DEFAULT_GRACE_SECONDS = 30.0  # spec.terminationGracePeriodSeconds when unset


def _now() -> str:
    return now_rfc3339()


def set_condition(conditions: list[Obj], type_: str, status: str, now: str, reason: str | None = None,
                  message: str | None = None) -> None:
    """Set one pod condition in place; lastTransitionTime moves only when the status changes."""
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
    cond: Obj = {"type": type_, "status": status, "lastProbeTime": None, "lastTransitionTime": now}
    if reason is not None:
        cond["reason"] = reason
    if message is not None:
        cond["message"] = message
    conditions.append(cond)


def condition_true(pod: Obj, type_: str) -> bool:
    return any(c.get("type") == type_ and c.get("status") == "True"
               for c in (pod.get("status") or {}).get("conditions") or [])


def _image_id(image: str) -> str:
    digest = hashlib.sha256(image.encode()).hexdigest()
    return f"{image.split(':', 1)[0]}@sha256:{digest}"


def _container_id(pod_uid: str, name: str, restarts: int) -> str:
    return "containerd://" + hashlib.sha256(f"{pod_uid}/{name}/{restarts}".encode()).hexdigest()


@dataclass(frozen=True)
class _Kill:
    """An eviction or deadline in progress: when the killed containers stop, their exit code, and why the pod fails."""

    stopped_at: float  # time.monotonic()
    exit_code: int
    reason: str
    message: str
    disruption: str | None = None  # the DisruptionTarget condition's reason, if any


@dataclass
class _PodSim:
    """What the node remembers about one pod: its armed timers, when it was admitted (status.startTime) and its
    containers last started (time.monotonic()), a kill in progress."""

    uid: str
    timers: dict[str, asyncio.TimerHandle] = field(default_factory=dict)
    admitted: float | None = None
    started: float | None = None
    kill: _Kill | None = None

    def cancel(self, *names: str) -> None:
        for name in names or list(self.timers):
            handle = self.timers.pop(name, None)
            if handle is not None:
                handle.cancel()


class Kubelet:
    """Scheduler and kubelet of the single simulated node `node_name`; delays are in seconds (0 allowed)."""

    def __init__(self, store: Storage, *, node_name: str = NODE_NAME, schedule_delay: float = 0.0,
                 start_delay: float = 0.05, run_seconds: float = 1.0, termination_seconds: float = 0.0,
                 restart_delay: float = 0.1, register_node: bool = True, events: bool = False) -> None:
        self.store = store
        self.node_name = node_name
        self.schedule_delay = schedule_delay
        self.start_delay = start_delay
        self.run_seconds = run_seconds
        self.termination_seconds = termination_seconds
        self.restart_delay = restart_delay
        self.register_node = register_node
        self.events = EventRecorder(store, "kubelet", events)
        self.scheduler_events = EventRecorder(store, "default-scheduler", events)
        self._pods: dict[str, _PodSim] = {}
        self._changed: ChangeQueue[str] = ChangeQueue(self._reconcile_uid)
        self._runs: dict[str, int] = {}  # failed runs so far, per controlling owner (or pod) uid
        self._ips = (f"10.244.{i // 250}.{i % 250 + 2}" for i in itertools.count())
        self._loop: asyncio.AbstractEventLoop | None = None
        self._unlisten: Callable[[], None] | None = None

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._changed.open(self._loop)
        if self.register_node:
            self._ensure_node()
        self._unlisten = self.store.listen(self._on_event)
        for pod in self.store.iter_objects("pods"):
            self._changed.mark(pod["metadata"]["uid"])

    def stop(self) -> None:
        if self._unlisten is not None:
            self._unlisten()
            self._unlisten = None
        for sim in self._pods.values():
            sim.cancel()
        self._pods.clear()
        self._changed.close()
        self._loop = None

    @property
    def idle(self) -> bool:
        """No pod change waits to be looked at (timers may still be armed)."""
        return self._changed.idle

    def _ensure_node(self) -> None:
        if self.store.find("nodes", None, self.node_name) is not None:
            return
        now = _now()
        capacity = {"cpu": "64", "memory": "256Gi", "pods": "1000", "ephemeral-storage": "1Ti"}
        self.store.create("nodes", None, {
            "metadata": {"name": self.node_name, "labels": {
                "kubernetes.io/hostname": self.node_name, "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64", "node-role.kubernetes.io/control-plane": ""}},
            "spec": {},
            "status": {
                "capacity": capacity, "allocatable": capacity,
                "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                                "message": "kubelet is posting ready status", "lastHeartbeatTime": now,
                                "lastTransitionTime": now}],
                "addresses": [{"type": "InternalIP", "address": HOST_IP},
                              {"type": "Hostname", "address": self.node_name}],
                "nodeInfo": {"kubeletVersion": "v1.37.0-sandbox", "containerRuntimeVersion": "containerd://2.1.0",
                             "operatingSystem": "linux", "architecture": "amd64", "osImage": "sandbox",
                             "kernelVersion": "6.0.0", "kubeProxyVersion": "", "machineID": "", "systemUUID": "",
                             "bootID": ""}}})

    # ------------------------------------------------------------------ change tracking

    def _on_event(self, ev: Change) -> None:
        if ev.info.key == "nodes" and ev.name == self.node_name:
            # Cordon, uncordon or removal of the node: unbound pods get another look.
            for pod in self.store.iter_objects("pods"):
                if not (pod.get("spec") or {}).get("nodeName"):
                    self._changed.mark(pod["metadata"]["uid"])
            return
        if ev.info.key != "pods":
            return
        uid = ev.object["metadata"]["uid"]
        if ev.type == DELETED:
            sim = self._pods.pop(uid, None)
            if sim is not None:
                sim.cancel()
            self._changed.discard(uid)
            return
        self._changed.mark(uid)

    def _reconcile_uid(self, uid: str) -> None:
        pod = self.store.get_by_uid(uid)
        if pod is not None:
            self._reconcile(pod)

    def _arm(self, sim: _PodSim, name: str, delay: float, action: Callable[[str], object]) -> None:
        """Arm timer `name` unless it is already armed; the action re-reads the pod by uid when it fires."""
        if name in sim.timers or math.isinf(delay) or self._loop is None:
            return

        def fire() -> None:
            sim.timers.pop(name, None)
            try:
                action(sim.uid)
            except ApiError as e:
                if e.code not in (404, 409):
                    log.warning("kubelet: %s of pod %s failed: %s", name, sim.uid, e.message)
                self._changed.mark(sim.uid)
            except Exception:
                log.exception("kubelet: %s of pod %s failed", name, sim.uid)

        sim.timers[name] = self._loop.call_later(max(delay, 0.0), fire)

    # ------------------------------------------------------------------ the per-pod decision

    def _reconcile(self, pod: Obj) -> None:
        meta, spec, status = pod["metadata"], pod.get("spec") or {}, pod.get("status") or {}
        uid = meta["uid"]
        sim = self._pods.setdefault(uid, _PodSim(uid))
        annotations = meta.get("annotations") or {}
        phase = status.get("phase", "Pending")
        if phase in TERMINAL:
            sim.cancel()
            if meta.get("deletionTimestamp") and meta.get("deletionGracePeriodSeconds"):
                self._arm(sim, "remove", 0, self._remove)
            else:
                self._pods.pop(uid, None)  # nothing left to do for this pod on the node
            return
        if sim.kill is not None:
            # Evicted or past its deadline: the containers are stopping; a deletion waits for them (as a kill does).
            self._arm(sim, "killed", sim.kill.stopped_at - time.monotonic(), self._killed)
            return
        if meta.get("deletionTimestamp"):
            sim.cancel("bind", "start", "ready", "exit", "evict", "deadline")
            delay, _ = self._kill(pod, float(meta.get("deletionGracePeriodSeconds") or 0))
            self._arm(sim, "terminate", delay, self._terminate)
            return
        if not spec.get("nodeName"):
            if annotations.get(UNSCHEDULABLE, "").lower() == "true" or spec.get("schedulingGates") or \
                    not self._node_schedulable():
                self._arm(sim, "unschedulable", 0, self._mark_unschedulable)
            else:
                self._arm(sim, "bind", self.schedule_delay, self._bind)
            return
        deadline = spec.get("activeDeadlineSeconds")
        if deadline is not None and status.get("startTime"):
            if sim.admitted is None:  # admitted before this kubelet started: startTime, which has whole seconds only
                sim.admitted = time.monotonic() - (time.time() - parse_rfc3339(status["startTime"]))
            self._arm(sim, "deadline", sim.admitted + float(deadline) - time.monotonic(), self._deadline)
        statuses = status.get("containerStatuses") or []
        running = bool(statuses) and all("running" in (s.get("state") or {}) for s in statuses)
        if phase == "Pending" or not running:
            delay = seconds(annotations.get(START_SECONDS), self.start_delay)
            if phase == "Running":
                delay = self.restart_delay  # back-off of a container restarting in place
            self._arm(sim, "start", delay, self._start)
            return
        if sim.started is None:
            sim.started = time.monotonic()
        elapsed = time.monotonic() - sim.started
        if not condition_true(pod, "ContainersReady"):
            self._arm(sim, "ready", seconds(annotations.get(READY_SECONDS), 0.0) - elapsed, self._ready)
        if EVICT_AFTER in annotations:
            self._arm(sim, "evict", seconds(annotations[EVICT_AFTER], math.inf) - elapsed, self._evict_timer)
        default_run = math.inf if is_long_running(pod) else self.run_seconds
        self._arm(sim, "exit", seconds(annotations.get(RUN_SECONDS), default_run) - elapsed, self._exit)

    # ------------------------------------------------------------------ actions (each re-reads the pod)

    def _current(self, uid: str) -> Obj | None:
        pod = self.store.get_by_uid(uid)
        if pod is None or (pod.get("status") or {}).get("phase") in TERMINAL:
            return None
        return pod

    def _write_status(self, pod: Obj, status: Obj) -> Obj:
        body = dict(pod)
        body["status"] = status
        meta = pod["metadata"]
        return self.store.update("pods", meta["namespace"], meta["name"], body, subresource="status")

    def _mark_unschedulable(self, uid: str) -> None:
        pod = self._current(uid)
        if pod is None or (pod.get("spec") or {}).get("nodeName") or pod["metadata"].get("deletionTimestamp"):
            return
        status = deep_copy(pod.get("status") or {})
        conditions = status.setdefault("conditions", [])
        if (pod.get("spec") or {}).get("schedulingGates"):
            set_condition(conditions, "PodScheduled", "False", _now(), "SchedulingGated",
                          "Scheduling is blocked due to non-empty scheduling gates")
        elif not self._node_schedulable():
            set_condition(conditions, "PodScheduled", "False", _now(), "Unschedulable",
                          "0/1 nodes are available: 1 node(s) were unschedulable.")
        else:
            set_condition(conditions, "PodScheduled", "False", _now(), "Unschedulable",
                          "0/1 nodes are available: 1 node(s) didn't match the pod's simulated constraints.")
        self._write_status(pod, status)

    def _node_schedulable(self) -> bool:
        """False while the node is cordoned (`spec.unschedulable`) or, when the kubelet registered it, gone."""
        node = self.store.find("nodes", None, self.node_name)
        if node is None:
            return not self.register_node
        return not (node.get("spec") or {}).get("unschedulable")

    def _bind(self, uid: str) -> None:
        pod = self._current(uid)
        if pod is None or (pod.get("spec") or {}).get("nodeName") or pod["metadata"].get("deletionTimestamp"):
            return
        if not self._node_schedulable():
            self._mark_unschedulable(uid)
            return
        meta = pod["metadata"]
        body = deep_copy(pod)
        body["spec"]["nodeName"] = self.node_name
        pod = self.store.update("pods", meta["namespace"], meta["name"], body)
        self.scheduler_events.event(pod, "Normal", "Scheduled", f"Successfully assigned {meta['namespace']}/"
                                    f"{meta['name']} to {self.node_name}")
        annotations = meta.get("annotations") or {}
        if seconds(annotations.get(START_SECONDS), self.start_delay) <= 0:
            return  # the start writes every condition at once: one status write fewer per pod
        now = _now()
        status = deep_copy(pod.get("status") or {})
        self._admit(pod, status, now)
        status["containerStatuses"] = [self._container(pod, c, {"waiting": {"reason": "ContainerCreating"}})
                                       for c in pod["spec"].get("containers") or []]
        self._write_status(pod, status)

    def _admit(self, pod: Obj, status: Obj, now: str) -> None:
        conditions = status.setdefault("conditions", [])
        set_condition(conditions, "PodScheduled", "True", now)
        set_condition(conditions, "PodReadyToStartContainers", "True", now)
        set_condition(conditions, "Initialized", "True", now)
        if not condition_true(pod, "ContainersReady"):
            set_condition(conditions, "ContainersReady", "False", now, "ContainersNotReady",
                          "containers with unready status: " + self._names(pod))
            set_condition(conditions, "Ready", "False", now, "ContainersNotReady",
                          "containers with unready status: " + self._names(pod))
        status.setdefault("hostIP", HOST_IP)
        status.setdefault("hostIPs", [{"ip": HOST_IP}])
        if "startTime" not in status:
            status["startTime"] = now  # to the second; the deadline counts from this exact moment
            uid = pod["metadata"]["uid"]
            self._pods.setdefault(uid, _PodSim(uid)).admitted = time.monotonic()

    @staticmethod
    def _names(pod: Obj) -> str:
        return "[" + " ".join(c.get("name", "") for c in (pod.get("spec") or {}).get("containers") or []) + "]"

    def _container(self, pod: Obj, container: Obj, state: Obj, *, ready: bool = False, restarts: int = 0,
                   last_state: Obj | None = None) -> Obj:
        image = str(container.get("image", ""))
        out: Obj = {"name": container.get("name", ""), "image": image, "imageID": _image_id(image),
                    "ready": ready, "restartCount": restarts, "started": "running" in state,
                    "state": state, "lastState": last_state or {}}
        if "waiting" not in state:
            out["containerID"] = _container_id(pod["metadata"]["uid"], out["name"], restarts)
        return out

    def _start(self, uid: str) -> None:
        pod = self._current(uid)
        if pod is None or pod["metadata"].get("deletionTimestamp") or not (pod.get("spec") or {}).get("nodeName"):
            return
        now = _now()
        status = deep_copy(pod.get("status") or {})
        self._admit(pod, status, now)
        annotations = pod["metadata"].get("annotations") or {}
        ready = seconds(annotations.get(READY_SECONDS), 0.0) <= 0
        old = {s.get("name"): s for s in status.get("containerStatuses") or []}
        statuses = []
        for c in pod["spec"].get("containers") or []:
            prev = old.get(c.get("name"), {})
            statuses.append(self._container(pod, c, {"running": {"startedAt": now}}, ready=ready,
                                            restarts=int(prev.get("restartCount", 0)),
                                            last_state=prev.get("lastState")))
        status["containerStatuses"] = statuses
        inits = pod["spec"].get("initContainers") or []
        if inits and not status.get("initContainerStatuses"):
            status["initContainerStatuses"] = [self._container(pod, c, {"terminated": {
                "exitCode": 0, "reason": "Completed", "startedAt": now, "finishedAt": now}}) for c in inits]
        status["phase"] = "Running"
        status.setdefault("podIP", HOST_IP if pod["spec"].get("hostNetwork") else next(self._ips))
        status["podIPs"] = [{"ip": status["podIP"]}]
        if ready:
            self._set_ready(status, now)
        sim = self._pods.setdefault(uid, _PodSim(uid))
        sim.started = time.monotonic()
        sim.cancel("exit", "ready", "evict")
        pod = self._write_status(pod, status)
        for c in pod["spec"].get("containers") or []:
            self.events.event(pod, "Normal", "Started", f"Started container {c.get('name', '')}")

    @staticmethod
    def _set_ready(status: Obj, now: str) -> None:
        for s in status.get("containerStatuses") or []:
            s["ready"] = True
        set_condition(status.setdefault("conditions", []), "ContainersReady", "True", now)
        set_condition(status["conditions"], "Ready", "True", now)

    def _ready(self, uid: str) -> None:
        pod = self._current(uid)
        if pod is None or pod["metadata"].get("deletionTimestamp") or (pod.get("status") or {}).get(
                "phase") != "Running":
            return
        status = deep_copy(pod["status"])
        self._set_ready(status, _now())
        self._write_status(pod, status)

    def _exit_code(self, pod: Obj) -> int:
        annotations = pod["metadata"].get("annotations") or {}
        code = integer(annotations.get(EXIT_CODE), 0)
        failures = integer(annotations.get(FAILURES), 0)
        if failures <= 0:
            return code
        owner = next((r.get("uid", "") for r in pod["metadata"].get("ownerReferences") or [] if r.get("controller")),
                     pod["metadata"]["uid"])
        done = self._runs.get(owner, 0)
        if done >= failures:
            return 0
        self._runs[owner] = done + 1
        return code or 1

    def _exit(self, uid: str) -> None:
        """The containers end on their own; the restart policy decides between a restart and a terminal phase."""
        pod = self._current(uid)
        if pod is None or pod["metadata"].get("deletionTimestamp"):
            return
        now = _now()
        code = self._exit_code(pod)
        policy = pod["spec"].get("restartPolicy", "Always")
        restart = policy == "Always" or (policy == "OnFailure" and code != 0)
        status = deep_copy(pod["status"])
        terminated = {"exitCode": code, "reason": "Completed" if code == 0 else "Error", "finishedAt": now}
        for s in status.get("containerStatuses") or []:
            started = ((s.get("state") or {}).get("running") or {}).get("startedAt", now)
            ended = {**terminated, "startedAt": started, "containerID": s.get("containerID", "")}
            s["ready"] = False
            s["started"] = False
            if restart:
                s["lastState"] = {"terminated": ended}
                s["restartCount"] = int(s.get("restartCount", 0)) + 1
                s["state"] = {"waiting": {"reason": "CrashLoopBackOff", "message": f"back-off restarting failed "
                                          f"container {s.get('name')} in pod {pod['metadata']['name']}"}}
            else:
                s["state"] = {"terminated": ended}
        if restart:
            conditions = status.setdefault("conditions", [])
            set_condition(conditions, "ContainersReady", "False", now, "ContainersNotReady",
                          "containers with unready status: " + self._names(pod))
            set_condition(conditions, "Ready", "False", now, "ContainersNotReady",
                          "containers with unready status: " + self._names(pod))
        else:
            self._finish(status, "Succeeded" if code == 0 else "Failed", now)
        self._write_status(pod, status)

    @staticmethod
    def _finish(status: Obj, phase: str, now: str) -> None:
        status["phase"] = phase
        reason = "PodCompleted" if phase == "Succeeded" else "PodFailed"
        conditions = status.setdefault("conditions", [])
        set_condition(conditions, "PodReadyToStartContainers", "False", now)
        set_condition(conditions, "ContainersReady", "False", now, reason)
        set_condition(conditions, "Ready", "False", now, reason)

    def _stop_containers(self, pod: Obj, status: Obj, now: str, code: int) -> bool:
        """Kill every container still running; True when all containers had already succeeded."""
        all_succeeded = True
        statuses = status.get("containerStatuses") or []
        if not statuses:
            statuses = status["containerStatuses"] = [self._container(pod, c, {"waiting": {}})
                                                      for c in pod["spec"].get("containers") or []]
        for s in statuses:
            state = s.get("state") or {}
            if "terminated" in state:
                all_succeeded = all_succeeded and state["terminated"].get("exitCode") == 0
                continue
            all_succeeded = False
            s["ready"] = False
            s["started"] = False
            if "running" in state:
                s["state"] = {"terminated": {"exitCode": code, "reason": "Error", "startedAt": state["running"].get(
                    "startedAt", now), "finishedAt": now, "containerID": s.get("containerID", "")}}
            else:
                s["state"] = {"terminated": {"exitCode": SIGKILL_EXIT, "reason": "ContainerStatusUnknown", "message":
                                             "The container could not be located when the pod was terminated"}}
        return all_succeeded

    def _kill(self, pod: Obj, grace: float) -> tuple[float, int]:
        """How killing the containers ends: SIGTERM, then SIGKILL once the grace period (at least 2 s) is over.

        Returns how long they take to stop (`termination-seconds`, capped by the grace) and the exit code they report:
        143 when they stop on SIGTERM, 137 when they would outlast the grace.
        """
        grace = max(grace, MINIMUM_GRACE_SECONDS)
        annotations = pod["metadata"].get("annotations") or {}
        takes = seconds(annotations.get(TERMINATION_SECONDS), self.termination_seconds)
        return min(takes, grace), SIGTERM_EXIT if takes <= grace else SIGKILL_EXIT

    def _terminate(self, uid: str) -> None:
        """Graceful deletion: stop the containers, record the terminal phase, then delete with grace 0."""
        pod = self._current(uid)
        if pod is None or not pod["metadata"].get("deletionTimestamp"):
            return
        now = _now()
        status = deep_copy(pod.get("status") or {})
        for s in status.get("containerStatuses") or []:
            if "running" in (s.get("state") or {}):
                self.events.event(pod, "Normal", "Killing", f"Stopping container {s.get('name', '')}")
        _, code = self._kill(pod, float(pod["metadata"].get("deletionGracePeriodSeconds") or 0))
        succeeded = self._stop_containers(pod, status, now, code)
        self._finish(status, "Succeeded" if succeeded else "Failed", now)
        self._write_status(pod, status)
        self._remove(uid)

    def _remove(self, uid: str) -> None:
        pod = self.store.get_by_uid(uid)
        if pod is None or pod.get("kind") != "Pod":
            return
        meta = pod["metadata"]
        with contextlib.suppress(ApiError):
            self.store.delete("pods", meta["namespace"], meta["name"],
                              {"gracePeriodSeconds": 0, "preconditions": {"uid": uid}})

    def _evict_timer(self, uid: str) -> None:
        pod = self._current(uid)
        if pod is not None:
            self.evict(pod["metadata"]["namespace"], pod["metadata"]["name"])

    # ------------------------------------------------------------------ on demand

    def evict(self, namespace: str, name: str, message: str = "The node was low on resource: memory. ") -> Obj:
        """Node-pressure eviction: the containers are killed (a hard eviction's grace 0, so the 2 s minimum), then
        phase Failed, reason Evicted, DisruptionTarget (TerminationByKubelet).

        Returns the pod: failed already when its containers stop at once, else as it is while they stop. The pod
        object stays (its controller counts it as failed and deletes it); raises ApiError 404 when absent.
        """
        pod = self.store.get("pods", namespace, name)
        if (pod.get("status") or {}).get("phase") in TERMINAL:
            return pod
        self.events.event(pod, "Warning", "Evicted", message.strip())
        return self._fail(pod, 0, "Evicted", message, "TerminationByKubelet")

    def _deadline(self, uid: str) -> None:
        """spec.activeDeadlineSeconds passed since status.startTime: the kubelet kills the pod (with its grace
        period) and fails it."""
        pod = self._current(uid)
        if pod is None or pod["metadata"].get("deletionTimestamp"):
            return
        sim = self._pods.get(uid)
        if sim is not None and "start" in sim.timers and (pod.get("status") or {}).get("phase") == "Pending":
            # The pod's worker is busy starting its containers (an image pull): as in the kubelet and the node
            # agent, the deadline acts once that is done (the start's status write re-arms this timer, overdue).
            return
        message = "Pod was active on the node longer than the specified deadline"
        self.events.event(pod, "Warning", "DeadlineExceeded", message)
        grace = (pod.get("spec") or {}).get("terminationGracePeriodSeconds")
        self._fail(pod, DEFAULT_GRACE_SECONDS if grace is None else float(grace), "DeadlineExceeded", message)

    def _fail(self, pod: Obj, grace: float, reason: str, message: str, disruption: str | None = None) -> Obj:
        """Kill the containers (`_kill`); the pod fails with `reason` once they have stopped (now, if at once)."""
        uid = pod["metadata"]["uid"]
        sim = self._pods.setdefault(uid, _PodSim(uid))
        if sim.kill is not None:
            return pod  # already being killed
        sim.cancel()
        delay, code = self._kill(pod, grace)
        sim.kill = _Kill(time.monotonic() + delay, code, reason, message, disruption)
        if delay > 0:
            self._arm(sim, "killed", delay, self._killed)
            return pod
        return self._killed(uid) or pod

    def _killed(self, uid: str) -> Obj | None:
        """The killed containers have stopped: they are terminated and the pod Failed, for the kill's reason."""
        pod, sim = self._current(uid), self._pods.get(uid)
        if pod is None or sim is None or sim.kill is None:
            return None
        kill, now = sim.kill, _now()
        status = deep_copy(pod.get("status") or {})
        self._stop_containers(pod, status, now, kill.exit_code)
        if kill.disruption is not None:
            set_condition(status.setdefault("conditions", []), "DisruptionTarget", "True", now, kill.disruption,
                          kill.message.strip())
        self._finish(status, "Failed", now)
        status["reason"], status["message"] = kill.reason, kill.message
        return self._write_status(pod, status)


def pod_logs(pod: Obj, query: dict[str, str]) -> str:
    """`kubectl logs`: the `logs` annotation, else one line saying what the simulated container did."""
    meta, status = pod["metadata"], pod.get("status") or {}
    text = (meta.get("annotations") or {}).get(LOGS)
    if text is not None:
        return str(text) if str(text).endswith("\n") or not text else f"{text}\n"
    name = query.get("container") or next((c.get("name", "") for c in (pod.get("spec") or {}).get("containers")
                                           or []), "")
    cs = next((s for s in status.get("containerStatuses") or [] if s.get("name") == name), None)
    if cs is None:
        return f"sandbox: container {name} of pod {meta['name']} has not started\n"
    state = cs.get("state") or {}
    if "terminated" in state:
        t = state["terminated"]
        return (f"sandbox: container {name} ran from {t.get('startedAt', '?')} to {t.get('finishedAt', '?')} and "
                f"exited with code {t.get('exitCode')}\n")
    if "running" in state:
        return f"sandbox: container {name} running since {state['running'].get('startedAt', '?')}\n"
    return f"sandbox: container {name} is waiting ({(state.get('waiting') or {}).get('reason', '')})\n"
