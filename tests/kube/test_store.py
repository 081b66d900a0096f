"""Store: keys, namespace and controller indexes kept consistent across writes, transform before storing."""

from __future__ import annotations

from typing import Any

from mpi_operator.kube.meta import controller_uid, object_key, split_key
from mpi_operator.kube.store import Store, strip_managed_fields


def pod(name: str, ns: str = "default", owner: str | None = None, rv: str = "1") -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": ns, "resourceVersion": rv}
    if owner:
        meta["ownerReferences"] = [{"uid": "other", "controller": False}, {"uid": owner, "controller": True}]
    return {"metadata": meta}


def test_keys_are_namespace_slash_name_or_bare_name_for_cluster_objects() -> None:
    assert object_key(pod("a", "ns1")) == "ns1/a"
    assert object_key({"metadata": {"name": "node1"}}) == "node1"
    assert split_key("ns1/a") == ("ns1", "a")
    assert split_key("node1") == ("", "node1")


def test_controller_uid_ignores_non_controller_owners() -> None:
    assert controller_uid(pod("a", owner="u1")) == "u1"
    assert controller_uid(pod("a")) is None


def test_indexes_follow_updates_and_removals() -> None:
    store = Store()
    store.put(pod("a", "ns1", owner="u1"))
    store.put(pod("b", "ns1", owner="u1"))
    store.put(pod("c", "ns2", owner="u2"))
    assert {object_key(o) for o in store.by_controller("u1")} == {"ns1/a", "ns1/b"}
    assert {object_key(o) for o in store.by_namespace("ns1")} == {"ns1/a", "ns1/b"}
    store.put(pod("b", "ns1", owner="u2", rv="2"))  # ownership moved
    assert {object_key(o) for o in store.by_controller("u1")} == {"ns1/a"}
    assert {object_key(o) for o in store.by_controller("u2")} == {"ns1/b", "ns2/c"}
    store.remove("ns1/a")
    assert store.by_controller("u1") == []
    assert store.get_by_name("ns1", "a") is None
    assert len(store) == 2 and "ns2/c" in store


def test_custom_index() -> None:
    store = Store(indexers={"node": lambda o: [o.get("spec", {}).get("nodeName", "")]})
    store.put({"metadata": {"name": "p", "namespace": "d"}, "spec": {"nodeName": "n1"}})
    assert [object_key(o) for o in store.by_index("node", "n1")] == ["d/p"]


def test_transform_runs_before_storing() -> None:
    store = Store(transform=strip_managed_fields)
    obj = store.prepare({"metadata": {"name": "a", "namespace": "d", "managedFields": [{"manager": "x"}]}})
    store.put(obj)
    stored = store.get("d/a")
    assert stored is not None and "managedFields" not in stored["metadata"]
