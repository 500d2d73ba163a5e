"""What a form's recent sync runs say about each day: in flight, failed, healed.

A run covers one day (``dagster/partition``) or every day of a single-run range
(``dagster/asset_partition_range_start`` … ``_end``, a backfill). A day is in flight while any
queued or running run covers it, and failed while the newest finished run covering it failed: a
failed range marks each of its days failed until a later run covering that day succeeds.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field

import dagster as dg

from kd_assets.defs.settings import FormSettings

FINISHED = {dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED}
IN_FLIGHT = [dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING,
             dg.DagsterRunStatus.STARTED]
RANGE_START, RANGE_END = "dagster/asset_partition_range_start", "dagster/asset_partition_range_end"
_RECENT_RUNS = 1000


def days_between(first: dt.date, last: dt.date) -> list[str]:
    return [(first + dt.timedelta(days=i)).isoformat() for i in range((last - first).days + 1)]


def run_days(run: dg.DagsterRun) -> list[str]:
    """The days (partition keys) a run covers: its partition, or every day of its range."""
    tags = run.tags
    if day := tags.get("dagster/partition"):
        return [day]
    if (start := tags.get(RANGE_START)) and (end := tags.get(RANGE_END)):
        return days_between(dt.date.fromisoformat(start), dt.date.fromisoformat(end))
    return []


def is_range(run: dg.DagsterRun) -> bool:
    return RANGE_START in run.tags and "dagster/partition" not in run.tags


def syncs_form(form: FormSettings, run: dg.DagsterRun) -> bool:
    selection = run.asset_selection or set()
    return run.job_name == form.names.sync_job or dg.AssetKey(form.names.raw) in selection


@dataclass
class DayHistory:
    """Finished runs covering one day, newest first: (status, end time, run)."""

    finished: list[tuple[dg.DagsterRunStatus, float, dg.DagsterRun]] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return bool(self.finished) and self.finished[0][0] == dg.DagsterRunStatus.FAILURE

    def failures_in_a_row(self) -> int:
        count = 0
        for status, _, _ in self.finished:
            if status != dg.DagsterRunStatus.FAILURE:
                break
            count += 1
        return count


@dataclass
class RunHistory:
    """One tick's view of a form's recent runs, read once per tick."""

    in_flight: set[str]
    days: dict[str, DayHistory]

    @classmethod
    def read(cls, form: FormSettings, instance: dg.DagsterInstance) -> RunHistory:
        in_flight: set[str] = set()
        for run in instance.get_runs(dg.RunsFilter(statuses=IN_FLIGHT), limit=_RECENT_RUNS):
            if syncs_form(form, run):
                in_flight.update(run_days(run))
        since = dt.datetime.now(dt.timezone.utc) - form.sensor.failed_lookback()
        days: dict[str, DayHistory] = {}
        records = instance.get_run_records(dg.RunsFilter(created_after=since, statuses=list(FINISHED)),
                                           limit=_RECENT_RUNS)  # newest first
        for record in records:
            run = record.dagster_run
            if syncs_form(form, run):
                ended = record.end_time or time.time()
                for day in run_days(run):
                    days.setdefault(day, DayHistory()).finished.append((run.status, ended, run))
        return cls(in_flight, days)

    def oldest_failed_day(self) -> dt.datetime | None:
        """Start of the oldest day whose newest finished run failed."""
        failed = [day for day, history in self.days.items() if history.failed]
        return dt.datetime.strptime(min(failed), "%Y-%m-%d") if failed else None

    def failed_range(self, day: str) -> str | None:
        """Run id of the failed range run that left ``day`` failed, if that is what did."""
        history = self.days.get(day)
        if history and history.failed and is_range(history.finished[0][2]):
            return history.finished[0][2].run_id
        return None

    def backoff_s(self, form: FormSettings, day: str) -> float:
        """Seconds still to wait before asking again for a day whose last runs failed.

        The first failure is retried at the next tick; repeated failures back off exponentially
        (interval × 2^(n-1), at most an hour), so a day that fails for good does not start a run
        every 30 seconds while its alert is open.
        """
        history = self.days.get(day)
        failures = history.failures_in_a_row() if history else 0
        if failures < 2:
            return 0.0
        wait = min(3600.0, form.sensor.interval() * 2 ** (failures - 1))
        return max(0.0, history.finished[0][1] + wait - time.time())
