"""Progress of a long asset run in its log: rows so far, rate, and share done and time left.

A multi-minute initial load otherwise logs nothing until a step ends. The total is known only
where the run already counted it (the upstream step of the same run); without it the line says
rows and rate only, never a guessed share.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Optional

import dagster as dg

PROGRESS_EVERY_S = 10.0


class Progress:
    """Counts rows as a step works through them and logs a line at most every ``every_s``."""

    def __init__(self, log, what: str, total: Optional[int] = None, every_s: Optional[float] = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.log, self.what, self.total, self.clock = log, what, total, clock
        self.every_s = PROGRESS_EVERY_S if every_s is None else every_s
        self.rows, self.started = 0, clock()
        self.last = self.started

    def add(self, rows: int) -> None:
        self.rows += rows
        now = self.clock()
        if now - self.last >= self.every_s:
            self.last = now
            self.log.info(self.line(now))

    def line(self, now: float) -> str:
        elapsed = max(now - self.started, 1e-9)
        rate = self.rows / elapsed
        text = f"{self.what}: {self.rows:,} rows in {elapsed:.0f} s, {rate:,.0f} rows/s"
        if self.total:
            share = min(self.rows / self.total, 1.0)
            left = (self.total - self.rows) / rate if rate > 0 and self.rows < self.total else 0.0
            text += f", {share:.0%} of {self.total:,}, about {left:.0f} s left"
        return text


def rows_of_upstream(context: dg.AssetExecutionContext, asset: str) -> Optional[int]:
    """``dagster/row_count`` of ``asset`` if this very run materialized it, else None."""
    event = context.instance.get_latest_materialization_event(dg.AssetKey(asset))
    if event is None or event.run_id != context.run.run_id or event.asset_materialization is None:
        return None
    value = event.asset_materialization.metadata.get("dagster/row_count")
    return int(value.value) if value is not None else None
