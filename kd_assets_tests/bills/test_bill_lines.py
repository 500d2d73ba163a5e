"""Lines replaced per bill on MariaDB and SQLite: adds, edits, removals, no-line bills, and an
older run that can neither resurrect a removed line nor remove a newer version's lines."""

from __future__ import annotations

from kd_assets.sync.schemas import validate
from kd_assets.sync.transform import to_frame

from .conftest import (
    FORM, NOW, SPEC, advance, fetch, land, line, live_lines, new_bill, source_lines, stage_and_publish, sync,
)

VALUE_COLUMNS = ["bill_no", "document_status", "material_number", "qty", "price", "all_amount", "stock_out_qty"]


def assert_target_is_source(client, store):
    source, live = source_lines(client), live_lines(store)
    assert sorted(live) == sorted(source)
    fields = SPEC.field_keys
    for key, row in source.items():
        got = live[key]
        assert got.bill_no == row[fields.index("FBillNo")]
        assert got.material_number == row[fields.index("FMaterialId.FNumber")]
        qty = row[fields.index("FQty")]
        assert (got.qty is None and qty is None) or float(got.qty) == qty


def lines_of(client, bill):
    return [r for r in fetch(client) if r[0] == bill]


def test_a_first_sync_publishes_every_line_and_bills_straddling_chunks(sim, client, lines_store):
    counts = sync(client, lines_store, "run-1")
    assert counts.inserted == len(source_lines(client)) > 40 and counts.lines_removed == 0
    assert_target_is_source(client, lines_store)
    assert sync(client, lines_store, "run-2").unchanged == counts.inserted


def test_line_add_edit_and_remove_reach_the_target_and_removed_lines_are_soft_deleted(sim, client, lines_store):
    bill = new_bill(client, 4)
    sync(client, lines_store, "run-1")
    entries = [r[SPEC.field_keys.index("FSaleOrderEntry_FEntryID")] for r in lines_of(client, bill)]
    advance(sim)
    client.save(FORM, {"FID": bill, "FSaleOrderEntry": [
        {"FEntryID": entries[0], **line("MAT000001", 9, 10.5)},   # edited
        {"FEntryID": entries[2]},                                 # kept as is
        line("MAT000009", 1, 2.0)]})                              # added; entries 1 and 3 removed
    counts = sync(client, lines_store, "run-2")
    assert counts.lines_removed == 2 and counts.inserted == 1
    assert_target_is_source(client, lines_store)
    target = lines_store.read_target()
    gone = target[target["entry_id"].isin([entries[1], entries[3]])]
    assert gone["is_deleted"].all() and gone["deleted_at"].notna().all() and (gone["run_id"] == "run-2").all()
    assert float(live_lines(lines_store)[(bill, entries[0])].qty) == 9
    assert sync(client, lines_store, "run-3").lines_removed == 0


def test_a_bill_emptied_then_refilled_is_kept_as_a_header_row_in_between(sim, client, lines_store):
    bill = new_bill(client, 2)
    sync(client, lines_store, "run-1")
    advance(sim)
    client.save(FORM, {"FID": bill, "FSaleOrderEntry": [{}]})
    assert sync(client, lines_store, "run-2").lines_removed == 2
    assert [k for k in live_lines(lines_store) if k[0] == bill] == [(bill, 0)]
    advance(sim)
    client.save(FORM, {"FID": bill, "FSaleOrderEntry": [line("MAT000003", 3, 1.0)]})
    assert sync(client, lines_store, "run-3").lines_removed == 1  # the header row gives way
    assert_target_is_source(client, lines_store)


def test_a_long_bill_straddling_publish_chunks_loses_exactly_its_removed_lines(sim, client, lines_store):
    # 130 lines over chunks of 40: each chunk publishes part of the bill, none may retire the rest.
    bill = client.save(FORM, {"FCustId": {"FNumber": "CUST000002"}, "FDate": "2025-07-01", "FSaleOrderEntry": [
        line(f"MAT{i % 9 + 1:06d}", i + 1, 1.5) for i in range(130)]})["Id"]
    assert sync(client, lines_store, "run-1").lines_removed == 0
    entries = [r[SPEC.field_keys.index("FSaleOrderEntry_FEntryID")] for r in lines_of(client, bill)]
    advance(sim)
    client.save(FORM, {"FID": bill, "FSaleOrderEntry": [{"FEntryID": e} for e in entries[::2]]})

    assert sync(client, lines_store, "run-2").lines_removed == 65

    assert sorted(e for b, e in live_lines(lines_store) if b == bill) == entries[::2]
    assert_target_is_source(client, lines_store)
    assert sync(client, lines_store, "run-3").lines_removed == 0


def test_an_older_run_cannot_resurrect_a_removed_line_nor_remove_the_newer_lines(sim, client, lines_store):
    bill = new_bill(client, 3)
    sync(client, lines_store, "run-1")
    old_rows = lines_of(client, bill)  # what a slow run fetched before the edit
    advance(sim)
    entries = [r[SPEC.field_keys.index("FSaleOrderEntry_FEntryID")] for r in old_rows]
    client.save(FORM, {"FID": bill, "FSaleOrderEntry": [{"FEntryID": entries[0]}, line("MAT000007", 7, 7.0)]})
    assert sync(client, lines_store, "run-new").lines_removed == 2
    after_new = live_lines(lines_store)

    stale = validate(SPEC, to_frame(SPEC, old_rows), NOW).clean
    counts = lines_store.upsert_target(stale, "run-old")  # the slow run publishes last
    assert counts.skipped_older == 3 and counts.inserted == counts.updated == counts.lines_removed == 0
    assert live_lines(lines_store).keys() == after_new.keys()
    assert_target_is_source(client, lines_store)


def test_lines_a_broken_fetch_never_landed_come_back_with_the_next_fetch_of_their_version(sim, client, lines_store):
    # A slow run fetches a bill's version; the bill is saved again; a second run's fetch breaks after
    # its first page, landing only some lines of the newer version; then the slow run lands and
    # publishes. The lines the broken fetch never landed are retired on that partial evidence, but
    # the newer version itself must bring them back (not only the next reconciliation).
    bill = new_bill(client, 5)
    sync(client, lines_store, "run-1")
    advance(sim)
    client.save(FORM, {"FID": bill, "FSaleOrderEntry": [{"FEntryID": r[SPEC.field_keys.index(
        "FSaleOrderEntry_FEntryID")], "FQty": 2.0} for r in lines_of(client, bill)]})
    slow = lines_of(client, bill)
    advance(sim)
    client.save(FORM, {"FID": bill, "FSaleOrderEntry": [{"FEntryID": r[SPEC.field_keys.index(
        "FSaleOrderEntry_FEntryID")], "FQty": 3.0} for r in slow]})
    land(lines_store, lines_of(client, bill)[:2], "run-broken")  # its first page, then the fetch broke
    land(lines_store, slow, "run-slow")
    stage_and_publish(lines_store, "run-slow")
    assert len([k for k in live_lines(lines_store) if k[0] == bill]) == 2  # retired on partial evidence

    sync(client, lines_store, "run-next")

    assert_target_is_source(client, lines_store)
    assert {float(v.qty) for k, v in live_lines(lines_store).items() if k[0] == bill} == {3.0}


def test_rejected_lines_name_their_bill_number_in_every_reason(sim, client, lines_store):
    bill = new_bill(client, 2)
    client.save(FORM, {"FID": bill, "FSaleOrderEntry": [line("MAT000001", -1, 10.0), line("MAT000002", 1, -2.0)]})
    land(lines_store, fetch(client), "run-1")
    _, rejects = stage_and_publish(lines_store, "run-1")
    number = lines_of(client, bill)[0][1]
    mine = [r for frame in rejects for r in frame.itertuples() if any(x["bill_no"] == number for x in r.reasons)]
    assert len(mine) == 2
    for reject in mine:
        assert all(x["bill_no"] == number and x["bill_id"] == str(bill) for x in reject.reasons)
    assert lines_store.quarantine_count() >= 2
