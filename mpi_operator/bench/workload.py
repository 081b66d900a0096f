"""The benchmark workload (N MPIJobs of W workers, created at once) and the progress tracker that timestamps,
per job, when it was first seen, when all its children exist and when it is Running and Succeeded.

The tracker is fed in the benchmark process (by the sandbox's store, or by watches of a real API server), so the
same clock times the operator and the floor, and neither driver reports its own progress. A child is an object
whose controller ownerReference is the MPIJob (Service, ConfigMap, Secret, launcher Job, worker pods): W + 4.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mpi_operator.api.constants import GROUP, KIND, VERSION
from mpi_operator.sandbox.apiserver.changes import ADDED, Change
from mpi_operator.sandbox.apiserver.storage import Storage

JSON = dict[str, Any]
# What a progress tracker is fed: (namespace, resource as `pods` / `jobs.batch`, added?, object).
Observer = Callable[[str | None, str, bool, JSON], None]
# Subscribes an observer to a source of changes; returns the unsubscribe.
Listen = Callable[[Observer], Callable[[], None]]
MPIJOBS = "mpijobs.kubeflow.org"
CHILD_RESOURCES = ("pods", "services", "configmaps", "secrets", "jobs.batch")
STAGES = ("children", "running", "succeeded")
IMAGE = "mpioperator/mpi-pi:openmpi"


def mpijob_manifest(name: str, namespace: str, workers: int) -> JSON:
    """A job shaped like the pi example (OpenMPI, sshd workers, cleanPodPolicy Running)."""

    def container(role: str, command: list[str], args: list[str]) -> JSON:
        return {"name": f"mpi-{role}", "image": IMAGE, "command": command, "args": args,
                "securityContext": {"runAsUser": 1000},
                "resources": {"limits": {"cpu": "1", "memory": "1Gi"}}}

    return {
        "apiVersion": f"{GROUP}/{VERSION}", "kind": KIND,
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "slotsPerWorker": 1,
            "runPolicy": {"cleanPodPolicy": "Running"},
            "sshAuthMountPath": "/home/mpiuser/.ssh",
            "mpiReplicaSpecs": {
                "Launcher": {"replicas": 1, "template": {"spec": {"containers": [
                    container("launcher", ["mpirun"], ["-n", str(workers), "/home/mpiuser/pi"])]}}},
                "Worker": {"replicas": workers, "template": {"spec": {"containers": [
                    container("worker", ["/usr/sbin/sshd"], ["-De", "-f", "/home/mpiuser/.sshd_config"])]}}},
            },
        },
    }


def _condition_true(obj: JSON, condition_type: str) -> bool:
    return any(c.get("type") == condition_type and c.get("status") == "True"
               for c in (obj.get("status") or {}).get("conditions") or [])


def controller_uid(obj: JSON) -> str | None:
    for ref in (obj.get("metadata") or {}).get("ownerReferences") or []:
        if ref.get("controller") and ref.get("kind") == KIND:
            return str(ref.get("uid"))
    return None


@dataclass
class JobProgress:
    name: str = ""  # the MPIJob's, once it was seen
    children: int = 0
    at: dict[str, float] = field(default_factory=dict)  # stage -> monotonic time


def store_feed(store: Storage) -> Listen:
    """The sandbox store's events as a progress feed."""

    def listen(observer: Observer) -> Callable[[], None]:
        def on_event(ev: Change) -> None:
            observer(ev.namespace, ev.info.key, ev.type == ADDED, ev.object)

        return store.listen(on_event)

    return listen


class Progress:
    """Per-job stage times for the MPIJobs of one namespace, fed synchronously by `listen`'s changes."""

    def __init__(self, listen: Listen, namespace: str, workers: int) -> None:
        self.listen = listen
        self.namespace = namespace
        self.expected_children = workers + 4
        self.jobs: dict[str, JobProgress] = {}
        self.t0 = time.monotonic()
        self._changed = asyncio.Event()
        self._unlisten: Callable[[], None] | None = None

    def __enter__(self) -> Progress:
        self._unlisten = self.listen(self.observe)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._unlisten is not None:
            self._unlisten()

    def observe(self, namespace: str | None, resource: str, added: bool, obj: JSON) -> None:
        if namespace != self.namespace:
            return
        if resource == MPIJOBS:
            progress = self.jobs.setdefault(str(obj["metadata"]["uid"]), JobProgress())
            progress.name = str(obj["metadata"].get("name", ""))
            if "created" not in progress.at:
                self._reach(progress, "created")  # first seen: when the watch delivered its creation
            for stage, condition in (("running", "Running"), ("succeeded", "Succeeded")):
                if stage not in progress.at and _condition_true(obj, condition):
                    self._reach(progress, stage)
        elif added and resource in CHILD_RESOURCES:
            uid = controller_uid(obj)
            if uid is None:
                return
            progress = self.jobs.setdefault(uid, JobProgress())
            progress.children += 1
            if progress.children == self.expected_children:
                self._reach(progress, "children")

    def _reach(self, progress: JobProgress, stage: str) -> None:
        progress.at[stage] = time.monotonic()
        self._changed.set()

    def count(self, stage: str) -> int:
        return sum(1 for p in self.jobs.values() if stage in p.at)

    async def wait(self, stage: str, jobs: int, within: float, alive: Callable[[], None] | None = None) -> float:
        """Seconds from t0 until `jobs` jobs reached `stage`; raises TimeoutError past `within`."""
        deadline = time.monotonic() + within
        while self.count(stage) < jobs:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"{self.count(stage)}/{jobs} jobs reached {stage} within {within}s")
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), min(remaining, 1.0))
            except TimeoutError:
                if alive is not None:
                    alive()
        return max(p.at[stage] for p in self.jobs.values() if stage in p.at) - self.t0

    def latencies(self, stage: str) -> list[float]:
        """Per-job seconds from t0 to `stage` (sorted)."""
        return sorted(p.at[stage] - self.t0 for p in self.jobs.values() if stage in p.at)


def create_jobs(store: Storage, namespace: str, count: int, workers: int, prefix: str = "job") -> list[JSON]:
    """Create `count` MPIJobs in-process, all at once (no await between them)."""
    return [store.create(MPIJOBS, namespace, mpijob_manifest(f"{prefix}-{i}", namespace, workers))
            for i in range(count)]
