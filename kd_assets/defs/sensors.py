"""A form's change sensor: ask Kingdee one cheap question per tick and run the partitions that changed.

Correctness never depends on the sensor's cursor: each tick compares the source with the target
database, so a failed or lost run is simply asked for again. The cursor only bookmarks where a probe
cut at ``max_probe_rows`` stopped, so the next tick reads the keys after it (a site with more
changes than the cap inside the look-back is read in slices, each pending change within
⌈changed rows / cap⌉ + 1 ticks).
"""

import datetime as dt
import json
from dataclasses import dataclass

import dagster as dg

from kd_assets.defs.partitions import partition_key_for, source_timezone
from kd_assets.defs.resources import KingdeeResource
from kd_assets.defs.run_history import RANGE_END, RANGE_START, RunHistory
from kd_assets.defs.settings import FormSettings
from kd_assets.defs.target_db import MySQLResource
from kd_assets.kingdee import Window
from kd_assets.kingdee.filters import combine, compare, field_key, keyset_predicate, literal
from kd_assets.sync import SyncSpec, source_now
from kd_assets.sync.pending import keyed_probe_rows, newest_synced_change_time, pending_changes, probe_change_times

FAR_FUTURE = dt.datetime(9999, 1, 1)


@dataclass(frozen=True)
class Resume:
    """Where a cut probe stopped: the first page-key field of the last row read (a bill's id).

    ``max_probe_rows`` counts rows, so bill lines (what a probe costs). A bill's lines may straddle
    the cut, so its slice resumes *at* that bill (``inclusive``); when the whole slice was that one
    bill (more lines than the cap), it resumes inside it, after the last line read (``entry``): the
    lines past the cut are probed too, and the probe never stands still.
    """

    key: int
    inclusive: bool = False
    entry: int | None = None

    def predicate(self, spec: SyncSpec) -> str:
        first = spec.key_fields[0]
        if self.entry is not None:
            same_bill = f"{compare(first, '=', self.key)} and {keyset_predicate(spec.key_fields[1], self.entry)}"
            return f"{keyset_predicate(first, self.key)} or ({same_bill})"
        if self.inclusive:
            return f"{field_key(first)} >= {literal(self.key)}"
        return keyset_predicate(first, self.key)


def _probe(client, spec: SyncSpec, since: dt.datetime, limit: int,
           resume: Resume | None) -> tuple[list[list], Resume | None]:
    """Rows ``[key, *change fields]`` changed since ``since``, in page-key order from ``resume``;
    with where to go on from when cut at ``limit`` (the next tick's slice)."""
    extra = spec.extra_filter if resume is None else combine(spec.extra_filter, resume.predicate(spec))
    rows: list[list] = []
    first = None
    for page in client.iter_window(spec.form_id, [*spec.key_fields, *spec.change_time_fields],
                                   Window(since, FAR_FUTURE), change_fields=spec.change_time_fields,
                                   key_field=spec.page_key, extra_filter=extra,
                                   page_size=min(limit, client.page_size_for())):
        if not page:
            continue
        first = page[0][0] if first is None else first
        rows.extend(keyed_probe_rows(spec, page))
        if len(rows) >= limit:
            last = int(page[-1][0])
            if spec.bill and int(first) == last:
                return rows, Resume(last, entry=int(page[-1][1] or 0))
            return rows, Resume(last, inclusive=bool(spec.bill))
    return rows, None


def _resume(cursor: str | None) -> Resume | None:
    """Where the previous tick's cut probe stopped; None starts again at the lowest key.

    Only a bookmark: losing it re-reads from the start, and pending is always decided against the
    target, so a change is never taken as synced because of the cursor.
    """
    try:
        saved = json.loads(cursor or "{}")
        key = saved.get("resume_after_key")
    except (ValueError, AttributeError):
        return None
    entry = saved.get("resume_entry")
    return Resume(key, bool(saved.get("resume_inclusive")), entry if isinstance(entry, int) else None) \
        if isinstance(key, int) else None


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
        with kingdee.get_client() as client:
            rows, resume = _probe(client, spec, since, sensor.max_rows(), _resume(context.cursor))
        probed = probe_change_times(spec.change_time_fields, rows)
        pending = pending_changes(store, probed)
        runnable, notes = _partitions_to_run(form, context, history, pending)
        for note in notes:
            context.log.info(note)
        cursor = json.dumps({"watermark": watermark.isoformat(sep=" "), "probed_rows": len(probed),
                             "pending_rows": len(pending), "requested": sorted(runnable),
                             "resume_after_key": resume and resume.key,
                             "resume_inclusive": bool(resume and resume.inclusive),
                             "resume_entry": resume and resume.entry})
        if not runnable:
            reason = f"No unsynced changes since {since:%Y-%m-%d %H:%M:%S}" if not pending else "; ".join(notes)
            return dg.SensorResult(skip_reason=reason, cursor=cursor)
        return dg.SensorResult(run_requests=_run_requests(form, history, runnable), cursor=cursor)

    return change_sensor
