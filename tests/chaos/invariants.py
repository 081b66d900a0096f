"""What must hold after (and during) a chaos run, as functions returning human-readable problems.

`StatusHistory` sees every committed version of every MPIJob (a store listener: a superset of what any watch
delivers) and records regressions as they happen. `children_problems` compares the final objects with what the
jobs dictate: exact counts per kind, and a live controlling MPIJob for every child (launcher pods: a live
launcher Job).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from mpi_operator.sandbox.apiserver.changes import Change
from mpi_operator.sandbox.apiserver.storage import Storage

MPIJOBS = "mpijobs.kubeflow.org"
LAUNCHER_FINALIZER = "kubeflow.org/mpi-operator-launcher"
CHILD_RESOURCES = ("services", "configmaps", "secrets", "pods", "jobs.batch")
TERMINAL = ("Succeeded", "Failed")


def condition_true(obj: dict[str, Any] | None, ctype: str) -> bool:
    return any(c.get("type") == ctype and c.get("status") == "True"
               for c in ((obj or {}).get("status") or {}).get("conditions") or [])


def terminal_state(obj: dict[str, Any] | None) -> str | None:
    states = [t for t in TERMINAL if condition_true(obj, t)]
    return states[0] if len(states) == 1 else ("both" if states else None)


@dataclass(frozen=True)
class Expected:
    """What one MPIJob of the workload must end as."""

    name: str
    workers: int
    clean_pod_policy: str
    outcome: str  # Succeeded | Failed

    @property
    def workers_after_finish(self) -> int:
        return self.workers if self.clean_pod_policy == "None" else 0


class StatusHistory:
    """Records, per MPIJob, every status version committed, and each regression: a terminal condition that
    reverts or flips, a completionTime that changes or goes, a Created condition that goes."""

    def __init__(self, store: Storage) -> None:
        self.versions: Counter[str] = Counter()
        self.regressions: list[str] = []
        self._terminal: dict[str, str] = {}
        self._completion: dict[str, str] = {}
        self._created: set[str] = set()
        self._stop = store.listen(self._on_event)

    def close(self) -> None:
        self._stop()

    def _on_event(self, event: Change) -> None:
        if event.info.key != MPIJOBS or event.type == "DELETED":
            return
        obj = event.object
        name = f"{obj['metadata'].get('namespace')}/{obj['metadata']['name']}"
        self.versions[name] += 1
        status = obj.get("status") or {}
        state = terminal_state(obj)
        seen = self._terminal.get(name)
        if state == "both":
            self.regressions.append(f"{name}: Succeeded and Failed both True at rv {event.rv}")
        elif seen is not None and state != seen:
            self.regressions.append(f"{name}: terminal {seen} reverted to {state} at rv {event.rv}")
        elif state is not None:
            self._terminal[name] = state
        done = self._completion.get(name)
        if done is not None and status.get("completionTime") != done:
            self.regressions.append(f"{name}: completionTime {done} became {status.get('completionTime')}")
        elif status.get("completionTime"):
            self._completion[name] = status["completionTime"]
        if condition_true(obj, "Created"):
            self._created.add(name)
        elif name in self._created:
            self.regressions.append(f"{name}: Created condition lost at rv {event.rv}")


def outcome_problems(store: Storage, namespace: str, jobs: list[Expected]) -> list[str]:
    problems = []
    for job in jobs:
        obj = store.find(MPIJOBS, namespace, job.name)
        state = terminal_state(obj)
        if state != job.outcome:
            conditions = ((obj or {}).get("status") or {}).get("conditions") or []
            found = [(c.get("type"), c.get("status")) for c in conditions]
            problems.append(f"{job.name}: expected {job.outcome}, is {state} (conditions {found})")
    return problems


def children_problems(store: Storage, namespace: str, jobs: list[Expected]) -> list[str]:
    """Exact counts per job and kind, every child controlled by a live MPIJob, launcher finalizers released."""
    problems: list[str] = []
    live = {o["metadata"]["uid"]: o["metadata"]["name"] for o in store.iter_objects(MPIJOBS, namespace)}
    launchers = {o["metadata"]["uid"] for o in store.iter_objects("jobs.batch", namespace)
                 if _controller(o).get("uid") in live}
    counts: Counter[tuple[str, str]] = Counter()
    for resource in CHILD_RESOURCES:
        for obj in store.iter_objects(resource, namespace):
            meta = obj["metadata"]
            if resource == "configmaps" and meta["name"] == "kube-root-ca.crt":
                continue
            if resource == "pods" and _controller(obj).get("kind") == "Job":
                # A launcher pod: the Job controller's child; its Job must be a live MPIJob's launcher.
                if _controller(obj).get("uid") not in launchers:
                    problems.append(f"pods/{meta['name']}: controlled by a Job that is no live launcher")
                continue
            owners = [r for r in meta.get("ownerReferences") or [] if r.get("controller")]
            if len(owners) != 1 or owners[0].get("kind") != "MPIJob" or owners[0].get("uid") not in live:
                problems.append(f"{resource}/{meta['name']}: no live controlling MPIJob ({owners})")
                continue
            counts[(live[owners[0]["uid"]], resource)] += 1
            if resource == "jobs.batch" and LAUNCHER_FINALIZER in (meta.get("finalizers") or []):
                problems.append(f"jobs.batch/{meta['name']}: launcher finalizer not released")
    for job in jobs:
        want = {"services": 1, "configmaps": 1, "secrets": 1, "jobs.batch": 1, "pods": job.workers_after_finish}
        for resource, n in want.items():
            if counts[(job.name, resource)] != n:
                problems.append(f"{job.name}: {counts[(job.name, resource)]} {resource}, expected {n}")
    return problems


def _controller(obj: dict[str, Any]) -> dict[str, Any]:
    refs = [r for r in obj["metadata"].get("ownerReferences") or [] if r.get("controller")]
    return refs[0] if len(refs) == 1 else {}


def events_per_job(store: Storage, namespace: str) -> Counter[str]:
    """Event objects about each MPIJob, each counted with its `count` (repeats folded into one object)."""
    per_job: Counter[str] = Counter()
    for event in store.iter_objects("events", namespace):
        involved = event.get("involvedObject") or {}
        if involved.get("kind") == "MPIJob":
            per_job[str(involved.get("name"))] += int(event.get("count") or 1)
    return per_job
