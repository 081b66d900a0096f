"""Rate limiters: token bucket arithmetic, per-item exponential backoff, and their maximum."""

from __future__ import annotations

from mpi_operator.kube.ratelimit import (
    Backoff,
    BucketLimiter,
    ItemExponentialLimiter,
    MaxOfLimiter,
    TokenBucket,
    default_controller_rate_limiter,
)


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_token_bucket_allows_burst_then_spaces_by_rate() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=10, burst=3, clock=clock)
    assert [bucket.reserve() for _ in range(3)] == [0.0, 0.0, 0.0]
    assert abs(bucket.reserve() - 0.1) < 1e-9
    assert abs(bucket.reserve() - 0.2) < 1e-9


def test_token_bucket_refills_over_time_but_not_beyond_burst() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=10, burst=2, clock=clock)
    bucket.reserve()
    bucket.reserve()
    clock.now = 100.0
    assert [bucket.reserve() for _ in range(2)] == [0.0, 0.0]
    assert bucket.reserve() > 0


def test_item_exponential_doubles_from_5ms_and_caps_at_1000s() -> None:
    limiter = ItemExponentialLimiter()
    delays = [limiter.when("a") for _ in range(5)]
    assert delays == [0.005, 0.01, 0.02, 0.04, 0.08]
    for _ in range(100):
        limiter.when("a")
    assert limiter.when("a") == 1000.0
    assert limiter.num_requeues("a") == 106
    assert limiter.when("b") == 0.005


def test_forget_resets_an_items_history() -> None:
    limiter = ItemExponentialLimiter()
    limiter.when("a")
    limiter.when("a")
    limiter.forget("a")
    assert limiter.num_requeues("a") == 0
    assert limiter.when("a") == 0.005


def test_max_of_takes_the_longest_delay_and_spends_every_limiter() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=1, burst=1, clock=clock)
    limiter = MaxOfLimiter(ItemExponentialLimiter(), BucketLimiter(bucket))
    assert limiter.when("a") == 0.005  # bucket had a token
    assert abs(limiter.when("b") - 1.0) < 1e-9  # bucket now in debt: 1 s
    assert limiter.num_requeues("a") == 1


def test_default_controller_limiter_is_bounded_by_the_bucket_under_a_storm() -> None:
    limiter = default_controller_rate_limiter(qps=10, burst=100)
    delays = [limiter.when(f"k{i}") for i in range(150)]
    assert all(d == 0.005 for d in delays[:100])
    assert delays[-1] >= 4.0  # 50 keys beyond the burst at 10/s


def test_backoff_grows_with_jitter_and_resets() -> None:
    backoff = Backoff(base=1.0, cap=8.0, jitter=0.5)
    delays = [backoff.next_delay() for _ in range(6)]
    assert 1.0 <= delays[0] < 1.5
    assert 2.0 <= delays[1] < 3.0
    assert all(8.0 <= d < 12.0 for d in delays[3:])
    backoff.reset()
    assert backoff.next_delay() < 1.5
