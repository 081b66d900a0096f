"""Work queue and relist invariants under random operation sequences (hypothesis)."""

from __future__ import annotations

import asyncio
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from mpi_operator.kube.informer import relist_diff
from mpi_operator.kube.meta import object_key
from mpi_operator.kube.workqueue import WorkQueue

KEYS = st.sampled_from("abcde")
OPS = st.lists(st.one_of(st.tuples(st.just("add"), KEYS), st.tuples(st.just("get"), st.just("")),
                         st.tuples(st.just("done"), KEYS)), max_size=60)


@settings(max_examples=200, deadline=None)
@given(OPS)
def test_queue_invariants_hold_for_any_sequence(ops: list[tuple[str, str]]) -> None:
    async def scenario() -> None:
        q: WorkQueue[str] = WorkQueue()
        held: set[str] = set()
        last_add_after_start: dict[str, bool] = {}
        for op, key in ops:
            if op == "add":
                q.add(key)
                last_add_after_start[key] = True
            elif op == "get" and len(q):
                got = await q.get()
                assert got not in held, "a key was handed out twice at once"
                held.add(got)
                last_add_after_start[got] = False
            elif op == "done" and key in held:
                held.discard(key)
                q.done(key)
            queued = list(q._queue)
            assert len(queued) == len(set(queued)), "duplicate key in the queue"
            assert not set(queued) & held, "a key being processed is also queued"
        # Drain: every key added after its last hand-out is processed once more.
        for key in list(held):
            q.done(key)
        seen: set[str] = set()
        while len(q):
            key = await q.get()
            seen.add(key)
            q.done(key)
        assert seen == {k for k, pending in last_add_after_start.items() if pending}

    asyncio.run(scenario())


OBJ = st.builds(lambda name, rv: {"metadata": {"name": name, "namespace": "d", "resourceVersion": str(rv)}},
                st.sampled_from("abcdefgh"), st.integers(1, 4))


def unique_by_key(objs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {object_key(o): o for o in objs}


@given(st.lists(OBJ), st.lists(OBJ))
def test_applying_a_relist_diff_yields_the_listed_state(current: list[dict[str, Any]],
                                                        listed: list[dict[str, Any]]) -> None:
    state = unique_by_key(current)
    listed_state = unique_by_key(listed)
    diff = relist_diff(dict(state), listed_state.values())
    for obj in diff.deleted:
        del state[object_key(obj)]
    for obj in diff.added:
        state[object_key(obj)] = obj
    for _, new in diff.updated:
        state[object_key(new)] = new
    assert {k: o["metadata"]["resourceVersion"] for k, o in state.items()} == \
        {k: o["metadata"]["resourceVersion"] for k, o in listed_state.items()}
