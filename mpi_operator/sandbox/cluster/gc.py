"""Garbage collector, namespace controller and CRD cleanup, driven by the store's change log.

A synchronous listener notes what each commit makes worth re-checking (dependents of a removed owner, owners
being deleted with the `orphan`/`foregroundDeletion` finalizers, terminating namespaces and CRDs); an asyncio
task then acts through the ordinary store methods, so its writes look like any client's: owners are matched by
uid, Background deletes dependents whose owners are all gone, Foreground deletes dependents before the owner,
Orphan strips the owner's reference and keeps the dependents.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from mpi_operator.sandbox.admission.strategies import CRD_CLEANUP_FINALIZER
from mpi_operator.sandbox.apiserver.changes import DELETED, Change
from mpi_operator.sandbox.apiserver.storage import CRD_KEY, Storage, deep_copy
from mpi_operator.sandbox.errors import ApiError

log = logging.getLogger(__name__)
Obj = dict[str, Any]


class GarbageCollector:
    def __init__(self, store: Storage) -> None:
        self.store = store
        self._dependents: set[str] = set()  # uids of objects whose owners must be checked
        self._owners: set[str] = set()  # uids of owners being deleted with a GC finalizer
        self._namespaces: set[str] = set()
        self._crds: set[str] = set()
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._unlisten = store.listen(self._on_event)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="sandbox-gc")

    async def stop(self) -> None:
        self._unlisten()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    @property
    def idle(self) -> bool:
        return not (self._dependents or self._owners or self._namespaces or self._crds)

    def _on_event(self, ev: Change) -> None:
        meta = ev.object["metadata"]
        uid = meta["uid"]
        if ev.type == DELETED:
            for dep in self.store.dependents(uid):
                self._dependents.add(dep["metadata"]["uid"])
        else:
            refs = meta.get("ownerReferences") or []
            if any(self.store.get_by_uid(r.get("uid", "")) is None for r in refs):
                self._dependents.add(uid)
            if meta.get("deletionTimestamp"):
                fins = meta.get("finalizers") or []
                if "orphan" in fins or "foregroundDeletion" in fins:
                    self._owners.add(uid)
                if ev.info.key == "namespaces":
                    self._namespaces.add(meta["name"])
                if ev.info.key == CRD_KEY and CRD_CLEANUP_FINALIZER in fins:
                    self._crds.add(meta["name"])
        # A dependent changed or vanished: owners waiting for it in foreground deletion may proceed.
        for ref in meta.get("ownerReferences") or []:
            owner = self.store.get_by_uid(ref.get("uid", ""))
            if owner is not None and owner["metadata"].get("deletionTimestamp"):
                self._owners.add(ref["uid"])
        if ev.namespace and ev.type == DELETED:
            ns = self.store.find("namespaces", None, ev.namespace)
            if ns is not None and ns["metadata"].get("deletionTimestamp"):
                self._namespaces.add(ev.namespace)
        if ev.info.custom and ev.type == DELETED:
            self._crds.update(n for n in self._crds_terminating() if n == ev.info.extra.get("crd"))
        self._wakeup.set()

    def _crds_terminating(self) -> list[str]:
        return [c["metadata"]["name"] for c in self.store.iter_objects(CRD_KEY) if c["metadata"].get(
            "deletionTimestamp")]

    async def _run(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            try:
                self.process()
            except Exception:  # keep collecting; one odd object must not stop the collector
                log.exception("garbage collector pass failed")
            await asyncio.sleep(0)

    def process(self) -> None:
        """One pass over everything noted so far (synchronous; writes go through the store)."""
        while self._dependents or self._owners:
            deps, self._dependents = self._dependents, set()
            for uid in deps:
                self._check_dependent(uid)
            owners, self._owners = self._owners, set()
            for uid in owners:
                self._process_owner(uid)
        namespaces, self._namespaces = self._namespaces, set()
        for name in namespaces:
            self._process_namespace(name)
        crds, self._crds = self._crds, set()
        for name in crds:
            self._process_crd(name)

    def _check_dependent(self, uid: str) -> None:
        obj = self.store.get_by_uid(uid)
        if obj is None:
            return
        meta = obj["metadata"]
        refs = meta.get("ownerReferences") or []
        live = []
        for r in refs:
            owner = self.store.get_by_uid(r.get("uid", ""))
            if owner is not None and owner["metadata"].get("namespace", meta.get("namespace")) in (
                    meta.get("namespace"), None, ""):
                live.append((r, owner))
        if not refs:
            return
        if not live:
            if not meta.get("deletionTimestamp"):
                self._delete(obj, "Background")
            return
        if len(live) < len(refs):
            keep = [r for r, _ in live]
            self._set_owner_refs(obj, keep)

    def _process_owner(self, uid: str) -> None:
        owner = self.store.get_by_uid(uid)
        if owner is None or not owner["metadata"].get("deletionTimestamp"):
            return
        fins = owner["metadata"].get("finalizers") or []
        deps = self.store.dependents(uid)
        if "orphan" in fins:
            for dep in deps:
                keep = [r for r in dep["metadata"].get("ownerReferences") or [] if r.get("uid") != uid]
                self._set_owner_refs(dep, keep)
            self._remove_finalizer(owner, "orphan")
        elif "foregroundDeletion" in fins:
            blocking = False
            for dep in deps:
                refs = dep["metadata"].get("ownerReferences") or []
                ref: dict[str, Any] = next((r for r in refs if r.get("uid") == uid), {})
                if ref.get("blockOwnerDeletion"):
                    blocking = True
                if not dep["metadata"].get("deletionTimestamp"):
                    has_own = bool(self.store.dependents(dep["metadata"]["uid"]))
                    self._delete(dep, "Foreground" if has_own else "Background")
            if not blocking:
                self._remove_finalizer(owner, "foregroundDeletion")

    def _process_namespace(self, name: str) -> None:
        ns = self.store.find("namespaces", None, name)
        if ns is None or not ns["metadata"].get("deletionTimestamp"):
            return
        for key in self.store.resources_with_objects_in(name):
            for obj in list(self.store.iter_objects(key, name)):
                if not obj["metadata"].get("deletionTimestamp"):
                    self._delete(obj, "Background")
        if self.store.namespace_is_empty(name):
            self.store.finalize_namespace(name)

    def _process_crd(self, name: str) -> None:
        crd = self.store.find(CRD_KEY, None, name)
        if crd is None or not crd["metadata"].get("deletionTimestamp"):
            return
        plural_group = name
        remaining = 0
        try:
            for obj in list(self.store.iter_objects(plural_group)):
                remaining += 1
                if not obj["metadata"].get("deletionTimestamp"):
                    self._delete(obj, "Background")
            remaining = sum(1 for _ in self.store.iter_objects(plural_group))
        except ApiError:
            remaining = 0
        if remaining == 0:
            self._remove_finalizer(crd, CRD_CLEANUP_FINALIZER)

    # ---- writes ----

    def _delete(self, obj: Obj, policy: str) -> None:
        meta = obj["metadata"]
        info = self.store.registry.by_kind(obj.get("apiVersion", ""), obj.get("kind", ""))
        if info is None:
            return
        with contextlib.suppress(ApiError):
            self.store.delete(info, meta.get("namespace"), meta["name"],
                              {"propagationPolicy": policy, "preconditions": {"uid": meta["uid"]}})

    def _set_owner_refs(self, obj: Obj, refs: list[dict[str, Any]]) -> None:
        info = self.store.registry.by_kind(obj.get("apiVersion", ""), obj.get("kind", ""))
        if info is None:
            return
        new = deep_copy(obj)
        if refs:
            new["metadata"]["ownerReferences"] = refs
        else:
            new["metadata"].pop("ownerReferences", None)
        with contextlib.suppress(ApiError):
            self.store.update(info, obj["metadata"].get("namespace"), obj["metadata"]["name"], new)

    def _remove_finalizer(self, obj: Obj, finalizer: str) -> None:
        info = self.store.registry.by_kind(obj.get("apiVersion", ""), obj.get("kind", ""))
        if info is None:
            return
        new = deep_copy(obj)
        new["metadata"]["finalizers"] = [f for f in new["metadata"].get("finalizers") or [] if f != finalizer]
        with contextlib.suppress(ApiError):
            self.store.update(info, obj["metadata"].get("namespace"), obj["metadata"]["name"], new)
