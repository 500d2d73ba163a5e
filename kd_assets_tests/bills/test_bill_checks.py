"""Checks that fit bills: every live line carries its bill's one header; unique (bill, entry)."""

from __future__ import annotations

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
