"""The change sensor: ask Kingdee one cheap question per tick and run the partitions that changed.

Correctness never depends on the sensor's cursor (it is only shown in the UI): each tick compares
the source with the target database, so a failed or lost run is simply asked for again.
"""

import datetime as dt
import json
import os
import time

import dagster as dg

from kd_assets.defs.assets import RAW, SPEC
from kd_assets.defs.jobs import customers_sync_job
from kd_assets.defs.partitions import customer_change_partitions, partition_key_for, source_timezone
from kd_assets.defs.resources import KingdeeResource
from kd_assets.defs.target_db import MySQLResource
from kd_assets.kingdee import Window
from kd_assets.sync import source_now
from kd_assets.sync.pending import newest_synced_change_time, pending_changes, probe_change_times

SENSOR_NAME = "kingdee_customers_change_sensor"
FAR_FUTURE = dt.datetime(9999, 1, 1)
FINISHED = {dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED}
IN_FLIGHT = [dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING,
             dg.DagsterRunStatus.STARTED]


def _env_float(name: str, default: float) -> float:
    return float(os.environ.get(name, "").strip() or default)


def sensor_interval_s() -> int:
    """Seconds between ticks (KD_SENSOR_INTERVAL_S, default 30)."""
    return int(_env_float("KD_SENSOR_INTERVAL_S", 30))


def probe_lag() -> dt.timedelta:
    """Look-back below the newest synced change time (KD_SENSOR_LAG_S, default two days).

    It covers rows committed late with an older change time, and changes left behind when a tick
    was lost while a newer partition synced (e.g. by the nightly re-sync). The probe returns only
    keys and change times, and rows the target already holds cost one key lookup each.
    """
    return dt.timedelta(seconds=_env_float("KD_SENSOR_LAG_S", 2 * 86400))


def max_probe_rows() -> int:
    """Rows one probe may read; the rest are found by the next ticks (KD_SENSOR_MAX_PROBE_ROWS)."""
    return int(_env_float("KD_SENSOR_MAX_PROBE_ROWS", 10_000))


def failed_partitions_lookback() -> dt.timedelta:
    """How far back failed sync runs keep the probe open (KD_SENSOR_FAILED_LOOKBACK_DAYS, default 7)."""
    return dt.timedelta(days=_env_float("KD_SENSOR_FAILED_LOOKBACK_DAYS", 7))


def _probe(client, since: dt.datetime, limit: int) -> tuple[list[list], bool]:
    """Rows ``[key, *change fields]`` changed since ``since``; True when cut at ``limit``."""
    rows: list[list] = []
    for page in client.iter_window(SPEC.form_id, [SPEC.key_field, *SPEC.change_time_fields],
                                   Window(since, FAR_FUTURE), change_fields=SPEC.change_time_fields,
                                   key_field=SPEC.key_field, extra_filter=SPEC.extra_filter):
        rows.extend(page)
        if len(rows) >= limit:
            return rows, True
    return rows, False


def _first_day(run: dg.DagsterRun) -> str | None:
    tags = run.tags
    return tags.get("dagster/partition") or tags.get("dagster/asset_partition_range_start")


def _syncs_customers(run: dg.DagsterRun) -> bool:
    selection = run.asset_selection or set()
    return run.job_name == customers_sync_job.name or dg.AssetKey(RAW) in selection


def oldest_unhealed_failure(instance: dg.DagsterInstance) -> dt.datetime | None:
    """Start of the oldest recent partition whose latest sync run failed.

    The probe starts no later than this: once a newer partition is synced, the target's newest
    change time moves past the failed partition's changes, and probing from there alone would
    leave them to the nightly re-sync.
    """
    since = dt.datetime.now(dt.timezone.utc) - failed_partitions_lookback()
    runs = instance.get_runs(dg.RunsFilter(created_after=since), limit=1000)  # newest first
    latest: dict[str, dg.DagsterRunStatus] = {}
    for run in runs:
        if _syncs_customers(run) and (day := _first_day(run)) and run.status in FINISHED:
            latest.setdefault(day, run.status)
    failed = [day for day, status in latest.items() if status == dg.DagsterRunStatus.FAILURE]
    return dt.datetime.strptime(min(failed), "%Y-%m-%d") if failed else None


def _days_between(first: dt.datetime, last: dt.datetime) -> list[str]:
    days = (last.date() - first.date()).days
    return [(first.date() + dt.timedelta(days=i)).isoformat() for i in range(days + 1)]


def _failure_backoff_s(instance: dg.DagsterInstance, partition: str) -> float:
    """Seconds still to wait before asking again for a partition whose last runs failed.

    The first failure is retried at the next tick; repeated failures back off exponentially
    (interval × 2^(n-1), at most an hour), so a partition that fails for good does not start a
    run every 30 seconds while its alert is open.
    """
    runs = instance.get_runs(dg.RunsFilter(job_name=customers_sync_job.name, tags={"dagster/partition": partition}),
                             limit=6)
    failures = 0
    for run in runs:
        if run.status != dg.DagsterRunStatus.FAILURE:
            break
        failures += 1
    if failures < 2:
        return 0.0
    record = instance.get_run_record_by_id(runs[0].run_id)
    ended = record.end_time if record and record.end_time else time.time()
    wait = min(3600.0, sensor_interval_s() * 2 ** (failures - 1))
    return max(0.0, ended + wait - time.time())


def _in_flight(instance: dg.DagsterInstance, partition: str) -> bool:
    return bool(instance.get_run_ids(dg.RunsFilter(job_name=customers_sync_job.name, statuses=IN_FLIGHT,
                                                   tags={"dagster/partition": partition}), limit=1))


def _partitions_to_run(context: dg.SensorEvaluationContext, pending, extra_days=()) -> tuple[dict[str, int], list[str]]:
    """Pending rows per partition that may run now, and notes on the ones held back."""
    valid = set(customer_change_partitions.get_partition_keys(dynamic_partitions_store=context.instance))
    counts: dict[str, int] = {day: 0 for day in extra_days}
    for change in pending:
        key = partition_key_for(change.change_time)
        counts[key] = counts.get(key, 0) + 1
    notes, runnable = [], {}
    for key, n in sorted(counts.items()):
        if key not in valid:
            notes.append(f"{n} change(s) dated {key} fall outside the partitions (KD_SYNC_START or the clocks?)")
        elif _in_flight(context.instance, key):
            notes.append(f"{key}: a run is already queued or running")
        elif (wait := _failure_backoff_s(context.instance, key)) > 0:
            notes.append(f"{key}: last runs failed; asking again in {wait:.0f} s")
        else:
            runnable[key] = n
    return runnable, notes


@dg.sensor(name=SENSOR_NAME, job=customers_sync_job, minimum_interval_seconds=sensor_interval_s(),
           default_status=dg.DefaultSensorStatus.RUNNING,
           description="Asks Kingdee which customers changed since the newest change time in the target "
                       "(minus a lag for late commits) and runs exactly the partitions holding them.")
def kingdee_customers_change_sensor(context: dg.SensorEvaluationContext, kingdee: KingdeeResource,
                                    target_db: MySQLResource) -> dg.SensorResult:
    store = target_db.store(SPEC)
    watermark = newest_synced_change_time(store, source_now(source_timezone()))
    if watermark is None:
        return dg.SensorResult(skip_reason="The target is empty: launch the initial load first "
                                           "(a backfill of kingdee_customers_sync over all partitions).")
    since = watermark - probe_lag()
    if (failure := oldest_unhealed_failure(context.instance)) is not None:
        since = min(since, failure)
    with kingdee.get_client() as client:
        rows, truncated = _probe(client, since, max_probe_rows())
    probed = probe_change_times(SPEC.change_time_fields, rows)
    pending = pending_changes(store, probed)
    # A probe cut short may have missed older changes with higher keys: run every day it spans.
    extra = _days_between(since, max(c.change_time for c in pending)) if truncated and pending else []
    runnable, notes = _partitions_to_run(context, pending, extra)
    for note in notes:
        context.log.info(note)
    cursor = json.dumps({"watermark": watermark.isoformat(sep=" "), "probed_rows": len(probed),
                         "pending_rows": len(pending), "requested": sorted(runnable)})
    if not runnable:
        reason = f"No unsynced changes since {since:%Y-%m-%d %H:%M:%S}" if not pending else "; ".join(notes)
        return dg.SensorResult(skip_reason=reason, cursor=cursor)
    requests = [dg.RunRequest(partition_key=key, tags={"kd/trigger": "change_sensor", "kd/pending_rows": str(n)})
                for key, n in runnable.items()]
    return dg.SensorResult(run_requests=requests, cursor=cursor)
