"""Reconciliation makes invisible rows and allocations visible: per-use-org figures, a use-org that
vanished at once (a data-permission change) withholds the deletes, and allocated copies stamped in
the past are inserted. Against the simulator over HTTP and a real target (MariaDB and SQLite)."""

from __future__ import annotations

from collections import Counter

import pandas as pd
import pytest

from kd_assets.sync.reconcile import reconcile
from kd_assets_tests.sync.allocation_scenario import allocatable_masters, allocate, set_visible_orgs
from kd_assets_tests.sync.reconcile_scenario import (  # noqa: F401 (client, sim: fixtures)
    SPEC, assert_target_equals_source, client, deleted_keys, live_target_rows, sim, source_state,
)


@pytest.fixture
def loaded(client, store):
    report = reconcile(client, store, SPEC, "initial-load")
    assert report.heal.upserted.inserted == 300
    return store


def source_orgs(client) -> Counter:
    rows = [r for page in client.iter_keys(SPEC.form_id, key_field=SPEC.key_field,
                                           extra_fields=["FUseOrgId.FNumber"]) for r in page]
    return Counter(r[1] for r in rows)


def test_rows_are_counted_per_use_org_on_both_sides(client, loaded):
    report = reconcile(client, loaded, SPEC, "reconcile-1")

    orgs = source_orgs(client)
    assert len(orgs) == 4
    assert report.use_orgs.rows() == [
        {"use_org": org, "source_rows": n, "target_live_rows": n, "missing_in_target": 0, "deleted_at_source": 0}
        for org, n in sorted(orgs.items())]
    assert report.orgs_missing_at_source == []


def test_a_use_org_hidden_by_a_permission_change_is_reported_and_not_soft_deleted(sim, client, loaded):
    hidden = source_orgs(client)["103"]
    assert hidden / 300 < 0.10  # a share the delete guard below lets through for ordinary deletes
    set_visible_orgs(sim, "100,101,102")

    report = reconcile(client, loaded, SPEC, "reconcile-1", max_delete_share=0.10)

    assert report.orgs_missing_at_source == ["103"]
    assert {"use_org": "103", "source_rows": 0, "target_live_rows": hidden, "missing_in_target": 0,
            "deleted_at_source": hidden} in report.use_orgs.rows()
    assert report.soft_deleted == 0 and not report.deletes_applied and report.status == "withheld"
    assert "use-org 103" in report.deletes_withheld and "data permissions" in report.deletes_withheld
    assert "Use-orgs absent from the source: 103" in report.summary()
    assert deleted_keys(loaded) == set()

    set_visible_orgs(sim, None)  # permissions restored: nothing was lost
    again = reconcile(client, loaded, SPEC, "reconcile-2")
    assert again.status == "in_sync" and again.orgs_missing_at_source == []


def test_a_use_org_that_is_really_gone_is_deleted_with_max_delete_share_1(sim, client, loaded):
    hidden = source_orgs(client)["103"]
    set_visible_orgs(sim, "100,101,102")

    report = reconcile(client, loaded, SPEC, "reconcile-1", max_delete_share=1)

    assert report.soft_deleted == hidden and report.deletes_withheld is None
    assert report.orgs_missing_at_source == ["103"]


def test_a_small_use_org_whose_rows_all_went_is_soft_deleted_but_named(sim, client, loaded):
    copies = allocate(sim, allocatable_masters(client, 3))
    reconcile(client, loaded, SPEC, "reconcile-1")
    set_visible_orgs(sim, "100,101,102,103")

    report = reconcile(client, loaded, SPEC, "reconcile-2")

    # Three rows are at most KD_DELETE_GUARD_MIN_ROWS: they are deleted like any three rows, but the
    # report names the use-org so that a permission change is still noticed.
    assert report.soft_deleted == 3 and deleted_keys(loaded) == set(copies)
    assert report.orgs_missing_at_source == ["T00"] and report.deletes_withheld is None


def test_allocated_copies_stamped_in_the_past_are_inserted_and_counted(sim, client, loaded):
    masters = allocatable_masters(client, 2)
    copies = allocate(sim, masters)
    newest = live_target_rows(loaded)["change_time"].max()
    state = source_state(client).set_index("key")
    assert all(pd.Timestamp(state.loc[k, "FModifyDate"]) < newest for k in copies)  # born in the past

    report = reconcile(client, loaded, SPEC, "reconcile-1")

    assert report.counts["missing_in_target"] == report.missing_older_than_watermark == 2
    assert report.healed_missing_older_than_watermark == report.heal.upserted.inserted == 2
    assert report.samples["missing_in_target"] == copies
    assert {"use_org": "T00", "source_rows": 2, "target_live_rows": 0, "missing_in_target": 2,
            "deleted_at_source": 0} in report.use_orgs.rows()
    assert "2 missing rows were older than the target's newest change time" in report.summary()
    rows = live_target_rows(loaded).set_index("data_id")
    assert [rows.loc[k, "using_org"] for k in copies] == ["T00", "T00"]
    assert list(rows.loc[copies, "master_id"]) == masters
    assert_target_equals_source(client, loaded)
