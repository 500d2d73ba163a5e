"""The checks after a publish find what they must, in one pass, and the indexes they read exist
on new and on migrated databases."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from kd_assets.defs.target_db import MySQLResource
from kd_assets.sync.targetchecks import duplicate_business_keys
from kd_assets_tests.sync.rows import clean_frame, kd_row

DAY = (dt.datetime(2024, 5, 7), dt.datetime(2024, 5, 8))
ALL_HISTORY = (None, dt.datetime(2024, 5, 8))


def stage(store, *rows):
    store.write_clean(clean_frame(*rows), "run-clean", "2024-05-07")


def test_duplicate_business_keys_counts_every_group_and_samples_twenty(store):
    # 25 groups of two rows sharing (customer_number, using_org) in the window ...
    stage(store, *[kd_row(i, customer_number=f"DUP{i // 2:03d}") for i in range(50)],
          # ... one unique number, one pair split across orgs, one pair outside the window.
          kd_row(100, customer_number="ONE"), kd_row(101, customer_number="ORG", using_org="100"),
          kd_row(102, customer_number="ORG", using_org="101"),
          *[kd_row(k, customer_number="LATER", modified_at="2024-05-09T00:00:00", approved_at=None)
            for k in (103, 104)])
    found = duplicate_business_keys(store, *DAY)
    assert found.groups == 25 and not found.passed
    assert len(found.samples) == 20
    assert found.samples[0] == {"customer_number": "DUP000", "using_org": "100", "rows": 2}
    assert duplicate_business_keys(store, dt.datetime(2024, 5, 9), dt.datetime(2024, 5, 10)).groups == 1


def test_duplicate_business_keys_passes_with_few_groups_counted_from_the_sample(store):
    stage(store, kd_row(1, customer_number="A"), kd_row(2, customer_number="A"), kd_row(3, customer_number="B"),
          kd_row(4, customer_number=None))
    found = duplicate_business_keys(store, *ALL_HISTORY)
    assert (found.groups, found.samples) == (1, [{"customer_number": "A", "using_org": "100", "rows": 2}])
    assert duplicate_business_keys(store, *ALL_HISTORY, sample=1).groups == 1
    stage(store, kd_row(2, customer_number="C"))
    assert duplicate_business_keys(store, *ALL_HISTORY).passed


EARLIER = {"modified_at": "2024-05-01T10:00:00", "approved_at": "2024-05-01T09:00:00"}


@pytest.mark.parametrize("touched_limit", [100, 0], ids=["touched-keys", "grouped-pass"])
def test_duplicate_business_keys_catches_a_window_row_sharing_its_key_with_a_row_of_another_day(
        store, touched_limit):
    # Untouched by the day: a row changed a week earlier, a pair changed later, NULL keys.
    stage(store, kd_row(1, customer_number="TAKEN", **EARLIER), kd_row(2, customer_number="FREE", **EARLIER),
          *[kd_row(k, customer_number="LATER", modified_at="2024-05-09T00:00:00", approved_at=None)
            for k in (3, 4)],
          kd_row(5, customer_number=None, **EARLIER), kd_row(6, using_org=None, customer_number="N", **EARLIER))
    assert duplicate_business_keys(store, *DAY, touched_limit=touched_limit).passed
    # The day's rows: one takes an untouched row's key, two others take one new key between them,
    # the NULL keys match nothing.
    stage(store, kd_row(10, customer_number="TAKEN"), kd_row(11, customer_number="PAIR"),
          kd_row(12, customer_number="PAIR"), kd_row(13, customer_number="ALONE"),
          kd_row(14, customer_number=None), kd_row(15, using_org=None, customer_number="N"))
    found = duplicate_business_keys(store, *DAY, touched_limit=touched_limit)
    assert (found.groups, found.samples) == (2, [{"customer_number": "PAIR", "using_org": "100", "rows": 2},
                                                 {"customer_number": "TAKEN", "using_org": "100", "rows": 2}])
    assert duplicate_business_keys(store, *DAY, sample=1, touched_limit=touched_limit).groups == 2
    # The earlier day's row is in the group too: its window sees the same duplicate.
    earlier = (dt.datetime(2024, 5, 1), dt.datetime(2024, 5, 2))
    assert duplicate_business_keys(store, *earlier, touched_limit=touched_limit).samples == [
        {"customer_number": "TAKEN", "using_org": "100", "rows": 2}]
    # Moved to a free key on a later day: that day finds nothing, nor does the first day any more.
    stage(store, kd_row(10, customer_number="MOVED", modified_at="2024-05-07T12:00:00"))
    assert duplicate_business_keys(store, *earlier, touched_limit=touched_limit).passed
    assert duplicate_business_keys(store, *DAY, touched_limit=touched_limit).groups == 1


def test_clean_target_diff_reports_missing_and_other_versions_and_no_sample_when_equal(store):
    stage(store, kd_row(1), kd_row(2), kd_row(3))
    store.publish_clean(*DAY, "run-1")
    assert store.clean_target_diff(*DAY)[0] == 0 and store.clean_target_diff(*DAY)[1].empty
    stage(store, kd_row(2, modified_at="2024-05-07T11:00:00"), kd_row(4))
    missing, sample = store.clean_target_diff(*ALL_HISTORY)
    assert missing == 2 and sample["data_id"].tolist() == [2, 4]
    assert sample["target_change_time"].isna().tolist() == [False, True]


def test_live_rows_leaves_out_soft_deleted_rows(store):
    stage(store, *[kd_row(i) for i in range(1, 6)])
    store.publish_clean(*ALL_HISTORY, "run-1")
    store.soft_delete([2, 4], "reconcile")
    assert MySQLResource(url=store.engine.url.render_as_string(hide_password=False)).live_rows(store) == 3


def test_a_database_made_before_the_check_indexes_gets_them_on_the_next_start(store):
    names = {f"ix_{store.tables.target.name}_is_deleted": store.tables.target.name,
             f"ix_{store.tables.clean.name}_business_key": store.tables.clean.name}
    with store.engine.begin() as conn:
        for index, table in names.items():
            on = f" ON {table}" if store.engine.dialect.name != "sqlite" else ""
            conn.exec_driver_sql(f"DROP INDEX {index}{on}")
    assert sorted(store.ensure_tables()) == sorted(f"created index {i} on {t}" for i, t in names.items())
    inspector = sa.inspect(store.engine)
    assert [i["column_names"] for i in inspector.get_indexes(store.tables.clean.name)
            if i["name"] == f"ix_{store.tables.clean.name}_business_key"] == \
        [["customer_number", "using_org", "modified_at", "forbidden_at", "approved_at"]]
    assert store.ensure_tables() == []


def _joined_diff(store, start, end):
    """The check's join (the path for windows the indexes cannot answer), for comparison."""
    c, t = store.tables.clean, store.tables.target
    with store.engine.connect() as conn:
        return conn.execute(sa.select(c.c.data_id, c.c.change_time, t.c.change_time)
                            .select_from(c.outerjoin(t, c.c.data_id == t.c.data_id))
                            .where(store.in_window(c, start, end),
                                   sa.or_(t.c.data_id.is_(None), t.c.change_time != c.c.change_time))
                            .order_by(c.c.data_id)).all()


def test_a_recent_window_is_compared_from_the_indexes_as_the_join_compares_it(store):
    from kd_assets.sync.targetchecks import window_target_diff
    early, late = "2024-05-06T08:00:00", "2024-05-08T07:00:00.250"
    stage(store, kd_row(1), kd_row(2), kd_row(3, modified_at=early, approved_at=None),
          kd_row(4, approved_at=late),  # changed in the window, and again after it
          kd_row(5, modified_at=early, approved_at="2024-05-07T09:30:00.125"), kd_row(6, modified_at=early))
    store.publish_clean(*ALL_HISTORY, "run-1")
    stage(store, kd_row(2, modified_at="2024-05-07T11:00:00.5"),  # the target holds the older version ...
          kd_row(3, modified_at="2024-05-07T12:00:00", approved_at=None),  # ... older than the window
          kd_row(7), kd_row(8, approved_at=late))  # missing
    with store.engine.begin() as conn:  # the target ahead of clean
        conn.execute(store.tables.target.update().where(store.tables.target.c.data_id == 5)
                     .values(change_time=dt.datetime(2024, 5, 7, 23, 0)))
    expected = [tuple(r) for r in _joined_diff(store, *DAY)]
    assert [r[0] for r in expected] == [2, 3, 5, 7, 8]
    assert window_target_diff(store, *DAY) == (5, expected)
    assert store.clean_target_diff(*DAY, sample=2)[0] == 5
    assert store.clean_target_diff(*DAY, sample=2)[1]["data_id"].tolist() == [2, 3]
    assert window_target_diff(store, *DAY, limit=3) is None  # more than the limit: the join answers
    assert window_target_diff(store, *ALL_HISTORY) is None
    next_day = (DAY[1], DAY[1] + dt.timedelta(days=1))
    assert window_target_diff(store, *next_day) == (1, [tuple(r) for r in _joined_diff(store, *next_day)])
