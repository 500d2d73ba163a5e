"""Counters a client keeps per run, published by assets as Dagster metadata."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field


def _percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return 0.0
    index = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[index]


@dataclass
class ClientStats:
    """Calls, retries, throttling, re-logins, rows, bytes and latency of one client."""

    calls: int = 0
    retries: int = 0
    throttled: int = 0
    relogins: int = 0
    failures: int = 0
    rows: int = 0
    bytes: int = 0
    rate_limited_wait_s: float = 0.0
    server_row_cap_observed: int = 0  # rows per call the server gave when below the configured cap; 0 = none
    latencies_ms: list[float] = field(default_factory=list, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def record_call(self, *, ms: float, rows: int = 0, nbytes: int = 0) -> None:
        with self._lock:
            self.calls += 1
            self.rows += rows
            self.bytes += nbytes
            self.latencies_ms.append(ms)

    def add(self, counter: str, amount: float = 1) -> None:
        with self._lock:
            setattr(self, counter, getattr(self, counter) + amount)

    def set(self, counter: str, value: float) -> None:
        with self._lock:
            setattr(self, counter, value)

    def as_metadata(self, prefix: str = "kingdee_") -> dict[str, float]:
        """A flat dict of numbers, ready for ``MaterializeResult(metadata=...)``."""
        with self._lock:
            latencies = sorted(self.latencies_ms)
            counters = {
                "calls": self.calls, "retries": self.retries, "throttled": self.throttled,
                "relogins": self.relogins, "failures": self.failures, "rows": self.rows,
                "bytes": self.bytes, "rate_limited_wait_s": round(self.rate_limited_wait_s, 3),
                "latency_p50_ms": round(_percentile(latencies, 0.50), 1),
                "latency_p95_ms": round(_percentile(latencies, 0.95), 1),
                "latency_max_ms": round(latencies[-1], 1) if latencies else 0.0,
            }
            if self.server_row_cap_observed:
                counters["server_row_cap_observed"] = self.server_row_cap_observed
        return {prefix + name: value for name, value in counters.items()}
