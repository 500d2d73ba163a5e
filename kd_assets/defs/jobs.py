"""A form's sync job, and the nightly schedule that closes yesterday's partition."""

import datetime as dt
from zoneinfo import ZoneInfo

import dagster as dg

from kd_assets.defs.settings import FormSettings


def build_sync_job(form: FormSettings):
    """land → clean → publish for one partition window (or a range), tagged ``kd/form``.

    The runs the sensor and the schedule request also carry ``kd/form_partition`` (form and day),
    the run-queue key in dagster.yaml, so forms never wait for each other. (A partitioned config
    could tag every run of a partition, but Dagster refuses one on single-run-backfill assets.)
    """
    names = form.names
    return dg.define_asset_job(
        names.sync_job, selection=dg.AssetSelection.assets(names.raw, names.clean, names.target),
        tags=form.run_tags(),
        description=f"Fetch, clean and publish the {form.spec.form_id} rows changed in one partition window "
                    "(or a range).",
    )


def build_resync_schedule(form: FormSettings, job) -> dg.ScheduleDefinition:
    """Re-syncs yesterday (source time zone) after midnight, for rows committed late with a change
    time older than the change sensor's look-back."""
    timezone = form.timezone

    @dg.schedule(name=form.names.resync_schedule, job=job, cron_schedule=form.resync.cron,
                 execution_timezone=timezone, default_status=form.resync.default_status,
                 description="Re-syncs yesterday (source time zone) after midnight, for rows committed late "
                             "with a change time older than the change sensor's look-back.")
    def daily_resync(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
        # Convert explicitly: the tick time is not always in the execution time zone (tests, CLI).
        local = context.scheduled_execution_time.astimezone(ZoneInfo(timezone))
        yesterday = (local - dt.timedelta(days=1)).strftime("%Y-%m-%d")
        return dg.RunRequest(run_key=f"daily-resync:{yesterday}", partition_key=yesterday,
                             tags={"kd/trigger": "daily_resync", **form.run_tags(yesterday)})

    return daily_resync
