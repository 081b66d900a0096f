"""One kind of object an MPIJob owns: its cache (the informer) and its API resource, with the few operations
every step uses: get the controlled child, create, patch, update, delete, and create-or-patch.

Invariant: every write's answer goes into the cache through the informer (`assume` / `assume_deleted`), so the
next sync does not act on an older state; an object the MPIJob does not control is never written (Warning
`ErrResourceExists`, `ResourceConflict`).
"""

from __future__ import annotations

from collections.abc import Callable

from mpi_operator.api.constants import API_VERSION, KIND
from mpi_operator.api.types import MPIJob
from mpi_operator.controller import names, reasons
from mpi_operator.controller.sync.outcome import ResourceConflict, Result, requeue
from mpi_operator.kube.errors import AlreadyExists, NotFound
from mpi_operator.kube.informer import Informer
from mpi_operator.kube.meta import JSON, controller_reference, is_controlled_by, metadata, name_key
from mpi_operator.kube.recorder import EventRecorder
from mpi_operator.kube.resource import Resource

Drift = Callable[[JSON, JSON], JSON | None]  # (existing, desired) -> merge patch, or None when in line


def job_ref(job: MPIJob) -> JSON:
    """What Events about this MPIJob point at."""
    return {"apiVersion": API_VERSION, "kind": KIND, "metadata": job.metadata}


def mpijob_ref(name: object, namespace: object, uid: object) -> JSON:
    """What Events about an MPIJob point at, when only its owner reference is at hand."""
    return {"apiVersion": API_VERSION, "kind": KIND, "metadata": {"name": name, "namespace": namespace, "uid": uid}}


class OwnedKind:
    def __init__(self, informer: Informer, resource: Resource, recorder: EventRecorder) -> None:
        self.informer = informer
        self.resource = resource
        self.recorder = recorder

    @property
    def kind(self) -> str:
        return self.resource.type.kind

    def cached(self, namespace: str, name: str) -> JSON | None:
        """The cached object of that name, whoever controls it."""
        return self.informer.store.get(name_key(namespace, name))

    def get(self, job: MPIJob, name: str) -> JSON | None:
        """The cached child `name` if `job` controls it; None if absent; ResourceConflict if someone else's."""
        obj = self.cached(job.namespace, name)
        if obj is None or is_controlled_by(obj, names.job_uid(job)):
            return obj
        raise self._conflict(job_ref(job), name)

    def _conflict(self, job_ref: JSON, name: str) -> ResourceConflict:
        message = reasons.resource_exists_message(name, self.kind)
        self.recorder.warning(job_ref, reasons.REASON_RESOURCE_EXISTS, message)
        return ResourceConflict(message)

    async def create(self, obj: JSON) -> JSON | None:
        """Create; None when it exists already from a stale cache (docs/decisions.md Q36: not a failure, requeue).

        The pod cache holds only our labelled pods, so a foreign pod of that name is invisible to it: on
        AlreadyExists, look the object up once (a list by name: the ClusterRole grants `list`, not `get`) and
        report it as not ours when it is not."""
        meta = metadata(obj)
        try:
            created = await self.resource.create(obj)
        except AlreadyExists as exc:
            found = await self.resource.list(meta["namespace"], field_selector=f"metadata.name={meta['name']}")
            owner = controller_reference(obj) or {}
            for current in found["items"]:
                if not is_controlled_by(current, str(owner.get("uid"))):
                    job_ref = mpijob_ref(owner.get("name"), meta["namespace"], owner.get("uid"))
                    raise self._conflict(job_ref, meta["name"]) from exc
            return None
        return self.informer.assume(created)

    async def patch(self, existing: JSON, patch: JSON) -> JSON:
        """A merge patch of `existing` (named by its cached metadata)."""
        meta = metadata(existing)
        return self.informer.assume(await self.resource.patch(meta["name"], patch, meta["namespace"]))

    async def update(self, obj: JSON) -> JSON:
        """PUT the whole object (its resourceVersion is the precondition)."""
        return self.informer.assume(await self.resource.update(obj))

    async def delete(self, namespace: str, name: str, propagation_policy: str | None = None) -> None:
        """Delete; gone already is fine. A graceful delete answers the object, now terminating: cache that, or
        every sync until the watch delivers it deletes it again (seen on a real API server: up to five DELETEs
        per pod). Any other answer (a Status) means it is gone."""
        try:
            answer = await self.resource.delete(name, namespace, propagation_policy=propagation_policy)
        except NotFound:
            answer = None
        if answer is not None and answer.get("kind") == self.kind:
            self.informer.assume(answer)
        else:
            self.informer.assume_deleted(name_key(namespace, name))

    async def ensure(self, job: MPIJob, desired: JSON, drift: Drift) -> Result | None:
        """Create-or-patch: create `desired` when absent, patch what `drift` reports otherwise. Returns a requeue
        when the create met an object the cache did not know yet, else None (go on)."""
        existing = self.get(job, desired["metadata"]["name"])
        if existing is None:
            if await self.create(desired) is None:
                return requeue(f"{self.resource.type.plural} {desired['metadata']['name']} exists already")
        elif (patch := drift(existing, desired)) is not None:
            await self.patch(existing, patch)
        return None
