"""Fuzzing the watch-stream decoder and the informer behind it: whatever bytes arrive, decoding never raises
(a bad line is skipped, a cut last line dropped), good events around bad lines all come through in order, and
the informer's store ends equal to the good events applied in order.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kubernetes_asyncio.client import Configuration

from mpi_operator.kube.client import Client
from mpi_operator.kube.informer import Informer
from mpi_operator.kube.meta import object_key
from mpi_operator.kube.resource import PODS, Resource
from mpi_operator.kube.watchstream import EVENT_TYPES, WatchEvent, decode_events, parse_watch_line, split_lines
from tests.fuzz.mpijob_strategies import json_scalars, json_values

FUZZ = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])

names = st.text("abcdefghij-0123456789", min_size=1, max_size=8)

# What a broken or hostile stream may put where an object's metadata belongs.
odd_metadata = st.one_of(
    json_values,
    st.fixed_dictionaries({}, optional={"name": json_values, "namespace": json_values,
                                        "resourceVersion": json_values, "ownerReferences": json_values,
                                        "labels": json_values}),
)


@st.composite
def good_events(draw: st.DrawFn) -> dict[str, Any]:
    """A well-formed watch event about a pod named from a small pool (so events hit the same keys)."""
    etype = draw(st.sampled_from(["ADDED", "MODIFIED", "DELETED", "BOOKMARK"]))
    rv = str(draw(st.integers(1, 10**6)))
    if etype == "BOOKMARK":
        return {"type": etype, "object": {"kind": "Pod", "metadata": {"resourceVersion": rv}}}
    meta = {"name": draw(names), "namespace": draw(st.sampled_from(["a", "b"])), "resourceVersion": rv,
            "uid": draw(st.uuids()).hex}
    return {"type": etype, "object": {"kind": "Pod", "metadata": meta,
                                      "spec": {"nodeName": draw(st.text(max_size=5))}}}


@st.composite
def bad_lines(draw: st.DrawFn) -> bytes:
    """One line (no newline inside) that is not a usable event."""
    kind = draw(st.sampled_from(["bytes", "truncated", "non_dict", "unknown_type", "odd_object", "odd_meta"]))
    if kind == "bytes":
        raw = draw(st.binary(max_size=64))
    elif kind == "truncated":
        full = orjson.dumps(draw(good_events()))
        raw = full[:draw(st.integers(1, len(full) - 1))]
    elif kind == "non_dict":
        raw = orjson.dumps(draw(st.lists(json_values, max_size=3) | json_scalars))
    elif kind == "unknown_type":
        raw = orjson.dumps({"type": draw(st.text(max_size=10).filter(lambda t: t not in EVENT_TYPES)),
                            "object": {"metadata": {"name": "x", "resourceVersion": "1"}}})
    elif kind == "odd_object":
        raw = orjson.dumps({"type": draw(st.sampled_from(sorted(EVENT_TYPES))),
                            "object": draw(json_values.filter(lambda v: not isinstance(v, dict)))})
    else:
        raw = orjson.dumps({"type": draw(st.sampled_from(["ADDED", "MODIFIED", "DELETED"])),
                            "object": {"metadata": draw(odd_metadata)}})
    return raw.replace(b"\n", b" ")


def usable(doc: dict[str, Any]) -> bool:
    return parse_watch_line(orjson.dumps(doc)) is not None


@FUZZ
@given(st.binary(max_size=256))
def test_parse_watch_line_never_raises_on_any_bytes(raw: bytes) -> None:
    event = parse_watch_line(raw)
    assert event is None or (event.type in EVENT_TYPES and isinstance(event.object, dict))


@FUZZ
@given(json_values)
def test_parse_watch_line_never_raises_on_any_json(doc: Any) -> None:
    event = parse_watch_line(orjson.dumps(doc))
    assert event is None or (event.type in EVENT_TYPES and isinstance(event.object, dict))


async def chunked(data: bytes, cuts: list[int]) -> AsyncIterator[bytes]:
    start = 0
    for cut in sorted(c % (len(data) + 1) for c in cuts):
        yield data[start:cut]
        start = max(start, cut)
    yield data[start:]


@FUZZ
@given(st.lists(st.one_of(good_events().map(lambda e: ("good", e)), bad_lines().map(lambda b: ("bad", b))),
                max_size=25),
       st.lists(st.integers(0, 10**5), max_size=12),
       st.binary(max_size=40).filter(lambda b: b"\n" not in b))
async def test_good_events_survive_bad_lines_arbitrary_chunks_and_a_cut_tail(
        lines: list[tuple[str, Any]], cuts: list[int], tail: bytes) -> None:
    data = b"".join((orjson.dumps(item) if kind == "good" else item) + b"\n" for kind, item in lines) + tail
    events = [e async for e in decode_events(chunked(data, cuts))]
    expected = [item for kind, item in lines if kind == "good"]
    assert [(e.type, e.object) for e in events] == [(d["type"], d["object"]) for d in expected]
    for kind, item in lines:
        if kind == "bad":
            assert parse_watch_line(item) is None, item


@FUZZ
@given(st.lists(st.binary(max_size=30).filter(lambda b: b"\n" not in b), max_size=6), st.integers(8, 40))
async def test_lines_longer_than_the_limit_are_dropped_and_the_next_lines_survive(
        heads: list[bytes], limit: int) -> None:
    good = orjson.dumps({"type": "ADDED", "object": {"metadata": {"name": "p", "resourceVersion": "1"}}})
    huge = b"x" * (limit * 3)
    data = b"".join(h + b"\n" + huge + b"\n" for h in heads) + b"ok\n"

    async def source() -> AsyncIterator[bytes]:
        for i in range(0, len(data), 7):
            yield data[i:i + 7]

    lines = [line async for line in split_lines(source(), max_line=limit)]
    assert b"ok" in lines and huge not in lines
    assert all(len(line) <= limit + 7 for line in lines), "an over-long line must never be handed out whole"
    assert parse_watch_line(good) is not None


def informer() -> Informer:
    return Informer(Resource(Client(Configuration()), PODS))


@FUZZ
@given(st.lists(st.one_of(good_events(), bad_lines()), max_size=30))
def test_informer_store_follows_the_good_events_and_ignores_the_rest(items: list[Any]) -> None:
    inf = informer()
    calls: list[str] = []
    inf.add_handler(on_add=lambda o: calls.append("add"), on_update=lambda o, n: calls.append("update"),
                    on_delete=lambda o: calls.append("delete"))
    model: dict[str, dict[str, Any]] = {}
    last_rv = ""
    for item in items:
        raw = item if isinstance(item, bytes) else orjson.dumps(item)
        event: WatchEvent | None = parse_watch_line(raw)
        if event is None:
            assert isinstance(item, bytes), f"a good event was rejected: {item}"
            continue
        inf.apply(event)
        if event.type in ("ADDED", "MODIFIED"):
            model[object_key(event.object)] = event.object
        elif event.type == "DELETED":
            model.pop(object_key(event.object), None)
        if event.resource_version:
            last_rv = event.resource_version
    assert inf.store.snapshot() == model
    assert inf.resource_version == last_rv
    for key, obj in model.items():
        assert obj in inf.store.by_namespace(obj["metadata"].get("namespace") or ""), key
