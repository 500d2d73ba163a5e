"""The simulator's clock: naive source-local (UTC+8) time that tests can set, freeze or advance.

Kingdee stamps rows with its own server-local clock, which is not the client's clock. Tests move
this clock through the admin API instead of sleeping, so expiry and change windows are exact.
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

SOURCE_TZ = timezone(timedelta(hours=8))
TEXT_FORMAT = "%Y-%m-%d %H:%M:%S"


def real_source_now() -> datetime:
    """The real current time as naive UTC+8, like a Kingdee server in China reports it."""
    return datetime.now(SOURCE_TZ).replace(tzinfo=None)


def parse_clock_text(text: str) -> datetime:
    """Parse 'YYYY-MM-DD HH:MM:SS' (a 'T' separator and fractions are accepted too)."""
    return datetime.fromisoformat(str(text).strip().replace("T", " "))


class SimClock:
    """Real time plus an offset, or a frozen instant. Thread-safe."""

    def __init__(self, start: datetime | None = None) -> None:
        self._lock = threading.Lock()
        self._offset = timedelta(0)
        self._frozen: datetime | None = None
        if start is not None:
            self.set(start)

    def now(self) -> datetime:
        with self._lock:
            if self._frozen is not None:
                return self._frozen
            return real_source_now() + self._offset

    def set(self, when: datetime, frozen: bool = False) -> None:
        """Jump to `when`; it then advances with real time unless frozen."""
        with self._lock:
            self._frozen = when if frozen else None
            self._offset = when - real_source_now()

    def advance(self, seconds: float) -> None:
        with self._lock:
            if self._frozen is not None:
                self._frozen += timedelta(seconds=seconds)
            else:
                self._offset += timedelta(seconds=seconds)

    def follow_real_time(self) -> None:
        with self._lock:
            self._frozen = None
            self._offset = timedelta(0)

    @property
    def frozen(self) -> bool:
        return self._frozen is not None


def stamp_text(when: datetime, with_millis: bool) -> str:
    """Stored datetime text: 'YYYY-MM-DD HH:MM:SS', plus '.fff' when asked and non-zero.

    A zero fraction is never written, so equal instants always have equal text and text order
    stays time order.
    """
    text = when.isoformat(" ", "seconds")
    millis = when.microsecond // 1000
    return f"{text}.{millis:03d}" if with_millis and millis else text
