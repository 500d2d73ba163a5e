"""Reconciliation against the simulator (HTTP) and a real target (MariaDB and SQLite).

Each test first loads the whole source into the empty target with a reconciliation (every key
is missing there), then changes the source through Kingdee's protocol in the ways incremental
syncs cannot see, and reconciles again.
"""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest

from kd_assets.sync.reconcile import SourceScanError, delete_guard, max_delete_share_from_env, reconcile
from kd_assets_tests.sync.reconcile_scenario import (  # noqa: F401 (client, sim: fixtures)
    CLOCK, FORM, PASS, SPEC, assert_target_equals_source, client, deleted_keys, delete_many_at_source,
    inject_faults, kingdee_client, live_target_rows, make_hidden_changes, sim, source_state,
)

KINDS = ("missing_in_target", "stale_in_target", "status_drift", "deleted_at_source")


@pytest.fixture
def loaded(client, store):
    """The target after a first reconciliation loaded all 300 source rows into it."""
    report = reconcile(client, store, SPEC, "initial-load")
    assert report.counts["missing_in_target"] == report.heal.upserted.inserted == 300
    return store


def test_first_reconciliation_fills_an_empty_target_with_the_source(client, loaded):
    assert_target_equals_source(client, loaded)


def test_hidden_changes_are_healed_and_source_deletes_soft_deleted(client, loaded):
    edits = make_hidden_changes(client, loaded)

    report = reconcile(client, loaded, SPEC, "reconcile-1")

    assert {k: report.counts[k] for k in KINDS} == {
        "missing_in_target": 1, "stale_in_target": 1, "status_drift": 2, "deleted_at_source": 3}
    assert report.samples == {
        "missing_in_target": [edits.missing_in_target], "stale_in_target": [edits.stale_in_target],
        "status_drift": sorted([edits.enabled, edits.unaudited]), "deleted_at_source": edits.deleted_at_source}
    assert (report.source_rows, report.target_rows, report.target_live) == (297, 299, 299)
    assert report.heal.upserted.inserted == 1 and report.heal.upserted.updated == 3
    assert report.soft_deleted == 3 and report.deletes_applied and report.deletes_withheld is None
    assert report.status == "healed" and report.unresolved == 0
    assert deleted_keys(loaded) == set(edits.deleted_at_source)
    assert_target_equals_source(client, loaded)


def test_enable_and_unaudit_overwrite_a_newer_stored_change_time(client, loaded):
    edits = make_hidden_changes(client, loaded)

    reconcile(client, loaded, SPEC, "reconcile-1")

    rows = live_target_rows(loaded).set_index("data_id")
    assert rows.loc[edits.enabled, "forbid_status"] == "A"
    assert pd.isna(rows.loc[edits.enabled, "forbidden_at"])
    assert rows.loc[edits.unaudited, "document_status"] == "D"
    assert pd.isna(rows.loc[edits.unaudited, "approved_at"])


def test_second_reconciliation_finds_nothing(client, loaded):
    make_hidden_changes(client, loaded)
    reconcile(client, loaded, SPEC, "reconcile-1")

    again = reconcile(client, loaded, SPEC, "reconcile-2")

    assert again.differences == 0 and again.status == "in_sync"
    assert (again.source_rows, again.target_rows, again.target_live) == (297, 300, 297)


def test_a_deleted_customer_recreated_under_its_key_is_revived(client, loaded):
    # Kingdee never reuses a key; a soft-deleted row the source still has (a restore, or a wrong
    # delete) is revived by the next reconciliation.
    key = int(source_state(client)["key"].iloc[0])
    loaded.soft_delete([key], "mistake")

    report = reconcile(client, loaded, SPEC, "reconcile-1")

    assert report.samples["missing_in_target"] == [key]
    assert key not in deleted_keys(loaded)
    assert_target_equals_source(client, loaded)


def test_mass_delete_at_the_source_is_withheld(client, loaded):
    delete_many_at_source(client, 30)  # 10% of 300
    make_hidden_changes(client, loaded, n_deletes=0)

    report = reconcile(client, loaded, SPEC, "reconcile-1")

    assert report.counts["deleted_at_source"] == 30 and report.soft_deleted == 0
    assert not report.deletes_applied and report.status == "withheld" and report.unresolved == 30
    assert "30 of 299 live target rows (10.0%)" in report.deletes_withheld
    assert "KD_MAX_DELETE_SHARE=5.0%" in report.deletes_withheld
    assert deleted_keys(loaded) == set()
    assert report.heal.changed == 4, "healing does not depend on the delete guard"


def test_a_higher_share_for_one_run_applies_a_real_mass_delete(client, loaded):
    doomed = delete_many_at_source(client, 30)

    report = reconcile(client, loaded, SPEC, "reconcile-1", max_delete_share=0.2)

    assert report.soft_deleted == 30 and deleted_keys(loaded) == set(doomed)


def test_a_scan_that_returns_nothing_deletes_nothing(client, loaded):
    hidden = dataclasses.replace(SPEC, extra_filter="FCUSTID < 0")  # e.g. a lost data permission

    report = reconcile(client, loaded, hidden, "reconcile-1")

    assert report.source_rows == 0 and report.counts["deleted_at_source"] == 300
    assert "no rows" in report.deletes_withheld and deleted_keys(loaded) == set()


def test_a_key_the_scan_missed_but_a_fetch_by_key_finds_is_not_deleted(client, loaded):
    key = int(source_state(client)["key"].iloc[5])
    blind = dataclasses.replace(SPEC, extra_filter=f"FCUSTID <> {key}")

    report = reconcile(client, loaded, blind, "reconcile-1")

    assert report.samples["deleted_at_source"] == [key]
    assert (report.reappeared, report.soft_deleted) == (1, 0) and report.unresolved == 0
    assert deleted_keys(loaded) == set()


def test_a_scan_that_fails_midway_heals_and_deletes_nothing(sim, loaded):
    with kingdee_client(sim) as c:
        edits = make_hidden_changes(c, loaded)
    before = live_target_rows(loaded)
    inject_faults(sim, PASS, "http_500", "http_500", "http_500")  # page 2 fails past the retries

    with kingdee_client(sim, page_size=50) as c, pytest.raises(SourceScanError) as failure:
        reconcile(c, loaded, SPEC, "reconcile-1")

    message = str(failure.value)
    assert f"{FORM}: key scan failed after 50 rows" in message and "Nothing was" in message
    assert deleted_keys(loaded) == set()
    assert live_target_rows(loaded).equals(before)
    assert edits.missing_in_target not in set(before["data_id"])


def test_dry_run_reports_and_changes_nothing(client, loaded):
    make_hidden_changes(client, loaded)
    before = live_target_rows(loaded)

    report = reconcile(client, loaded, SPEC, "dry-run", apply=False)

    assert report.differences == 7 and report.unresolved == 7 and report.status == "unresolved"
    assert report.heal.changed == 0 and not report.deletes_applied
    assert live_target_rows(loaded).equals(before) and deleted_keys(loaded) == set()


def test_known_rejects_are_reported_but_not_fetched_again(simulator_factory, store):
    dirty = simulator_factory(customers=300, seed=7, clock_start=CLOCK, dirty_share=0.05)
    with kingdee_client(dirty) as c:
        first = reconcile(c, store, SPEC, "initial-load")
        second = reconcile(c, store, SPEC, "reconcile-1")

    assert first.heal.quarantined > 0 and first.status == "healed"
    assert second.heal.known_rejects == first.heal.quarantined == second.counts["missing_in_target"]
    assert second.heal.quarantined == 0 and second.heal.changed == 0
    assert second.status == "in_sync" and second.unresolved == 0


@pytest.mark.parametrize("candidates, live, source, withheld", [
    (0, 300, 0, False),      # nothing to delete
    (3, 300, 297, False),    # an ordinary day
    (10, 40, 30, False),     # a small table may lose up to KD_DELETE_GUARD_MIN_ROWS at once
    (11, 40, 29, True),      # … but not more, when that is over the share
    (16, 300, 284, True),    # over 5%
    (3, 3, 0, True),         # an empty scan never deletes, however small the table
])
def test_delete_guard(candidates, live, source, withheld):
    reason = delete_guard(candidates, live, source, max_share=0.05, min_rows=10)
    assert (reason is not None) == withheld


def test_max_delete_share_is_read_and_checked_from_the_environment():
    assert max_delete_share_from_env({}) == 0.05
    assert max_delete_share_from_env({"KD_MAX_DELETE_SHARE": "0.2"}) == 0.2
    with pytest.raises(ValueError, match="KD_MAX_DELETE_SHARE"):
        max_delete_share_from_env({"KD_MAX_DELETE_SHARE": "5%"})
