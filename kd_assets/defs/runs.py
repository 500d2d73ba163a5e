"""What every sync asset run shares: its window, its label, and its sync-log record."""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import dagster as dg
import pandas as pd

from kd_assets.defs.partitions import source_local_window
from kd_assets.sync import SyncRecord, TargetStore


ALL_EARLIER = "(all earlier changes)"


def source_window(context: dg.AssetExecutionContext | dg.AssetCheckExecutionContext,
                  partitions: dg.TimeWindowPartitionsDefinition) -> tuple[dt.datetime | None, dt.datetime]:
    """The run's window (one partition or a single-run range) on Kingdee's wall clock.

    Its start is None when it begins with the first partition, which holds all earlier changes.
    """
    return source_local_window(context.partition_time_window, partitions)


def partition_label(context: dg.AssetExecutionContext | dg.AssetCheckExecutionContext) -> str:
    """``2024-01-02`` for one partition, ``2024-01-01...2024-01-31`` for a single-run range."""
    keys = context.partition_key_range
    return keys.start if keys.start == keys.end else f"{keys.start}...{keys.end}"


@dataclass
class SyncRun:
    """Counts of one asset run, written to the sync log when the run ends (success or not)."""

    asset: str
    partition: str
    window: tuple[dt.datetime | None, dt.datetime]
    run_id: str
    counts: dict[str, int] = field(default_factory=dict)
    api: dict[str, float] = field(default_factory=dict)
    started: float = field(default_factory=time.monotonic)
    started_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.timezone.utc).replace(tzinfo=None))

    def add(self, **amounts: int) -> None:
        for name, amount in amounts.items():
            self.counts[name] = self.counts.get(name, 0) + int(amount)

    @property
    def duration_s(self) -> float:
        return round(time.monotonic() - self.started, 3)

    def record(self, status: str, message: str | None = None) -> SyncRecord:
        known = {f.name for f in dataclasses.fields(SyncRecord)}
        counts = {k: v for k, v in self.counts.items() if k in known}
        return SyncRecord(
            asset=self.asset, status=status, partition_key=self.partition, window_start=self.window[0],
            window_end=self.window[1], run_id=self.run_id, api_calls=int(self.api.get("kingdee_calls", 0)),
            retries=int(self.api.get("kingdee_retries", 0)), duration_s=self.duration_s,
            started_at=self.started_at, finished_at=dt.datetime.now(dt.timezone.utc).replace(tzinfo=None),
            message=message[:1000] if message else None, **counts,
        )

    def metadata(self) -> dict[str, Any]:
        """Numbers Dagster plots over time, plus the window bounds."""
        return {
            **{k: dg.MetadataValue.int(v) for k, v in self.counts.items()},
            **self.api,
            "duration_s": dg.MetadataValue.float(self.duration_s),
            "partition": self.partition,
            "window_start": self.window[0].isoformat(sep=" ") if self.window[0] is not None else ALL_EARLIER,
            "window_end": self.window[1].isoformat(sep=" "),
        }


@contextmanager
def sync_run(context: dg.AssetExecutionContext, store: TargetStore,
             partitions: dg.TimeWindowPartitionsDefinition) -> Iterator[SyncRun]:
    """A SyncRun for this asset run; a failure is logged to the sync log and re-raised."""
    run = SyncRun(asset=context.asset_key.to_user_string(), partition=partition_label(context),
                  window=source_window(context, partitions), run_id=context.run.run_id)
    try:
        yield run
    except Exception as exc:
        store.log_sync(run.record("failed", f"{type(exc).__name__}: {exc}"))
        raise
    store.log_sync(run.record("success"))


def preview_table(frame: pd.DataFrame, limit: int = 5) -> dg.TableMetadataValue:
    """A few rows as a Dagster table, values as text so any dtype renders."""
    head = frame.head(limit)
    columns = [dg.TableColumn(str(c), "string") for c in head.columns]
    records = [dg.TableRecord({str(k): (None if pd.isna(v) else str(v)) for k, v in row.items()})
               for row in head.to_dict("records")]
    return dg.MetadataValue.table(records=records, schema=dg.TableSchema(columns=columns))
