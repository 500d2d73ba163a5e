"""When to try a Kingdee call again, how long to wait, and when to give up.

Two kinds of transient failure, treated as the seed describes and peers.md §3.9 warns:
- network timeouts and connection errors: a few tries at a fixed interval (default 3 tries,
  5 s apart);
- throttling, 5xx and Kingdee's ``response_error:`` (its 500 in an HTTP 200): exponential
  backoff with full jitter, each wait capped (default 60 s), ``Retry-After`` honoured up to that
  cap, so we back off instead of hammering a busy ERP.
The total wait is bounded too; past it we raise :class:`RetriesExhaustedError` naming the attempts,
the time waited and the last cause, instead of hanging (an uncapped Retry-After once hung a
peer's sync for 22 minutes). Non-transient errors are raised at once.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from .errors import KingdeeError, RetriesExhaustedError, ServerError, TransientError

T = TypeVar("T")
Sleep = Callable[[float], None]
Clock = Callable[[], float]


@dataclass(frozen=True)
class RetryPolicy:
    """Retry knobs; defaults follow the seed (network) and common practice (throttle, 5xx)."""

    network_attempts: int = 3
    network_interval_s: float = 5.0
    max_attempts: int = 6
    base_delay_s: float = 1.0
    max_delay_s: float = 60.0
    max_total_wait_s: float = 300.0

    def delay_for(self, error: KingdeeError, failures: int, rng: random.Random) -> float:
        """The wait before the next try, after ``failures`` failures of this kind (1-based)."""
        if is_network_failure(error):
            return self.network_interval_s
        ceiling = min(self.max_delay_s, self.base_delay_s * 2 ** (failures - 1))
        jittered = rng.uniform(0, ceiling)  # full jitter: spreads clients that failed together
        retry_after = getattr(error, "retry_after_s", None)
        if retry_after is not None:
            return min(self.max_delay_s, max(retry_after, jittered))
        return jittered

    def attempt_limit(self, error: KingdeeError) -> int:
        return self.network_attempts if is_network_failure(error) else self.max_attempts


def is_network_failure(error: KingdeeError) -> bool:
    """Timeouts and connection errors (fixed interval), as opposed to server answers (backoff)."""
    return isinstance(error, TransientError) and not isinstance(error, ServerError)


class Retrier:
    """Runs one logical call under a :class:`RetryPolicy`; sleep, clock and rng are injectable."""

    def __init__(self, policy: RetryPolicy, sleep: Sleep = time.sleep, rng: random.Random | None = None) -> None:
        self.policy = policy
        self._sleep = sleep
        self._rng = rng or random.Random()

    def run(self, attempt: Callable[[int], T], *, describe: str,
            may_retry: Callable[[KingdeeError], bool] = lambda e: True,
            on_retry: Callable[[KingdeeError, int, float], None] = lambda e, n, d: None) -> T:
        """Call ``attempt(n)`` for n = 1, 2, ... until it returns or retrying stops making sense."""
        failures: dict[bool, int] = {}
        waited = 0.0
        number = 0
        while True:
            number += 1
            try:
                return attempt(number)
            except KingdeeError as error:
                if not error.transient or not may_retry(error):
                    raise
                kind = is_network_failure(error)
                failures[kind] = failures.get(kind, 0) + 1
                delay = self.policy.delay_for(error, failures[kind], self._rng)
                if failures[kind] >= self.policy.attempt_limit(error) or waited + delay > self.policy.max_total_wait_s:
                    raise RetriesExhaustedError(
                        f"{describe}: gave up after {number} attempts and {waited:.1f}s of waiting; "
                        f"last failure: {error}",
                        service=error.service, form_id=error.form_id,
                        attempts=number, waited_s=waited, last_error=error) from error
                on_retry(error, number, delay)
                self._sleep(delay)
                waited += delay


class RateLimiter:
    """Client-side token bucket (burst 1): at most ``max_rps`` requests per second, so we do not
    trigger the server's throttling in the first place. ``None`` or 0 switches it off."""

    def __init__(self, max_rps: float | None, sleep: Sleep = time.sleep, clock: Clock = time.monotonic) -> None:
        self._interval = 1.0 / max_rps if max_rps else 0.0
        self._sleep = sleep
        self._clock = clock
        self._next_free = 0.0
        self._lock = threading.Lock()

    def acquire(self) -> float:
        """Wait for a slot; returns the seconds waited."""
        if not self._interval:
            return 0.0
        with self._lock:  # reserve the slot under the lock, wait outside it
            now = self._clock()
            slot = max(now, self._next_free)
            self._next_free = slot + self._interval
        wait = slot - now
        if wait > 0:
            self._sleep(wait)
        return max(wait, 0.0)
