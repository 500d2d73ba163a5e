"""Content verification inside the reconciliation job: real runs against the simulator and
MariaDB/SQLite. The source changes without stamping anything (a DBA's UPDATE); the run's
materialization and check say what was compared and healed."""

from __future__ import annotations

import dagster as dg

from kd_assets.sync.store import TargetStore, create_target_engine
from kd_assets_tests.defs.forms import RECONCILIATION, SPEC
from kd_assets_tests.defs.reconcile_harness import check_evaluation, fast_resources, run_reconcile, values
from kd_assets_tests.defs.sync_harness import materialization, sync
from kd_assets_tests.sync.reconcile_scenario import (  # noqa: F401 (client, sim: fixtures)
    assert_target_equals_source, client, sim,
)
from kd_assets_tests.sync.verify_scenario import plain_customers, silent_update, source_row

WARN = dg.AssetCheckSeverity.WARN


def test_a_full_verify_run_heals_a_silent_edit_and_warns(sim, client, target_url):
    res = fast_resources(sim, target_url)
    assert run_reconcile(res).success  # loads the empty target
    store = TargetStore(create_target_engine(target_url), SPEC)
    key = plain_customers(client, 12)[-1]
    was_group = source_row(client, key, "FIsGroup")["FIsGroup"]
    silent_update(sim, key, FName="直接改库有限公司", FIsGroup=not was_group)

    result = run_reconcile(res, full_content_verify=True)

    evaluation = check_evaluation(result)
    assert (evaluation.passed, evaluation.severity) == (False, WARN)
    meta = values(evaluation.metadata)
    assert {k: meta[k] for k in ("content_checked", "content_differs", "content_healed", "unresolved")} == {
        "content_checked": 300, "content_differs": 1, "content_healed": 1, "unresolved": 0}
    assert meta["content_healed_samples"] == [{"key": key, "columns": ["customer_name", "is_group"]}]
    assert meta["content_scope"] == "every FCUSTID" and meta["status"] == "healed"
    assert "1 differed" in evaluation.description
    log = store.read_sync_log(asset=RECONCILIATION, limit=1).iloc[0]
    assert (log.status, log.updated) == ("healed", 1)
    assert_target_equals_source(client, store)

    again = check_evaluation(run_reconcile(res, full_content_verify=True))
    assert again.passed and values(again.metadata)["content_differs"] == 0


def test_a_daily_run_verifies_todays_slice(sim, sqlite_url, monkeypatch):
    monkeypatch.setenv("KD_VERIFY_DAYS", "3")
    res = fast_resources(sim, sqlite_url)
    assert run_reconcile(res).success

    meta = materialization(run_reconcile(res), RECONCILIATION)

    assert meta["content_scope"].startswith("slice ") and " of 3: " in meta["content_scope"]
    assert meta["content_source_rows"] == meta["content_checked"] == 100
    assert meta["content_differs"] == 0


def test_kd_verify_days_one_verifies_every_row_daily_and_zero_turns_it_off(sim, sqlite_url, monkeypatch):
    res = fast_resources(sim, sqlite_url)
    monkeypatch.setenv("KD_VERIFY_DAYS", "1")
    daily = materialization(run_reconcile(res), RECONCILIATION)
    monkeypatch.setenv("KD_VERIFY_DAYS", "0")

    off = materialization(run_reconcile(res), RECONCILIATION)

    assert daily["content_scope"] == "every FCUSTID" and daily["content_source_rows"] == 300
    assert "content_checked" not in off


def test_a_table_synced_by_partitions_has_no_false_differences(simulator_factory, target_url):
    dirty = simulator_factory(customers=320, seed=5, clock_start="2024-03-01 12:00:00", dirty_share=0.02,
                              history_days=90)
    res = fast_resources(dirty, target_url)
    assert sync(res, first="2024-01-01", last="2024-02-29").success
    assert run_reconcile(res).success  # rows changed before the first partition

    meta = materialization(run_reconcile(res, full_content_verify=True), RECONCILIATION)

    assert meta["content_source_rows"] == 320 and meta["content_checked"] > 290
    assert (meta["content_differs"], meta["content_known_rejects"] > 0, meta["content_quarantined"]) == (0, True, 0)
