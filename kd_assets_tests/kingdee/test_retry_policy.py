"""The retry policy's arithmetic and the rate limiter, with an injected clock (no server needed).

How the client applies them over real HTTP is in test_client_retries.py.
"""

import random

import pytest

from kd_assets.kingdee.errors import QueryError, RetriesExhaustedError, ServerError, ThrottledError, TransientError
from kd_assets.kingdee.retry import RateLimiter, Retrier, RetryPolicy


class FakeTime:
    def __init__(self):
        self.now = 0.0
        self.sleeps = []

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds

    def clock(self):
        return self.now


def _failing(errors, result="ok"):
    queue = list(errors)

    def attempt(number):
        if queue:
            raise queue.pop(0)
        return result
    return attempt


def test_network_errors_get_three_tries_five_seconds_apart_by_default():
    fake = FakeTime()
    retrier = Retrier(RetryPolicy(), fake.sleep)
    with pytest.raises(RetriesExhaustedError) as caught:
        retrier.run(_failing([TransientError("read timeout")] * 5), describe="ExecuteBillQuery on BD_Customer")
    assert fake.sleeps == [5.0, 5.0]
    assert caught.value.attempts == 3
    assert "gave up after 3 attempts and 10.0s" in str(caught.value)
    assert "read timeout" in str(caught.value)


def test_backoff_is_exponential_with_full_jitter_and_capped():
    policy = RetryPolicy(base_delay_s=1.0, max_delay_s=8.0)
    rng = random.Random(1)
    for failures in range(1, 10):
        ceiling = min(8.0, 2 ** (failures - 1))
        delays = [policy.delay_for(ServerError("x"), failures, rng) for _ in range(200)]
        assert all(0 <= d <= ceiling for d in delays)
        assert max(delays) > ceiling * 0.8  # jitter spans the whole range


def test_retry_after_is_honoured_up_to_the_cap():
    policy = RetryPolicy(base_delay_s=0.001, max_delay_s=60.0)
    rng = random.Random(0)
    assert policy.delay_for(ThrottledError("x", retry_after_s=7), 1, rng) == 7
    assert policy.delay_for(ThrottledError("x", retry_after_s=3600), 1, rng) == 60.0


def test_total_wait_is_bounded_even_when_attempts_remain():
    fake = FakeTime()
    policy = RetryPolicy(max_attempts=100, base_delay_s=10, max_delay_s=10, max_total_wait_s=25)
    retrier = Retrier(policy, fake.sleep, random.Random(3))
    with pytest.raises(RetriesExhaustedError) as caught:
        retrier.run(_failing([ThrottledError("busy", retry_after_s=10)] * 100), describe="q")
    assert sum(fake.sleeps) <= 25
    assert caught.value.waited_s == sum(fake.sleeps)
    assert isinstance(caught.value.last_error, ThrottledError)


def test_non_transient_errors_are_raised_at_once():
    fake = FakeTime()
    with pytest.raises(QueryError):
        Retrier(RetryPolicy(), fake.sleep).run(_failing([QueryError("unknown field")]), describe="q")
    assert fake.sleeps == []


def test_transient_then_success_returns_the_result():
    fake = FakeTime()
    retrier = Retrier(RetryPolicy(base_delay_s=0.5), fake.sleep)
    assert retrier.run(_failing([ServerError("502"), TransientError("reset")]), describe="q") == "ok"
    assert len(fake.sleeps) == 2


def test_rate_limiter_spaces_requests_and_is_off_by_default():
    fake = FakeTime()
    limiter = RateLimiter(4.0, fake.sleep, fake.clock)
    for _ in range(9):
        limiter.acquire()
    assert fake.now == pytest.approx(2.0)  # 9 requests at 4/s: first free, then 8 x 0.25 s
    off = RateLimiter(None, fake.sleep, fake.clock)
    assert off.acquire() == 0.0
