"""A form's change sensor: ask Kingdee one cheap question per tick and run the partitions that changed.

Correctness never depends on the sensor's cursor (it is only shown in the UI): each tick compares
the source with the target database, so a failed or lost run is simply asked for again.
"""

import datetime as dt
import json
import time

import dagster as dg

from kd_assets.defs.partitions import partition_key_for, source_timezone
from kd_assets.defs.resources import KingdeeResource
from kd_assets.defs.settings import FormSettings
from kd_assets.defs.target_db import MySQLResource
from kd_assets.kingdee import Window
from kd_assets.sync import SyncSpec, source_now
from kd_assets.sync.pending import keyed_probe_rows, newest_synced_change_time, pending_changes, probe_change_times

FAR_FUTURE = dt.datetime(9999, 1, 1)
FINISHED = {dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED}
IN_FLIGHT = [dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING,
             dg.DagsterRunStatus.STARTED]


def _probe(client, spec: SyncSpec, since: dt.datetime, limit: int) -> tuple[list[list], bool]:
    """Rows ``[key, *change fields]`` changed since ``since``; True when cut at ``limit``."""
    rows: list[list] = []
    for page in client.iter_window(spec.form_id, [*spec.key_fields, *spec.change_time_fields],
                                   Window(since, FAR_FUTURE), change_fields=spec.change_time_fields,
                                   key_field=spec.page_key, extra_filter=spec.extra_filter):
        rows.extend(keyed_probe_rows(spec, page))
        if len(rows) >= limit:
            return rows, True
    return rows, False


def _first_day(run: dg.DagsterRun) -> str | None:
    tags = run.tags
    return tags.get("dagster/partition") or tags.get("dagster/asset_partition_range_start")


def _syncs_form(form: FormSettings, run: dg.DagsterRun) -> bool:
    selection = run.asset_selection or set()
    return run.job_name == form.names.sync_job or dg.AssetKey(form.names.raw) in selection


def oldest_unhealed_failure(form: FormSettings, instance: dg.DagsterInstance) -> dt.datetime | None:
    """Start of the oldest recent partition whose latest sync run failed.

    The probe starts no later than this: once a newer partition is synced, the target's newest
    change time moves past the failed partition's changes, and probing from there alone would
    leave them to the nightly re-sync.
    """
    since = dt.datetime.now(dt.timezone.utc) - form.sensor.failed_lookback()
    runs = instance.get_runs(dg.RunsFilter(created_after=since), limit=1000)  # newest first
    latest: dict[str, dg.DagsterRunStatus] = {}
    for run in runs:
        if _syncs_form(form, run) and (day := _first_day(run)) and run.status in FINISHED:
            latest.setdefault(day, run.status)
    failed = [day for day, status in latest.items() if status == dg.DagsterRunStatus.FAILURE]
    return dt.datetime.strptime(min(failed), "%Y-%m-%d") if failed else None


def _days_between(first: dt.datetime, last: dt.datetime) -> list[str]:
    days = (last.date() - first.date()).days
    return [(first.date() + dt.timedelta(days=i)).isoformat() for i in range(days + 1)]


def _failure_backoff_s(form: FormSettings, instance: dg.DagsterInstance, partition: str) -> float:
    """Seconds still to wait before asking again for a partition whose last runs failed.

    The first failure is retried at the next tick; repeated failures back off exponentially
    (interval × 2^(n-1), at most an hour), so a partition that fails for good does not start a
    run every 30 seconds while its alert is open.
    """
    runs = instance.get_runs(dg.RunsFilter(job_name=form.names.sync_job, tags={"dagster/partition": partition}),
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
    wait = min(3600.0, form.sensor.interval() * 2 ** (failures - 1))
    return max(0.0, ended + wait - time.time())


def _in_flight(form: FormSettings, instance: dg.DagsterInstance, partition: str) -> bool:
    return bool(instance.get_run_ids(dg.RunsFilter(job_name=form.names.sync_job, statuses=IN_FLIGHT,
                                                   tags={"dagster/partition": partition}), limit=1))


def _partitions_to_run(form: FormSettings, context: dg.SensorEvaluationContext, pending,
                       extra_days=()) -> tuple[dict[str, int], list[str]]:
    """Pending rows per partition that may run now, and notes on the ones held back."""
    valid = set(form.partitions.get_partition_keys(dynamic_partitions_store=context.instance))
    counts: dict[str, int] = {day: 0 for day in extra_days}
    for change in pending:
        key = partition_key_for(change.change_time, form.sync_start)  # older: the first day
        counts[key] = counts.get(key, 0) + 1
    notes, runnable = [], {}
    for key, n in sorted(counts.items()):
        if key not in valid:
            notes.append(f"{n} change(s) dated {key} fall outside the partitions (sync_start or the clocks?)")
        elif _in_flight(form, context.instance, key):
            notes.append(f"{key}: a run is already queued or running")
        elif (wait := _failure_backoff_s(form, context.instance, key)) > 0:
            notes.append(f"{key}: last runs failed; asking again in {wait:.0f} s")
        else:
            runnable[key] = n
    return runnable, notes


def build_change_sensor(form: FormSettings, job) -> dg.SensorDefinition:
    """The form's change sensor, running ``job`` for exactly the partitions holding changes."""
    spec, sensor = form.spec, form.sensor
    status = dg.DefaultSensorStatus.RUNNING if sensor.running else dg.DefaultSensorStatus.STOPPED

    @dg.sensor(name=form.names.change_sensor, job=job, minimum_interval_seconds=sensor.interval(),
               default_status=status,
               description=f"Asks Kingdee which {spec.form_id} rows changed since the newest change time in "
                           f"{spec.tables.target} (minus a lag for late commits) and runs exactly the partitions "
                           "holding them.")
    def change_sensor(context: dg.SensorEvaluationContext, kingdee: KingdeeResource,
                      target_db: MySQLResource) -> dg.SensorResult:
        store = target_db.store(spec)
        watermark = newest_synced_change_time(store, source_now(source_timezone()))
        if watermark is None:
            return dg.SensorResult(skip_reason="The target is empty: launch the initial load first "
                                               f"(a backfill of {form.names.sync_job} over all partitions).")
        since = watermark - sensor.lag()
        if (failure := oldest_unhealed_failure(form, context.instance)) is not None:
            since = min(since, failure)
        with kingdee.get_client() as client:
            rows, truncated = _probe(client, spec, since, sensor.max_rows())
        probed = probe_change_times(spec.change_time_fields, rows)
        pending = pending_changes(store, probed)
        # A probe cut short may have missed older changes with higher keys: run every day it spans.
        extra = _days_between(since, max(c.change_time for c in pending)) if truncated and pending else []
        runnable, notes = _partitions_to_run(form, context, pending, extra)
        for note in notes:
            context.log.info(note)
        cursor = json.dumps({"watermark": watermark.isoformat(sep=" "), "probed_rows": len(probed),
                             "pending_rows": len(pending), "requested": sorted(runnable)})
        if not runnable:
            reason = f"No unsynced changes since {since:%Y-%m-%d %H:%M:%S}" if not pending else "; ".join(notes)
            return dg.SensorResult(skip_reason=reason, cursor=cursor)
        requests = [dg.RunRequest(partition_key=key, tags={"kd/trigger": "change_sensor", "kd/pending_rows": str(n),
                                                           **form.run_tags(key)})
                    for key, n in runnable.items()]
        return dg.SensorResult(run_requests=requests, cursor=cursor)

    return change_sensor
