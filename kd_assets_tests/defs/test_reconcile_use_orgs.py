"""Allocations and data permissions seen through the Dagster layer: the change sensor, the
reconciliation asset's metadata and its check. Real runs against the simulator (HTTP) and
MariaDB/SQLite; the source changes only through Kingdee's official SDK and the simulator's admin API."""

from __future__ import annotations

import json

import dagster as dg
import pandas as pd

from kd_assets.sync.store import TargetStore, create_target_engine
from kd_assets_tests.defs.forms import SPEC
from kd_assets_tests.defs.reconcile_harness import check_evaluation, fast_resources, run_reconcile, values
from kd_assets_tests.defs.sync_harness import sync
from kd_assets_tests.defs.test_change_sensor import requested, tick
from kd_assets_tests.sync.allocation_scenario import allocatable_masters, allocate, set_visible_orgs
from kd_assets_tests.sync.reconcile_scenario import (  # noqa: F401 (client, sim: fixtures)
    CLOCK, assert_target_equals_source, client, deleted_keys, sim, source_state,
)


def _loaded(sim, url: str) -> tuple[dict, TargetStore]:
    """Recent partitions synced (the sensor's watermark is the clock's day), the rest reconciled in."""
    res = fast_resources(sim, url)
    assert sync(res, first="2024-02-27", last=CLOCK[:10]).success
    assert run_reconcile(res).success
    store = TargetStore(create_target_engine(url), SPEC)
    return res, store


def use_org_row(meta: dict, org: str) -> dict:
    return next(r.data for r in meta["rows_by_use_org"].records if r.data["use_org"] == org)


def test_an_allocated_copy_escapes_the_sensor_and_arrives_with_the_daily_reconciliation(
        sim, client, target_url, instance):
    res, store = _loaded(sim, target_url)
    (master,) = allocatable_masters(client, 1)
    (copy,) = allocate(sim, [master])
    # Why the sensor cannot see it: it probes rows whose FModifyDate, FForbidDate or FApproveDate is
    # at most KD_SENSOR_LAG_S (2 days) older than the newest change time in the target; the copy
    # carries the master's create and modify dates (years ago) and, unaudited, no approve date.
    copy_state = source_state(client).set_index("key").loc[copy]
    assert pd.Timestamp(copy_state["FModifyDate"]) < pd.Timestamp(CLOCK) - pd.Timedelta(days=2)
    assert copy_state["FApproveDate"] is None and copy_state["FForbidDate"] is None

    probe = tick(res, instance)

    assert requested(probe) == [] and json.loads(probe.cursor)["pending_rows"] == 0
    assert copy not in set(store.read_target()[SPEC.key_column])

    result = run_reconcile(res)

    evaluation = check_evaluation(result)
    meta = values(evaluation.metadata)
    assert (evaluation.passed, evaluation.severity) == (False, dg.AssetCheckSeverity.WARN)
    assert meta["missing_in_target"] == meta["missing_older_than_watermark"] == 1
    assert meta["healed_missing_older_than_watermark"] == meta["inserted"] == 1
    assert meta["missing_in_target_samples"] == [copy]
    assert use_org_row(meta, "T00") == {"use_org": "T00", "source_rows": 1, "target_live_rows": 0,
                                        "missing_in_target": 1, "deleted_at_source": 0}
    assert meta["orgs_missing_at_source"] == []
    target = store.read_target().set_index(SPEC.key_column)
    assert target.loc[copy, "using_org"] == "T00" and target.loc[copy, "master_id"] == master
    assert_target_equals_source(client, store)
    assert check_evaluation(run_reconcile(res)).passed  # in sync the day after


def test_a_permission_change_hiding_a_use_org_fails_the_check_and_deletes_nothing(sim, client, target_url):
    res, store = _loaded(sim, target_url)
    copies = allocate(sim, allocatable_masters(client, 12))  # 12 of 312 rows: under KD_MAX_DELETE_SHARE
    assert run_reconcile(res).success
    set_visible_orgs(sim, "100,101,102,103")

    result = run_reconcile(res)

    evaluation = check_evaluation(result)
    meta = values(evaluation.metadata)
    assert (evaluation.passed, evaluation.severity) == (False, dg.AssetCheckSeverity.ERROR)
    assert meta["orgs_missing_at_source"] == ["T00"] and meta["soft_deleted"] == 0
    assert meta["deleted_at_source"] == 12 and meta["deleted_at_source_samples"] == copies
    assert use_org_row(meta, "T00") == {"use_org": "T00", "source_rows": 0, "target_live_rows": 12,
                                        "missing_in_target": 0, "deleted_at_source": 12}
    assert "use-org T00 (12 live rows)" in meta["deletes_withheld"]
    assert "Data permissions" in evaluation.description
    assert deleted_keys(store) == set()
