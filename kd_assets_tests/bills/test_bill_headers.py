"""A bill as a header table plus a lines table (``layout: header_and_lines``) on MariaDB and SQLite:
the two tables' shape, bills without lines, versions guarded per bill, deletes found by
reconciliation, and the check that every live line has its bill's live header."""

from __future__ import annotations

import pandas as pd
import pytest
import sqlalchemy as sa

from kd_assets.sync.billchecks import duplicate_lines, headerless_bills
from kd_assets.sync.reconcile import reconcile
from kd_assets.sync.schemas import validate
from kd_assets.sync.store import TargetStore, create_target_engine
from kd_assets.sync.transform import to_frame

from .conftest import EVER, FORM, NOW, SPEC, advance, fetch, line, new_bill, source_lines, sync
from .split import SPLIT, split_spec, split_store

TODAY = pd.Timestamp(NOW)
ENTRY = SPEC.field_keys.index("FSaleOrderEntry_FEntryID")


@pytest.fixture
def store(target_url):
    store = split_store(target_url)
    yield store
    store.engine.dispose()


def table(store, t: sa.Table) -> pd.DataFrame:
    with store.engine.connect() as conn:
        return pd.DataFrame(conn.execute(sa.select(t)).all(), columns=[c.name for c in t.columns])


def headers(store) -> pd.DataFrame:
    return table(store, store.tables.headers).set_index("bill_id")


def lines(store) -> pd.DataFrame:
    return table(store, store.tables.target)


def live(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[~frame["is_deleted"].astype(bool)]


def assert_tables_are_source(client, store):
    """Live headers are the source's bills with their header values; live lines its lines."""
    rows, fields = fetch(client), SPEC.field_keys
    heads, got = live(headers(store)), live(lines(store))
    assert sorted(heads.index) == sorted({r[0] for r in rows})
    for r in rows:
        assert heads.loc[r[0], "bill_no"] == r[fields.index("FBillNo")]
        assert heads.loc[r[0], "document_status"] == r[fields.index("FDocumentStatus")]
    assert sorted(zip(got["bill_id"], got["entry_id"])) == sorted((r[0], r[ENTRY]) for r in rows if r[ENTRY])
    qty = dict(zip(zip(got["bill_id"], got["entry_id"]), got["qty"]))
    assert all(float(qty[(r[0], r[ENTRY])]) == float(r[fields.index("FQty")]) for r in rows if r[ENTRY])


def test_headers_hold_one_row_per_bill_and_lines_only_line_columns(sim, client, store):
    sync(client, store, "run-1")
    assert set(store.tables.headers.c.keys()) >= {"bill_id", "bill_no", "document_status", "modified_at"}
    assert not set(store.tables.headers.c.keys()) & {"entry_id", "qty", "line_key"}
    assert set(store.tables.target.c.keys()) >= {"line_key", "bill_id", "entry_id", "qty", "change_time"}
    assert not set(store.tables.target.c.keys()) & {"bill_no", "document_status", "modified_at"}
    assert [c.name for c in store.tables.headers.primary_key.columns] == ["bill_id"]
    assert_tables_are_source(client, store)
    assert headerless_bills(store).passed and duplicate_lines(store).passed


def test_the_spec_names_the_header_table_and_ensure_tables_creates_both(target_url):
    engine = create_target_engine(target_url)
    store = TargetStore(engine, split_spec(headers="sale_orders"))
    changes = store.ensure_tables()
    assert "created table sale_orders" in changes and "created table wk_wodtop_sale_order_line" in changes
    assert store.ensure_tables() == []
    engine.dispose()


def test_a_bill_without_lines_keeps_its_header_and_has_no_line_rows(sim, client, store):
    bill = new_bill(client, 2)
    sync(client, store, "run-1")
    advance(sim)
    client.save(FORM, {"FID": bill, "FSaleOrderEntry": [{}]})
    assert sync(client, store, "run-2").lines_removed == 2
    assert not live(lines(store)).query("bill_id == @bill").shape[0]
    head = headers(store).loc[bill]
    assert not head["is_deleted"] and head["change_time"] == NOW.replace(minute=1)
    assert sync(client, store, "run-3").unchanged == len(fetch(client))
    advance(sim)
    client.save(FORM, {"FID": bill, "FSaleOrderEntry": [line("MAT000003", 3, 1.0)]})
    sync(client, store, "run-4")
    assert live(lines(store)).query("bill_id == @bill")["material_number"].tolist() == ["MAT000003"]
    assert_tables_are_source(client, store)
    assert headerless_bills(store).passed


def test_an_older_run_overwrites_neither_the_header_nor_the_lines_of_a_newer_version(sim, client, store):
    bill = new_bill(client, 3)
    sync(client, store, "run-1")
    old_rows = [r for r in fetch(client) if r[0] == bill]
    advance(sim)
    client.save(FORM, {"FID": bill, "FCustId": {"FNumber": "CUST000005"},
                       "FSaleOrderEntry": [{"FEntryID": old_rows[0][ENTRY]}]})
    assert sync(client, store, "run-new").lines_removed == 2
    stale = validate(SPEC, to_frame(SPEC, old_rows), NOW).clean
    counts = store.upsert_target(stale, "run-old")
    assert counts.skipped_older == 3 and counts.inserted == counts.updated == counts.lines_removed == 0
    assert headers(store).loc[bill, "customer_number"] == "CUST000005"
    assert headers(store).loc[bill, "run_id"] == "run-new"
    assert live(lines(store)).query("bill_id == @bill").shape[0] == 1
    assert_tables_are_source(client, store)


def test_reconciliation_soft_deletes_the_header_and_lines_of_deleted_bills_only(sim, client, store):
    doomed, empty, kept = new_bill(client, 3), new_bill(client, 1), new_bill(client, 3)
    client.save(FORM, {"FID": empty, "FSaleOrderEntry": [{}]})
    sync(client, store, "run-1")
    entries = sorted(r[ENTRY] for r in fetch(client) if r[0] == kept)
    assert client.delete(FORM, [doomed, empty])["ResponseStatus"]["IsSuccess"]
    advance(sim)
    client.save(FORM, {"FID": kept, "FSaleOrderEntry": [{"FEntryID": e} for e in entries[:2]]})
    report = reconcile(client, store, SPLIT, "rec-1", now=TODAY)
    # 3 lines of the deleted bill, the one row of the deleted bill without lines, and the kept
    # bill's removed line, which publishing the kept bill's new version (healing its stale lines)
    # has soft-deleted before the deletes run.
    assert report.counts["deleted_at_source"] == 5 and report.soft_deleted == 4
    assert report.bills.source == report.bills.target - 2
    heads = headers(store)
    assert heads.loc[doomed, "is_deleted"] and heads.loc[empty, "is_deleted"] and not heads.loc[kept, "is_deleted"]
    assert heads.loc[doomed, "run_id"] == "rec-1"
    assert not live(lines(store)).query("bill_id == @doomed").shape[0]
    assert_tables_are_source(client, store)
    again = reconcile(client, store, SPLIT, "rec-2", now=TODAY)
    assert again.differences == 0 and again.bills.source == again.bills.target and again.status == "in_sync"


def test_a_line_gone_without_a_new_stamp_is_deleted_and_its_bill_keeps_its_header(sim, client, store):
    bill = new_bill(client, 2)
    sync(client, store, "run-1")
    entries = sorted(r[ENTRY] for r in fetch(client) if r[0] == bill)
    t = store.tables.target
    with store.engine.begin() as conn:  # a line the source never had (a DBA insert long gone)
        conn.execute(t.insert().values(line_key=(bill << 31) + entries[-1] + 7, bill_id=bill,
                                       entry_id=entries[-1] + 7, change_time=NOW, is_deleted=False))
    report = reconcile(client, store, SPLIT, "rec-1", now=TODAY)
    assert report.counts["deleted_at_source"] == 1 and report.soft_deleted == 1
    assert not headers(store).loc[bill, "is_deleted"]
    assert_tables_are_source(client, store)


def test_every_live_line_needs_its_bills_live_header_at_the_same_version(sim, client, store):
    orphan, torn = new_bill(client, 2), new_bill(client, 3)
    sync(client, store, "run-1")
    heads, t = store.tables.headers, store.tables.target
    with store.engine.begin() as conn:
        conn.execute(heads.update().where(heads.c.bill_id == orphan).values(is_deleted=True))
        first = conn.execute(sa.select(sa.func.min(t.c.line_key)).where(t.c.bill_id == torn)).scalar_one()
        conn.execute(t.update().where(t.c.line_key == first).values(change_time=NOW.replace(year=2026)))
    found = headerless_bills(store)
    assert found.failures == 2 and sorted(s["bill_id"] for s in found.samples) == sorted([orphan, torn])
    assert {s["bill_id"]: s["no_header"] for s in found.samples} == {orphan: 1, torn: 0}
    assert headerless_bills(store, EVER.start, EVER.end).failures == 2
    with store.engine.begin() as conn:
        conn.execute(t.update().where(t.c.bill_id.in_([orphan, torn])).values(is_deleted=True))
    assert headerless_bills(store).passed  # deleted lines are not held against a bill


def test_target_matches_clean_holds_for_bills_without_lines(sim, client, store):
    bill = new_bill(client, 1)
    client.save(FORM, {"FID": bill, "FSaleOrderEntry": [{}]})
    sync(client, store, "run-1")
    assert store.clean_target_diff(EVER.start, EVER.end)[0] == 0
    assert len(source_lines(client)) == len(store.read_target())
    with store.engine.begin() as conn:
        conn.execute(store.tables.headers.delete().where(store.tables.headers.c.bill_id == bill))
    missing, sample = store.clean_target_diff(EVER.start, EVER.end)
    assert missing == 1 and sample[store.key].tolist() == [bill << 31]
