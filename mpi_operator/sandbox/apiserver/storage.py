"""The in-memory storage (etcd and the registry in one): one global resourceVersion, immutable snapshots, a
bounded log of changes, fan-out to watches and listeners.

Every write (HTTP request, garbage collector, simulated kubelet or Job controller) goes through the synchronous
methods below, so resourceVersion assignment, storage and event fan-out happen in one order with no await in
between: concurrent writers are serialised by the event loop itself. Stored objects are never mutated; readers
may hold them freely, writers build a new dict.

In-process API (for simulators and tests; same semantics and errors as the HTTP API), `store` being a `Storage`
(`Sandbox.store`):
    store.get(resource, namespace, name) / store.list(resource, namespace, label_selector=, field_selector=)
    store.create(resource, namespace, body) / update(...) / update(..., subresource="status")
    store.patch(resource, namespace, name, patch_type, patch, subresource=None)
      patch_type: "merge" | "json" | "strategic" | "apply" (or the full content types)
    store.delete(resource, namespace, name, {"propagationPolicy": ..., "gracePeriodSeconds": ...})
    store.listen(callback) -> unsubscribe     # callback(Change) synchronously after every commit
    store.watch(resource, namespace=None, resource_version=None, ...) -> Watcher   # `async for t, obj, ev in w`
`resource` is the storage key: "pods", "jobs.batch", "mpijobs.kubeflow.org" (or a ResourceInfo). Failures raise
`ApiError` carrying the HTTP code and Status reason a real server would answer with.
"""

from __future__ import annotations

import builtins
import logging
import secrets
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any

import orjson

from mpi_operator.sandbox.admission import custom_resources, strategies
from mpi_operator.sandbox.admission.metadata import validate_metadata
from mpi_operator.sandbox.admission.unknown_fields import prune_builtin, report_unknown
from mpi_operator.sandbox.admission.write_options import WriteOptions
from mpi_operator.sandbox.apiserver.changes import ADDED, DELETED, MODIFIED, Change
from mpi_operator.sandbox.apiserver.resources import Registry, ResourceInfo, infos_from_crd
from mpi_operator.sandbox.apiserver.watch import Matcher, Watcher
from mpi_operator.sandbox.errors import (
    ApiError,
    already_exists,
    bad_request,
    cause,
    conflict,
    expired,
    invalid,
    not_found,
)
from mpi_operator.sandbox.timefmt import now_rfc3339
from mpi_operator.sandbox.wire import patch_types as patches

logger = logging.getLogger(__name__)
Obj = dict[str, Any]
NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
GC_FINALIZERS = ("orphan", "foregroundDeletion")
CRD_KEY = "customresourcedefinitions.apiextensions.k8s.io"
# Server-owned metadata a client cannot set through update/patch.
_SERVER_META = ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "generation",
                "selfLink")


def deep_copy(obj: Any) -> Any:
    """A JSON-level deep copy (much faster than copy.deepcopy for plain dicts)."""
    return orjson.loads(orjson.dumps(obj))


class Storage:
    def __init__(self, registry: Registry | None = None, *, history_size: int = 20000,
                 history_seconds: float = 300.0, watch_queue_size: int = 10000, first_rv: int | None = None) -> None:
        self.registry = registry or Registry()
        # Seeded from the wall clock in microseconds so a restarted sandbox never hands out smaller versions.
        self._rv = first_rv if first_rv is not None else int(time.time() * 1_000_000)
        self._objects: dict[str, dict[str, dict[str, Obj]]] = {}
        self._uids: dict[str, tuple[str, str, str]] = {}
        self._dependents: dict[str, set[tuple[str, str, str]]] = {}
        self._log: deque[Change] = deque()
        self._compacted = self._rv
        self.history_size = history_size
        self.history_seconds = history_seconds
        self.watch_queue_size = watch_queue_size
        self._watchers: dict[str, set[Watcher]] = {}
        self._listeners: list[Callable[[Change], None]] = []

    # ------------------------------------------------------------------ reading

    @property
    def resource_version(self) -> str:
        return str(self._rv)

    @property
    def oldest_resumable_rv(self) -> int:
        """Watches from a resourceVersion below this answer 410 Expired."""
        return self._compacted

    def info(self, resource: str | ResourceInfo) -> ResourceInfo:
        try:
            return self.registry.resolve(resource)
        except KeyError:
            raise ApiError(404, "NotFound", f"the server could not find the requested resource ({resource})",
                           {}) from None

    def get(self, resource: str | ResourceInfo, namespace: str | None, name: str) -> Obj:
        info = self.info(resource)
        obj = self._objects.get(info.key, {}).get(self._ns(info, namespace), {}).get(name)
        if obj is None:
            raise not_found(info.plural, info.group, name)
        return obj

    def find(self, resource: str | ResourceInfo, namespace: str | None, name: str) -> Obj | None:
        info = self.info(resource)
        return self._objects.get(info.key, {}).get(self._ns(info, namespace), {}).get(name)

    def get_by_uid(self, uid: str) -> Obj | None:
        loc = self._uids.get(uid)
        if loc is None:
            return None
        return self._objects[loc[0]][loc[1]][loc[2]]

    def iter_objects(self, resource: str | ResourceInfo, namespace: str | None = None) -> Iterator[Obj]:
        info = self.info(resource)
        by_ns = self._objects.get(info.key, {})
        if namespace is not None and info.namespaced:
            yield from list(by_ns.get(namespace, {}).values())
            return
        for objs in list(by_ns.values()):
            yield from list(objs.values())

    def list(self, resource: str | ResourceInfo, namespace: str | None = None,
             matcher: Matcher | None = None) -> tuple[builtins.list[Obj], str]:
        """Current objects (sorted by namespace/name like etcd keys) and the list resourceVersion."""
        info = self.info(resource)
        items = [o for o in self.iter_objects(info, namespace) if matcher is None or matcher.matches(o)]
        items.sort(key=lambda o: (o["metadata"].get("namespace", ""), o["metadata"]["name"]))
        return items, str(self._rv)

    def dependents(self, owner_uid: str) -> builtins.list[Obj]:
        out = []
        for key, ns, name in list(self._dependents.get(owner_uid, ())):
            obj = self._objects.get(key, {}).get(ns, {}).get(name)
            if obj is not None:
                out.append(obj)
        return out

    def namespace_is_empty(self, namespace: str) -> bool:
        return not any(by_ns.get(namespace) for by_ns in self._objects.values())

    def resources_with_objects_in(self, namespace: str) -> builtins.list[str]:
        return [key for key, by_ns in self._objects.items() if by_ns.get(namespace)]

    # ------------------------------------------------------------------ observing

    def listen(self, callback: Callable[[Change], None]) -> Callable[[], None]:
        """Call `callback(event)` synchronously after every commit; returns the unsubscribe function."""
        self._listeners.append(callback)
        return lambda: self._listeners.remove(callback) if callback in self._listeners else None

    def watch(self, resource: str | ResourceInfo, namespace: str | None = None, resource_version: str | None = None,
              matcher: Matcher | None = None, queue_size: int | None = None) -> Watcher:
        """Subscribe: initial ADDED events (RV unset/"0"), or history after `resource_version`, then live events.

        Raises ApiError 410 when `resource_version` is older than the retained history (HTTP turns this into a
        200 + ERROR event) and 504 when it lies in the future."""
        info = self.info(resource)
        if namespace is not None and not info.namespaced:
            namespace = None
        initial: builtins.list[Change] = []
        if resource_version in (None, "", "0"):
            for obj in self.list(info, namespace, matcher)[0]:
                initial.append(Change(ADDED, self._rv, info, obj, None))
        else:
            rv = self.parse_rv(resource_version)
            if rv < self._compacted:
                raise expired(f"too old resource version: {rv} ({self._compacted})")
            if rv > self._rv:
                raise ApiError(504, "Timeout", f"Too large resource version: {rv}, current: {self._rv}",
                               {"causes": [{"reason": "ResourceVersionTooLarge",
                                            "message": "Too large resource version"}], "retryAfterSeconds": 1})
            for ev in reversed(self._log):
                if ev.rv <= rv:
                    break
                if ev.info.key == info.key and (namespace is None or ev.namespace == namespace):
                    initial.append(ev)
            initial.reverse()
        w = Watcher(info, namespace, matcher, self.watch_queue_size if queue_size is None else queue_size,
                    self._unwatch)
        w.preload(initial)
        self._watchers.setdefault(info.key, set()).add(w)
        return w

    def watch_count(self, resource: str | ResourceInfo) -> int:
        """Open watches on a resource (tests wait on it before changing what a client watches)."""
        return len(self._watchers.get(self.info(resource).key, ()))

    def _unwatch(self, w: Watcher) -> None:
        self._watchers.get(w.info.key, set()).discard(w)

    def parse_rv(self, value: str) -> int:
        # kube-apiserver's text (ParseUint of the storage layer).
        if not value.isdigit() or not value.isascii():
            raise bad_request(f'invalid resource version: resourceVersion: Invalid value: "{value}": '
                              f'strconv.ParseUint: parsing "{value}": invalid syntax')
        return int(value)

    def compact(self, keep: int = 0) -> None:
        """Forget all but the last `keep` history events (tests and fault injection use this to force 410s)."""
        while len(self._log) > keep:
            self._compacted = self._log.popleft().rv

    # ------------------------------------------------------------------ writing

    def create(self, resource: str | ResourceInfo, namespace: str | None, body: Obj,
               opts: WriteOptions | None = None, *, copy_body: bool = True) -> Obj:
        """POST semantics. `copy_body=False` hands `body` over to the store (the HTTP layer's fresh parse)."""
        info = self.info(resource)
        opts = opts or WriteOptions()
        obj = deep_copy(body) if copy_body else body
        if not isinstance(obj, dict) or not isinstance(obj.get("metadata", {}), dict):
            raise bad_request("the body of the request was in an unknown format")
        ns = self._check_namespace_for_write(info, namespace, obj)
        self._check_type(info, obj)
        meta = obj.setdefault("metadata", {})
        if not isinstance(meta, dict):
            raise bad_request("metadata must be an object")
        if meta.get("resourceVersion"):
            raise ApiError(500, "", "resourceVersion should not be set on objects to be created")
        for k in ("uid", "deletionTimestamp", "deletionGracePeriodSeconds", "selfLink", "managedFields"):
            meta.pop(k, None)
        if info.namespaced:
            meta["namespace"] = ns
        else:
            meta.pop("namespace", None)
        generated = not meta.get("name") and bool(meta.get("generateName"))
        if generated:
            meta["name"] = self._generate_name(info, ns, str(meta["generateName"]))
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = now_rfc3339()
        if info.tracks_generation:
            meta["generation"] = 1
        if info.has_status and info.custom:
            obj.pop("status", None)
        if opts.prune_builtin and not info.custom:
            report_unknown(prune_builtin(info.key, obj), opts)
        causes = validate_metadata(info.key, obj)
        if meta.get("name"):
            causes += strategies.on_create(info.key, obj)
        if info.custom:
            causes += custom_resources.prepare(info.schema, obj, None, opts)
        if causes:
            raise invalid(info.kind, info.group, meta.get("name") or meta.get("generateName", ""), causes)
        name = meta["name"]
        if name in self._objects.get(info.key, {}).get(ns, {}):
            raise already_exists(info.plural, info.group, name)
        if opts.dry_run:
            return obj
        return self._commit(info, ns, name, None, obj)

    def update(self, resource: str | ResourceInfo, namespace: str | None, name: str, body: Obj,
               subresource: str | None = None, opts: WriteOptions | None = None, *, copy_body: bool = True) -> Obj:
        """PUT semantics: whole object in; a present resourceVersion is a precondition."""
        info = self.info(resource)
        new = deep_copy(body) if copy_body else body
        if not isinstance(new, dict):
            raise bad_request("the body of the request was in an unknown format")
        return self._update(info, namespace, name, new, subresource, opts or WriteOptions(), is_put=True)

    def patch(self, resource: str | ResourceInfo, namespace: str | None, name: str, patch_type: str, patch: Any,
              subresource: str | None = None, opts: WriteOptions | None = None) -> tuple[Obj, bool]:
        """PATCH semantics; returns (object, created) — only apply patches create."""
        info = self.info(resource)
        opts = opts or WriteOptions()
        kind = patches.patch_kind(patch_type)
        if kind == "apply" and not opts.field_manager:
            raise ApiError(422, "Invalid", "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: "
                           "is required for apply patch",
                           {"group": "meta.k8s.io", "kind": "PatchOptions", "causes": [
                               cause("FieldValueRequired", "Required value: is required for apply patch",
                                     "fieldManager")]})
        if opts.force and kind != "apply":
            raise ApiError(422, "Invalid", "PatchOptions.meta.k8s.io \"\" is invalid: force: Forbidden: may not be "
                           "specified for non-apply patch", {"group": "meta.k8s.io", "kind": "PatchOptions"})
        if kind == "strategic" and not info.strategic_merge:
            raise ApiError(415, "UnsupportedMediaType",
                           "the body of the request was in an unknown format - accepted media types include: "
                           "application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml"
                           ", application/apply-patch+cbor")
        old = self.find(info, namespace, name)
        if old is None:
            if kind == "apply" and subresource is None:
                if not isinstance(patch, dict):
                    raise bad_request("error decoding patch: apply patch must be an object")
                body = dict(patch)
                body.setdefault("metadata", {}).setdefault("name", name)
                return self.create(info, namespace, body, opts), True
            raise not_found(info.plural, info.group, name)
        patched = patches.apply(kind, old, patch)  # the patch functions never mutate their target
        if not isinstance(patched, dict):
            raise bad_request("the patched object is not a JSON object")
        return self._update(info, namespace, name, patched, subresource, opts, is_put=False), False

    def delete(self, resource: str | ResourceInfo, namespace: str | None, name: str,
               options: dict[str, Any] | None = None, opts: WriteOptions | None = None) -> tuple[Obj, bool]:
        """DELETE semantics (contract §3.8); returns (object after the call, removed-now)."""
        info = self.info(resource)
        options = options or {}
        opts = opts or WriteOptions()
        if options.get("dryRun"):  # DeleteOptions may carry dryRun in the body (kubectl --dry-run=server does)
            opts.dry_run = True
        ns = self._ns(info, namespace)
        old = self.get(info, ns, name)
        meta = old["metadata"]
        pre = options.get("preconditions") or {}
        if pre.get("uid") and pre["uid"] != meta["uid"]:
            raise conflict(info.plural, info.group, name, f"Precondition failed: UID in precondition: {pre['uid']}, "
                           f"UID in object meta: {meta['uid']}")
        if pre.get("resourceVersion") and pre["resourceVersion"] != meta["resourceVersion"]:
            raise conflict(info.plural, info.group, name, "Precondition failed: ResourceVersion in precondition: "
                           f"{pre['resourceVersion']}, ResourceVersion in object meta: {meta['resourceVersion']}")
        policy = self._propagation(info, old, options)
        fins = [f for f in meta.get("finalizers") or [] if f not in GC_FINALIZERS]
        has_deps = bool(self._dependents.get(meta["uid"]))
        if policy == "Orphan" and has_deps:
            fins.append("orphan")
        elif policy == "Foreground" and has_deps:
            fins.append("foregroundDeletion")
        grace = self._grace(info, old, options)
        if info.key == "namespaces":
            return self._delete_namespace(info, old, opts)
        if meta.get("deletionTimestamp"):
            # Already deleting: only a shorter grace period or a forced removal changes anything.
            if grace == 0 and not (meta.get("finalizers") or []):
                return self._remove(info, ns, name, old, opts), True
            new = deep_copy(old)
            nm = new["metadata"]
            cur = nm.get("deletionGracePeriodSeconds") or 0
            if grace < cur:
                nm["deletionTimestamp"] = now_rfc3339(grace)
                nm["deletionGracePeriodSeconds"] = grace
            if new == old or opts.dry_run:
                return old, False
            return self._commit(info, ns, name, old, new), False
        if not fins and grace == 0:
            return self._remove(info, ns, name, old, opts), True
        new = deep_copy(old)
        nm = new["metadata"]
        nm["deletionTimestamp"] = now_rfc3339(grace)
        nm["deletionGracePeriodSeconds"] = grace
        if fins != (meta.get("finalizers") or []):
            nm["finalizers"] = fins
        if nm.get("generation"):
            nm["generation"] += 1
        if opts.dry_run:
            return new, False
        return self._commit(info, ns, name, old, new), False

    def _delete_namespace(self, info: ResourceInfo, old: Obj, opts: WriteOptions) -> tuple[Obj, bool]:
        if old["metadata"].get("deletionTimestamp"):
            return old, False
        new = deep_copy(old)
        new["metadata"]["deletionTimestamp"] = now_rfc3339()
        new["metadata"]["deletionGracePeriodSeconds"] = 0
        new["status"] = {"phase": "Terminating"}
        if opts.dry_run:
            return new, False
        return self._commit(info, "", old["metadata"]["name"], old, new), False

    def finalize_namespace(self, name: str) -> None:
        """Namespace controller's last step: the namespace is empty, drop spec.finalizers and remove it."""
        info = self.info("namespaces")
        old = self.find(info, None, name)
        if old is not None and old["metadata"].get("deletionTimestamp") and not old["metadata"].get("finalizers"):
            self._remove(info, "", name, old, WriteOptions())

    def _remove(self, info: ResourceInfo, ns: str, name: str, old: Obj, opts: WriteOptions) -> Obj:
        if opts.dry_run:
            return old
        gone = dict(old)
        gone["metadata"] = dict(old["metadata"])
        return self._commit(info, ns, name, old, gone, deleting=True)

    def _propagation(self, info: ResourceInfo, obj: Obj, options: dict[str, Any]) -> str:
        if options.get("orphanDependents") is not None:
            return "Orphan" if options["orphanDependents"] else "Background"
        policy = options.get("propagationPolicy")
        if policy:
            if policy not in ("Orphan", "Background", "Foreground"):
                raise invalid("DeleteOptions", "meta.k8s.io", "", [cause(
                    "FieldValueNotSupported", f'Unsupported value: "{policy}": supported values: "Foreground", '
                    '"Background", "Orphan"', "propagationPolicy")])
            return str(policy)
        fins = obj["metadata"].get("finalizers") or []
        if "orphan" in fins:
            return "Orphan"
        if "foregroundDeletion" in fins:
            return "Foreground"
        return "Orphan" if info.orphan_by_default else "Background"

    def _grace(self, info: ResourceInfo, obj: Obj, options: dict[str, Any]) -> int:
        grace = options.get("gracePeriodSeconds")
        if grace is not None and (isinstance(grace, bool) or not isinstance(grace, int)):
            # An int64 in DeleteOptions: kube-apiserver cannot decode 0.5, which int() would make 0 (a force delete).
            raise bad_request(f"DeleteOptions.gracePeriodSeconds must be an integer (int64), got {grace!r}")
        if info.key != "pods":
            return 0
        if grace is None:
            grace = (obj.get("spec") or {}).get("terminationGracePeriodSeconds", 30)
        grace = int(grace)
        if grace < 0:
            grace = 1
        if not (obj.get("spec") or {}).get("nodeName") or (obj.get("status") or {}).get("phase") in (
                "Succeeded", "Failed"):
            grace = 0
        return grace

    # ------------------------------------------------------------------ internals

    def _ns(self, info: ResourceInfo, namespace: str | None) -> str:
        return (namespace or "") if info.namespaced else ""

    def _check_namespace_for_write(self, info: ResourceInfo, namespace: str | None, obj: Obj) -> str:
        if not info.namespaced:
            return ""
        ns = namespace or (obj.get("metadata") or {}).get("namespace") or ""
        body_ns = (obj.get("metadata") or {}).get("namespace")
        if body_ns and namespace and body_ns != namespace:
            raise bad_request("the namespace of the provided object does not match the namespace sent on the request")
        nso = self._objects.get("namespaces", {}).get("", {}).get(ns)
        if nso is None:
            raise not_found("namespaces", "", ns)
        if nso["metadata"].get("deletionTimestamp"):
            raise ApiError(403, "Forbidden", f'{info.key} "{(obj.get("metadata") or {}).get("name", "")}" is '
                           f"forbidden: unable to create new content in namespace {ns} because it is being terminated",
                           {"name": (obj.get("metadata") or {}).get("name", ""), "group": info.group,
                            "kind": info.plural, "causes": [{"reason": "NamespaceTerminating", "message":
                                                             f"namespace {ns} is being terminated",
                                                             "field": "metadata.namespace"}]})
        return str(ns)

    def _check_type(self, info: ResourceInfo, obj: Obj) -> None:
        api_version = obj.get("apiVersion")
        if api_version and api_version != info.api_version:
            raise bad_request(f"the API version in the data ({api_version}) does not match the expected API version "
                              f"({info.api_version})")
        kind = obj.get("kind")
        if kind and kind != info.kind:
            raise bad_request(f"the kind in the data ({kind}) does not match the expected kind ({info.kind})")
        obj["apiVersion"] = info.api_version
        obj["kind"] = info.kind

    def _generate_name(self, info: ResourceInfo, ns: str, prefix: str) -> str:
        existing = self._objects.get(info.key, {}).get(ns, {})
        for _ in range(8):
            name = prefix[:58] + "".join(secrets.choice(NAME_ALPHABET) for _ in range(5))
            if name not in existing:
                return name
        err = already_exists(info.plural, info.group, prefix)
        assert err.details is not None
        err.details["retryAfterSeconds"] = 1
        raise err

    def _update(self, info: ResourceInfo, namespace: str | None, name: str, new: Obj, subresource: str | None,
                opts: WriteOptions, *, is_put: bool) -> Obj:
        ns = self._ns(info, namespace)
        old = self.get(info, ns, name)
        omd = old["metadata"]
        if not isinstance(new.get("metadata"), dict):
            new["metadata"] = {}
        self._check_update(info, ns, name, new, old, is_put=is_put)
        if subresource == "status":
            if not info.has_status:
                raise not_found(info.plural, info.group, name)
            new, causes = self._status_update(info, new, old, opts)
        elif subresource is not None:
            raise not_found(info.plural, info.group, name)
        else:
            causes = self._object_update(info, ns, new, old, opts)
        if causes:
            raise invalid(info.kind, info.group, name, causes)
        new["metadata"]["resourceVersion"] = omd["resourceVersion"]
        if new == old:
            return old
        if opts.dry_run:
            return new
        nm = new["metadata"]
        if nm.get("deletionTimestamp") and not nm.get("finalizers") and not nm.get("deletionGracePeriodSeconds") \
                and info.key != "namespaces":
            return self._commit(info, ns, name, old, new, deleting=True)
        return self._commit(info, ns, name, old, new)

    def _check_update(self, info: ResourceInfo, ns: str, name: str, new: Obj, old: Obj, *, is_put: bool) -> None:
        """The URL's name and namespace, the body's type, the uid and resourceVersion preconditions."""
        meta, omd = new["metadata"], old["metadata"]
        if meta.get("name") not in (None, name):
            raise bad_request(f'the name of the object ({meta.get("name")}) does not match the name on the URL '
                              f"({name})")
        if info.namespaced and meta.get("namespace") not in (None, "", ns):
            raise bad_request("the namespace of the provided object does not match the namespace sent on the request")
        self._check_type(info, new)
        if meta.get("uid") and meta["uid"] != omd["uid"]:
            raise conflict(info.plural, info.group, name, f"Precondition failed: UID in precondition: {meta['uid']}, "
                           f"UID in object meta: {omd['uid']}")
        rv = meta.get("resourceVersion")
        if rv:
            if rv != omd["resourceVersion"]:
                raise conflict(info.plural, info.group, name)
        elif is_put and not info.unconditional_update:
            raise invalid(info.kind, info.group, name, [cause(
                "FieldValueInvalid", "Invalid value: 0x0: must be specified for an update",
                "metadata.resourceVersion")])

    @staticmethod
    def _status_update(info: ResourceInfo, new: Obj, old: Obj, opts: WriteOptions
                       ) -> tuple[Obj, builtins.list[dict[str, Any]]]:
        """Only .status is taken from the request; everything else is the stored object."""
        status = new.get("status")
        new = deep_copy(old)
        if status is None:
            new.pop("status", None)
        else:
            new["status"] = status
        if opts.prune_builtin and not info.custom:
            report_unknown(prune_builtin(info.key, new), opts)
        causes: builtins.list[dict[str, Any]] = strategies.on_status_update(info.key, new, old)
        if info.custom:
            causes += custom_resources.prepare(info.schema, new, old, opts)
        return new, causes

    def _object_update(self, info: ResourceInfo, ns: str, new: Obj, old: Obj, opts: WriteOptions
                       ) -> builtins.list[dict[str, Any]]:
        """The main resource: server-owned metadata and the status kept from the stored object, then validated."""
        meta, omd = new["metadata"], old["metadata"]
        meta["name"] = omd["name"]
        if info.namespaced:
            meta["namespace"] = ns
        else:
            meta.pop("namespace", None)
        for k in _SERVER_META:
            if k in omd:
                meta[k] = omd[k]
            else:
                meta.pop(k, None)
        meta.pop("managedFields", None)
        meta["resourceVersion"] = omd["resourceVersion"]
        if info.has_status:
            if "status" in old:
                new["status"] = deep_copy(old["status"])
            else:
                new.pop("status", None)
        if opts.prune_builtin and not info.custom:
            report_unknown(prune_builtin(info.key, new), opts)
        causes = validate_metadata(info.key, new)
        if omd.get("deletionTimestamp"):
            added = set(meta.get("finalizers") or []) - set(omd.get("finalizers") or [])
            if added:
                causes.append(cause("FieldValueForbidden", "Forbidden: no new finalizers can be added if the "
                                    "object is being deleted", "metadata.finalizers"))
        causes += strategies.on_update(info.key, new, old)
        if info.custom:
            causes += custom_resources.prepare(info.schema, new, old, opts)
        if info.tracks_generation and self._spec_changed(info, new, old):
            meta["generation"] = int(omd.get("generation") or 0) + 1
        return causes

    @staticmethod
    def _spec_changed(info: ResourceInfo, new: Obj, old: Obj) -> bool:
        if not info.custom:
            return bool(new.get("spec") != old.get("spec"))
        skip = {"metadata", "status"} if info.has_status else {"metadata"}
        keys = (set(new) | set(old)) - skip
        return any(new.get(k) != old.get(k) for k in keys)

    def _commit(self, info: ResourceInfo, ns: str, name: str, old: Obj | None, new: Obj,
                deleting: bool = False) -> Obj:
        """The single write path: assign the next resourceVersion, store, index, log and fan out."""
        self._rv += 1
        rv = self._rv
        meta = new["metadata"]
        meta["resourceVersion"] = str(rv)
        uid = meta["uid"]
        by_ns = self._objects.setdefault(info.key, {}).setdefault(ns, {})
        old_owners = {r.get("uid") for r in ((old or {}).get("metadata") or {}).get("ownerReferences") or []}
        loc = (info.key, ns, name)
        if deleting:
            by_ns.pop(name, None)
            if not by_ns:
                self._objects[info.key].pop(ns, None)
            self._uids.pop(uid, None)
            new_owners: set[Any] = set()
            etype = DELETED
        else:
            by_ns[name] = new
            self._uids[uid] = loc
            new_owners = {r.get("uid") for r in meta.get("ownerReferences") or []}
            etype = ADDED if old is None else MODIFIED
        for owner in old_owners - new_owners:
            deps = self._dependents.get(owner)
            if deps is not None:
                deps.discard(loc)
                if not deps:
                    del self._dependents[owner]
        for owner in new_owners - old_owners:
            self._dependents.setdefault(owner, set()).add(loc)
        ev = Change(etype, rv, info, new, old)
        log = self._log
        log.append(ev)
        horizon = ev.at - self.history_seconds
        while len(log) > self.history_size or log[0].at < horizon:
            self._compacted = log.popleft().rv
        if info.key == CRD_KEY:
            self._sync_crd(ev)
        for w in list(self._watchers.get(info.key, ())):
            w.offer(ev)
        for fn in list(self._listeners):
            try:
                fn(ev)
            except Exception:  # the write is committed; a broken listener must not turn it into an error
                logger.exception("store listener %r failed on %r", fn, ev)
        return new

    def _sync_crd(self, ev: Change) -> None:
        crd = ev.object
        name = crd["metadata"]["name"]
        self.registry.remove_crd(name)
        if ev.type == DELETED:
            # The resource is no longer served: its open watches end, as on a real server.
            for w in list(self._watchers.get(name, ())):
                w.close()
        else:
            for info in infos_from_crd(crd):
                self.registry.add(info)
