"""Informer bookkeeping without a server: relist diffs, watch events applied to the store, handler calls."""

from __future__ import annotations

from typing import Any, cast

from mpi_operator.kube.client import Client
from mpi_operator.kube.informer import Informer, relist_diff
from mpi_operator.kube.meta import object_key
from mpi_operator.kube.resource import PODS, Resource
from mpi_operator.kube.watchstream import WatchEvent


def obj(name: str, rv: str, ns: str = "d") -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": ns, "resourceVersion": rv}}


def informer_with_log() -> tuple[Informer, list[tuple[str, str]]]:
    # No IO happens in replace()/apply(), so no client is needed.
    informer = Informer(Resource(cast(Client, None), PODS))
    calls: list[tuple[str, str]] = []
    informer.add_handler(
        on_add=lambda o: calls.append(("add", object_key(o))),
        on_update=lambda old, new: calls.append(("update", object_key(new))),
        on_delete=lambda o: calls.append(("delete", object_key(o))),
    )
    return informer, calls


def test_relist_diff_finds_added_changed_and_vanished_objects() -> None:
    current = {"d/a": obj("a", "1"), "d/b": obj("b", "2"), "d/c": obj("c", "3")}
    diff = relist_diff(current, [obj("a", "1"), obj("b", "9"), obj("e", "10")])
    assert [object_key(o) for o in diff.added] == ["d/e"]
    assert [(object_key(old), new["metadata"]["resourceVersion"]) for old, new in diff.updated] == [("d/b", "9")]
    assert [object_key(o) for o in diff.deleted] == ["d/c"]


def test_replace_fires_handlers_for_the_difference_and_marks_synced() -> None:
    informer, calls = informer_with_log()
    assert not informer.has_synced
    informer.replace([obj("a", "1"), obj("b", "2")], "2")
    assert informer.has_synced and informer.resource_version == "2"
    calls.clear()
    informer.replace([obj("b", "5"), obj("c", "6")], "7")
    assert sorted(calls) == [("add", "d/c"), ("delete", "d/a"), ("update", "d/b")]
    assert sorted(informer.store.keys()) == ["d/b", "d/c"]
    assert informer.resource_version == "7" and informer.relists == 1


def test_watch_events_update_store_and_resource_version() -> None:
    informer, calls = informer_with_log()
    informer.replace([], "1")
    informer.apply(WatchEvent("ADDED", obj("a", "2")))
    informer.apply(WatchEvent("MODIFIED", obj("a", "3")))
    informer.apply(WatchEvent("BOOKMARK", {"metadata": {"resourceVersion": "10"}}))
    assert informer.resource_version == "10"
    informer.apply(WatchEvent("DELETED", obj("a", "11")))
    assert calls == [("add", "d/a"), ("update", "d/a"), ("delete", "d/a")]
    assert len(informer.store) == 0 and informer.resource_version == "11"


def test_a_failing_handler_does_not_stop_the_cache() -> None:
    informer, calls = informer_with_log()

    def broken(o: dict[str, Any]) -> None:
        raise RuntimeError("boom")

    informer.add_handler(on_add=broken)
    informer.replace([obj("a", "1")], "1")
    informer.apply(WatchEvent("ADDED", obj("b", "2")))
    assert sorted(informer.store.keys()) == ["d/a", "d/b"]
    assert calls == [("add", "d/a"), ("add", "d/b")]


def test_a_handler_added_after_sync_sees_existing_objects() -> None:
    informer, _ = informer_with_log()
    informer.replace([obj("a", "1")], "1")
    late: list[str] = []
    informer.add_handler(on_add=lambda o: late.append(object_key(o)))
    assert late == ["d/a"]


def test_readiness_reason_until_synced_and_after_errors() -> None:
    informer, _ = informer_with_log()
    assert informer.not_ready_reason() == "pods: not synced yet"
    informer.replace([], "1")
    assert informer.not_ready_reason() is None
    informer.last_error = "Forbidden: pods is forbidden"
    assert "Forbidden" in (informer.not_ready_reason() or "")


def test_assume_of_an_answer_that_completed_a_deletion_drops_the_object() -> None:
    """Removing the last finalizer of an object being deleted deletes it: if its DELETED event was applied before
    the write's answer came back, caching that answer would leave a phantom no event would ever remove."""
    informer, calls = informer_with_log()
    informer.replace([obj("kept", "1")], "1")
    calls.clear()
    gone = {"metadata": {**obj("job", "5")["metadata"], "deletionTimestamp": "2026-12-07T00:00:00Z"}}
    informer.assume(gone)
    assert informer.store.get("d/job") is None
    informer.replace([obj("kept", "1"), obj("job", "4")], "4")
    informer.assume({"metadata": {**gone["metadata"], "finalizers": []}})
    assert informer.store.get("d/job") is None  # the cached older version goes too
    terminating = {"metadata": {**obj("pod", "6")["metadata"], "deletionTimestamp": "2026-12-07T00:00:00Z",
                                "deletionGracePeriodSeconds": 30}}
    informer.assume(terminating)
    assert informer.store.get("d/pod") is not None  # a pod its kubelet still stops is there
    held = {"metadata": {**obj("held", "7")["metadata"], "deletionTimestamp": "2026-12-07T00:00:00Z",
                         "finalizers": ["example.com/keep"]}}
    informer.assume(held)
    assert informer.store.get("d/held") is not None
    assert calls == [("add", "d/job")]  # assume never calls handlers; only the relist did
