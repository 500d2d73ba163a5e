"""publish_clean's cheap paths give what the guarded path gives: a plain INSERT into key ranges
the target holds nothing of, and by-key chunks for a sparse window, guards intact under a
concurrent writer."""

from __future__ import annotations

import datetime as dt
import math

import pandas as pd
import sqlalchemy as sa

from kd_assets.sync import store as store_module
from kd_assets.sync.store import TargetStore, UpsertCounts, create_target_engine
from kd_assets_tests.sync.rows import SPEC, clean_frame, kd_row

DAY = (dt.datetime(2024, 5, 7), dt.datetime(2024, 5, 8))
ALL_HISTORY = (None, dt.datetime(2024, 5, 8))  # the first partition's window
BOOKKEEPING = ["synced_at", "run_id"]


def stage(store, *rows):
    store.write_clean(clean_frame(*rows), "run-clean", "2024-05-07")


def guarded_result(store, window) -> pd.DataFrame:
    """The same window published through the frame path into an emptied target."""
    with store.engine.begin() as conn:
        conn.exec_driver_sql(f"DELETE FROM {store.tables.target.name}")
    for chunk in store.iter_clean(*window, chunk_size=7):
        store.upsert_target(chunk, "run-frames")
    return store.read_target().drop(columns=BOOKKEEPING)


def test_initial_load_into_an_empty_target_inserts_every_row_as_the_guarded_path_would(store):
    stage(store, *[kd_row(i, customer_name=f"O'Neil \\ {i}", forbidden_at=None if i % 2 else "2024-05-07T11:00:00")
                   for i in range(1, 30)], kd_row(99, modified_at="2024-05-09T00:00:00", approved_at=None))
    assert store.publish_clean(*ALL_HISTORY, "run-1", chunk_size=7) == UpsertCounts(inserted=29)
    published = store.read_target()
    assert set(published["run_id"]) == {"run-1"} and not published["is_deleted"].any()
    assert store.clean_target_diff(*ALL_HISTORY) [0] == 0
    pd.testing.assert_frame_equal(published.drop(columns=BOOKKEEPING), guarded_result(store, ALL_HISTORY))


def test_ranges_already_published_keep_their_guards_in_a_first_partition_rerun(store):
    stage(store, *[kd_row(i) for i in range(1, 10)])
    store.publish_clean(*ALL_HISTORY, "run-1", chunk_size=3)
    store.upsert_target(clean_frame(kd_row(5, phone="newer", modified_at="2024-05-07T12:00:00")), "run-newer")
    stage(store, *[kd_row(i) for i in range(10, 13)])  # a new range beside the published ones
    assert store.publish_clean(*ALL_HISTORY, "run-2", chunk_size=3) == \
        UpsertCounts(inserted=3, unchanged=8, skipped_older=1)
    assert store.read_target().set_index("data_id").loc[5, "phone"] == "newer"


def test_a_concurrent_write_into_an_empty_range_falls_back_to_the_guard(mysql_url):
    """Another run commits a newer version of a key after the probe found the range empty: the
    plain INSERT fails on that key, is rolled back, and the guarded path keeps the newer row."""
    engine, other = create_target_engine(mysql_url), create_target_engine(mysql_url)
    store = TargetStore(engine, SPEC)
    store.ensure_tables()
    stage(store, *[kd_row(i) for i in range(1, 6)])
    newer = clean_frame(kd_row(3, phone="concurrent", modified_at="2024-05-07T12:00:00"))

    def concurrent_run_commits_first(conn, _cursor, statement, *_):
        if conn.engine is engine and statement.startswith(f"INSERT INTO `{store.tables.target.name}`") \
                and " JOIN " not in statement and not other_store.read_target().shape[0]:
            other_store.upsert_target(newer, "run-concurrent")

    other_store = TargetStore(other, SPEC)
    sa.event.listen(engine, "before_cursor_execute", concurrent_run_commits_first)
    try:
        store.publish_clean(*ALL_HISTORY, "run-1")
    finally:
        sa.event.remove(engine, "before_cursor_execute", concurrent_run_commits_first)
    target = store.read_target().set_index("data_id")
    assert sorted(target.index) == [1, 2, 3, 4, 5]
    assert target.loc[3, "phone"] == "concurrent" and target.loc[3, "run_id"] == "run-concurrent"
    assert set(target.drop(index=3)["run_id"]) == {"run-1"}
    engine.dispose()
    other.dispose()


def test_a_sparse_window_publishes_by_its_keys_and_a_large_one_by_key_range(store, monkeypatch):
    stage(store, *[kd_row(i, modified_at="2024-05-06T10:00:00", approved_at=None) for i in range(1, 40)])
    store.publish_clean(*ALL_HISTORY, "run-0")
    edited = [3, 17, 38]
    stage(store, *[kd_row(i, phone=f"edited {i}", modified_at="2024-05-07T10:00:00", approved_at=None)
                   for i in edited])
    with store.engine.connect() as conn:
        assert store_module.sparse_window_keys(conn, store, *DAY, limit=3) == edited
        assert store_module.sparse_window_keys(conn, store, *DAY, limit=2) is None  # too many: by range
        assert store_module.sparse_window_keys(conn, store, *ALL_HISTORY, limit=100) is None
    assert store.publish_clean(*DAY, "run-1", chunk_size=2) == UpsertCounts(updated=3)
    monkeypatch.setattr(store_module, "SPARSE_WINDOW_KEYS", 2)
    stage(store, *[kd_row(i, phone=f"again {i}", modified_at="2024-05-07T11:00:00", approved_at=None)
                   for i in edited])
    assert store.publish_clean(*DAY, "run-2", chunk_size=2) == UpsertCounts(updated=3)
    target = store.read_target().set_index("data_id")
    assert [target.loc[i, "phone"] for i in edited] == [f"again {i}" for i in edited]
    assert (target.drop(index=edited)["run_id"] == "run-0").all()


def test_a_window_matched_by_any_change_field_is_published_whole(store):
    """A forbid or an approval on the day counts as much as a modification (the union of ranges)."""
    stage(store, kd_row(1, modified_at="2024-05-01T10:00:00", approved_at="2024-05-07T09:00:00"),
          kd_row(2, modified_at="2024-05-01T10:00:00", approved_at=None, forbidden_at="2024-05-07T08:00:00"),
          kd_row(3, modified_at="2024-05-01T10:00:00", approved_at=None))
    assert store.publish_clean(*DAY, "run-1") == UpsertCounts(inserted=2)
    assert sorted(store.read_target()["data_id"]) == [1, 2]


def test_a_sparse_chunk_is_published_in_batches_of_keys_with_the_counts_of_one(store, monkeypatch):
    from kd_assets.sync import upsert
    stage(store, *[kd_row(i, modified_at="2024-05-06T10:00:00", approved_at=None) for i in range(1, 12)])
    store.publish_clean(*ALL_HISTORY, "run-0")
    stage(store, *[kd_row(i, phone=f"edited {i}", modified_at="2024-05-07T10:00:00", approved_at=None)
                   for i in (2, 4, 6)], kd_row(200), kd_row(201))  # 5 keys over 200: sparse
    monkeypatch.setattr(upsert, "KEYED_BATCH", 2)
    assert store.publish_clean(*DAY, "run-1") == UpsertCounts(inserted=2, updated=3)
    assert store.publish_clean(*DAY, "run-2") == UpsertCounts(unchanged=5)
    target = store.read_target().set_index("data_id")
    assert [target.loc[i, "phone"] for i in (2, 4, 6)] == ["edited 2", "edited 4", "edited 6"]
    assert store.clean_target_diff(*DAY)[0] == 0


def test_a_window_is_dense_when_its_keys_fill_a_share_of_their_span():
    """Dense windows take the range path (bench/bench_density.py); a day's 1% of edits stays keyed."""
    n = math.ceil(store_module.DENSE_WINDOW * 1000)  # keys needed over a span of 1,000
    assert store_module.is_dense([0, *range(1, n - 1), 999]) and not store_module.is_dense([0, *range(1, n - 2), 999])
    assert store_module.is_dense([7]) and store_module.is_dense(list(range(100_000, 200_000)))
    assert not store_module.is_dense(list(range(3, 1_000_000, 100))) and not store_module.is_dense([])
