"""Work queue: de-duplication, one worker per key, delayed and rate-limited adds, shutdown and drain."""

from __future__ import annotations

import asyncio

import pytest

from mpi_operator.kube.ratelimit import ItemExponentialLimiter
from mpi_operator.kube.workqueue import QueueMetrics, Result, ShutDown, WorkQueue, requeue, requeue_after, run_workers


async def test_duplicate_adds_before_processing_yield_one_key() -> None:
    q: WorkQueue[str] = WorkQueue()
    for _ in range(10):
        q.add("a")
    q.add("b")
    assert len(q) == 2
    assert await q.get() == "a"
    assert await q.get() == "b"
    assert len(q) == 0


async def test_same_key_added_1000_times_while_processing_is_processed_at_most_twice() -> None:
    q: WorkQueue[str] = WorkQueue()
    runs = 0
    started = asyncio.Event()
    release = asyncio.Event()

    async def handler(key: str) -> None:
        nonlocal runs
        runs += 1
        if runs == 1:
            started.set()
            await release.wait()

    q.add("a")
    workers = asyncio.create_task(run_workers(q, handler, workers=4))
    await asyncio.wait_for(started.wait(), 5)
    for _ in range(1000):
        q.add("a")
    assert len(q) == 0  # kept dirty, not queued, while a worker holds it
    release.set()
    assert await q.wait_idle(5)
    q.shutdown()
    await asyncio.wait_for(workers, 5)
    assert runs == 2


async def test_a_key_is_never_processed_by_two_workers_at_once() -> None:
    q: WorkQueue[int] = WorkQueue()
    active: set[int] = set()
    overlaps = 0
    done_count = 0

    async def handler(key: int) -> None:
        nonlocal overlaps, done_count
        if key in active:
            overlaps += 1
        active.add(key)
        await asyncio.sleep(0)
        q.add(key % 3)  # re-add keys while they may be processing
        active.discard(key)
        done_count += 1
        if done_count > 200:
            q.shutdown()

    for i in range(3):
        q.add(i)
    await asyncio.wait_for(run_workers(q, handler, workers=8), 10)
    assert overlaps == 0


async def test_get_waits_for_an_add() -> None:
    q: WorkQueue[str] = WorkQueue()
    getter = asyncio.create_task(q.get())
    await asyncio.sleep(0)
    assert not getter.done()
    q.add("x")
    assert await asyncio.wait_for(getter, 5) == "x"


async def test_shutdown_wakes_all_idle_workers() -> None:
    q: WorkQueue[str] = WorkQueue()
    getters = [asyncio.create_task(q.get()) for _ in range(3)]
    await asyncio.sleep(0)
    q.shutdown()
    for g in getters:
        with pytest.raises(ShutDown):
            await asyncio.wait_for(g, 5)


async def test_shutdown_ignores_new_adds_but_hands_out_queued_keys() -> None:
    q: WorkQueue[str] = WorkQueue()
    q.add("a")
    q.shutdown()
    q.add("b")
    assert await q.get() == "a"
    with pytest.raises(ShutDown):
        await q.get()


async def test_shutdown_now_stops_handing_out_keys() -> None:
    q: WorkQueue[str] = WorkQueue()
    q.add("a")
    q.shutdown_now()
    with pytest.raises(ShutDown):
        await q.get()


async def test_shutdown_with_drain_waits_for_in_flight_work() -> None:
    q: WorkQueue[str] = WorkQueue()
    release = asyncio.Event()
    finished: list[str] = []

    async def handler(key: str) -> None:
        await release.wait()
        finished.append(key)

    q.add("a")
    q.add("b")
    workers = asyncio.create_task(run_workers(q, handler, workers=1))
    drain = asyncio.create_task(q.shutdown_with_drain(within=5))
    await asyncio.sleep(0)
    assert not drain.done()
    release.set()
    assert await drain is True
    await asyncio.wait_for(workers, 5)
    assert finished == ["a", "b"]


async def test_shutdown_with_drain_gives_up_after_its_bound() -> None:
    q: WorkQueue[str] = WorkQueue()
    q.add("a")
    assert await q.get() == "a"
    assert await q.shutdown_with_drain(within=0.05) is False
    q.done("a")
    assert await q.wait_idle(1)


async def test_add_after_delivers_later_and_earliest_deadline_wins() -> None:
    q: WorkQueue[str] = WorkQueue()
    q.add_after("a", 30)
    q.add_after("a", 0.01)
    assert q.waiting() == 1
    assert await asyncio.wait_for(q.get(), 5) == "a"
    assert q.waiting() == 0


async def test_add_after_zero_adds_at_once() -> None:
    q: WorkQueue[str] = WorkQueue()
    q.add_after("a", 0)
    assert len(q) == 1


async def test_add_rate_limited_backs_off_per_item_and_forget_resets() -> None:
    q: WorkQueue[str] = WorkQueue(rate_limiter=ItemExponentialLimiter(base=0.001, cap=1.0))
    for _ in range(3):
        q.add_rate_limited("a")
        assert await asyncio.wait_for(q.get(), 5) == "a"
        q.done("a")
    assert q.num_requeues("a") == 3
    q.forget("a")
    assert q.num_requeues("a") == 0


async def test_shutdown_cancels_delayed_adds() -> None:
    q: WorkQueue[str] = WorkQueue()
    q.add_after("a", 0.01)
    q.shutdown()
    assert q.waiting() == 0
    with pytest.raises(ShutDown):
        await q.get()


async def test_failed_handler_requeues_rate_limited_and_success_forgets() -> None:
    q: WorkQueue[str] = WorkQueue(rate_limiter=ItemExponentialLimiter(base=0.001, cap=1.0))
    attempts = 0
    succeeded = asyncio.Event()

    async def handler(key: str) -> None:
        nonlocal attempts
        attempts += 1
        if attempts < 3:
            raise RuntimeError("transient")
        succeeded.set()

    q.add("a")
    workers = asyncio.create_task(run_workers(q, handler, workers=2))
    await asyncio.wait_for(succeeded.wait(), 5)
    assert await q.wait_idle(5)
    assert q.num_requeues("a") == 0
    q.shutdown()
    await asyncio.wait_for(workers, 5)
    assert attempts == 3


async def test_handler_may_ask_to_look_again_later() -> None:
    q: WorkQueue[str] = WorkQueue()
    runs = 0
    second = asyncio.Event()

    async def handler(key: str) -> Result | None:
        nonlocal runs
        runs += 1
        if runs == 2:
            second.set()
            return None
        return requeue_after(0.01)

    q.add("a")
    workers = asyncio.create_task(run_workers(q, handler, workers=1))
    await asyncio.wait_for(second.wait(), 5)
    q.shutdown()
    await asyncio.wait_for(workers, 5)


async def test_a_requeue_result_retries_rate_limited_without_an_error() -> None:
    q: WorkQueue[str] = WorkQueue()
    runs = 0
    errors: list[str] = []
    third = asyncio.Event()

    async def handler(key: str) -> Result | None:
        nonlocal runs
        runs += 1
        if runs == 3:
            assert q.num_requeues(key) == 2  # the history grew, as after failures
            third.set()
            return None
        return requeue("exists already")

    q.add("a")
    workers = asyncio.create_task(run_workers(q, handler, workers=1, on_error=lambda k, e: errors.append(k)))
    await asyncio.wait_for(third.wait(), 5)
    q.shutdown()
    await asyncio.wait_for(workers, 5)
    assert errors == [] and q.num_requeues("a") == 0


async def test_metrics_hooks_see_adds_gets_done_and_retries() -> None:
    class Recorder(QueueMetrics):
        def __init__(self) -> None:
            self.events: list[str] = []

        def added(self) -> None:
            self.events.append("added")

        def got(self, queued_seconds: float) -> None:
            assert queued_seconds >= 0
            self.events.append("got")

        def done(self, work_seconds: float) -> None:
            assert work_seconds >= 0
            self.events.append("done")

        def retried(self) -> None:
            self.events.append("retried")

    rec = Recorder()
    q: WorkQueue[str] = WorkQueue(metrics=rec)
    q.add("a")
    q.add("a")
    key = await q.get()
    assert q.longest_running_seconds() >= 0
    assert q.processing() == ["a"]
    q.done(key)
    q.add_after("a", 0)
    assert rec.events == ["added", "got", "done", "retried", "added"]
