"""The reconciliation asset, its check, job and schedule: real runs against the simulator and
MariaDB/SQLite. The source is changed through Kingdee's protocol; the target only by syncs,
reconciliations and the direct edits a test needs (a lost row, a stale row)."""

from __future__ import annotations

import datetime as dt

import dagster as dg
import pandas as pd

from kd_assets_tests.defs.forms import CHECK, CLEAN, RAW, RECONCILIATION, SPEC, TARGET, reconcile_schedule
from kd_assets.sync.store import TargetStore, create_target_engine
from kd_assets_tests.defs.reconcile_harness import (
    JOB, check_evaluation, fast_resources, reconcile_defs, run_reconcile, values,
)
from kd_assets_tests.defs.sync_harness import SIM_CREDENTIALS, materialization, sync
from kd_assets_tests.sync.reconcile_scenario import (  # noqa: F401 (client, sim: fixtures)
    FORM, PASS, assert_target_equals_source, client, deleted_keys, delete_many_at_source,
    forbidden_on_a_partition_day, inject_faults, make_hidden_changes, sim,
)

WARN, ERROR = dg.AssetCheckSeverity.WARN, dg.AssetCheckSeverity.ERROR


def _store(url: str) -> TargetStore:
    store = TargetStore(create_target_engine(url), SPEC)
    store.ensure_tables()
    return store


def _loaded(sim, url: str, **kingdee_overrides) -> tuple[dict, TargetStore]:
    """Resources and a target loaded by a reconcile run (partitions only reach back to 2024)."""
    res = fast_resources(sim, url, **kingdee_overrides)
    assert run_reconcile(res).success
    return res, _store(url)


def test_reconcile_job_heals_soft_deletes_and_reports_each_difference(sim, client, target_url):
    res = fast_resources(sim, target_url)
    assert sync(res, first="2024-01-01", last="2024-03-01").success
    first = run_reconcile(res)  # nothing to bring: the first partition held the rows changed before it
    assert check_evaluation(first).passed
    store = _store(target_url)
    edits = make_hidden_changes(client, store)

    result = run_reconcile(res)

    assert result.success
    evaluation = check_evaluation(result)
    assert (evaluation.passed, evaluation.severity) == (False, WARN)
    meta = values(evaluation.metadata)
    assert {k: meta[k] for k in ("missing_in_target", "stale_in_target", "status_drift", "deleted_at_source",
                                 "healed", "soft_deleted", "unresolved")} == {
        "missing_in_target": 1, "stale_in_target": 1, "status_drift": 2, "deleted_at_source": 3,
        "healed": 4, "soft_deleted": 3, "unresolved": 0}
    assert meta["deleted_at_source_samples"] == edits.deleted_at_source
    assert meta["status_drift_samples"] == sorted([edits.enabled, edits.unaudited])
    assert meta["deletes_applied"] is True and meta["kingdee_calls"] > 0
    assert materialization(result, RECONCILIATION)["source_rows"] == 297
    assert deleted_keys(store) == set(edits.deleted_at_source)
    assert_target_equals_source(client, store)
    log = store.read_sync_log(asset=RECONCILIATION, limit=1).iloc[0]
    assert (log.status, log.deleted, log.rows_in, log.run_id) == ("healed", 3, 297, result.run_id)

    again = check_evaluation(run_reconcile(res))
    assert again.passed and values(again.metadata)["deleted_at_source"] == 0


def test_a_healed_enable_survives_a_rerun_of_the_day_it_was_forbidden(sim, client, sqlite_url):
    res = fast_resources(sim, sqlite_url)
    assert sync(res, first="2024-01-01", last="2024-03-01").success
    key, day = forbidden_on_a_partition_day(client, "2024-01-01")
    client.execute_operation(FORM, "Enable", [key])  # clears FForbidDate, FModifyDate unchanged
    assert run_reconcile(res).success

    assert sync(res, day).success

    row = _store(sqlite_url).read_target([key]).iloc[0]
    assert row["forbid_status"] == "A" and pd.isna(row["forbidden_at"])


def test_mass_delete_fails_the_check_and_deletes_nothing(sim, client, sqlite_url):
    res, store = _loaded(sim, sqlite_url)
    doomed = delete_many_at_source(client, 30)

    result = run_reconcile(res)

    evaluation = check_evaluation(result)
    assert result.success and (evaluation.passed, evaluation.severity) == (False, ERROR)
    assert "30 of 300 live target rows (10.0%)" in evaluation.description
    assert "Nothing was soft-deleted" in evaluation.description
    assert values(evaluation.metadata)["deletes_applied"] is False
    assert deleted_keys(store) == set()
    assert store.read_sync_log(asset=RECONCILIATION, limit=1).iloc[0].status == "withheld"

    confirmed = check_evaluation(run_reconcile(res, max_delete_share=0.5))

    assert confirmed.passed and values(confirmed.metadata)["soft_deleted"] == 30
    raised = values(confirmed.metadata)["max_delete_share_raised"]
    assert (raised["configured"], raised["run_config"]) == (0.05, 0.5) and "unknown" in raised["launched_by"]
    assert deleted_keys(store) == set(doomed)


def test_a_scan_that_fails_midway_fails_the_run_and_deletes_nothing(sim, client, sqlite_url):
    res, store = _loaded(sim, sqlite_url, page_size=50)
    delete_many_at_source(client, 2, status="A")
    inject_faults(sim, PASS, "http_500", "http_500", "http_500")

    result = run_reconcile(res)

    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    message = str(failure.event_specific_data.error)
    assert "BD_Customer: key scan failed after 50 rows" in message
    assert SIM_CREDENTIALS["app_secret"] not in message
    assert deleted_keys(store) == set()
    log = store.read_sync_log(asset=RECONCILIATION, limit=1).iloc[0]
    assert log.status == "failed" and "key scan failed" in log.message


def test_schedule_runs_the_reconcile_job_daily_at_half_past_two_source_time():
    assert (reconcile_schedule.job_name, reconcile_schedule.cron_schedule) == (JOB, "30 2 * * *")
    assert reconcile_schedule.execution_timezone == "Asia/Shanghai"
    assert reconcile_schedule.default_status == dg.DefaultScheduleStatus.RUNNING
    context = dg.build_schedule_context(scheduled_execution_time=dt.datetime(2024, 3, 2, 2, 30))
    (request,) = reconcile_schedule.evaluate_tick(context).run_requests
    assert request.partition_key is None


def test_partition_runs_of_the_sync_assets_never_include_the_reconciliation(sqlite_url, simulator):
    defs = reconcile_defs(fast_resources(simulator, sqlite_url))
    sync_job = dg.define_asset_job("sync", selection=dg.AssetSelection.assets(RAW, CLEAN, TARGET))
    resolved = dg.Definitions.merge(defs, dg.Definitions(jobs=[sync_job])).resolve_job_def("sync")

    assert dg.AssetKey(RECONCILIATION) not in resolved.asset_layer.asset_graph.get_all_asset_keys()
    assert not any(key.name == CHECK for key in resolved.asset_layer.asset_graph.asset_check_keys)
    reconcile_job = defs.resolve_job_def(JOB)
    assert {k.name for k in reconcile_job.asset_layer.asset_graph.asset_check_keys} == {CHECK}
