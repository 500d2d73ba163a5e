"""Landing, clean staging and quarantine: windows, chunking, guards, replace-and-resolve."""

from __future__ import annotations

import datetime as dt
import json

import pandas as pd

from kd_assets.sync.schemas import validate
from kd_assets.sync.store import LandCounts
from kd_assets.sync.transform import to_frame
from kd_assets_tests.sync.rows import SPEC, kd_row

DAY = (dt.datetime(2024, 5, 7), dt.datetime(2024, 5, 8))
NOW = pd.Timestamp("2030-01-01")


def landed(store, window=DAY, chunk_size=10_000, partition_key=None) -> list[list]:
    return [row for chunk in store.iter_landed(*window, chunk_size=chunk_size, partition_key=partition_key)
            for row in chunk]


def test_landed_rows_come_back_as_fetched_in_key_order(store):
    rows = [kd_row(3, customer_name=" padded "), kd_row(1, master_id="12abc"), kd_row(2)]
    assert store.land_rows(rows, "run-1", "2024-05-07") == LandCounts(landed=3)
    assert landed(store) == [rows[1], rows[2], rows[0]]


def test_iter_landed_uses_the_or_of_half_open_windows_on_every_change_field(store):
    rows = [
        kd_row(1, modified_at="2024-05-07T00:00:00"),                                    # start: in
        kd_row(2, modified_at="2024-05-08T00:00:00", approved_at=None),                  # end: out
        kd_row(3, modified_at="2024-05-01T00:00:00", forbidden_at="2024-05-07T23:59:59.999",
               approved_at=None),                                                        # forbid in
        kd_row(4, modified_at="2024-05-01T00:00:00", approved_at="2024-05-07T12:00:00"),  # approve in
        kd_row(5, modified_at="2024-05-06T23:59:59.999", approved_at=None),              # before
    ]
    store.land_rows(rows, "run-1", None)
    assert [r[0] for r in landed(store)] == [1, 3, 4]


def test_iter_landed_is_chunked(store):
    store.land_rows([kd_row(i) for i in range(1, 8)], "run-1", None)
    chunks = list(store.iter_landed(*DAY, chunk_size=3))
    assert [len(c) for c in chunks] == [3, 3, 1]
    assert [r[0] for c in chunks for r in c] == list(range(1, 8))


def test_landing_keeps_the_newest_version_per_key(store):
    store.land_rows([kd_row(1, customer_name="New", modified_at="2024-05-07T12:00:00")], "run-2", None)
    store.land_rows([kd_row(1, customer_name="Old", modified_at="2024-05-07T08:00:00")], "run-1", None)
    assert [r[3] for r in landed(store)] == ["New"]
    store.land_rows([kd_row(1, customer_name="Newer", modified_at="2024-05-07T12:00:00")], "run-3", None)
    assert [r[3] for r in landed(store)] == ["Newer"]


def test_rows_without_a_usable_key_go_straight_to_quarantine(store):
    counts = store.land_rows([kd_row(None), kd_row("x9"), kd_row(1)], "run-1", "2024-05-07")
    assert counts == LandCounts(landed=1, quarantined=2)
    q = store.quarantined("2024-05-07")
    assert sorted(q["record_key"]) == ["<missing>", "x9"]
    assert all(r[0]["check"] == "raw_key" for r in q["reasons"])


def test_row_with_unreadable_change_time_is_yielded_for_its_partition(store):
    store.land_rows([kd_row(1, modified_at="garbage", approved_at=None)], "run-1", "2024-05-07")
    assert landed(store) == []
    assert [r[0] for r in landed(store, partition_key="2024-05-07")] == [1]
    assert landed(store, partition_key="2024-05-06") == []


def run_clean(store, rows, run_id="run-1", partition_key="2024-05-07"):
    result = validate(SPEC, to_frame(SPEC, rows), now=NOW)
    store.write_clean(result.clean, run_id, partition_key)
    store.quarantine(result.rejects, run_id, partition_key)
    return result


def test_clean_rows_come_back_typed_like_the_transform(store):
    result = run_clean(store, [kd_row(2, registered_capital=None, is_group=True), kd_row(1)])
    (back,) = list(store.iter_clean(*DAY))
    expected = result.clean.sort_values("data_id").reset_index(drop=True)
    pd.testing.assert_frame_equal(back, expected)


def test_clean_is_windowed_and_chunked(store):
    run_clean(store, [kd_row(i) for i in range(1, 6)] + [kd_row(9, modified_at="2024-05-09T00:00:00",
                                                                approved_at=None)])
    chunks = list(store.iter_clean(*DAY, chunk_size=2))
    assert [c["data_id"].tolist() for c in chunks] == [[1, 2], [3, 4], [5]]


def test_quarantine_keeps_reasons_and_payload_and_replaces_on_rerun(store):
    bad = kd_row(1, master_id="12abc")
    run_clean(store, [bad, kd_row(2)])
    run_clean(store, [bad, kd_row(2)], run_id="run-2")
    q = store.quarantined()
    assert store.quarantine_count() == 1 and store.quarantine_count("2024-05-07") == 1
    row = q.iloc[0]
    assert (row["record_key"], row["partition_key"], row["run_id"]) == ("1", "2024-05-07", "run-2")
    assert row["reasons"][0]["field"] == "FMasterId"
    assert json.loads(row["payload"])["FMasterId"] == "12abc"


def test_a_quarantined_row_that_later_passes_leaves_quarantine(store):
    run_clean(store, [kd_row(1, master_id="12abc")], partition_key="2024-05-07")
    assert store.quarantine_count() == 1
    run_clean(store, [kd_row(1, modified_at="2024-05-08T09:00:00")], partition_key="2024-05-08")
    assert store.quarantine_count() == 0


def test_an_older_passing_version_does_not_clear_a_newer_reject(store):
    run_clean(store, [kd_row(1, master_id="12abc", modified_at="2024-05-08T09:00:00")],
              partition_key="2024-05-08")
    run_clean(store, [kd_row(1)], partition_key="2024-05-07")
    assert store.quarantine_count() == 1


def test_nothing_is_lost_landing_to_clean_plus_quarantine(store):
    rows = [kd_row(i, document_status="Q" if i % 4 == 0 else "C") for i in range(1, 41)]
    store.land_rows(rows, "run-1", "2024-05-07")
    n_clean = n_rejects = 0
    for chunk in store.iter_landed(*DAY, chunk_size=7):
        result = run_clean(store, chunk)
        n_clean, n_rejects = n_clean + len(result.clean), n_rejects + len(result.rejects)
    assert (n_clean, n_rejects) == (30, 10)
    assert sum(len(c) for c in store.iter_clean(*DAY)) + store.quarantine_count("2024-05-07") == 40


def test_clean_target_diff_finds_missing_and_stale_target_rows(store):
    run_clean(store, [kd_row(1), kd_row(2), kd_row(3)])
    store.upsert_target(next(store.iter_clean(*DAY)).head(2), "run-1")
    run_clean(store, [kd_row(2, modified_at="2024-05-07T11:00:00")])
    n, sample = store.clean_target_diff(*DAY)
    assert n == 2 and sample["data_id"].tolist() == [2, 3]
    assert pd.isna(sample["target_change_time"].iloc[1])
    for chunk in store.iter_clean(*DAY):
        store.upsert_target(chunk, "run-2")
    assert store.clean_target_diff(*DAY)[0] == 0
