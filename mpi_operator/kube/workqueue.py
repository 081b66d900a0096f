"""A de-duplicating, rate-limited work queue for asyncio, with client-go's workqueue semantics.

Invariant: a key is in `_queue` at most once, and never handed to two workers at once. `_dirty` holds keys that
need processing; `_processing` keys being worked on. An `add` of a key being processed only marks it dirty, and
`done` puts it back in the queue, so 1,000 adds during one processing cause exactly one more run.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

from mpi_operator.kube.ratelimit import RateLimiter, default_controller_rate_limiter

T = TypeVar("T", bound=Hashable)

log = logging.getLogger(__name__)


class ShutDown(Exception):
    """`get()` on a queue that is shut down and has nothing more to hand out."""


class QueueMetrics:
    """Hooks the queue calls; this base does nothing. See `metrics.PrometheusQueueMetrics`."""

    def attach(self, queue: WorkQueue[Hashable]) -> None:
        """Called once so gauges computed on scrape (depth, unfinished work) can read the queue."""

    def added(self) -> None:
        """A key entered the queue (not a duplicate)."""

    def got(self, queued_seconds: float) -> None:
        """A worker took a key that waited `queued_seconds` since it was first added."""

    def done(self, work_seconds: float) -> None:
        """A worker finished a key after `work_seconds`."""

    def retried(self) -> None:
        """A delayed re-add (add_rate_limited / add_after)."""


class WorkQueue(Generic[T]):
    """De-duplicating FIFO with dirty/processing sets, delayed adds and per-key rate-limited retries."""

    def __init__(
        self,
        name: str = "",
        rate_limiter: RateLimiter | None = None,
        metrics: QueueMetrics | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self.rate_limiter: RateLimiter = rate_limiter or default_controller_rate_limiter()
        self.metrics = metrics or QueueMetrics()
        self._clock = clock
        self._queue: deque[T] = deque()
        self._dirty: set[T] = set()
        self._processing: dict[T, float] = {}  # key -> start time
        self._added_at: dict[T, float] = {}
        self._waiting: dict[T, tuple[float, asyncio.TimerHandle]] = {}  # key -> (deadline, timer)
        self._getters: deque[asyncio.Future[None]] = deque()
        self._idle_waiters: list[asyncio.Future[None]] = []
        self._shutting_down = False
        self.metrics.attach(self)  # type: ignore[arg-type]

    # --- adding -----------------------------------------------------------------------------------------

    def add(self, item: T) -> None:
        """Mark `item` as needing processing. Ignored once shutting down; a no-op if already dirty."""
        if self._shutting_down or item in self._dirty:
            return
        self._dirty.add(item)
        self._added_at.setdefault(item, self._clock())
        self.metrics.added()
        if item in self._processing:
            return  # put back by done()
        self._queue.append(item)
        self._notify()

    def add_after(self, item: T, delay: float) -> None:
        """Add `item` after `delay` seconds; an earlier pending deadline for the same item wins."""
        if self._shutting_down:
            return
        self.metrics.retried()
        if delay <= 0:
            self.add(item)
            return
        deadline = self._clock() + delay
        pending = self._waiting.get(item)
        if pending is not None:
            if pending[0] <= deadline:
                return
            pending[1].cancel()
        handle = asyncio.get_running_loop().call_later(delay, self._fire, item)
        self._waiting[item] = (deadline, handle)

    def add_rate_limited(self, item: T) -> None:
        """Re-add `item` after the rate limiter's delay (per-item exponential, overall token bucket)."""
        if self._shutting_down:
            return
        self.add_after(item, self.rate_limiter.when(item))

    def forget(self, item: T) -> None:
        """Clear `item`'s retry history (call after a successful sync)."""
        self.rate_limiter.forget(item)

    def num_requeues(self, item: T) -> int:
        return self.rate_limiter.num_requeues(item)

    def _fire(self, item: T) -> None:
        self._waiting.pop(item, None)
        self.add(item)

    # --- taking -----------------------------------------------------------------------------------------

    async def get(self) -> T:
        """The next key to process; raises ShutDown when the queue is shut down and empty."""
        while not self._queue and not self._shutting_down:
            getter = asyncio.get_running_loop().create_future()
            self._getters.append(getter)
            try:
                await getter
            except asyncio.CancelledError:
                if getter.done() and not getter.cancelled():
                    self._notify()  # pass the wake-up we consumed on to another worker
                raise
        if not self._queue:
            raise ShutDown(self.name)
        item = self._queue.popleft()
        now = self._clock()
        self._processing[item] = now
        self._dirty.discard(item)
        self.metrics.got(now - self._added_at.pop(item, now))
        if self._queue:
            self._notify()
        return item

    def done(self, item: T) -> None:
        """Mark `item` finished; if it was added meanwhile it goes back in the queue."""
        started = self._processing.pop(item, None)
        if started is not None:
            self.metrics.done(self._clock() - started)
        if item in self._dirty:
            self._queue.append(item)
        self._notify()

    # --- state ------------------------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._queue)

    @property
    def shutting_down(self) -> bool:
        return self._shutting_down

    def processing(self) -> list[T]:
        return list(self._processing)

    def waiting(self) -> int:
        """Number of keys with a pending delayed add."""
        return len(self._waiting)

    def unfinished_work_seconds(self) -> float:
        now = self._clock()
        return sum(now - t for t in self._processing.values())

    def longest_running_seconds(self) -> float:
        now = self._clock()
        return max((now - t for t in self._processing.values()), default=0.0)

    # --- shutdown ---------------------------------------------------------------------------------------

    def shutdown(self) -> None:
        """Stop accepting adds and drop delayed ones; `get` hands out what is queued, then raises ShutDown."""
        self._shutting_down = True
        for _, handle in self._waiting.values():
            handle.cancel()
        self._waiting.clear()
        self._notify()

    def shutdown_now(self) -> None:
        """Like `shutdown`, but also drop queued keys: workers stop taking keys at once."""
        self._queue.clear()
        self._dirty.clear()
        self.shutdown()

    async def wait_idle(self, within: float | None = None) -> bool:
        """Wait until no key is queued or being processed; False if `within` seconds passed first."""

        if not self._processing and not self._queue:
            return True
        waiter = asyncio.get_running_loop().create_future()
        self._idle_waiters.append(waiter)
        try:
            await asyncio.wait_for(asyncio.shield(waiter), within)
        except TimeoutError:
            return False
        return True

    async def shutdown_with_drain(self, within: float | None = None) -> bool:
        """Shut down, then wait for queued and in-flight keys to be finished by the workers (bounded)."""
        self.shutdown()
        return await self.wait_idle(within)

    def _notify(self) -> None:
        # Plain futures instead of asyncio.Condition so that sync callers (handlers, timers) can wake workers.
        while self._getters and (self._queue or self._shutting_down):
            getter = self._getters.popleft()
            if not getter.done():
                getter.set_result(None)
                if not self._shutting_down:
                    break  # one key, one worker; the woken worker re-checks
        if not self._processing and not self._queue:
            for waiter in self._idle_waiters:
                if not waiter.done():
                    waiter.set_result(None)
            self._idle_waiters.clear()


@dataclass(frozen=True)
class Result:
    """What a handler wants next (controller-runtime's `reconcile.Result`). The default: done.

    `requeue`: run again after the rate limiter's delay, as after a failure, but it is not one (nothing is logged
    as an error; the retry history grows). `requeue_after`: run again after that many seconds (history forgotten).
    `reason` says why, for the debug log."""

    requeue: bool = False
    requeue_after: float | None = None
    reason: str = ""


DONE = Result()


def requeue(reason: str) -> Result:
    return Result(requeue=True, reason=reason)


def requeue_after(seconds: float, reason: str = "") -> Result:
    return Result(requeue_after=seconds, reason=reason)


async def run_workers(
    queue: WorkQueue[T],
    handler: Callable[[T], Awaitable[Result | None]],
    workers: int = 1,
    on_error: Callable[[T, BaseException], None] | None = None,
) -> None:
    """Run `workers` coroutines taking keys until the queue shuts down.

    `handler(key)` returns a `Result` (None is `DONE`): done forgets the key's retry history; `requeue` re-adds it
    rate-limited; `requeue_after` re-adds it after that delay, history forgotten. An exception re-adds the key
    rate-limited after `on_error` (default: a warning) has seen it.
    """

    async def worker() -> None:
        while True:
            try:
                key = await queue.get()
            except ShutDown:
                return
            try:
                result = await handler(key) or DONE
            except Exception as exc:
                if on_error is not None:
                    on_error(key, exc)
                else:
                    log.warning("sync failed, retrying", extra={"key": str(key), "error": repr(exc)})
                queue.add_rate_limited(key)
            else:
                if result.requeue:
                    log.debug("requeue", extra={"key": str(key), "reason": result.reason})
                    queue.add_rate_limited(key)
                else:
                    queue.forget(key)
                    if result.requeue_after is not None:
                        queue.add_after(key, result.requeue_after)
            finally:
                queue.done(key)

    async with asyncio.TaskGroup() as tg:
        for _ in range(workers):
            tg.create_task(worker())
