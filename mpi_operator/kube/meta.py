"""Object metadata, read one way everywhere: the cache key, the resourceVersion and its ordering, the controller
owner reference, finalizers and deletion. Plain functions over JSON dicts (`JSON`), as client-go's `meta`.

Invariant: each rule is written here once. "Controlled by" means the owner reference with `controller: true`
(the boolean, as the API server's garbage collector reads it), nothing truthier.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

JSON = dict[str, Any]
"""A Kubernetes object (or part of one) in flight: decoded JSON, never wrapped in a class."""


def metadata(obj: Mapping[str, Any]) -> JSON:
    meta = obj.get("metadata")
    return meta if isinstance(meta, dict) else {}


def object_key(obj: Mapping[str, Any]) -> str:
    """`namespace/name` for namespaced objects, `name` for cluster-scoped ones (client-go's MetaNamespaceKey)."""
    meta = metadata(obj)
    namespace = meta.get("namespace") or ""
    name = meta.get("name") or ""
    return f"{namespace}/{name}" if namespace else str(name)


def name_key(namespace: str | None, name: str) -> str:
    """The key of `name` in `namespace` (cluster-scoped when namespace is empty)."""
    return f"{namespace}/{name}" if namespace else name


def split_key(key: str) -> tuple[str, str]:
    """(namespace, name) of a key; namespace is "" for cluster-scoped keys."""
    namespace, _, name = key.rpartition("/")
    return namespace, name


def resource_version(obj: Mapping[str, Any] | None) -> str:
    return str(metadata(obj or {}).get("resourceVersion") or "")


def is_newer(candidate: Mapping[str, Any], than: Mapping[str, Any] | None) -> bool:
    """Whether `candidate` is a later version of the object than `than` (None: anything is newer).

    resourceVersions are opaque to clients, but every server in use issues increasing integers; when either
    is not an integer, nothing is taken as newer (the watch will bring the truth)."""
    if than is None:
        return True
    try:
        return int(resource_version(candidate)) > int(resource_version(than))
    except ValueError:
        return False


def controller_reference(obj: Mapping[str, Any]) -> JSON | None:
    """The owner reference with `controller: true`, or None."""
    for ref in metadata(obj).get("ownerReferences") or []:
        if isinstance(ref, dict) and ref.get("controller") is True:
            return ref
    return None


def controller_uid(obj: Mapping[str, Any]) -> str | None:
    """The uid of the controller owner reference, if any."""
    ref = controller_reference(obj)
    return str(ref["uid"]) if ref is not None and ref.get("uid") else None


def is_controlled_by(obj: Mapping[str, Any], owner_uid: str) -> bool:
    """True when the object's controller owner reference points at `owner_uid` (upstream's ownership test)."""
    return bool(owner_uid) and controller_uid(obj) == owner_uid


def has_finalizer(obj: Mapping[str, Any], finalizer: str) -> bool:
    return finalizer in (metadata(obj).get("finalizers") or [])


def finalizer_removal_patch(obj: Mapping[str, Any], finalizer: str) -> JSON:
    """A merge patch dropping `finalizer`, guarded by the object's resourceVersion (a concurrent change of the
    list answers Conflict instead of being overwritten)."""
    meta = metadata(obj)
    kept = [f for f in meta.get("finalizers") or [] if f != finalizer]
    return {"metadata": {"finalizers": kept or None, "resourceVersion": meta.get("resourceVersion")}}


def is_deleting(obj: Mapping[str, Any] | None) -> bool:
    """The object has a deletionTimestamp (it is going; finalizers or a grace period hold it)."""
    return bool(metadata(obj or {}).get("deletionTimestamp"))


def deletion_completed(obj: Mapping[str, Any]) -> bool:
    """The object as a write answered it shows that write deleted it: marked for deletion, no finalizer left and
    no grace period running (a terminating pod keeps one until its kubelet is done). The server has removed it."""
    meta = metadata(obj)
    return bool(meta.get("deletionTimestamp")) and not meta.get("finalizers") and \
        not meta.get("deletionGracePeriodSeconds")
