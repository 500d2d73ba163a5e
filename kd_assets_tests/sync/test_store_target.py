"""Publishing to the target: counts, idempotency, never older over newer, force, soft delete."""

from __future__ import annotations

import pandas as pd
import pymysql
import pytest

from kd_assets.sync.store import TargetStore, UpsertCounts, create_target_engine
from kd_assets_tests.sync.rows import clean_frame as clean
from kd_assets_tests.sync.rows import SPEC, kd_row


def test_first_upsert_inserts_every_row_with_bookkeeping(store):
    counts = store.upsert_target(clean(kd_row(1), kd_row(2)), "run-1")
    assert counts == UpsertCounts(inserted=2)
    target = store.read_target()
    assert target["data_id"].tolist() == [1, 2]
    assert target["run_id"].tolist() == ["run-1", "run-1"]
    assert not target["is_deleted"].any() and target["synced_at"].notna().all()
    assert target["change_time"].tolist() == [pd.Timestamp("2024-05-07 10:00:00")] * 2


def test_stored_values_equal_the_clean_frame(store):
    frame = clean(kd_row(1, customer_name="O'Brien \\ \"Ltd\" 中文", registered_capital="1234.56",
                         modified_at="2024-05-07T10:00:00.123", is_group=True, short_name=None))
    store.upsert_target(frame, "run-1")
    stored = store.read_target()[frame.columns]
    pd.testing.assert_frame_equal(stored, frame)


def test_same_input_twice_is_all_unchanged_and_tables_identical(store):
    frame = clean(*[kd_row(i) for i in range(1, 51)])
    store.upsert_target(frame, "run-1")
    before = store.read_target()
    assert store.upsert_target(frame, "run-2") == UpsertCounts(unchanged=50)
    pd.testing.assert_frame_equal(store.read_target(), before)  # run_id/synced_at untouched too


def test_newer_version_updates_and_older_one_is_skipped(store):
    old = clean(kd_row(1, customer_name="Old", modified_at="2024-05-07T10:00:00"))
    new = clean(kd_row(1, customer_name="New", modified_at="2024-05-08T10:00:00"))
    store.upsert_target(old, "run-1")
    assert store.upsert_target(new, "run-2") == UpsertCounts(updated=1)
    assert store.upsert_target(old, "run-3") == UpsertCounts(skipped_older=1)
    row = store.read_target().iloc[0]
    assert (row["customer_name"], row["run_id"]) == ("New", "run-2")
    assert row["change_time"] == pd.Timestamp("2024-05-08 10:00:00")


def test_same_change_time_with_different_content_updates(store):
    store.upsert_target(clean(kd_row(1, phone="1")), "run-1")
    assert store.upsert_target(clean(kd_row(1, phone="2")), "run-2") == UpsertCounts(updated=1)
    assert store.read_target()["phone"].tolist() == ["2"]


def test_forbid_date_alone_moves_the_change_time(store):
    store.upsert_target(clean(kd_row(1)), "run-1")
    forbidden = clean(kd_row(1, forbid_status="B", forbidden_at="2024-05-09T08:00:00.500"))
    assert store.upsert_target(forbidden, "run-2") == UpsertCounts(updated=1)
    assert store.read_target()["forbid_status"].tolist() == ["B"]


def test_mixed_chunk_counts_each_category(store):
    store.upsert_target(clean(kd_row(1), kd_row(2), kd_row(3, modified_at="2024-05-09T00:00:00")), "run-1")
    counts = store.upsert_target(clean(
        kd_row(1),                                            # unchanged
        kd_row(2, phone="new", modified_at="2024-05-08T00:00:00"),  # updated
        kd_row(3),                                            # older than stored
        kd_row(4),                                            # new
    ), "run-2")
    assert counts == UpsertCounts(inserted=1, updated=1, unchanged=1, skipped_older=1)
    assert counts.total == 4
    assert store.read_target()["data_id"].tolist() == [1, 2, 3, 4]


def test_a_forced_heal_overwrites_a_row_whose_change_time_went_backwards(store):
    # Enable clears FForbidDate without touching FModifyDate: the source's change time drops.
    forbidden = clean(kd_row(1, forbid_status="B", forbidden_at="2024-05-09T08:00:00"))
    enabled = clean(kd_row(1, forbid_status="A", forbidden_at=None))
    store.upsert_target(forbidden, "run-1")
    assert store.upsert_target(enabled, "run-2") == UpsertCounts(skipped_older=1)
    seen = store.change_times([1])
    assert seen == {1: pd.Timestamp("2024-05-09 08:00:00")}
    assert store.upsert_target(enabled, "reconcile", force_upto=seen) == UpsertCounts(updated=1)
    row = store.read_target().iloc[0]
    assert row["forbid_status"] == "A" and pd.isna(row["forbidden_at"])
    assert row["change_time"] == pd.Timestamp("2024-05-07 10:00:00")
    assert store.upsert_target(enabled, "reconcile", force_upto=store.change_times([1])) == UpsertCounts(unchanged=1)


def test_a_forced_heal_never_reverts_a_version_newer_than_it_saw(store):
    forbidden = clean(kd_row(1, forbid_status="B", forbidden_at="2024-05-09T08:00:00"))
    store.upsert_target(forbidden, "run-1")
    seen = store.change_times([1])
    # Meanwhile a sync run publishes a newer edit; the heal fetched before it.
    store.upsert_target(clean(kd_row(1, customer_name="Newer", modified_at="2024-05-10T09:00:00")), "run-2")

    enabled = clean(kd_row(1, forbid_status="A", forbidden_at=None))
    assert store.upsert_target(enabled, "reconcile", force_upto=seen) == UpsertCounts(skipped_older=1)
    assert store.read_target().iloc[0]["customer_name"] == "Newer"


def test_soft_delete_marks_once_and_a_returning_row_is_undeleted(store):
    store.upsert_target(clean(kd_row(1), kd_row(2)), "run-1")
    assert store.soft_delete([2, 99], "reconcile") == 1
    assert store.soft_delete([2], "reconcile") == 0
    target = store.read_target()
    assert target["is_deleted"].tolist() == [False, True] and target["deleted_at"].notna().tolist() == [False, True]
    # The version it was deleted at (fetched before the deletion) does not revive it; a newer one
    # does, as does reconciliation's forced heal.
    assert store.upsert_target(clean(kd_row(2)), "run-2") == UpsertCounts(unchanged=1)
    assert bool(store.read_target([2]).iloc[0]["is_deleted"])
    assert store.upsert_target(clean(kd_row(2)), "reconcile", force_upto=store.change_times([2])) \
        == UpsertCounts(updated=1)
    assert not store.read_target([2]).iloc[0]["is_deleted"]
    store.soft_delete([2], "reconcile")
    assert store.upsert_target(clean(kd_row(2, modified_at="2024-05-08T10:00:00")), "run-3") == UpsertCounts(updated=1)
    row = store.read_target([2]).iloc[0]
    assert not row["is_deleted"] and pd.isna(row["deleted_at"])


def test_target_keys_yields_key_change_time_status_and_deleted_flag_in_key_order(store):
    store.upsert_target(clean(*[kd_row(i, document_status="A" if i % 2 else "C") for i in range(5, 0, -1)]), "r")
    store.soft_delete([3], "r")
    keys = list(store.target_keys(chunk_size=2))
    assert [tuple(k) for k in keys][:3] == [
        (1, pd.Timestamp("2024-05-07 10:00:00").to_pydatetime(), "A", "A", False),
        (2, pd.Timestamp("2024-05-07 10:00:00").to_pydatetime(), "C", "A", False),
        (3, pd.Timestamp("2024-05-07 10:00:00").to_pydatetime(), "A", "A", True),
    ]
    assert [k.data_id for k in keys] == [1, 2, 3, 4, 5]


def test_newest_change_time_is_the_greatest_stored(store):
    assert store.newest_change_time() is None
    store.upsert_target(clean(kd_row(1), kd_row(2, approved_at="2024-05-08T01:02:03.456")), "r")
    assert pd.Timestamp(store.newest_change_time()) == pd.Timestamp("2024-05-08 01:02:03.456")


def test_large_chunk_spans_several_statements(store):
    frame = clean(*[kd_row(i) for i in range(1, 4502)])
    assert store.upsert_target(frame, "r") == UpsertCounts(inserted=4501)
    assert store.upsert_target(frame, "r") == UpsertCounts(unchanged=4501)
    assert len(store.read_target()) == 4501


def test_a_failing_batch_fails_the_call_and_writes_nothing_of_the_chunk(mysql_url):
    store = TargetStore(create_target_engine(mysql_url), SPEC)
    store.ensure_tables()
    frame = clean(*[kd_row(i) for i in range(1, 4001)])
    frame.loc[3500, "customer_name"] = "x" * 300  # bypasses validation: too long for varchar(255)
    with pytest.raises(pymysql.err.DataError, match="customer_name"):
        store.upsert_target(frame, "run-1")
    assert store.read_target().empty  # the first batches were rolled back with the chunk
    store.engine.dispose()


def test_text_with_quotes_backslashes_and_control_characters_round_trips(store):
    nasty = ["a\x01b", "\x02", "line\nbreak\rend", "nul\x00byte", "ctrl-z\x1a", "'; DROP TABLE x; --", '"\\"', "中文'\\"]
    frame = clean(*[kd_row(i, address=text) for i, text in enumerate(nasty, 1)], kd_row(99, address=None))
    store.upsert_target(frame, "run-1")
    assert store.read_target()["address"].tolist() == nasty + [None]
    assert store.upsert_target(frame, "run-2") == UpsertCounts(unchanged=len(nasty) + 1)
