"""Watch stream decoding: lines split across chunks, malformed lines skipped, partial last line dropped."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import orjson
import pytest

from mpi_operator.kube.watchstream import WatchEvent, decode_events, parse_watch_line


def line(type_: str, name: str, rv: str) -> bytes:
    return orjson.dumps({"type": type_, "object": {"metadata": {"name": name, "resourceVersion": rv}}}) + b"\n"


async def chunks_of(data: bytes, size: int) -> AsyncIterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i:i + size]


async def collect(data: bytes, size: int) -> list[WatchEvent]:
    return [e async for e in decode_events(chunks_of(data, size))]


def test_parse_one_event_line() -> None:
    event = parse_watch_line(line("ADDED", "a", "5"))
    assert event is not None and event.type == "ADDED" and event.resource_version == "5"


def test_malformed_and_blank_lines_are_skipped() -> None:
    assert parse_watch_line(b"") is None
    assert parse_watch_line(b"{not json") is None
    assert parse_watch_line(b'{"type": "WHAT", "object": {}}') is None
    assert parse_watch_line(b'{"type": "ADDED", "object": null}') is None
    assert parse_watch_line(b"[1, 2]") is None


async def test_events_split_across_arbitrary_chunks_are_reassembled() -> None:
    data = b"".join(line("ADDED", f"p{i}", str(i)) for i in range(50))
    for size in (1, 7, 64, 10_000):
        events = await collect(data, size)
        assert [e.object["metadata"]["name"] for e in events] == [f"p{i}" for i in range(50)]


async def test_a_malformed_line_in_the_middle_does_not_lose_the_rest() -> None:
    data = line("ADDED", "a", "1") + b"garbage\n\n" + line("MODIFIED", "a", "2")
    events = await collect(data, 5)
    assert [(e.type, e.resource_version) for e in events] == [("ADDED", "1"), ("MODIFIED", "2")]


async def test_a_stream_cut_mid_line_drops_only_the_partial_event() -> None:
    data = line("ADDED", "a", "1") + line("ADDED", "b", "2")[:-10]
    events = await collect(data, 3)
    assert [e.resource_version for e in events] == ["1"]


def test_skipped_lines_are_not_logged_verbatim(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        parse_watch_line(b'{"type":"ADDED","object":{"data":{"id_rsa":"c2VjcmV0LWtleQ=="}}')  # truncated JSON
        parse_watch_line(b'{"type":"NOPE","object":{"data":{"id_rsa":"c2VjcmV0LWtleQ=="}}}')
    assert len(caplog.records) == 2
    assert not any("c2VjcmV0" in str(vars(r)) for r in caplog.records)
