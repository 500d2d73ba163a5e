"""The first partition holds all history: the initial load brings every row, whatever its change time.

Issue 13 point 6 (customers changed before the start were never synced by the partitions) and the
bookkeeping of issue 12 (partitions grow with days since the start, not with years of history).
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from kd_assets.defs.partitions import partition_key_for
from kd_assets.defs.runs import ALL_EARLIER
from kd_assets.kingdee import Window
from kd_assets.kingdee.filters import window_predicate
from kd_assets_tests.defs.forms import CUSTOMERS, SPEC
from kd_assets_tests.defs.sync_harness import CHANGE_FIELDS, materialization, resources, source_rows, sync, table_keys

CLOCK = "2024-03-01 12:00:00"
FIRST = CUSTOMERS.settings.sync_start  # KD_SYNC_START, pinned by the test conftest
TARGET, QUARANTINE = SPEC.tables.target, SPEC.tables.quarantine


@pytest.fixture
def sim(simulator_factory):
    return simulator_factory(customers=2000, seed=23, clock_start=CLOCK, dirty_share=0.05)


def _changed_before(frame: pd.DataFrame, end: dt.datetime) -> set[int]:
    """Keys with any change field before ``end``, or with none at all: the first partition's rows."""
    hit = frame[list(CHANGE_FIELDS)].isna().all(axis=1)
    for f in CHANGE_FIELDS:
        hit |= frame[f] < end
    return set(frame.loc[hit, "data_id"].astype(int))


def test_first_partition_brings_rows_changed_before_the_start_even_in_2001(sim, target_url):
    frame = source_rows(sim)
    first_end = dt.datetime.fromisoformat(FIRST) + dt.timedelta(days=1)
    stamped_2001 = set(frame.loc[frame["FModifyDate"].dt.year == 2001, "data_id"].astype(int))
    only_before = _changed_before(frame, dt.datetime.fromisoformat(FIRST))
    assert stamped_2001 and only_before, "the seeded data should hold 2001 stamps and rows older than the start"

    result = sync(resources(sim, target_url), FIRST)

    assert result.success
    arrived = table_keys(target_url, TARGET) | table_keys(target_url, QUARANTINE)
    assert stamped_2001 <= arrived
    assert only_before <= arrived
    assert arrived == _changed_before(frame, first_end)
    assert materialization(result, TARGET)["window_start"] == ALL_EARLIER


def test_initial_load_from_a_start_later_than_most_rows_brings_every_row(sim, target_url):
    frame = source_rows(sim)
    assert (frame["FModifyDate"] < dt.datetime.fromisoformat(FIRST)).mean() > 0.5, "most rows predate the start"
    last = CLOCK[:10]

    result = sync(resources(sim, target_url), first=FIRST, last=last)

    assert result.success
    arrived = table_keys(target_url, TARGET) | table_keys(target_url, QUARANTINE)
    assert arrived == _changed_before(frame, dt.datetime.fromisoformat(last) + dt.timedelta(days=1))
    assert arrived == set(frame["data_id"].astype(int)) - _future_only(frame, last)


def _future_only(frame: pd.DataFrame, last: str) -> set[int]:
    """Rows whose every change field is after the last partition (e.g. a future FForbidDate)."""
    end = dt.datetime.fromisoformat(last) + dt.timedelta(days=1)
    later = pd.Series(True, index=frame.index)
    for f in CHANGE_FIELDS:
        later &= frame[f].isna() | (frame[f] >= end)
    return set(frame.loc[later & frame[list(CHANGE_FIELDS)].notna().any(axis=1), "data_id"].astype(int))


def test_a_later_day_keeps_its_own_lower_bound(sim, target_url):
    day = (dt.date.fromisoformat(FIRST) + dt.timedelta(days=3)).isoformat()
    result = sync(resources(sim, target_url), day)
    assert materialization(result, TARGET)["window_start"] == f"{day} 00:00:00"


def test_sensor_maps_changes_older_than_the_start_to_the_first_day():
    assert partition_key_for(dt.datetime(2001, 1, 1), FIRST) == FIRST
    assert partition_key_for(dt.datetime(2024, 2, 3, 9), FIRST) == "2024-02-03"


def test_unbounded_window_matches_undated_rows_and_everything_before_the_end():
    predicate = window_predicate(("FModifyDate", "FForbidDate"), Window(None, dt.datetime(2024, 1, 2)))
    assert predicate == ("(FModifyDate < '2024-01-02 00:00:00' or FForbidDate < '2024-01-02 00:00:00' "
                         "or (FModifyDate is null and FForbidDate is null))")
