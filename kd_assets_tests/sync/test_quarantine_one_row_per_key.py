"""The quarantine lists a rejected key once: its newest rejection and every partition that saw it,
also for tables written before (one row per key and partition), which ensure_tables folds."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from kd_assets.sync.store import TargetStore
from kd_assets_tests.sync.rows import SPEC, kd_row
from kd_assets_tests.sync.test_store_staging import run_clean

RANGE = "2024-05-01...2024-05-07"


def test_a_key_rejected_by_a_range_run_and_a_day_run_is_listed_once(store):
    bad = kd_row(1, master_id="12abc")
    run_clean(store, [bad, kd_row(2)], run_id="range-run", partition_key=RANGE)
    run_clean(store, [bad], run_id="day-run", partition_key="2024-05-07")
    q = store.quarantined()
    assert list(q["record_key"]) == ["1"]
    assert (q.iloc[0]["partition_key"], q.iloc[0]["run_id"]) == ("2024-05-07", "day-run")
    assert q.iloc[0]["partitions"] == f"{RANGE},2024-05-07"


def test_the_latest_rejection_wins_even_at_an_older_change_time(store):
    # An UnAudit clears the approve date: the source's version now has an older change time, and
    # reconciliation recognises a known reject by exactly that change time.
    run_clean(store, [kd_row(1, master_id="12abc", modified_at="2024-05-08T09:00:00")],
              run_id="before-unaudit", partition_key="2024-05-08")
    run_clean(store, [kd_row(1, master_id="34xyz")], run_id="after-unaudit", partition_key="2024-05-07")
    (row,) = store.quarantined().itertuples()
    assert (row.run_id, row.partition_key, row.change_time) == ("after-unaudit", "2024-05-07",
                                                                 dt.datetime(2024, 5, 7, 10))
    assert row.partitions == "2024-05-07,2024-05-08"


def test_existing_duplicates_are_folded_when_the_table_is_migrated(store):
    t = store.tables.quarantine
    with store.engine.begin() as conn:
        conn.exec_driver_sql(f"ALTER TABLE {t.name} DROP COLUMN partitions")
        rows = [("1", RANGE, "range-run", dt.datetime(2024, 5, 7, 8), dt.datetime(2024, 6, 1)),
                ("1", "2024-05-07", "day-run", dt.datetime(2024, 5, 7, 8), dt.datetime(2024, 6, 2)),
                ("1", "2024-05-03", "old-run", dt.datetime(2024, 5, 3), dt.datetime(2024, 6, 3)),
                ("2", "2024-05-07", "day-run", dt.datetime(2024, 5, 7, 9), dt.datetime(2024, 6, 2))]
        for key, part, run, changed, at in rows:
            conn.execute(sa.text(f"INSERT INTO {t.name} (record_key, partition_key, run_id, change_time, reasons,"
                                 " quarantined_at) VALUES (:k, :p, :r, :c, '[]', :a)"),
                         dict(k=key, p=part, r=run, c=changed, a=at))
    migrated = TargetStore(store.engine, SPEC)
    assert "merged 1 keys listed twice in quarantine" in migrated.ensure_tables()
    q = migrated.quarantined().sort_values("record_key")
    assert list(q["record_key"]) == ["1", "2"]
    assert list(q["run_id"]) == ["old-run", "day-run"]  # the latest written rejection
    assert list(q["partitions"]) == [f"{RANGE},2024-05-03,2024-05-07", "2024-05-07"]
    assert migrated.ensure_tables() == []
