"""The change sensor and single-run ranges (backfills): in flight, failed, healed day by day.

A real Dagster instance holds the runs (real runs against the simulator, or runs added with the
tags and statuses Dagster gives a range run); the target is real and the probe goes over HTTP.
"""

from __future__ import annotations

import uuid

import dagster as dg
import pytest
import requests
from dagster._core.remote_origin import RegisteredCodeLocationOrigin, RemoteJobOrigin, RemoteRepositoryOrigin

from kd_assets_tests.defs.forms import SPEC, customers_sync_job
from kd_assets_tests.defs.sync_harness import client, resources
from kd_assets_tests.defs.test_change_sensor import TODAY, _defs, loaded, run_job, sim, tick  # noqa: F401 (fixtures)

DAYS = [TODAY, "2024-03-02", "2024-03-03"]
RANGE = {"dagster/asset_partition_range_start": DAYS[0], "dagster/asset_partition_range_end": DAYS[-1]}


def _edit_one_customer_on_each_day(sim) -> None:
    """One change on each of DAYS (the simulator's clock starts on the first)."""
    with client(sim) as c:
        keys = [int(r[0]) for r in c.execute_bill_query(SPEC.form_id, ["FCUSTID"], order_string="FCUSTID ASC",
                                                         limit=len(DAYS))]
    for i, key in enumerate(keys):
        if i:
            requests.post(sim.admin_url + "clock", json={"advance_seconds": 86400}, timeout=10).raise_for_status()
        with client(sim) as c:
            c.save(SPEC.form_id, {"FCUSTID": key, "FName": f"第{i + 1}天的修改有限公司"})


def _add_range_run(instance, status: dg.DagsterRunStatus) -> None:
    """A range run of the sync job as the daemon's queue holds it (a queued run names its code location)."""
    tags = {**customers_sync_job.tags, **RANGE}
    repository = RemoteRepositoryOrigin(RegisteredCodeLocationOrigin("kd_assets"), "__repository__")
    instance.add_run(dg.DagsterRun(job_name=customers_sync_job.name, run_id=str(uuid.uuid4()), tags=tags,
                                   status=status, remote_job_origin=RemoteJobOrigin(repository, customers_sync_job.name)))


def _fail_a_range_run(sim, sqlite_url, instance) -> None:
    """A single-run range of the sync job over DAYS (a backfill) that fails: wrong app secret."""
    broken = resources(sim, sqlite_url, app_secret="wrong")
    job = _defs(broken).resolve_job_def(customers_sync_job.name)
    assert not job.execute_in_process(tags=RANGE, instance=instance, raise_on_error=False).success


@pytest.mark.parametrize("status", [dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.STARTED])
def test_a_day_inside_a_queued_or_running_range_is_in_flight(sim, loaded, instance, status):
    _edit_one_customer_on_each_day(sim)
    _add_range_run(instance, status)

    result = tick(loaded, instance)

    assert not result.run_requests
    assert "already queued or running" in result.skip_reason.skip_message


def test_a_failed_range_is_asked_for_again_as_one_range_run(sim, loaded, instance, sqlite_url):
    _edit_one_customer_on_each_day(sim)
    _fail_a_range_run(sim, sqlite_url, instance)

    (request,) = tick(loaded, instance).run_requests

    assert request.partition_key is None
    assert {k: request.tags[k] for k in RANGE} == RANGE
    assert request.tags["kd/form_partition"] == "customers:range"
    assert request.tags["kd/pending_rows"] == "3"


def test_a_success_on_the_first_day_does_not_heal_the_rest_of_a_failed_range(
        sim, loaded, instance, sqlite_url, monkeypatch):
    monkeypatch.setenv("KD_SENSOR_LAG_S", "600")
    _edit_one_customer_on_each_day(sim)
    _fail_a_range_run(sim, sqlite_url, instance)
    assert run_job(loaded, instance, DAYS[0])
    # The last day syncs too: the target's newest change time is now a day past the middle one.
    assert run_job(loaded, instance, DAYS[-1])

    result = tick(loaded, instance)

    assert [r.partition_key for r in result.run_requests] == [DAYS[1]]


def test_the_range_run_the_sensor_asks_for_heals_every_day_of_it(sim, loaded, instance, sqlite_url):
    _edit_one_customer_on_each_day(sim)
    _fail_a_range_run(sim, sqlite_url, instance)
    (request,) = tick(loaded, instance).run_requests

    job = _defs(loaded).resolve_job_def(customers_sync_job.name)
    assert job.execute_in_process(tags=request.tags, instance=instance).success

    assert not tick(loaded, instance).run_requests
