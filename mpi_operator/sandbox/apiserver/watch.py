"""One watch subscription: a bounded queue fed synchronously by the store's single write path.

The store calls `offer` for every committed event of the watched resource; the watcher never blocks the writer:
when its queue is full it marks itself overflowed and the consumer ends the stream (clients re-watch from the last
resourceVersion they saw, as with a real API server). Selector filtering, including the enter/leave transitions
(ADDED when an object starts matching, DELETED when it stops), happens on the consumer side in `transform`.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Callable
from typing import Any, Protocol

from mpi_operator.sandbox.apiserver.changes import ADDED, DELETED, MODIFIED, Change
from mpi_operator.sandbox.apiserver.resources import ResourceInfo


class Matcher(Protocol):
    def matches(self, obj: dict[str, Any]) -> bool: ...


class WatchOverflow(Exception):
    """The consumer fell too far behind; the stream must end."""


class Watcher:
    def __init__(self, info: ResourceInfo, namespace: str | None, matcher: Matcher | None, max_queue: int,
                 on_close: Callable[[Watcher], None]) -> None:
        self.info = info
        self.namespace = namespace
        self.matcher = matcher
        self.max_queue = max_queue
        self.queue: deque[Change] = deque()
        self.overflowed = False
        self.closed = False
        self._wakeup = asyncio.Event()
        self._on_close = on_close

    def offer(self, ev: Change) -> None:
        """Called by the store inside the write path: O(1), never blocks, never raises."""
        if self.closed or (self.namespace is not None and ev.namespace != self.namespace):
            return
        if self.max_queue and len(self.queue) >= self.max_queue:
            self.overflowed = True
        else:
            self.queue.append(ev)
        self._wakeup.set()

    def preload(self, events: list[Change]) -> None:
        """Initial ADDED events and replayed history, queued before live events (not counted in the bound)."""
        self.queue.extend(events)
        if events:
            self._wakeup.set()

    def transform(self, ev: Change) -> tuple[str, dict[str, Any]] | None:
        """The (type, object) this watcher must send for `ev`, or None when the selectors hide it."""
        m = self.matcher
        if m is None:
            return ev.type, ev.object
        if ev.type == DELETED:
            return (DELETED, ev.object) if m.matches(ev.object) else None
        now = m.matches(ev.object)
        if ev.type == ADDED or ev.old is None:
            return (ADDED, ev.object) if now else None
        before = m.matches(ev.old)
        if now and before:
            return MODIFIED, ev.object
        if now:
            return ADDED, ev.object
        if before:
            # Leaving the selection: the old state, stamped with this event's revision (etcd3 watcher does so).
            gone = dict(ev.old)
            gone["metadata"] = {**ev.old["metadata"], "resourceVersion": str(ev.rv)}
            return DELETED, gone
        return None

    async def next(self, timeout: float | None) -> Change | None:  # noqa: ASYNC109
        """The next queued event, None after `timeout` seconds without one; WatchOverflow once overflowed."""
        while not self.queue:
            if self.overflowed or self.closed:
                raise WatchOverflow()
            self._wakeup.clear()
            try:
                await asyncio.wait_for(self._wakeup.wait(), timeout)
            except TimeoutError:
                return None
        if self.overflowed:
            raise WatchOverflow()
        return self.queue.popleft()

    def drain(self, limit: int) -> list[Change]:
        """Up to `limit` more queued events without waiting (WatchOverflow once overflowed)."""
        if self.overflowed:
            raise WatchOverflow()
        q = self.queue
        out: list[Change] = []
        while q and len(out) < limit:
            out.append(q.popleft())
        return out

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._wakeup.set()
            self._on_close(self)

    async def __aiter__(self) -> AsyncIterator[tuple[str, dict[str, Any], Change]]:
        """In-process use: yields (type, object, event) after selector filtering until closed or overflowed."""
        try:
            while True:
                ev = await self.next(None)
                if ev is None:
                    continue
                out = self.transform(ev)
                if out is not None:
                    yield out[0], out[1], ev
        except WatchOverflow:
            return
        finally:
            self.close()
