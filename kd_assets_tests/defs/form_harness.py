"""Helpers for end-to-end tests of any form: what the source holds, what the target holds, and a
sync of a range plus a reconciliation through the form's own job definitions."""

from __future__ import annotations

import datetime as dt

import dagster as dg
import pandas as pd
import sqlalchemy as sa

from kd_assets.sync import SyncSpec
from kd_assets_tests.defs.sync_harness import SIM_CREDENTIALS, client

SYNC_CHECKS = {"clean_schema", "unique_keys", "target_matches_clean"}


def point_environment_at(monkeypatch, sim, mysql_url: str) -> None:
    """What an operator sets: the code location's resources bind to these KD_* variables."""
    for var, value in {"KD_SERVER_URL": sim.base_url, "KD_ACCT_ID": SIM_CREDENTIALS["acct_id"],
                       "KD_USERNAME": SIM_CREDENTIALS["username"], "KD_APP_ID": SIM_CREDENTIALS["app_id"],
                       "KD_APP_SECRET": SIM_CREDENTIALS["app_secret"], "KD_MYSQL_URL": mysql_url}.items():
        monkeypatch.setenv(var, value)


def source_changes(sim, spec: SyncSpec) -> pd.DataFrame:
    """Every source row of the form (within the spec's filter): its key and change-time fields,
    straight from the simulator."""
    fields = list(spec.change_time_fields)
    with client(sim) as c:
        pages = c.iter_keys(spec.form_id, key_field=spec.key_field, extra_fields=fields,
                            extra_filter=spec.extra_filter)
        rows = [row for page in pages for row in page]
    frame = pd.DataFrame(rows, columns=["key", *fields])
    for f in fields:
        frame[f] = pd.to_datetime(frame[f].replace({"": None, " ": None}), format="ISO8601")
    return frame


def keys_changed_between(frame: pd.DataFrame, start: str, end: str) -> set[int]:
    """Keys with any change-time field in [start, end) (days, source time)."""
    first, last = dt.datetime.fromisoformat(start), dt.datetime.fromisoformat(end)
    hit = pd.Series(False, index=frame.index)
    for f in frame.columns[1:]:
        hit |= (frame[f] >= first) & (frame[f] < last)
    return set(frame.loc[hit, "key"].astype(int))


def target_keys(url: str, spec: SyncSpec, table: str | None = None, live_only: bool = False) -> set[int]:
    column = "record_key" if table == spec.tables.quarantine else spec.key_column
    where = " WHERE is_deleted = 0" if live_only else ""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.text(f"SELECT {column} FROM {table or spec.tables.target}{where}")).all()
    finally:
        engine.dispose()
    return {int(k) for (k,) in rows}


def run_sync_range(defs: dg.Definitions, job: str, first: str, last: str) -> dg.ExecuteInProcessResult:
    """One single-run range of the form's sync job, as a backfill launches it."""
    tags = {"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last}
    return defs.resolve_job_def(job).execute_in_process(tags=tags, raise_on_error=False)


def check_outcomes(result: dg.ExecuteInProcessResult) -> dict[str, bool]:
    return {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
