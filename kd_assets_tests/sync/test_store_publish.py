"""publish_clean: the in-database publish gives the same counts and end state as upsert_target."""

from __future__ import annotations

import datetime as dt

import pandas as pd

from kd_assets.sync.store import UpsertCounts
from kd_assets_tests.sync.rows import clean_frame, kd_row

DAY = (dt.datetime(2024, 5, 7), dt.datetime(2024, 5, 8))
BOOKKEEPING = ["synced_at", "run_id"]


def stage(store, *rows):
    store.write_clean(clean_frame(*rows), "run-clean", "2024-05-07")


def test_publish_inserts_the_window_and_matches_upsert_target(store):
    rows = [kd_row(i, customer_name=f"O'Neil \\ {i}", registered_capital=f"{i}.5") for i in range(1, 30)]
    stage(store, *rows, kd_row(99, modified_at="2024-05-09T00:00:00", approved_at=None))
    assert store.publish_clean(*DAY, "run-1", chunk_size=7) == UpsertCounts(inserted=29)
    published = store.read_target().drop(columns=BOOKKEEPING)
    assert 99 not in published["data_id"].tolist()

    # Same rows through the frame path on a fresh target table give identical values.
    with store.engine.begin() as conn:
        conn.exec_driver_sql(f"DELETE FROM {store.tables.target.name}")
    for chunk in store.iter_clean(*DAY, chunk_size=7):
        store.upsert_target(chunk, "run-2")
    pd.testing.assert_frame_equal(store.read_target().drop(columns=BOOKKEEPING), published)


def test_publish_twice_is_all_unchanged(store):
    stage(store, kd_row(1), kd_row(2))
    store.publish_clean(*DAY, "run-1")
    before = store.read_target()
    assert store.publish_clean(*DAY, "run-2") == UpsertCounts(unchanged=2)
    pd.testing.assert_frame_equal(store.read_target(), before)


def test_publish_counts_each_category_and_never_reverts_a_newer_row(store):
    store.upsert_target(clean_frame(kd_row(1), kd_row(2), kd_row(3, phone="newest", approved_at="2024-05-09T00:00:00")),
                        "run-0")
    stage(store, kd_row(1), kd_row(2, phone="changed"), kd_row(3, phone="older"), kd_row(4))
    assert store.publish_clean(*DAY, "run-1") == UpsertCounts(inserted=1, updated=1, unchanged=1, skipped_older=1)
    target = store.read_target().set_index("data_id")
    assert target.loc[2, "phone"] == "changed" and target.loc[3, "phone"] == "newest"
    assert target.loc[2, "run_id"] == "run-1" and target.loc[1, "run_id"] == "run-0"


def test_publish_revives_a_soft_deleted_row_only_with_a_newer_version(store):
    stage(store, kd_row(1))
    store.publish_clean(*DAY, "run-1")
    store.soft_delete([1], "reconcile")
    assert store.publish_clean(*DAY, "run-2") == UpsertCounts()  # its staged version went with it
    stage(store, kd_row(1))  # staged again by a run that fetched it before the deletion
    assert store.publish_clean(*DAY, "run-3") == UpsertCounts(unchanged=1)
    assert store.read_target()["is_deleted"].all()
    stage(store, kd_row(1, modified_at="2024-05-07T11:00:00"))  # a newer version: the key lives again
    assert store.publish_clean(*DAY, "run-4") == UpsertCounts(updated=1)
    assert not store.read_target()["is_deleted"].any()


def test_publish_of_an_empty_window_does_nothing(store):
    assert store.publish_clean(*DAY, "run-1") == UpsertCounts()
