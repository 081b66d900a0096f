"""Event recorder: core/v1 Events about an object, written in the background, aggregated like client-go.

`record()` never blocks and never raises: events go into a bounded queue (overflow is dropped and counted) and
one writer task sends them. An identical repeat (same involved object, type, reason, message) PATCHes the
existing Event's count and lastTimestamp instead of creating a new one; messages are cut to 1024 bytes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from mpi_operator.kube.client import Client
from mpi_operator.kube.errors import AlreadyExists, KubeError, NotFound
from mpi_operator.kube.resource import EVENTS

log = logging.getLogger(__name__)

MAX_MESSAGE_BYTES = 1024
SIMILAR_EVENTS_LIMIT = 10
SIMILAR_WINDOW_SECONDS = 600.0
COMBINED_PREFIX = "(combined from similar events): "
NORMAL = "Normal"
WARNING = "Warning"


def truncate_message(message: str, limit: int = MAX_MESSAGE_BYTES) -> str:
    """Cut to at most `limit` UTF-8 bytes without splitting a character."""
    raw = message.encode("utf-8")
    if len(raw) <= limit:
        return message
    return raw[:limit].decode("utf-8", "ignore")


def _timestamp() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def involved_object(obj: dict[str, Any]) -> dict[str, Any]:
    meta = obj.get("metadata") or {}
    ref = {"kind": obj.get("kind", ""), "apiVersion": obj.get("apiVersion", ""), "name": meta.get("name", ""),
           "namespace": meta.get("namespace", ""), "uid": meta.get("uid", ""),
           "resourceVersion": meta.get("resourceVersion", "")}
    return {k: v for k, v in ref.items() if v}


@dataclass
class _Seen:
    namespace: str
    name: str
    count: int


class EventRecorder:
    """Records Events for one component. `start()` the writer; `await stop()` flushes within a bound."""

    def __init__(self, client: Client, component: str = "mpi-operator", host: str | None = None,
                 queue_size: int = 1000, cache_size: int = 4096) -> None:
        self.events = client.resource(EVENTS)
        self.component = component
        self.host = host if host is not None else socket.gethostname()
        self.dropped = 0
        self.written = 0
        self._queue: asyncio.Queue[tuple[dict[str, Any], str, str, str]] = asyncio.Queue(queue_size)
        self._seen: OrderedDict[tuple[Any, ...], _Seen] = OrderedDict()
        self._similar: OrderedDict[tuple[Any, ...], tuple[set[str], float]] = OrderedDict()
        self._cache_size = cache_size
        self._task: asyncio.Task[None] | None = None
        self._last_drop_log = 0.0

    def record(self, obj: dict[str, Any], type: str, reason: str, message: str) -> None:
        """Queue an Event about `obj` (which needs kind and metadata.name); never blocks, never raises."""
        try:
            self._queue.put_nowait((obj, type, reason, truncate_message(message)))
        except asyncio.QueueFull:
            self.dropped += 1
            now = time.monotonic()
            if now - self._last_drop_log > 10:
                self._last_drop_log = now
                log.warning("event queue full; dropping events", extra={"dropped": self.dropped})
        except Exception:
            log.exception("could not queue event")

    def normal(self, obj: dict[str, Any], reason: str, message: str) -> None:
        self.record(obj, NORMAL, reason, message)

    def warning(self, obj: dict[str, Any], reason: str, message: str) -> None:
        self.record(obj, WARNING, reason, message)

    def start(self) -> asyncio.Task[None]:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self.run(), name="event-recorder")
        return self._task

    async def stop(self, within: float = 5.0) -> None:
        """Write what is queued (for at most `within` seconds), then stop the writer."""
        if self._task is None:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._queue.join(), within)
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None

    async def flush(self, within: float = 5.0) -> bool:
        """Wait until every queued event has been sent (or dropped after failing)."""
        try:
            await asyncio.wait_for(self._queue.join(), within)
        except TimeoutError:
            return False
        return True

    async def run(self) -> None:
        while True:
            obj, type_, reason, message = await self._queue.get()
            try:
                await self._write(obj, type_, reason, message)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("could not write event", extra={"reason": reason, "error": str(exc)})
            finally:
                self._queue.task_done()

    def _aggregate(self, similar_key: tuple[Any, ...], message: str) -> tuple[str, tuple[Any, ...]]:
        """client-go's aggregator: once 10 events about one object with the same type and reason but
        different messages occur within 10 minutes, further ones fold into one combined Event."""
        now = time.monotonic()
        messages, since = self._similar.get(similar_key, (set(), now))
        if now - since > SIMILAR_WINDOW_SECONDS:
            messages, since = set(), now
        messages.add(message)
        self._similar[similar_key] = (messages, since)
        self._similar.move_to_end(similar_key)
        while len(self._similar) > self._cache_size:
            self._similar.popitem(last=False)
        if len(messages) < SIMILAR_EVENTS_LIMIT:
            return message, (*similar_key, message)
        combined = truncate_message(COMBINED_PREFIX + message)
        return combined, (*similar_key, COMBINED_PREFIX)

    async def _write(self, obj: dict[str, Any], type_: str, reason: str, message: str) -> None:
        ref = involved_object(obj)
        namespace = ref.get("namespace") or "default"
        # The object's resourceVersion changes between repeats; it must not split a series.
        ref_key = tuple((k, v) for k, v in sorted(ref.items()) if k != "resourceVersion")
        message, key = self._aggregate((ref_key, type_, reason), message)
        now = _timestamp()
        seen = self._seen.get(key)
        if seen is not None:
            seen.count += 1
            self._seen.move_to_end(key)
            patch = {"count": seen.count, "lastTimestamp": now, "message": message}
            try:
                await self.events.patch(seen.name, patch, seen.namespace, type="strategic")
                self.written += 1
                return
            except NotFound:
                pass  # expired or deleted: start a new series
        name = f"{ref.get('name', 'unknown')}.{time.time_ns():x}"
        body = {
            "apiVersion": "v1", "kind": "Event",
            "metadata": {"name": name, "namespace": namespace},
            "involvedObject": ref, "reason": reason, "message": message, "type": type_,
            "source": {"component": self.component, "host": self.host},
            "firstTimestamp": now, "lastTimestamp": now, "count": 1,
            "reportingComponent": self.component, "reportingInstance": self.host,
        }
        try:
            await self.events.create(body, namespace)
        except AlreadyExists:
            return  # as client-go: a duplicate name means it is already recorded
        except KubeError:
            self._seen.pop(key, None)
            raise
        self.written += 1
        self._seen[key] = _Seen(namespace, name, 1)
        self._seen.move_to_end(key)
        while len(self._seen) > self._cache_size:
            self._seen.popitem(last=False)
