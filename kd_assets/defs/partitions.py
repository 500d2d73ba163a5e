"""Daily partitions on a row's change time, in the source (Kingdee server) time zone.

Each form has its own start date (``sync_start`` in its defs.yaml, else KD_SYNC_START); the zone
comes from KD_SOURCE_TIMEZONE, shared by every form of the one ERP server, so partitions, Kingdee
filters and stored values agree on one clock (DESIGN §3 invariant 8). `end_offset=1` makes today
a partition, so the sensor can sync changes made today.
"""

from __future__ import annotations

import os
from datetime import datetime
from typing import Optional

import dagster as dg

DEFAULT_SYNC_START = "2024-01-01"
DEFAULT_SOURCE_TIMEZONE = "Asia/Shanghai"


def sync_start(value: Optional[str] = None) -> str:
    """First day to sync (YYYY-MM-DD): ``value`` (a form's YAML) or KD_SYNC_START, else 2024-01-01."""
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


def source_local_window(window: dg.TimeWindow) -> tuple[datetime, datetime]:
    """A partition window as naive datetimes on the Kingdee server's wall clock."""
    return (window.start.replace(tzinfo=None), window.end.replace(tzinfo=None))


def partition_key_for(change_time: datetime) -> str:
    """The daily partition that holds a naive source-local change time."""
    return change_time.strftime("%Y-%m-%d")
