"""Daily partitions on a row's change time, in the source (Kingdee server) time zone.

Each form has its own start date (``sync_start`` in its defs.yaml, else KD_SYNC_START); the zone
comes from KD_SOURCE_TIMEZONE, shared by every form of the one ERP server, so partitions, Kingdee
filters and stored values agree on one clock (DESIGN §3 invariant 8). `end_offset=1` makes today
a partition, so the sensor can sync changes made today.

The first partition has no lower bound: it holds every change before the start too (and rows
with no change time), so the initial load brings every row while Dagster's per-partition
bookkeeping grows only with the days since the start, not with years of history.
"""

from __future__ import annotations

import os
from datetime import datetime
from typing import Optional

import dagster as dg

# A fixed, recent day: the first partition holds everything before it, so an early start buys
# nothing but a partition per day of bookkeeping; a moving default would shift the partitions.
DEFAULT_SYNC_START = "2026-11-01"
DEFAULT_SOURCE_TIMEZONE = "Asia/Shanghai"


def sync_start(value: Optional[str] = None) -> str:
    """First partition's day (YYYY-MM-DD): ``value`` (a form's YAML) or KD_SYNC_START, else the default."""
    where = "sync_start" if value is not None else "KD_SYNC_START"
    value = value if value is not None else (os.environ.get("KD_SYNC_START", "").strip() or DEFAULT_SYNC_START)
    try:
        datetime.strptime(value, "%Y-%m-%d")
    except ValueError as exc:
        raise ValueError(f"{where} must be a date like 2024-01-01, got {value!r}") from exc
    return value


def source_timezone() -> str:
    """IANA name of the Kingdee server's time zone, from KD_SOURCE_TIMEZONE."""
    return os.environ.get("KD_SOURCE_TIMEZONE", "").strip() or DEFAULT_SOURCE_TIMEZONE


def change_partitions(start: str) -> dg.DailyPartitionsDefinition:
    """One form's daily partitions from ``start`` up to and including today (source time)."""
    return dg.DailyPartitionsDefinition(start_date=start, timezone=source_timezone(), end_offset=1)


def source_local_window(window: dg.TimeWindow, partitions: dg.TimeWindowPartitionsDefinition
                        ) -> tuple[Optional[datetime], datetime]:
    """A partition window as naive datetimes on the Kingdee server's wall clock.

    A window that begins with the first partition starts at None (no lower bound): the first
    partition holds all earlier changes.
    """
    first = partitions.get_first_partition_window()
    start = None if first is not None and window.start == first.start else window.start.replace(tzinfo=None)
    return (start, window.end.replace(tzinfo=None))


def partition_key_for(change_time: datetime, first_key: Optional[str] = None) -> str:
    """The daily partition that holds a naive source-local change time; before ``first_key``: the first."""
    key = change_time.strftime("%Y-%m-%d")
    return max(key, first_key) if first_key is not None else key


def history_note(start: str) -> str:
    """What the first partition holds, for asset descriptions."""
    return (f" The first partition ({start}) also holds every change before it and rows with no change time, "
            "so re-running it re-syncs all history.")
