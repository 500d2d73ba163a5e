"""Checks that fit bills: every live line carries its bill's one header; unique (bill, entry)."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from kd_assets.sync.billchecks import duplicate_lines, headerless_bills

from .conftest import EVER, new_bill, sync


def test_lines_without_one_header_are_found_per_bill(sim, client, lines_store):
    torn, emptied, blank = new_bill(client, 3), new_bill(client, 2), new_bill(client, 2)
    sync(client, lines_store, "run-1")
    assert headerless_bills(lines_store).passed and duplicate_lines(lines_store).passed
    t = lines_store.tables.target
    with lines_store.engine.begin() as conn:
        first = conn.execute(sa.select(sa.func.min(t.c.line_key)).where(t.c.bill_id == torn)).scalar_one()
        conn.execute(t.update().where(t.c.line_key == first).values(change_time=sa.func.now()))  # two versions
        first = conn.execute(sa.select(sa.func.min(t.c.line_key)).where(t.c.bill_id == emptied)).scalar_one()
        conn.execute(t.update().where(t.c.line_key == first).values(entry_id=0))  # header row beside lines
        conn.execute(t.update().where(t.c.bill_id == blank).values(bill_no=None))
    found = headerless_bills(lines_store)
    assert found.failures == 3 and sorted(s["bill_id"] for s in found.samples) == sorted([torn, emptied, blank])
    assert headerless_bills(lines_store, EVER.start, EVER.end).failures == 3
    with lines_store.engine.begin() as conn:
        conn.execute(t.update().where(t.c.bill_id.in_([torn, emptied, blank])).values(is_deleted=True))
    assert headerless_bills(lines_store).passed  # deleted lines are not held against a bill


def test_a_window_finds_the_torn_bills_changed_in_it_and_only_those(sim, client, lines_store):
    torn = new_bill(client, 3)
    sync(client, lines_store, "run-1")
    t = lines_store.tables.target
    with lines_store.engine.begin() as conn:
        changed = conn.execute(sa.select(sa.func.min(t.c.modified_at)).where(t.c.bill_id == torn)).scalar_one()
        newest = conn.execute(sa.select(sa.func.max(t.c.modified_at))).scalar_one()
        conn.execute(t.update().where(t.c.bill_id == torn).values(bill_no=None))
    found = headerless_bills(lines_store, changed, EVER.end)  # through the change_time index range
    assert found.failures == 1 and found.samples[0]["bill_id"] == torn
    assert headerless_bills(lines_store, newest + dt.timedelta(seconds=1), EVER.end).passed  # changed before


def test_duplicate_lines_are_found_where_no_unique_index_holds_them_off(sim, client, lines_store):
    bill = new_bill(client, 2)
    sync(client, lines_store, "run-1")
    t = lines_store.tables.target
    with lines_store.engine.begin() as conn:
        _unique_pair_index(t).drop(conn)  # a table made before the index
        row = conn.execute(sa.select(t).where(t.c.bill_id == bill).order_by(t.c.line_key).limit(1)).mappings().one()
        conn.execute(t.insert().values({**row, t.c.line_key.name: row["line_key"] + 10**9}))  # same (bill, entry)
    found = duplicate_lines(lines_store)
    assert found.failures == 1 and found.samples == [{"bill_id": bill, "entry_id": row["entry_id"], "rows": 2}]
    with lines_store.engine.begin() as conn:
        conn.execute(t.update().where(t.c.line_key == row["line_key"] + 10**9).values(is_deleted=True))
    assert duplicate_lines(lines_store).passed  # a deleted copy is no live duplicate


def test_with_the_unique_index_in_place_pairs_holding_a_null_are_still_counted(sim, client, lines_store):
    bill = new_bill(client, 2)
    sync(client, lines_store, "run-1")
    assert duplicate_lines(lines_store).passed  # index present, no pair with a NULL: nothing grouped
    t = lines_store.tables.target
    with lines_store.engine.begin() as conn:
        keys = conn.execute(sa.select(t.c.line_key).where(t.c.bill_id == bill)).scalars().all()
        conn.execute(t.update().where(t.c.line_key.in_(keys)).values(bill_id=None, entry_id=7))  # the index lets these by
    found = duplicate_lines(lines_store)
    assert found.failures == 1 and found.samples == [{"bill_id": None, "entry_id": 7, "rows": 2}]


def _unique_pair_index(t: sa.Table) -> sa.Index:
    return next(i for i in t.indexes if i.unique and [c.name for c in i.columns] == ["bill_id", "entry_id"])
