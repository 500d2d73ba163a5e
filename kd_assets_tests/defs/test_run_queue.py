"""The run queue of the project's dagster.yaml: one run per form and day, forms never wait for each other.

Runs are tagged as the forms' schedules and sensors request them, and judged by the instance's own
queue config with the counter Dagster's run-queue daemon uses to decide what may start.
"""

from __future__ import annotations

import datetime as dt
import shutil
import uuid
from pathlib import Path

import dagster as dg
import pytest
from dagster._utils.tags import TagConcurrencyLimitsCounter

from kd_assets.definitions import form_definitions

PROJECT = Path(__file__).resolve().parents[2]
DAY = "2024-03-01"
# 00:15 in Shanghai on 2024-03-02: the nightly re-sync of DAY.
RESYNC_TICK = dt.datetime(2024, 3, 1, 16, 15, tzinfo=dt.timezone.utc)


@pytest.fixture
def queue_limits(tmp_path) -> list[dict]:
    shutil.copyfile(PROJECT / "dagster.yaml", tmp_path / "dagster.yaml")
    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        return list(instance.get_concurrency_config().run_queue_config.tag_concurrency_limits)


def _resync_run(form: str, tick: dt.datetime = RESYNC_TICK) -> dg.DagsterRun:
    """The run the form's nightly re-sync asks for, with the tags Dagster gives it."""
    defs = form_definitions()[form]
    request = defs.resync_schedule(dg.build_schedule_context(scheduled_execution_time=tick))
    tags = {**defs.sync_job.tags, **request.tags, "dagster/partition": request.partition_key}
    return dg.DagsterRun(job_name=defs.sync_job.name, run_id=str(uuid.uuid4()), tags=tags)


def test_a_supplier_run_never_waits_for_the_customer_run_of_the_same_day(queue_limits):
    customers = _resync_run("customers")
    suppliers, materials = _resync_run("suppliers"), _resync_run("materials")
    assert {r.tags["dagster/partition"] for r in (customers, suppliers, materials)} == {DAY}

    queue = TagConcurrencyLimitsCounter(queue_limits, [customers])

    assert not queue.is_blocked(suppliers)
    assert not queue.is_blocked(materials)


def test_a_second_run_of_the_same_form_and_day_waits(queue_limits):
    running = _resync_run("customers")
    queue = TagConcurrencyLimitsCounter(queue_limits, [running])

    assert queue.is_blocked(_resync_run("customers"))
    assert not queue.is_blocked(_resync_run("customers", RESYNC_TICK + dt.timedelta(days=1)))


def test_sensor_and_schedule_runs_carry_the_form_and_day():
    run = _resync_run("suppliers")

    assert (run.tags["kd/form"], run.tags["kd/form_partition"]) == ("suppliers", f"suppliers:{DAY}")


def _range_run(form: str, first: str, last: str) -> dg.DagsterRun:
    """A range run as the change sensor asks for one (days left failed by a failed backfill)."""
    settings = form_definitions()[form].settings
    tags = {"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last,
            **settings.run_tags(first, range_end=last)}
    return dg.DagsterRun(job_name=settings.names.sync_job, run_id=str(uuid.uuid4()), tags=tags)


def test_one_range_run_per_form_at_a_time(queue_limits):
    queue = TagConcurrencyLimitsCounter(queue_limits, [_range_run("customers", "2024-01-01", "2024-01-31")])

    assert queue.is_blocked(_range_run("customers", "2024-02-01", "2024-02-29"))
    assert not queue.is_blocked(_range_run("suppliers", "2024-01-01", "2024-01-31"))
