"""The sync log: one row per asset run (partition, counts, API calls, retries, duration, status).

A plain table so BI tools can chart sync health without Dagster; the Dagster layer writes it
next to its materialization metadata.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass

import pandas as pd
import sqlalchemy as sa


@dataclass(frozen=True)
class SyncRecord:
    """What one asset run did. ``status``: e.g. "success", "failed", "skipped"."""

    asset: str
    status: str
    partition_key: str | None = None
    window_start: dt.datetime | None = None
    window_end: dt.datetime | None = None
    run_id: str | None = None
    rows_in: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped_older: int = 0
    rejected: int = 0
    deleted: int = 0
    api_calls: int = 0
    retries: int = 0
    duration_s: float | None = None
    started_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None
    message: str | None = None


class SyncLog:
    """Mixin for TargetStore: needs ``self.engine`` and ``self.tables.sync_log``."""

    engine: sa.Engine

    def log_sync(self, record: SyncRecord) -> int:
        """Append one run's record; returns its id."""
        t = self.tables.sync_log
        with self.engine.begin() as conn:
            result = conn.execute(t.insert().values(**dataclasses.asdict(record)))
            return int(result.inserted_primary_key[0])

    def read_sync_log(self, asset: str | None = None, partition_key: str | None = None,
                      limit: int = 100) -> pd.DataFrame:
        """Newest records first, optionally for one asset and/or partition."""
        t = self.tables.sync_log
        q = sa.select(t).order_by(t.c.id.desc()).limit(limit)
        if asset is not None:
            q = q.where(t.c.asset == asset)
        if partition_key is not None:
            q = q.where(t.c.partition_key == partition_key)
        with self.engine.connect() as conn:
            return pd.DataFrame(conn.execute(q).all(), columns=[c.name for c in t.columns])
