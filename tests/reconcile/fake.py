"""The reconcile tier's world (sample-controller's `controller_test.go` way): caches preloaded with objects, a
fake resource client that records every action and answers from an in-memory tracker, and a recording Event
recorder. No HTTP, no informer running: `sync(key)` runs once and the test asserts the actions it took.

Only this tier fakes the client; the integration tier (`tests/controller_it`) talks to a real API server.
"""

from __future__ import annotations

import builtins
import copy
import itertools
from collections import defaultdict
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass
from typing import Any

import yaml
from prometheus_client import CollectorRegistry

from mpi_operator.api.defaults import apply_defaults
from mpi_operator.api.types import MPIJob
from mpi_operator.controller.cache import Caches
from mpi_operator.controller.metrics import ControllerMetrics
from mpi_operator.controller.options import ControllerOptions
from mpi_operator.controller.sync.outcome import Result
from mpi_operator.controller.sync.reconciler import Reconciler
from mpi_operator.kube.client import Client
from mpi_operator.kube.errors import ApiError, api_error
from mpi_operator.kube.informer import Informer
from mpi_operator.kube.meta import JSON, metadata, name_key
from mpi_operator.kube.recorder import EventRecorder
from mpi_operator.kube.resource import PatchType, Resource, ResourceType
from mpi_operator.kube.watchstream import WatchEvent
from tests.conftest import examples_dir

NOW = "2026-11-28T12:00:00Z"
UID = "uid-pi"
NAMESPACE = "ml"


@dataclass(frozen=True)
class Action:
    verb: str  # create, update, patch, delete, list
    resource: str  # plural, with "/status" for the status subresource
    namespace: str
    name: str
    body: Any = None

    def short(self) -> tuple[str, str, str]:
        return (self.verb, self.resource, self.name)


def apply_merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = apply_merge_patch(result.get(key), value)
    return result


def _status(code: int, reason: str, message: str) -> ApiError:
    return api_error(code, {"kind": "Status", "status": "Failure", "code": code, "reason": reason,
                            "message": message})


class Tracker:
    """The server side of the fake: objects by (plural, namespace, name), increasing resourceVersions."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str, str], JSON] = {}
        self.actions: list[Action] = []
        self.failures: dict[tuple[str, str], ApiError] = {}
        self._versions = itertools.count(100)
        self._uids = itertools.count(1)

    def stamp(self, obj: JSON) -> JSON:
        meta = obj.setdefault("metadata", {})
        meta["resourceVersion"] = str(next(self._versions))
        return obj

    def add(self, plural: str, obj: JSON) -> JSON:
        obj = copy.deepcopy(obj)
        meta = obj.setdefault("metadata", {})
        meta.setdefault("uid", f"uid-{plural}-{next(self._uids)}")
        meta.setdefault("creationTimestamp", NOW)
        self.stamp(obj)
        self.objects[(plural, meta.get("namespace", ""), meta["name"])] = obj
        return obj

    def act(self, action: Action) -> None:
        self.actions.append(action)
        failure = self.failures.get((action.verb, action.resource))
        if failure is not None:
            raise failure


class FakeResource(Resource):
    def __init__(self, tracker: Tracker, rtype: ResourceType) -> None:
        self.tracker = tracker
        self.type = rtype

    def _key(self, namespace: str | None, name: str) -> tuple[str, str, str]:
        return (self.type.plural, namespace or "", name)

    def _existing(self, namespace: str | None, name: str) -> JSON:
        obj = self.tracker.objects.get(self._key(namespace, name))
        if obj is None:
            raise _status(404, "NotFound", f'{self.type.plural} "{name}" not found')
        return obj

    async def get(self, name: str, namespace: str | None = None) -> JSON:
        self.tracker.act(Action("get", self.type.plural, namespace or "", name))
        return copy.deepcopy(self._existing(namespace, name))

    async def list(self, namespace: str | None = None, *, label_selector: str | None = None,
                   field_selector: str | None = None, limit: int | None = None, continue_: str | None = None,
                   resource_version: str | None = None) -> JSON:
        self.tracker.act(Action("list", self.type.plural, namespace or "", field_selector or ""))
        wanted = (field_selector or "").removeprefix("metadata.name=")
        items = [copy.deepcopy(o) for (plural, ns, name), o in self.tracker.objects.items()
                 if plural == self.type.plural and (namespace is None or ns == namespace)
                 and (not wanted or name == wanted)]
        return {"items": items, "metadata": {"resourceVersion": "1"}}

    async def watch(self, namespace: str | None = None, *, resource_version: str | None = None,
                    label_selector: str | None = None, field_selector: str | None = None,
                    allow_bookmarks: bool = True, timeout_seconds: int | None = None
                    ) -> AsyncGenerator[WatchEvent, None]:
        raise AssertionError("the reconcile tier runs no informer")
        yield  # pragma: no cover

    async def create(self, obj: JSON, namespace: str | None = None) -> JSON:
        meta = metadata(obj)
        ns = namespace or meta.get("namespace") or ""
        self.tracker.act(Action("create", self.type.plural, ns, meta["name"], copy.deepcopy(obj)))
        if self._key(ns, meta["name"]) in self.tracker.objects:
            raise _status(409, "AlreadyExists", f'{self.type.plural} "{meta["name"]}" already exists')
        return copy.deepcopy(self.tracker.add(self.type.plural, obj))

    async def update(self, obj: JSON, subresource: str | None = None) -> JSON:
        meta = metadata(obj)
        resource = self.type.plural + (f"/{subresource}" if subresource else "")
        self.tracker.act(Action("update", resource, meta.get("namespace", ""), meta["name"], copy.deepcopy(obj)))
        current = self._existing(meta.get("namespace"), meta["name"])
        if meta.get("resourceVersion") and meta["resourceVersion"] != current["metadata"]["resourceVersion"]:
            raise _status(409, "Conflict", "the object has been modified")
        updated = self.tracker.stamp({**copy.deepcopy(obj), "metadata": {**current["metadata"],
                                                                        **copy.deepcopy(meta)}})
        self.tracker.objects[self._key(meta.get("namespace"), meta["name"])] = updated
        return copy.deepcopy(updated)

    async def patch(self, name: str, patch: Any, namespace: str | None = None, *, type: PatchType = "merge",
                    subresource: str | None = None, field_manager: str | None = None,
                    force: bool | None = None) -> JSON:
        resource = self.type.plural + (f"/{subresource}" if subresource else "")
        self.tracker.act(Action("patch", resource, namespace or "", name, copy.deepcopy(patch)))
        assert type == "merge", type
        current = self._existing(namespace, name)
        wanted_rv = ((patch or {}).get("metadata") or {}).get("resourceVersion")
        if wanted_rv and wanted_rv != current["metadata"]["resourceVersion"]:
            raise _status(409, "Conflict", "the object has been modified")
        patched = self.tracker.stamp(apply_merge_patch(current, patch))
        self.tracker.objects[self._key(namespace, name)] = patched
        pm = patched["metadata"]
        if pm.get("deletionTimestamp") and not pm.get("finalizers") and not pm.get("deletionGracePeriodSeconds"):
            del self.tracker.objects[self._key(namespace, name)]  # the last finalizer gone: deleted, as the server does
        return copy.deepcopy(patched)

    async def delete(self, name: str, namespace: str | None = None, *, propagation_policy: str | None = None,
                     grace_period_seconds: int | None = None, preconditions: dict[str, str] | None = None
                     ) -> JSON | None:
        self.tracker.act(Action("delete", self.type.plural, namespace or "", name, propagation_policy))
        current = self._existing(namespace, name)
        if self.type.plural == "pods":
            # A graceful delete: the pod stays, terminating, until its kubelet is done.
            terminating = self.tracker.stamp(apply_merge_patch(current, {"metadata": {
                "deletionTimestamp": NOW, "deletionGracePeriodSeconds": 30}}))
            self.tracker.objects[self._key(namespace, name)] = terminating
            return copy.deepcopy(terminating)
        del self.tracker.objects[self._key(namespace, name)]
        return {"kind": "Status", "apiVersion": "v1", "status": "Success"}


class FakeClient(Client):
    def __init__(self, tracker: Tracker) -> None:
        self.tracker = tracker

    def resource(self, rtype: ResourceType) -> Resource:
        return FakeResource(self.tracker, rtype)


@dataclass(frozen=True)
class Recorded:
    type: str
    reason: str
    message: str
    about: str  # kind/name of the involved object


class RecordingRecorder(EventRecorder):
    def __init__(self, client: Client) -> None:
        super().__init__(client, component="test", host="test")
        self.recorded: builtins.list[Recorded] = []

    def record(self, obj: JSON, type: str, reason: str, message: str) -> None:
        self.recorded.append(Recorded(type, reason, message, f"{obj.get('kind')}/{metadata(obj).get('name')}"))


KIND_TO_INFORMER: dict[str, Callable[[Caches], Informer | None]] = {
    "MPIJob": lambda c: c.mpijobs, "Pod": lambda c: c.pods, "Job": lambda c: c.jobs,
    "Service": lambda c: c.services, "ConfigMap": lambda c: c.configmaps, "Secret": lambda c: c.secrets,
    "PodGroup": lambda c: c.podgroups, "PriorityClass": lambda c: c.priorityclasses,
}


class World:
    """A controller's caches and the fake server behind them, both holding `objects`."""

    def __init__(self, *objects: JSON, options: ControllerOptions | None = None) -> None:
        self.options = options or ControllerOptions()
        self.tracker = Tracker()
        self.client = FakeClient(self.tracker)
        self.caches = Caches.build(self.client, self.options)
        self.recorder = RecordingRecorder(self.client)
        self.metrics = ControllerMetrics(CollectorRegistry())
        self.reconciler = Reconciler(self.client, self.caches, self.recorder, self.options, self.metrics,
                                     now=lambda: NOW)
        self.load(*objects)

    def informer(self, kind: str) -> Informer:
        informer = KIND_TO_INFORMER[kind](self.caches)
        assert informer is not None, f"no informer for {kind} with these options"
        return informer

    def load(self, *objects: JSON) -> list[JSON]:
        """Put objects on the server and into the caches, as a first list would (returns them as stored)."""
        stored = []
        by_kind: dict[str, list[JSON]] = defaultdict(list)
        for obj in objects:
            informer = self.informer(obj["kind"])
            stored.append(self.tracker.add(informer.resource.type.plural, obj))
        for (plural, _, _), obj in self.tracker.objects.items():
            by_kind[plural].append(copy.deepcopy(obj))
        for informer in self.caches.all():
            informer.replace(by_kind.get(informer.resource.type.plural, []), "1")
        return stored

    def edit(self, plural: str, name: str, patch: JSON, namespace: str = NAMESPACE) -> JSON:
        """Someone else (a kubelet, the Job controller, a user) changes an object; the caches see it."""
        key = (plural, namespace, name)
        self.tracker.objects[key] = self.tracker.stamp(apply_merge_patch(self.tracker.objects[key], patch))
        self.load()
        return self.tracker.objects[key]

    def remove(self, plural: str, name: str, namespace: str = NAMESPACE) -> None:
        del self.tracker.objects[(plural, namespace, name)]
        self.load()

    def server(self, plural: str, name: str, namespace: str = NAMESPACE) -> JSON | None:
        return self.tracker.objects.get((plural, namespace, name))

    def cached(self, kind: str, name: str, namespace: str = NAMESPACE) -> JSON | None:
        return self.informer(kind).store.get(name_key(namespace, name))

    def fail(self, verb: str, resource: str, code: int = 403, reason: str = "Forbidden") -> None:
        self.tracker.failures[(verb, resource)] = _status(code, reason, f"{verb} {resource} refused")

    def heal(self) -> None:
        self.tracker.failures.clear()

    async def sync(self, key: str = f"{NAMESPACE}/pi") -> Result:
        self.tracker.actions.clear()
        self.recorder.recorded.clear()
        return await self.reconciler.sync(key)

    @property
    def actions(self) -> list[Action]:
        return list(self.tracker.actions)

    def writes(self) -> list[tuple[str, str, str]]:
        """The actions that change something (sample-controller filters out the informers' list/watch)."""
        return [a.short() for a in self.tracker.actions if a.verb not in ("get", "list", "watch")]

    def events(self) -> list[tuple[str, str]]:
        return [(e.type, e.reason) for e in self.recorder.recorded]


def mpijob(name: str = "pi", **spec: Any) -> JSON:
    """The pi example's MPIJob as the API server stores it (uid set), with spec keys overridden."""
    job: JSON = yaml.safe_load((examples_dir() / "pi.yaml").read_text())
    job["metadata"].update({"name": name, "namespace": NAMESPACE, "uid": UID})
    job["spec"].update(spec)
    return job


def parsed(job: JSON) -> MPIJob:
    return apply_defaults(MPIJob.model_validate(job))


# --- what the rest of a cluster does, written straight into the fake server ------------------------------------

async def converged(world: World, key: str = f"{NAMESPACE}/pi") -> None:
    """Sync until a sync writes nothing (a few rounds at most), as the workqueue would."""
    for _ in range(5):
        await world.sync(key)
        if not world.writes():
            return
    raise AssertionError(f"no steady state: {world.writes()}")


def pod_status(phase: str, ready: bool = False, **extra: Any) -> JSON:
    return {"status": {"phase": phase, "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
                       **extra}}


def run_pod(world: World, name: str, ready: bool = True) -> None:
    world.edit("pods", name, pod_status("Running", ready))


def start_launcher(world: World, phase: str = "Running", **pod_extra: Any) -> JSON:
    """The Job controller's part: the launcher Job started, with one pod of its own."""
    job = world.edit("jobs", "pi-launcher", {"status": {"startTime": NOW, "active": 1}})
    template = job["spec"]["template"]
    pod = {"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": "pi-launcher-abcde", "namespace": NAMESPACE,
                        "labels": template["metadata"].get("labels") or {},
                        "ownerReferences": [{"apiVersion": "batch/v1", "kind": "Job", "name": "pi-launcher",
                                             "uid": job["metadata"]["uid"], "controller": True}]},
           **pod_status(phase, phase == "Running", **pod_extra)}
    return world.load(pod)[0]


def finish_launcher(world: World, condition: str = "Complete", **status: Any) -> None:
    world.edit("jobs", "pi-launcher", {"status": {
        "active": 0, "completionTime": NOW, **status,
        "conditions": [{"type": condition, "status": "True", "lastTransitionTime": NOW,
                        **({"reason": "BackoffLimitExceeded", "message": "Job has reached the specified backoff "
                            "limit"} if condition == "Failed" else {})}]}})


def condition(world: World, ctype: str, name: str = "pi") -> JSON | None:
    job = world.server("mpijobs", name) or {}
    return next((c for c in (job.get("status") or {}).get("conditions") or [] if c["type"] == ctype), None)


def counter(metric: Any) -> float:
    return float(sum(s.value for m in metric.collect() for s in m.samples if s.name.endswith("_total")))
