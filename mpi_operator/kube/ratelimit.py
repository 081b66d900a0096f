"""Rate limiters: a token bucket (client QPS, queue retries), per-item exponential backoff, and their maximum.

Limiters answer "how long must this wait" and never sleep themselves (except `TokenBucket.wait`), so the
workqueue and the client can schedule with their own timers. A reservation is taken when `when()` is called,
like client-go's `rate.Limiter.Reserve`: asking is spending.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Hashable
from typing import Protocol

Clock = Callable[[], float]


class TokenBucket:
    """`rate` tokens per second, at most `burst` banked; starts full."""

    def __init__(self, rate: float, burst: int, clock: Clock = time.monotonic) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("token bucket needs rate > 0 and burst >= 1")
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._tokens = float(burst)
        self._last = clock()

    def reserve(self) -> float:
        """Take one token now (going into debt if needed); return the seconds until it is really available."""
        now = self._clock()
        self._tokens = min(float(self.burst), self._tokens + (now - self._last) * self.rate)
        self._last = now
        self._tokens -= 1.0
        return 0.0 if self._tokens >= 0 else -self._tokens / self.rate

    async def wait(self) -> None:
        """Block until one token is ours (cancellation after reserving still spends it, as in client-go)."""
        delay = self.reserve()
        if delay > 0:
            await asyncio.sleep(delay)


class RateLimiter(Protocol):
    """The workqueue's retry policy: delay for a key, forget its history, count its failures."""

    def when(self, item: Hashable) -> float: ...

    def forget(self, item: Hashable) -> None: ...

    def num_requeues(self, item: Hashable) -> int: ...


class ItemExponentialLimiter:
    """Per-item delay base * 2^failures, capped at `cap` (client-go: 5 ms doubling to 1000 s)."""

    def __init__(self, base: float = 0.005, cap: float = 1000.0) -> None:
        self.base = base
        self.cap = cap
        self._failures: dict[Hashable, int] = {}

    def when(self, item: Hashable) -> float:
        n = self._failures.get(item, 0)
        self._failures[item] = n + 1
        if n >= 64:  # 2**64 * base overflows any sane cap; avoid float blow-up
            return self.cap
        return min(self.cap, self.base * float(2**n))

    def forget(self, item: Hashable) -> None:
        self._failures.pop(item, None)

    def num_requeues(self, item: Hashable) -> int:
        return self._failures.get(item, 0)


class BucketLimiter:
    """The token bucket as a workqueue limiter: overall retry rate, no per-item memory."""

    def __init__(self, bucket: TokenBucket) -> None:
        self.bucket = bucket

    def when(self, item: Hashable) -> float:
        return self.bucket.reserve()

    def forget(self, item: Hashable) -> None:
        pass

    def num_requeues(self, item: Hashable) -> int:
        return 0


class MaxOfLimiter:
    """The longest delay of several limiters; every limiter sees every call (so all reservations are taken)."""

    def __init__(self, *limiters: RateLimiter) -> None:
        self.limiters = limiters

    def when(self, item: Hashable) -> float:
        return max(limiter.when(item) for limiter in self.limiters)

    def forget(self, item: Hashable) -> None:
        for limiter in self.limiters:
            limiter.forget(item)

    def num_requeues(self, item: Hashable) -> int:
        return max(limiter.num_requeues(item) for limiter in self.limiters)


def default_controller_rate_limiter(qps: float = 10.0, burst: int = 100) -> MaxOfLimiter:
    """client-go's DefaultControllerRateLimiter with upstream's flags (--controller-queue-rate-limit/-burst)."""
    return MaxOfLimiter(ItemExponentialLimiter(0.005, 1000.0), BucketLimiter(TokenBucket(qps, burst)))


class Backoff:
    """Jittered exponential backoff for reconnect loops: base doubling to cap, times a random factor in [1, 1+j)."""

    def __init__(self, base: float = 0.2, cap: float = 30.0, jitter: float = 0.5) -> None:
        self.base = base
        self.cap = cap
        self.jitter = jitter
        self.attempt = 0

    def next_delay(self) -> float:
        delay = min(self.cap, self.base * float(2 ** min(self.attempt, 32)))
        self.attempt += 1
        return delay * (1.0 + random.random() * self.jitter)

    def reset(self) -> None:
        self.attempt = 0
