"""The controller's informers (one per watched kind), their memory-saving transforms, and the mapping of
every child event to the key of the MPIJob that controls it (a launcher pod through its Job).

Invariant: handlers only enqueue keys; reconciles read these stores and never the API server.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from sys import intern
from typing import Any

from mpi_operator.api.constants import GROUP, KIND, OPERATOR_NAME, OPERATOR_NAME_LABEL, PLURAL, VERSION
from mpi_operator.controller import names
from mpi_operator.controller.options import ControllerOptions, GangScheduler
from mpi_operator.kube.client import Client
from mpi_operator.kube.informer import Informer
from mpi_operator.kube.meta import JSON, controller_reference
from mpi_operator.kube.resource import CONFIGMAPS, JOBS, PODS, SECRETS, SERVICES, ResourceType

MPIJOBS = ResourceType(GROUP, VERSION, PLURAL, True, KIND)
VOLCANO_PODGROUPS = ResourceType("scheduling.volcano.sh", "v1beta1", "podgroups", True, "PodGroup")
SCHEDULER_PLUGINS_PODGROUPS = ResourceType("scheduling.x-k8s.io", "v1alpha1", "podgroups", True, "PodGroup")
PRIORITYCLASSES = ResourceType("scheduling.k8s.io", "v1", "priorityclasses", False, "PriorityClass")

# Annotations the controller reads on cached objects; the rest is dropped from the cache.
_KEPT_ANNOTATIONS = (names.TEMPLATE_HASH_ANNOTATION, names.VOLCANO_QUEUE_ANNOTATION)


def _slim_metadata(meta: JSON) -> JSON:
    slim = {k: v for k, v in meta.items() if k not in ("managedFields", "annotations")}
    annotations = meta.get("annotations") or {}
    kept = {k: annotations[k] for k in _KEPT_ANNOTATIONS if k in annotations}
    if kept:
        slim["annotations"] = kept
    return slim


def _interned(mapping: dict[str, Any]) -> dict[str, str]:
    return {intern(str(k)): intern(str(v)) for k, v in mapping.items()}


class _Shared:
    """Canonical copies of small values many cached pods hold alike (a job's owner reference, its template
    hash, a Ready condition): pods share one object instead of holding equal copies. Safe because cached
    objects are never mutated (docs/decisions.md Q33); bounded by clearing when it grows past `limit` entries."""

    def __init__(self, limit: int = 100_000) -> None:
        self.limit = limit
        self._values: dict[Any, Any] = {}

    def get(self, key: Any, make: Any) -> Any:
        value = self._values.get(key)
        if value is None:
            if len(self._values) >= self.limit:
                self._values.clear()
            value = self._values[key] = make()
        return value


_shared = _Shared()

# Pod metadata the controller reads; the rest (finalizers, generateName, generation, ...) is dropped.
_POD_META = ("name", "uid", "resourceVersion", "creationTimestamp", "deletionTimestamp")
_OWNER_FIELDS = ("apiVersion", "kind", "name", "uid", "controller", "blockOwnerDeletion")


def slim_pod(pod: JSON) -> JSON:
    """What reconciles read of a pod: identity, labels, controller owner, our annotations, phase, reason,
    message and the Ready condition. Strings and small values that pods have alike (labels, owner, template
    hash, namespace, phase) are interned or shared, so 10,000 cached pods do not each hold a copy."""
    meta = pod.get("metadata") or {}
    slim_meta: JSON = {k: meta[k] for k in _POD_META if k in meta}
    slim_meta["namespace"] = intern(str(meta.get("namespace", "")))
    if meta.get("labels"):
        slim_meta["labels"] = _interned(meta["labels"])
    annotations = meta.get("annotations") or {}
    kept = tuple((k, str(annotations[k])) for k in _KEPT_ANNOTATIONS if k in annotations)
    if kept:
        slim_meta["annotations"] = _shared.get(("annotations", kept), lambda: _interned(dict(kept)))
    owner = controller_reference(pod)
    if owner is not None:
        fields = tuple((k, owner[k]) for k in _OWNER_FIELDS if k in owner)
        slim_meta["ownerReferences"] = _shared.get(("owner", fields), lambda: [dict(fields)])
    status = pod.get("status") or {}
    slim_status: JSON = {k: intern(str(status[k])) for k in ("phase", "reason") if k in status}
    if status.get("message"):
        slim_status["message"] = status["message"]
    ready = next((str(c.get("status")) for c in status.get("conditions") or [] if c.get("type") == "Ready"), None)
    if ready is not None:
        slim_status["conditions"] = _shared.get(("ready", ready), lambda: [{"type": "Ready", "status": ready}])
    return {"apiVersion": "v1", "kind": "Pod", "metadata": slim_meta, "status": slim_status}


def slim_object(obj: JSON) -> JSON:
    """Other kinds keep everything but managedFields (their specs are compared with the desired ones)."""
    meta = obj.get("metadata") or {}
    if "managedFields" not in meta:
        return obj
    return {**obj, "metadata": {k: v for k, v in meta.items() if k != "managedFields"}}


def slim_secret(secret: JSON) -> JSON:
    """Only the key names of a Secret are ever compared (docs/decisions.md Q15): key material is not cached."""
    slim = slim_object(secret)
    return {**slim, "data": dict.fromkeys(secret.get("data") or {}, "")}


def podgroup_type(options: ControllerOptions) -> ResourceType | None:
    """The PodGroup resource of the chosen gang scheduler; None without gang scheduling."""
    if options.gang_scheduler is GangScheduler.NONE:
        return None
    return VOLCANO_PODGROUPS if options.gang_scheduler is GangScheduler.VOLCANO else SCHEDULER_PLUGINS_PODGROUPS


@dataclass
class Caches:
    mpijobs: Informer
    pods: Informer
    jobs: Informer
    services: Informer
    configmaps: Informer
    secrets: Informer
    podgroups: Informer | None
    priorityclasses: Informer | None

    @classmethod
    def build(cls, client: Client, options: ControllerOptions, namespace: str = "",
              slim: bool = True) -> Caches:
        ns = namespace or None

        def informer(rtype: ResourceType, transform: Callable[[JSON], JSON] | None) -> Informer:
            return Informer(client.resource(rtype), namespace=ns, transform=transform if slim else None)

        podgroups = priorityclasses = None
        pg_type = podgroup_type(options)
        if pg_type is not None:
            podgroups = informer(pg_type, slim_object)
            # docs/decisions.md Q26: PriorityClasses only with gang scheduling (cluster-scoped).
            priorityclasses = Informer(client.resource(PRIORITYCLASSES), transform=slim_object if slim else None)
        return cls(
            mpijobs=informer(MPIJOBS, slim_object),
            # Pods: only those the operator or the Job controller made for MPIJobs.
            pods=Informer(client.resource(PODS), namespace=ns, transform=slim_pod if slim else None,
                          label_selector=f"{OPERATOR_NAME_LABEL}={OPERATOR_NAME}"),
            jobs=informer(JOBS, slim_object),
            services=informer(SERVICES, slim_object),
            configmaps=informer(CONFIGMAPS, slim_object),
            secrets=informer(SECRETS, slim_secret),
            podgroups=podgroups,
            priorityclasses=priorityclasses,
        )

    def all(self) -> list[Informer]:
        found = [self.mpijobs, self.pods, self.jobs, self.services, self.configmaps, self.secrets,
                 self.podgroups, self.priorityclasses]
        return [i for i in found if i is not None]

    def children(self) -> list[Informer]:
        found = [self.pods, self.jobs, self.services, self.configmaps, self.secrets, self.podgroups]
        return [i for i in found if i is not None]

    def priority_values(self) -> dict[str, int]:
        if self.priorityclasses is None:
            return {}
        return {str(pc["metadata"]["name"]): int(pc.get("value") or 0) for pc in self.priorityclasses.store.list()}


    def owner_key(self, obj: JSON) -> str | None:
        """The `<ns>/<name>` key of the MPIJob controlling `obj` (through its Job for launcher pods)."""
        ref = controller_reference(obj)
        namespace = (obj.get("metadata") or {}).get("namespace") or ""
        if ref is None:
            return None
        if ref.get("kind") == "Job" and str(ref.get("apiVersion", "")).startswith("batch/"):
            job = self.jobs.store.get_by_name(namespace, str(ref.get("name")))
            if job is None:
                return None
            ref = controller_reference(job)
            if ref is None:
                return None
        if ref.get("kind") != KIND or ref.get("apiVersion") != f"{GROUP}/{VERSION}":
            return None
        key = f"{namespace}/{ref.get('name')}"
        owner = self.mpijobs.store.get(key)
        if owner is None or (owner.get("metadata") or {}).get("uid") != ref.get("uid"):
            return None
        return key
