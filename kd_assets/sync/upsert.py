"""Deciding what a publish does to the target, and doing it inside the database.

Two ways to publish, with the same rules and the same counts:
- ``plan_upsert``: classify a frame's rows against the stored change time and row signature,
  so only new and changed rows are sent (``TargetStore.upsert_target``);
- ``publish_range``: the same classification and a guarded ``INSERT … SELECT`` from the clean
  table, so no row passes through Python (``TargetStore.publish_clean``): the fast path for
  large windows such as an initial load.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd
import sqlalchemy as sa

from kd_assets.sync.bulk import is_mysql, mysql_update_clause, sqlite_conflict_clause
from kd_assets.sync.transform import CHANGE_TIME


@dataclass(frozen=True)
class UpsertCounts:
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped_older: int = 0

    def __add__(self, other: "UpsertCounts") -> "UpsertCounts":
        return UpsertCounts(*(a + b for a, b in zip(self.as_tuple(), other.as_tuple())))

    def as_tuple(self) -> tuple[int, int, int, int]:
        return (self.inserted, self.updated, self.unchanged, self.skipped_older)

    @property
    def total(self) -> int:
        return sum(self.as_tuple())


@dataclass(frozen=True)
class UpsertPlan:
    send_guarded: np.ndarray
    send_forced: np.ndarray
    counts: UpsertCounts


def plan_upsert(out: pd.DataFrame, stored: pd.DataFrame, key: str, force: set[int]) -> UpsertPlan:
    """Classify incoming rows: new, changed (same or newer change time), unchanged, older."""
    m = out[[key, CHANGE_TIME, "row_hash"]].merge(stored, on=key, how="left")
    present = m["stored_change_time"].notna().to_numpy()
    forced = m[key].isin(force).to_numpy() & present
    same = (present & (m[CHANGE_TIME] == m["stored_change_time"]).to_numpy()
            & (m["row_hash"] == m["stored_hash"]).to_numpy()
            & ~(m["stored_deleted"] == True).to_numpy())  # noqa: E712 (NaN for new keys)
    older = present & ~forced & (m[CHANGE_TIME] < m["stored_change_time"]).to_numpy()
    update = present & ~same & ~older
    return UpsertPlan(
        send_guarded=~present | (update & ~forced),
        send_forced=update & forced,
        counts=UpsertCounts(inserted=int((~present).sum()), updated=int(update.sum()),
                            unchanged=int(same.sum()), skipped_older=int(older.sum())),
    )


def publish_range(conn: sa.Connection, store, lo: int, hi: int, window_start: dt.datetime,
                  window_end: dt.datetime, run_id: str, synced_at: dt.datetime) -> UpsertCounts:
    """Publish the clean rows with keys in [lo, hi] and a change field in the window."""
    key, clean, target = store.key, store.tables.clean.name, store.tables.target.name
    window = " OR ".join(f"(c.{c.name} >= :start AND c.{c.name} < :end)" for c in store.spec.change_columns)
    source = (f" FROM {clean} c LEFT JOIN {target} t ON t.{key} = c.{key}"
              f" WHERE c.{key} >= :lo AND c.{key} <= :hi AND ({window})")
    same = (f"(c.change_time = t.change_time AND c.row_hash = t.row_hash AND t.is_deleted = 0)")
    params = {"lo": lo, "hi": hi, "start": window_start, "end": window_end, "run_id": run_id, "now": synced_at}
    types = [sa.bindparam(n, type_=sa.DateTime()) for n in ("start", "end")]
    n, inserted, older, unchanged = conn.execute(sa.text(
        f"SELECT COUNT(*), COALESCE(SUM(CASE WHEN t.{key} IS NULL THEN 1 ELSE 0 END), 0),"
        f" COALESCE(SUM(CASE WHEN c.change_time < t.change_time THEN 1 ELSE 0 END), 0),"
        f" COALESCE(SUM(CASE WHEN {same} THEN 1 ELSE 0 END), 0)" + source).bindparams(*types),
        {k: params[k] for k in ("lo", "hi", "start", "end")}).one()
    spec_cols = [c.name for c in store.spec.columns]
    columns = spec_cols + ["row_hash", "synced_at", "run_id", "is_deleted", "deleted_at", CHANGE_TIME]
    values = [f"c.{c}" for c in spec_cols] + ["c.row_hash", ":now", ":run_id", "0", "NULL",
                                              "c.change_time"]
    insert = (f"INSERT INTO {target} ({', '.join(columns)}) SELECT {', '.join(values)}" + source
              + f" AND (t.{key} IS NULL OR (c.change_time >= t.change_time AND NOT {same}))")
    if is_mysql(conn):
        # Qualified: the SELECT joins tables with the same column names.
        insert += mysql_update_clause(columns, [key], CHANGE_TIME, qualifier=target)
    else:
        insert += sqlite_conflict_clause(target, columns, [key], CHANGE_TIME)
    conn.execute(sa.text(insert).bindparams(*types, sa.bindparam("now", type_=sa.DateTime())), params)
    return UpsertCounts(inserted=int(inserted), updated=int(n - inserted - older - unchanged),
                        unchanged=int(unchanged), skipped_older=int(older))
