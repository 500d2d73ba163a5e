"""Reconciliation and content verification of a lines table: deleted bills, lines a sync missed,
write-backs that move no change time; bills and line counts in the report."""

from __future__ import annotations

import pandas as pd
import requests

from kd_assets.sync.reconcile import reconcile
from kd_assets.sync.verify import verify_content
from kd_assets.sync.verify_scope import FULL_SCOPE

from .conftest import FORM, NOW, SPEC, advance, live_lines, new_bill, source_lines, sync
from .test_bill_lines import assert_target_is_source

TODAY = pd.Timestamp(NOW)


def test_a_bill_deleted_at_the_source_is_soft_deleted_by_reconciliation(sim, client, lines_store):
    doomed, kept = new_bill(client, 4), new_bill(client, 2)
    sync(client, lines_store, "run-1")
    assert client.delete(FORM, [doomed])["ResponseStatus"]["IsSuccess"]
    sync(client, lines_store, "run-2")  # an incremental run cannot see a delete
    assert any(k[0] == doomed for k in live_lines(lines_store))

    report = reconcile(client, lines_store, SPEC, "rec-1", now=TODAY, delete_guard_min_rows=10)
    assert report.counts["deleted_at_source"] == 4 and report.soft_deleted == 4
    assert report.bills.line_sets_differ == 1 and report.bills.target == report.bills.source + 1
    assert "Bills:" in report.summary()
    assert not any(k[0] == doomed for k in live_lines(lines_store))
    assert any(k[0] == kept for k in live_lines(lines_store))
    assert_target_is_source(client, lines_store)
    again = reconcile(client, lines_store, SPEC, "rec-2", now=TODAY)
    assert again.differences == 0 and again.bills.source == again.bills.target


def test_a_line_removed_by_an_edit_no_sync_saw_is_soft_deleted_and_a_missing_bill_healed(sim, client, lines_store):
    bill = new_bill(client, 3)
    sync(client, lines_store, "run-1")
    entries = sorted(k[1] for k in source_lines(client) if k[0] == bill)
    advance(sim)
    client.save(FORM, {"FID": bill, "FSaleOrderEntry": [{"FEntryID": entries[0]}, {"FEntryID": entries[1]}]})
    late = new_bill(client, 2)  # never synced
    report = reconcile(client, lines_store, SPEC, "rec-1", now=TODAY)
    assert report.counts["deleted_at_source"] == 1 and report.counts["missing_in_target"] == 2
    assert report.bills.line_sets_differ == 2 and report.heal.changed >= 2
    assert (bill, entries[2]) not in live_lines(lines_store) and (late, 0) not in live_lines(lines_store)
    assert_target_is_source(client, lines_store)


def test_content_verification_catches_a_write_back_that_moved_no_change_time(sim, client, lines_store):
    bill = new_bill(client, 3)
    assert client.audit(FORM, [bill])["ResponseStatus"]["IsSuccess"]
    sync(client, lines_store, "run-1")
    advance(sim, 3600)
    answer = requests.post(sim.admin_url + f"forms/{FORM}/writeback", json={"ids": [bill], "share": 0.5},
                           timeout=10).json()
    assert answer["lines"] == 3
    assert reconcile(client, lines_store, SPEC, "rec-1", now=TODAY).differences == 0  # stamps unchanged

    report = verify_content(client, lines_store, SPEC, "verify-1", FULL_SCOPE, now=TODAY)
    assert report.differs == 3 and {s["columns"][0] for s in report.samples} == {"stock_out_qty"}
    assert report.heal.changed == 3 and report.missing_in_target == report.missing_at_source == 0
    live = live_lines(lines_store)
    assert sorted(float(r.stock_out_qty) for k, r in live.items() if k[0] == bill) == [0.5, 1.0, 1.5]
    assert verify_content(client, lines_store, SPEC, "verify-2", FULL_SCOPE, now=TODAY).differs == 0


def test_a_content_slice_of_a_bill_spec_asks_kingdee_for_whole_bills(sim, client, lines_store):
    from kd_assets.sync.billspec import bill_range
    from kd_assets.sync.verify_scope import ContentScope
    sync(client, lines_store, "run-1")
    lo, hi = bill_range(100003)[0] + 5, bill_range(100007)[0] + 2
    scope = ContentScope(lo, hi, 1, 3).for_bills()
    assert scope.kingdee_filter(SPEC) == "(FID >= 100003) and (FID < 100007)"
    report = verify_content(client, lines_store, SPEC, "verify-1", scope, now=TODAY)
    lines = [k for k in source_lines(client) if 100003 <= k[0] < 100007]
    assert report.checked == report.source_rows == len(lines) and report.differs == 0
