"""The change sensor against the simulator and a real target, with a real Dagster instance."""

from __future__ import annotations

import datetime as dt
import json
import math

import dagster as dg
import pytest
import requests

from kd_assets_tests.defs.forms import (
    SPEC, customers_sync_job, daily_resync_schedule, kingdee_customers_change_sensor, sync_assets,
)
from kd_assets.sync.pending import newest_synced_change_time
from kd_assets_tests.defs.sync_harness import changed_in, client, pick_customer, resources, source_rows, sync

CLOCK = "2024-03-01 12:00:00"
TODAY = CLOCK[:10]


@pytest.fixture
def sim(simulator_factory):
    return simulator_factory(customers=1500, seed=3, clock_start=CLOCK, dirty_share=0.0)


def _defs(res: dict) -> dg.Definitions:
    return dg.Definitions(assets=sync_assets, jobs=[customers_sync_job], sensors=[kingdee_customers_change_sensor],
                          resources=res, executor=dg.in_process_executor)


def tick(res: dict, instance) -> dg.SensorResult:
    with dg.build_sensor_context(instance=instance, resources=res, definitions=_defs(res)) as context:
        return kingdee_customers_change_sensor(context)


def requested(result) -> list[str]:
    return sorted(r.partition_key for r in (result.run_requests or []))


def run_job(res: dict, instance, partition: str) -> bool:
    job = _defs(res).resolve_job_def(customers_sync_job.name)
    return job.execute_in_process(partition_key=partition, instance=instance, raise_on_error=False).success


@pytest.fixture
def loaded(sim, sqlite_url, instance):
    """A target loaded with everything up to the simulator's clock, and its resources."""
    res = resources(sim, sqlite_url)
    assert sync(res, first="2024-02-27", last=TODAY, instance=instance).success
    return res


def test_empty_target_asks_for_the_initial_load(sim, sqlite_url, instance):
    result = tick(resources(sim, sqlite_url), instance)

    assert requested(result) == []
    assert "initial load" in result.skip_reason.skip_message


def test_no_run_when_nothing_changed(loaded, instance):
    result = tick(loaded, instance)

    assert requested(result) == []
    assert json.loads(result.cursor)["pending_rows"] == 0


@pytest.mark.parametrize("change", ["edit", "forbid", "audit"])
def test_a_change_requests_exactly_its_partition_and_the_run_absorbs_it(sim, loaded, instance, sqlite_url, change):
    key = pick_customer(sim, "FForbidStatus = 'A' and FDocumentStatus <> 'C'")
    with client(sim) as c:
        if change == "edit":
            c.save(SPEC.form_id, {"FCUSTID": key, "FName": "变更后的客户有限公司"})
        elif change == "forbid":
            c.execute_operation(SPEC.form_id, "Forbid", [key])
        else:
            c.audit(SPEC.form_id, [key])

    assert requested(tick(loaded, instance)) == [TODAY]
    assert run_job(loaded, instance, TODAY)
    assert requested(tick(loaded, instance)) == []


def test_a_failed_run_is_requested_again(sim, loaded, instance, sqlite_url):
    key = pick_customer(sim)
    with client(sim) as c:
        c.save(SPEC.form_id, {"FCUSTID": key, "FName": "失败后重试有限公司"})
    broken = resources(sim, sqlite_url, app_secret="wrong")
    assert not run_job(broken, instance, TODAY)

    assert requested(tick(loaded, instance)) == [TODAY]


def test_repeated_failures_back_off(sim, loaded, instance, sqlite_url):
    key = pick_customer(sim)
    with client(sim) as c:
        c.save(SPEC.form_id, {"FCUSTID": key, "FName": "反复失败有限公司"})
    broken = resources(sim, sqlite_url, app_secret="wrong")
    assert not run_job(broken, instance, TODAY)
    assert not run_job(broken, instance, TODAY)

    result = tick(loaded, instance)

    assert requested(result) == []
    assert "last runs failed" in result.skip_reason.skip_message


def test_a_late_commit_with_an_older_change_time_is_picked_up(sim, loaded, instance, sqlite_url):
    with client(sim) as c:
        c.save(SPEC.form_id, {"FCUSTID": pick_customer(sim), "FName": "新的"})
    assert run_job(loaded, instance, TODAY)
    # A second row is committed now, but stamped five minutes before the newest synced change.
    requests.post(sim.admin_url + "clock", json={"advance_seconds": -300}, timeout=10).raise_for_status()
    late = pick_customer(sim, last=True)
    with client(sim) as c:
        c.save(SPEC.form_id, {"FCUSTID": late, "FName": "迟到的提交有限公司"})

    assert requested(tick(loaded, instance)) == [TODAY]


def test_the_daily_schedule_resyncs_yesterday_in_the_source_time_zone():
    # 00:15 in Shanghai on 2024-03-02 is 16:15 UTC on 2024-03-01.
    when = dt.datetime(2024, 3, 1, 16, 15, tzinfo=dt.timezone.utc)
    context = dg.build_schedule_context(scheduled_execution_time=when)

    request = daily_resync_schedule(context)

    assert request.partition_key == "2024-03-01"


def test_a_failed_older_partition_is_requested_again_after_a_newer_one_succeeded(sim, loaded, instance, sqlite_url):
    first, second = pick_customer(sim), pick_customer(sim, last=True)
    with client(sim) as c:
        c.save(SPEC.form_id, {"FCUSTID": first, "FName": "第一天的修改有限公司"})
    requests.post(sim.admin_url + "clock", json={"advance_seconds": 86400}, timeout=10).raise_for_status()
    with client(sim) as c:
        c.save(SPEC.form_id, {"FCUSTID": second, "FName": "第二天的修改有限公司"})
    assert requested(tick(loaded, instance)) == [TODAY, "2024-03-02"]
    assert not run_job(resources(sim, sqlite_url, app_secret="wrong"), instance, TODAY)
    assert run_job(loaded, instance, "2024-03-02")

    # The target's newest change time is now a day past the failed partition's change.
    assert requested(tick(loaded, instance)) == [TODAY]


def test_sensor_runs_are_keyed_per_form_and_day_for_the_run_queue(sim, loaded, instance):
    with client(sim) as c:
        c.save(SPEC.form_id, {"FCUSTID": pick_customer(sim), "FName": "排队键有限公司"})

    (request,) = tick(loaded, instance).run_requests

    assert (request.tags["kd/form"], request.tags["kd/form_partition"]) == ("customers", f"customers:{TODAY}")


def test_a_site_with_more_changes_than_the_probe_cap_still_gets_every_change_requested(
        sim, loaded, instance, sqlite_url, monkeypatch):
    # 40 low keys change and sync; then the highest key changes. A probe cut at 10 rows (pages of
    # 5) sees only the lowest keys, all synced, unless later ticks go on past them.
    with client(sim) as c:
        low = [int(r[0]) for r in c.execute_bill_query(SPEC.form_id, ["FCUSTID"], order_string="FCUSTID ASC", limit=40)]
        for key in low:
            c.save(SPEC.form_id, {"FCUSTID": key, "FName": f"批量修改{key}有限公司"})
    assert run_job(loaded, instance, TODAY)
    highest = pick_customer(sim, last=True)
    with client(sim) as c:
        c.save(SPEC.form_id, {"FCUSTID": highest, "FName": "最高键的修改有限公司"})
    monkeypatch.setenv("KD_SENSOR_MAX_PROBE_ROWS", "10")
    capped = resources(sim, sqlite_url, page_size=5)
    since = newest_synced_change_time(loaded["target_db"].store(SPEC), dt.datetime(2100, 1, 1)) - dt.timedelta(days=2)
    in_look_back = len(changed_in(source_rows(sim), since, dt.datetime(2100, 1, 1)))
    assert in_look_back > 30

    cursor, asked = None, []
    for _ in range(math.ceil(in_look_back / 10) + 1):
        with dg.build_sensor_context(instance=instance, resources=capped, cursor=cursor,
                                     definitions=_defs(capped)) as context:
            result = kingdee_customers_change_sensor(context)
        cursor, asked = result.cursor, requested(result)
        if asked:
            break

    assert asked == [TODAY]
