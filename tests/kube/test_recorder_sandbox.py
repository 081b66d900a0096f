"""Event recorder against the sandbox: repeats aggregate into one Event, long messages are cut, and neither a
full queue nor a failed write ever blocks or fails the caller."""

from __future__ import annotations

from typing import Any

from mpi_operator.kube.client import Client
from mpi_operator.kube.recorder import EventRecorder
from mpi_operator.kube.resource import EVENTS

JOB: dict[str, Any] = {"apiVersion": "kubeflow.org/v2beta1", "kind": "MPIJob",
       "metadata": {"name": "pi", "namespace": "default", "uid": "u-1", "resourceVersion": "5"}}


async def events_about(kube: Client, name: str) -> list[dict[str, Any]]:
    items, _ = await kube.resource(EVENTS).list_all("default", field_selector=f"involvedObject.name={name}")
    return items


async def test_repeated_events_are_aggregated_into_one_with_a_count(kube: Client) -> None:
    recorder = EventRecorder(kube, component="mpi-job-controller", host="test-host")
    recorder.start()
    try:
        for rv in ("5", "6", "7"):  # the object changes between repeats; the series continues
            recorder.normal({**JOB, "metadata": {**JOB["metadata"], "resourceVersion": rv}}, "MPIJobCreated",
                            "MPIJob default/pi is created.")
        recorder.warning(JOB, "ValidationError", "bad spec")
        assert await recorder.flush(5)
    finally:
        await recorder.stop()
    events = {e["reason"]: e for e in await events_about(kube, "pi")}
    assert set(events) == {"MPIJobCreated", "ValidationError"}
    created = events["MPIJobCreated"]
    assert created["count"] == 3 and created["type"] == "Normal"
    assert created["source"] == {"component": "mpi-job-controller", "host": "test-host"}
    assert created["involvedObject"]["uid"] == "u-1" and created["involvedObject"]["kind"] == "MPIJob"
    assert created["firstTimestamp"] <= created["lastTimestamp"]
    assert events["ValidationError"]["type"] == "Warning" and events["ValidationError"]["count"] == 1


async def test_long_messages_are_truncated_to_1024_bytes(kube: Client) -> None:
    recorder = EventRecorder(kube)
    recorder.start()
    job = {**JOB, "metadata": {**JOB["metadata"], "name": "long"}}
    recorder.warning(job, "Long", "x" * 5000)
    assert await recorder.flush(5)
    await recorder.stop()
    [event] = await events_about(kube, "long")
    assert len(event["message"].encode()) == 1024


async def test_a_full_queue_drops_instead_of_blocking(kube: Client) -> None:
    recorder = EventRecorder(kube, queue_size=2)  # not started: nothing drains the queue
    for i in range(10):
        recorder.normal(JOB, "Spam", f"message {i}")
    assert recorder.dropped == 8


async def test_a_failed_write_is_logged_and_the_next_event_still_goes_out(kube: Client) -> None:
    recorder = EventRecorder(kube)
    recorder.start()
    try:
        missing_ns = {**JOB, "metadata": {**JOB["metadata"], "namespace": "no-such-namespace"}}
        recorder.normal(missing_ns, "Lost", "namespace does not exist")
        recorder.normal({**JOB, "metadata": {**JOB["metadata"], "name": "after"}}, "Kept", "still written")
        assert await recorder.flush(5)
    finally:
        await recorder.stop()
    assert [e["reason"] for e in await events_about(kube, "after")] == ["Kept"]
    assert recorder.written == 1


async def test_many_similar_events_fold_into_one_combined_event(kube: Client) -> None:
    recorder = EventRecorder(kube)
    recorder.start()
    job = {**JOB, "metadata": {**JOB["metadata"], "name": "noisy"}}
    for i in range(12):
        recorder.warning(job, "PodFailed", f"pod {i} failed")
    assert await recorder.flush(5)
    await recorder.stop()
    events = await events_about(kube, "noisy")
    combined = [e for e in events if e["message"].startswith("(combined from similar events): ")]
    assert len(events) == 10 and len(combined) == 1
    assert combined[0]["count"] == 3 and combined[0]["message"].endswith("pod 11 failed")
