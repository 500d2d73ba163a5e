"""Fault injection: persistent settings (fail rate, throttling, latency) and one-shot scripts.

Every kind is deterministic so client tests can rely on it: a scripted fault applies to exactly
the next business request, and random failures are drawn from the seeded generator.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any

from kd_assets.kingdee.protocol import RESPONSE_ERROR_PREFIX
from kd_assets.simulator.envelopes import SESSION_LOST_SHAPES

# Kinds answered instead of the request, and kinds applied around a normally processed request.
REPLACING = ("http_500", "http_502", "http_429", "response_error", "html", *SESSION_LOST_SHAPES)
WRAPPING = ("delay", "timeout", "truncated_json", "wrong_width")
KINDS = REPLACING + WRAPPING
_RANDOM_KINDS = ("http_500", "http_502", "response_error")

_HTML_PAGE = ("<!DOCTYPE html><html><head><title>运行时错误</title></head><body>"
              "<h1>“/K3Cloud”应用程序中的服务器错误。</h1><p>运行时错误</p></body></html>")


@dataclass(frozen=True)
class Fault:
    kind: str
    params: dict = field(default_factory=dict)

    @classmethod
    def from_json(cls, item: Any) -> "Fault":
        if not isinstance(item, dict) or item.get("kind") not in KINDS:
            raise ValueError(f"unknown fault {item!r}; kinds: {', '.join(KINDS)}")
        return cls(item["kind"], {k: v for k, v in item.items() if k != "kind"})


@dataclass
class Reply:
    """A raw HTTP answer: status, body text, content type and extra headers."""

    status: int
    body: str
    content_type: str = "text/plain; charset=utf-8"
    headers: dict[str, Any] = field(default_factory=dict)  # a list value sends the header repeatedly


class FaultInjector:
    """Decides, per business request, which fault (if any) applies."""

    SETTINGS = ("fail_rate", "throttle_rps", "latency_ms", "retry_after")

    def __init__(self, config: Any) -> None:
        self.fail_rate = float(config.fail_rate)
        self.throttle_rps = float(config.throttle_rps)
        self.latency_ms = int(config.latency_ms)
        self.retry_after = int(config.retry_after)
        self.rng = random.Random(config.seed + 2)
        self.script: deque[Fault] = deque()
        self.injected: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._tokens = 0.0
        self._refilled = time.monotonic()

    def update(self, settings: dict) -> None:
        """Apply persistent settings; unknown keys are rejected by the caller."""
        with self._lock:
            for name in self.SETTINGS:
                if name in settings:
                    kind = float if name in ("fail_rate", "throttle_rps") else int
                    setattr(self, name, kind(settings[name]))
            self._tokens = self.throttle_rps

    def enqueue(self, faults: list[Fault]) -> None:
        with self._lock:
            self.script.extend(faults)

    def state(self) -> dict[str, Any]:
        with self._lock:
            return {"fail_rate": self.fail_rate, "throttle_rps": self.throttle_rps,
                    "latency_ms": self.latency_ms, "retry_after": self.retry_after,
                    "script": [{"kind": f.kind, **f.params} for f in self.script],
                    "injected": dict(self.injected)}

    def draw(self) -> Fault | None:
        """The fault for the next business request: script first, then throttle, then chance."""
        with self._lock:
            fault = self.script.popleft() if self.script else None
            if fault is None and self.throttle_rps > 0 and not self._take_token():
                fault = Fault("http_429")
            if fault is None and self.fail_rate > 0 and self.rng.random() < self.fail_rate:
                fault = Fault(self.rng.choice(_RANDOM_KINDS))
            if fault is not None:
                self.injected[fault.kind] += 1
            return fault

    def _take_token(self) -> bool:
        now = time.monotonic()
        self._tokens = min(self.throttle_rps,
                           self._tokens + (now - self._refilled) * self.throttle_rps)
        self._refilled = now
        if self._tokens >= 1:
            self._tokens -= 1
            return True
        return False

    def replacement(self, fault: Fault) -> Reply:
        """The answer given instead of processing the request (kinds in REPLACING)."""
        message = fault.params.get("message", "模拟的服务器异常")
        if fault.kind == "http_429":
            retry_after = str(fault.params.get("retry_after", self.retry_after))
            return Reply(429, "Too Many Requests", headers={"Retry-After": retry_after})
        if fault.kind == "http_500":
            return Reply(500, f"Internal Server Error: {message}")
        if fault.kind == "http_502":
            return Reply(502, "<html><body><h1>502 Bad Gateway</h1></body></html>",
                         "text/html; charset=utf-8")
        if fault.kind == "html":
            return Reply(200, _HTML_PAGE, "text/html; charset=utf-8")
        if fault.kind == "response_error":
            return Reply(200, f"{RESPONSE_ERROR_PREFIX} 发生时间：{time.strftime('%Y-%m-%d %H:%M:%S')}"
                              f" 错误信息：{message}")
        raise ValueError(f"{fault.kind} is handled by the server (needs the service envelope)")


def mangle(fault: Fault, body: str) -> str:
    """Damage a normal answer: cut it in half, or drop the last cell of the first row."""
    if fault.kind == "truncated_json":
        return body[: max(1, len(body) // 2)]
    if fault.kind == "wrong_width":
        try:
            rows = json.loads(body)
        except ValueError:
            return body
        if isinstance(rows, list) and rows and isinstance(rows[0], list) and rows[0]:
            rows[0] = rows[0][:-1]
            return json.dumps(rows, ensure_ascii=False, separators=(",", ":"))
    return body


def hold(fault: Fault | None, kind: str, default_ms: int = 1000) -> None:
    """Sleep for a `delay` (before processing) or `timeout` (after processing) fault."""
    if fault is not None and fault.kind == kind:
        time.sleep(float(fault.params.get("ms", default_ms)) / 1000.0)
