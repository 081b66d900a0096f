"""Informer: list then watch one resource, keep a `Store` equal to the server, and call handlers on changes.

Loop (client-go's reflector): paginated list → replace the store, firing add/update/delete for the difference
(so objects deleted while disconnected are reported) → watch from the list's resourceVersion with bookmarks →
on a normal end re-watch from the last seen resourceVersion; on 410 Expired relist; on other errors back off
with jitter and retry. The store only changes here, and handlers run right after each change, in order.

A controller's own writes reach the cache through `assume(answer)` / `assume_deleted(key)`: the answer of a
create or patch is cached at once (so the next sync does not act on the older state), without handlers; the
watch delivers the same version later. One rule orders versions, here and on relist: `meta.is_newer`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from mpi_operator.kube.errors import ApiError, Gone, KubeError, ServerError, api_error
from mpi_operator.kube.meta import deletion_completed, is_newer, object_key, resource_version
from mpi_operator.kube.ratelimit import Backoff
from mpi_operator.kube.resource import Resource
from mpi_operator.kube.store import IndexFunc, Obj, Store, StoreReader, Transform
from mpi_operator.kube.watchstream import WatchEvent

log = logging.getLogger(__name__)


@dataclass
class EventHandler:
    """Callbacks for changes; keep them fast and non-blocking (enqueue a key, nothing else)."""

    on_add: Callable[[Obj], None] | None = None
    on_update: Callable[[Obj, Obj], None] | None = None
    on_delete: Callable[[Obj], None] | None = None


@dataclass(frozen=True)
class RelistDiff:
    added: list[Obj]
    updated: list[tuple[Obj, Obj]]  # (old, new)
    deleted: list[Obj]


def relist_diff(current: dict[str, Obj], listed: Iterable[Obj]) -> RelistDiff:
    """What changed between the cache and a fresh list. Unchanged resourceVersions are not updates."""
    added: list[Obj] = []
    updated: list[tuple[Obj, Obj]] = []
    seen: set[str] = set()
    for obj in listed:
        key = object_key(obj)
        seen.add(key)
        old = current.get(key)
        if old is None:
            added.append(obj)
        elif resource_version(old) != resource_version(obj) or not resource_version(obj):
            updated.append((old, obj))
    deleted = [obj for key, obj in current.items() if key not in seen]
    return RelistDiff(added, updated, deleted)


def _is_rv_too_large(exc: ApiError) -> bool:
    return any(c.reason == "ResourceVersionTooLarge" for c in exc.causes)


class Informer:
    """One resource's cache and change feed. `await informer.run()` (or `start()`) until cancelled."""

    def __init__(self, resource: Resource, *, namespace: str | None = None, label_selector: str | None = None,
                 field_selector: str | None = None, transform: Transform | None = None,
                 indexers: dict[str, IndexFunc] | None = None, page_size: int = 500,
                 watch_timeout_seconds: int | None = None, backoff: Backoff | None = None,
                 name: str = "") -> None:
        self.resource = resource
        self.namespace = namespace or None
        self.label_selector = label_selector
        self.field_selector = field_selector
        self.page_size = page_size
        self.watch_timeout_seconds = watch_timeout_seconds
        self.backoff = backoff or Backoff(base=0.2, cap=30.0)
        self.name = name or resource.type.plural
        self._store = Store(transform, indexers)
        self.resource_version = ""
        self._listed_version = ""
        self.last_error: str | None = None
        self.relists = 0
        self._handlers: list[EventHandler] = []
        self._synced = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    # --- public ---------------------------------------------------------------------------------------

    def add_handler(self, on_add: Callable[[Obj], None] | None = None,
                    on_update: Callable[[Obj, Obj], None] | None = None,
                    on_delete: Callable[[Obj], None] | None = None) -> EventHandler:
        """Register callbacks; a handler added after the first sync first gets an add for every cached object."""
        handler = EventHandler(on_add, on_update, on_delete)
        self._handlers.append(handler)
        if self.has_synced and on_add is not None:
            for obj in self.store.list():
                self._call(on_add, obj)
        return handler

    @property
    def store(self) -> StoreReader:
        """The cache, read-only: it changes only through this informer (the watch, or `assume`)."""
        return self._store

    def assume(self, obj: Obj) -> Obj:
        """Cache the answer of our own write now, unless the cache already holds a newer version; handlers are
        not called (the watch event for the write follows and calls them). Returns the object as cached."""
        prepared = self._store.prepare(obj)
        if deletion_completed(obj):  # the raw answer: a slimmed cache entry may lack the grace period
            # E.g. our finalizer was the last one of an object being deleted. Caching the answer could bring back
            # an object whose DELETED event was already applied, a phantom nothing would ever remove.
            self._store.remove(object_key(prepared))
        elif is_newer(prepared, self._store.get(object_key(prepared))):
            self._store.put(prepared)
        return prepared

    def assume_deleted(self, key: str) -> None:
        """Drop an object we deleted (or found gone) from the cache now; the watch's DELETED event follows."""
        self._store.remove(key)

    @property
    def has_synced(self) -> bool:
        return self._synced.is_set()

    def not_ready_reason(self) -> str | None:
        """For /readyz: None once synced and following the server, else why not (e.g. a Forbidden watch)."""
        if self.last_error:
            return f"{self.name}: {self.last_error}"
        if not self.has_synced:
            return f"{self.name}: not synced yet"
        return None

    async def wait_for_sync(self, within: float | None = None) -> bool:
        try:
            await asyncio.wait_for(self._synced.wait(), within)
        except TimeoutError:
            return False
        return True

    def start(self) -> asyncio.Task[None]:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self.run(), name=f"informer-{self.name}")
        return self._task

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def run(self) -> None:
        """Follow the server until cancelled. After a `stop()`, a restart resumes watching from the last
        resourceVersion (a 410 then relists and reports what changed meanwhile, deletions included)."""
        need_list = not (self.has_synced and self.resource_version)
        while True:
            try:
                if need_list:
                    await self._list_and_replace()
                    need_list = False
                need_list = await self._watch_once()
            except Gone as exc:
                log.info("resourceVersion expired; relisting", extra={"informer": self.name, "error": str(exc)})
                need_list = True
            except Exception as exc:
                # Everything else is retried: a cache that stops following the server is worse than noise.
                if isinstance(exc, ServerError) and _is_rv_too_large(exc):
                    need_list = True
                self.last_error = f"{type(exc).__name__}: {exc}"
                delay = self.backoff.next_delay()
                if isinstance(exc, KubeError):
                    log.warning("list/watch failed; retrying", extra={
                        "informer": self.name, "error": self.last_error, "delay": round(delay, 3)})
                else:
                    log.exception("unexpected informer failure; retrying", extra={"informer": self.name})
                await asyncio.sleep(delay)

    # --- list -----------------------------------------------------------------------------------------

    async def _list_and_replace(self) -> None:
        items, resource_version = await self.resource.list_all(
            self.namespace, label_selector=self.label_selector, field_selector=self.field_selector,
            page_size=self.page_size)
        self.replace(items, resource_version)

    def replace(self, items: Iterable[Obj], resource_version: str) -> RelistDiff:
        """Make the store equal to `items` (a full list) and fire handlers for the difference.

        One exception: a cached object newer than its listed version stays. A controller may have cached its own
        write after the list was taken (the watch from the list's resourceVersion delivers that write anyway);
        rolling the cache back would make it act twice on the older state."""
        prepared = [self._store.prepare(obj) for obj in items]
        found = relist_diff(self._store.snapshot(), prepared)
        diff = RelistDiff(found.added, [(old, new) for old, new in found.updated if not is_newer(old, new)],
                          found.deleted)
        for obj in diff.added:
            self._store.put(obj)
            self._fire_add(obj)
        for old, new in diff.updated:
            self._store.put(new)
            self._fire_update(old, new)
        for obj in diff.deleted:
            self._store.remove(object_key(obj))
            self._fire_delete(obj)
        self.resource_version = resource_version
        self._listed_version = resource_version
        if self.has_synced:
            self.relists += 1
        self.last_error = None
        self._synced.set()
        return diff

    # --- watch ----------------------------------------------------------------------------------------

    async def _watch_once(self) -> bool:
        """One watch request from the current resourceVersion; True when a relist is needed (410)."""
        received = 0
        stream = self.resource.watch(
            self.namespace, resource_version=self.resource_version, label_selector=self.label_selector,
            field_selector=self.field_selector, allow_bookmarks=True, timeout_seconds=self.watch_timeout_seconds)
        async with contextlib.aclosing(stream):  # leaving early must close the HTTP response now, not at GC
            async for event in stream:
                if event.type == "ERROR":
                    error = api_error(int(event.object.get("code") or 500), event.object)
                    if isinstance(error, Gone):
                        log.info("watch expired; relisting", extra={"informer": self.name, "error": str(error)})
                        if received == 0 and self.resource_version == self._listed_version:
                            # Expired straight after a list: relisting at once would hammer the server in a loop.
                            await asyncio.sleep(self.backoff.next_delay())
                        return True
                    raise error
                received += 1
                self.apply(event)
                self.last_error = None
                self.backoff.reset()
        if received == 0:
            # A stream that ends with nothing in it may be a server closing us at once: don't hot-loop.
            await asyncio.sleep(self.backoff.next_delay())
        return False

    def apply(self, event: WatchEvent) -> None:
        """Apply one watch event to the store, fire handlers, and advance the resourceVersion."""
        if event.type == "BOOKMARK":
            if event.resource_version:
                self.resource_version = event.resource_version
            return
        obj = self._store.prepare(event.object)
        rv = resource_version(obj)
        if event.type in ("ADDED", "MODIFIED"):
            old = self._store.put(obj)
            if old is None:
                self._fire_add(obj)
            else:
                self._fire_update(old, obj)
        elif event.type == "DELETED":
            # The event carries the object's last state; handlers get that, whether or not we had it cached.
            self._store.remove(object_key(obj))
            self._fire_delete(obj)
        if rv:
            self.resource_version = rv

    # --- handlers -------------------------------------------------------------------------------------

    def _fire_add(self, obj: Obj) -> None:
        for h in self._handlers:
            if h.on_add is not None:
                self._call(h.on_add, obj)

    def _fire_update(self, old: Obj, new: Obj) -> None:
        for h in self._handlers:
            if h.on_update is not None:
                self._call(h.on_update, old, new)

    def _fire_delete(self, obj: Obj) -> None:
        for h in self._handlers:
            if h.on_delete is not None:
                self._call(h.on_delete, obj)

    def _call(self, func: Callable[..., None], *args: Any) -> None:
        try:
            func(*args)
        except Exception:
            # A broken handler must not stop the cache from following the server.
            log.exception("informer handler failed", extra={"informer": self.name})


async def wait_for_cache_sync(informers: Iterable[Informer], within: float | None = None) -> bool:
    """True once every informer has completed its first list (False on timeout)."""
    results = await asyncio.gather(*(i.wait_for_sync(within) for i in informers))
    return all(results)
