"""The sync job, and the nightly schedule that closes yesterday's partition."""

import datetime as dt
from zoneinfo import ZoneInfo

import dagster as dg

from kd_assets.defs.assets import CLEAN, RAW, TARGET
from kd_assets.defs.partitions import source_timezone

customers_sync_job = dg.define_asset_job(
    "kingdee_customers_sync", selection=dg.AssetSelection.assets(RAW, CLEAN, TARGET),
    description="Fetch, clean and publish the customers changed in one partition window (or a range).",
)


@dg.schedule(name="kingdee_customers_daily_resync", job=customers_sync_job, cron_schedule="15 0 * * *",
             execution_timezone=source_timezone(), default_status=dg.DefaultScheduleStatus.RUNNING,
             description="Re-syncs yesterday (source time zone) after midnight, for rows committed late "
                         "with a change time older than the change sensor's look-back.")
def daily_resync_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    # Convert explicitly: the tick time is not always in the execution time zone (tests, CLI).
    local = context.scheduled_execution_time.astimezone(ZoneInfo(source_timezone()))
    yesterday = (local - dt.timedelta(days=1)).strftime("%Y-%m-%d")
    return dg.RunRequest(run_key=f"daily-resync:{yesterday}", partition_key=yesterday,
                         tags={"kd/trigger": "daily_resync"})
