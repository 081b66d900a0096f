"""Watch stream decoding: newline-delimited JSON events read incrementally from raw HTTP chunks.

One event per `\\n`-terminated line. A line that is not a valid event (including an object event whose metadata
has no name or fields of the wrong type) is logged and skipped; it never ends the stream or changes the caller's
resourceVersion. A partial last line (stream cut mid-line) is dropped: the caller resumes from the last
resourceVersion it saw, so the event is delivered again.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import orjson

log = logging.getLogger(__name__)

EVENT_TYPES = frozenset({"ADDED", "MODIFIED", "DELETED", "BOOKMARK", "ERROR"})
MAX_LINE_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class WatchEvent:
    type: str
    object: dict[str, Any]

    @property
    def resource_version(self) -> str:
        return str((self.object.get("metadata") or {}).get("resourceVersion") or "")


def parse_watch_line(line: bytes) -> WatchEvent | None:
    """The event on one line, or None (logged) if the line is blank or not a watch event."""
    line = line.strip()
    if not line:
        return None
    # Lines are never logged verbatim: a Secret watch carries key material.
    try:
        doc = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        log.warning("skipping malformed watch line", extra={"error": str(exc), "bytes": len(line)})
        return None
    if (not isinstance(doc, dict) or doc.get("type") not in EVENT_TYPES
            or not isinstance(doc.get("object"), dict) or not _well_formed(doc["type"], doc["object"])):
        event_type = doc.get("type") if isinstance(doc, dict) else None
        log.warning("skipping watch line that is not an event", extra={"type": str(event_type)[:40],
                                                                        "bytes": len(line)})
        return None
    return WatchEvent(doc["type"], doc["object"])


def _well_formed(event_type: str, obj: dict[str, Any]) -> bool:
    """The metadata a cache relies on has the right shape: an object event names its object, and every field
    the store keys or indexes on is of its type (else applying the event would raise mid-stream)."""
    if event_type == "ERROR":
        return True
    meta = obj.get("metadata", {})
    if not isinstance(meta, dict):
        return False
    if event_type != "BOOKMARK" and not (isinstance(meta.get("name"), str) and meta["name"]):
        return False
    return (isinstance(meta.get("namespace") or "", str) and isinstance(meta.get("resourceVersion") or "", str)
            and isinstance(meta.get("ownerReferences") or [], list))


async def split_lines(chunks: AsyncIterator[bytes], max_line: int = MAX_LINE_BYTES) -> AsyncIterator[bytes]:
    """Complete lines (without the newline) from arbitrary chunks; a trailing partial line is dropped."""
    buffer = bytearray()
    async for chunk in chunks:
        buffer += chunk
        start = 0
        while True:
            end = buffer.find(b"\n", start)
            if end < 0:
                break
            yield bytes(buffer[start:end])
            start = end + 1
        del buffer[:start]
        if len(buffer) > max_line:
            log.warning("watch line longer than the limit; dropping it", extra={"bytes": len(buffer)})
            buffer.clear()  # the rest of this line is skipped as malformed when its newline arrives
    if buffer.strip():
        log.info("watch stream ended mid-line; the event will be re-read on resume", extra={"bytes": len(buffer)})


async def decode_events(chunks: AsyncIterator[bytes]) -> AsyncIterator[WatchEvent]:
    async for line in split_lines(chunks):
        event = parse_watch_line(line)
        if event is not None:
            yield event
