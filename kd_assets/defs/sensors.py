"""A form's change sensor: ask Kingdee one cheap question per tick and run the partitions that changed.

Correctness never depends on the sensor's cursor: each tick compares the source with the target
database, so a failed or lost run is simply asked for again. The cursor only bookmarks where a probe
cut at ``max_probe_rows`` stopped, so the next tick reads the keys after it (a site with more
changes than the cap inside the look-back is read in slices, each pending change within
⌈changed rows / cap⌉ + 1 ticks).
"""

import datetime as dt
import json

import dagster as dg

from kd_assets.defs.partitions import partition_key_for, source_timezone
from kd_assets.defs.resources import KingdeeResource
from kd_assets.defs.run_history import RANGE_END, RANGE_START, RunHistory
from kd_assets.defs.settings import FormSettings
from kd_assets.defs.target_db import MySQLResource
from kd_assets.kingdee import Window
from kd_assets.kingdee.filters import combine, keyset_predicate
from kd_assets.sync import SyncSpec, source_now
from kd_assets.sync.pending import newest_synced_change_time, pending_changes, probe_change_times

FAR_FUTURE = dt.datetime(9999, 1, 1)


def _probe(client, spec: SyncSpec, since: dt.datetime, limit: int, after_key: int | None) -> tuple[list[list], bool]:
    """Rows ``[key, *change fields]`` changed since ``since`` with keys above ``after_key``, in key
    order; True when cut at ``limit`` (the next tick goes on from the last key read)."""
    extra = spec.extra_filter if after_key is None else combine(spec.extra_filter,
                                                                 keyset_predicate(spec.key_field, after_key))
    rows: list[list] = []
    for page in client.iter_window(spec.form_id, [spec.key_field, *spec.change_time_fields],
                                   Window(since, FAR_FUTURE), change_fields=spec.change_time_fields,
                                   key_field=spec.key_field, extra_filter=extra,
                                   page_size=min(limit, client.page_size_for())):
        rows.extend(page)
        if len(rows) >= limit:
            return rows, True
    return rows, False


def _resume_key(cursor: str | None) -> int | None:
    """Where the previous tick's cut probe stopped; None starts again at the lowest key.

    Only a bookmark: losing it re-reads from the start, and pending is always decided against the
    target, so a change is never taken as synced because of the cursor.
    """
    try:
        key = json.loads(cursor or "{}").get("resume_after_key")
    except (ValueError, AttributeError):
        return None
    return int(key) if isinstance(key, int) else None


def _partitions_to_run(form: FormSettings, context: dg.SensorEvaluationContext, history: RunHistory,
                       pending) -> tuple[dict[str, int], list[str]]:
    """Pending rows per partition that may run now, and notes on the ones held back."""
    valid = set(form.partitions.get_partition_keys(dynamic_partitions_store=context.instance))
    counts: dict[str, int] = {}
    for change in pending:
        key = partition_key_for(change.change_time, form.sync_start)  # older: the first day
        counts[key] = counts.get(key, 0) + 1
    notes, runnable = [], {}
    for key, n in sorted(counts.items()):
        if key not in valid:
            notes.append(f"{n} change(s) dated {key} fall outside the partitions (sync_start or the clocks?)")
        elif key in history.in_flight:
            notes.append(f"{key}: a run (or a range run) covering it is already queued or running")
        elif (wait := history.backoff_s(form, key)) > 0:
            notes.append(f"{key}: last runs failed; asking again in {wait:.0f} s")
        else:
            runnable[key] = n
    return runnable, notes


def _run_requests(form: FormSettings, history: RunHistory, runnable: dict[str, int]) -> list[dg.RunRequest]:
    """One run per day, except that consecutive days left failed by the same range run are asked
    for again as one range run (a failed backfill of a month is one retry, not thirty)."""
    groups: list[list[str]] = []
    for day in sorted(runnable):
        failed_range = history.failed_range(day)
        previous = groups[-1][-1] if groups else None
        if (failed_range and previous and history.failed_range(previous) == failed_range
                and dt.date.fromisoformat(day) - dt.date.fromisoformat(previous) == dt.timedelta(days=1)):
            groups[-1].append(day)
        else:
            groups.append([day])
    requests = []
    for days in groups:
        pending = str(sum(runnable[d] for d in days))
        if len(days) == 1:
            tags = form.run_tags(days[0])
        else:
            tags = {RANGE_START: days[0], RANGE_END: days[-1], **form.run_tags(days[0], range_end=days[-1])}
        requests.append(dg.RunRequest(partition_key=days[0] if len(days) == 1 else None,
                                      tags={"kd/trigger": "change_sensor", "kd/pending_rows": pending, **tags}))
    return requests


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
        history = RunHistory.read(form, context.instance)
        if (failure := history.oldest_failed_day()) is not None:
            since = min(since, failure)
        resume = _resume_key(context.cursor)
        with kingdee.get_client() as client:
            rows, truncated = _probe(client, spec, since, sensor.max_rows(), resume)
        probed = probe_change_times(spec.change_time_fields, rows)
        pending = pending_changes(store, probed)
        runnable, notes = _partitions_to_run(form, context, history, pending)
        for note in notes:
            context.log.info(note)
        cursor = json.dumps({"watermark": watermark.isoformat(sep=" "), "probed_rows": len(probed),
                             "pending_rows": len(pending), "requested": sorted(runnable),
                             "resume_after_key": int(rows[-1][0]) if truncated else None})
        if not runnable:
            reason = f"No unsynced changes since {since:%Y-%m-%d %H:%M:%S}" if not pending else "; ".join(notes)
            return dg.SensorResult(skip_reason=reason, cursor=cursor)
        return dg.SensorResult(run_requests=_run_requests(form, history, runnable), cursor=cursor)

    return change_sensor
