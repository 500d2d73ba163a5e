"""Daily partitions on a customer's change time, in the source (Kingdee server) time zone.

The start date comes from KD_SYNC_START and the zone from KD_SOURCE_TIMEZONE, so partitions,
Kingdee filters and stored values agree on one clock (DESIGN §3 invariant 8). `end_offset=1`
makes today a partition, so the sensor can sync changes made today.
"""

from __future__ import annotations

import os
from datetime import datetime

import dagster as dg

DEFAULT_SYNC_START = "2024-01-01"
DEFAULT_SOURCE_TIMEZONE = "Asia/Shanghai"


def sync_start() -> str:
    """First day to sync (YYYY-MM-DD), from KD_SYNC_START."""
    value = os.environ.get("KD_SYNC_START", "").strip() or DEFAULT_SYNC_START
    try:
        datetime.strptime(value, "%Y-%m-%d")
    except ValueError as exc:
        raise ValueError(f"KD_SYNC_START must be a date like 2024-01-01, got {value!r}") from exc
    return value


def source_timezone() -> str:
    """IANA name of the Kingdee server's time zone, from KD_SOURCE_TIMEZONE."""
    return os.environ.get("KD_SOURCE_TIMEZONE", "").strip() or DEFAULT_SOURCE_TIMEZONE


customer_change_partitions = dg.DailyPartitionsDefinition(
    start_date=sync_start(), timezone=source_timezone(), end_offset=1
)


def source_local_window(window: dg.TimeWindow) -> tuple[datetime, datetime]:
    """A partition window as naive datetimes on the Kingdee server's wall clock."""
    return (window.start.replace(tzinfo=None), window.end.replace(tzinfo=None))


def partition_key_for(change_time: datetime) -> str:
    """The daily partition that holds a naive source-local change time."""
    return change_time.strftime("%Y-%m-%d")
