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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import sqlalchemy as sa

from kd_assets.sync.bulk import is_mysql, mysql_update_clause, sqlite_conflict_clause
from kd_assets.sync.identifiers import name_list, quoter
from kd_assets.sync.sqltext import Kind, datetime_text, param_values
from kd_assets.sync.transform import CHANGE_TIME


_NAT = np.datetime64("NaT")
# Keys of a sparse window published per statement pair (count, then write). Each key costs a
# page of the clean table and one of the target, read from disk when the tables outgrow the
# buffer pool; the write finds them still cached only if the pair's pages fit in it (MariaDB's
# default 128 MB holds ~8,000 pages: 5,000 keys' 10,000+ pages did not, and were read twice).
KEYED_BATCH = 1_000


@dataclass(frozen=True)
class UpsertCounts:
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped_older: int = 0
    lines_removed: int = 0  # bill lines soft-deleted because the bill's new version lacks them
    # Of ``inserted``: rows copied by plain INSERT … SELECT into key ranges the target held no row
    # of, so each is the clean row as it was (how, not what: left out of comparisons).
    fresh: int = field(default=0, compare=False)

    def __add__(self, other: "UpsertCounts") -> "UpsertCounts":
        return UpsertCounts(*(a + b for a, b in zip(self.as_tuple(), other.as_tuple())),
                            lines_removed=self.lines_removed + other.lines_removed, fresh=self.fresh + other.fresh)

    def with_lines_removed(self, n: int) -> "UpsertCounts":
        return UpsertCounts(*self.as_tuple(), lines_removed=n, fresh=self.fresh)

    def as_tuple(self) -> tuple[int, int, int, int]:
        return (self.inserted, self.updated, self.unchanged, self.skipped_older)

    @property
    def total(self) -> int:
        return sum(self.as_tuple())

    def moved_to_older(self, rows: int) -> "UpsertCounts":
        """``rows`` counted as updated turned out older than what a concurrent run stored."""
        return UpsertCounts(self.inserted, self.updated - rows, self.unchanged, self.skipped_older + rows,
                            self.lines_removed, self.fresh)


@dataclass(frozen=True)
class UpsertPlan:
    send_guarded: np.ndarray
    send_forced: np.ndarray
    counts: UpsertCounts

    @property
    def forced(self) -> int:
        return int(self.send_forced.sum())


def plan_upsert(out: pd.DataFrame, stored: pd.DataFrame, key: str,
                force_upto: Mapping[int, dt.datetime]) -> UpsertPlan:
    """Classify incoming rows: new, changed (same or newer change time), unchanged, older.

    A key of ``force_upto`` is changed whatever its incoming change time while the stored one is
    at most the given ceiling; past it, a newer version was published meanwhile: the row is older.
    A row soft-deleted at the very version coming in stays deleted (counted unchanged) unless
    forced: that version was fetched before the deletion, by a run racing reconciliation. A newer
    version revives it (a key the source uses again), as does reconciliation's forced heal.
    """
    m = out[[key, CHANGE_TIME, "row_hash"]].merge(stored, on=key, how="left")
    present = m["stored_change_time"].notna().to_numpy()
    ceiling = np.array([force_upto.get(int(k), _NAT) for k in m[key]] if force_upto else [_NAT] * len(m),
                       dtype="datetime64[ns]")
    forced = present & (m["stored_change_time"].to_numpy(dtype="datetime64[ns]") <= ceiling)
    deleted = (m["stored_deleted"] == True).to_numpy()  # noqa: E712 (NaN for new keys)
    same_time = present & (m[CHANGE_TIME] == m["stored_change_time"]).to_numpy()
    same = same_time & (((m["row_hash"] == m["stored_hash"]).to_numpy() & ~deleted) | (deleted & ~forced))
    older = present & ~forced & (m[CHANGE_TIME] < m["stored_change_time"]).to_numpy()
    update = present & ~same & ~older
    return UpsertPlan(
        send_guarded=~present | (update & ~forced),
        send_forced=update & forced,
        counts=UpsertCounts(inserted=int((~present).sum()), updated=int(update.sum()),
                            unchanged=int(same.sum()), skipped_older=int(older.sum())),
    )


def update_forced(conn: sa.Connection, table: sa.Table, kinds: dict[str, Kind], frame: pd.DataFrame,
                  columns: Sequence[str], key: str, force_upto: Mapping[int, dt.datetime]) -> int:
    """Overwrite stored rows whatever the incoming change time, each only while its stored change
    time is still at most its ceiling (checked by the statement itself, so a version a concurrent
    run committed in the meantime wins). Row by row: forced heals are few. Returns rows written."""
    if frame.empty:
        return 0
    q, sets = quoter(conn), [c for c in columns if c != key]
    sql = sa.text(f"UPDATE {q(table.name)} SET " + ", ".join(f"{q(c)} = :v{i}" for i, c in enumerate(sets))
                  + f" WHERE {q(key)} = :key AND {CHANGE_TIME} <= :ceiling")
    values = [param_values(frame[c], kinds[c]) for c in sets]
    ceilings = datetime_text(np.array([force_upto[int(k)] for k in frame[key]], dtype="datetime64[ns]"))
    written = 0
    for i, (k, ceiling) in enumerate(zip(frame[key].tolist(), ceilings)):
        params = {f"v{j}": column[i] for j, column in enumerate(values)}
        written += conn.execute(sql, {**params, "key": int(k), "ceiling": ceiling}).rowcount
    return written


def publish_range(conn: sa.Connection, store, lo: int, hi: int, window_start: dt.datetime | None,
                  window_end: dt.datetime, run_id: str, synced_at: dt.datetime,
                  keys: Sequence[int] | None = None) -> UpsertCounts:
    """Publish the clean rows with keys in [lo, hi] (or in ``keys``) and a change field in the window.

    ``window_start=None`` (the first partition, holding all history) drops the lower bound.
    ``keys``: the chunk's own keys, for a sparse window (a day's changes spread over all keys),
    read by primary key instead of scanning the range between them, ``KEYED_BATCH`` at a time.
    """
    if keys is not None and len(keys) > KEYED_BATCH:
        total = UpsertCounts()
        for i in range(0, len(keys), KEYED_BATCH):
            part = keys[i:i + KEYED_BATCH]
            total += publish_range(conn, store, part[0], part[-1], window_start, window_end, run_id, synced_at,
                                   keys=part)
        return total
    s = _Statement(conn, store, lo, hi, window_start, window_end, run_id, synced_at, keys)
    if keys is None and is_mysql(conn):
        fresh = _insert_into_empty_range(conn, store, s)
        if fresh is not None:
            return fresh
    q, key, target = s.q, s.key, s.target
    source = (f" FROM {q(store.tables.clean.name)} c LEFT JOIN {q(target)} t ON t.{key} = c.{key}"
              f" WHERE {s.picked} AND ({s.window})")
    # Nothing to publish: the same version, or the version a row was soft-deleted at (see plan_upsert).
    same = "(c.change_time = t.change_time AND (t.is_deleted = 1 OR c.row_hash = t.row_hash))"
    n, inserted, older, unchanged = conn.execute(sa.text(
        f"SELECT COUNT(*), COALESCE(SUM(CASE WHEN t.{key} IS NULL THEN 1 ELSE 0 END), 0),"
        f" COALESCE(SUM(CASE WHEN c.change_time < t.change_time THEN 1 ELSE 0 END), 0),"
        f" COALESCE(SUM(CASE WHEN {same} THEN 1 ELSE 0 END), 0)" + source).bindparams(*s.types),
        {k: s.params[k] for k in ("lo", "hi", *s.bounds)}).one()
    insert = s.head + source + f" AND (t.{key} IS NULL OR (c.change_time >= t.change_time AND NOT {same}))"
    if is_mysql(conn):
        # Qualified: the SELECT joins tables with the same column names.
        insert += mysql_update_clause(s.columns, [store.key], CHANGE_TIME, qualifier=target)
    else:
        insert += sqlite_conflict_clause(target, s.columns, [store.key], CHANGE_TIME)
    conn.execute(sa.text(insert).bindparams(*s.types, sa.bindparam("now", type_=sa.DateTime())), s.params)
    return UpsertCounts(inserted=int(inserted), updated=int(n - inserted - older - unchanged),
                        unchanged=int(unchanged), skipped_older=int(older))


class _Statement:
    """The parts of a range's ``INSERT … SELECT`` from the clean table (alias ``c``)."""

    def __init__(self, conn: sa.Connection, store, lo: int, hi: int, window_start: dt.datetime | None,
                 window_end: dt.datetime, run_id: str, synced_at: dt.datetime, keys: Sequence[int] | None = None):
        q = self.q = quoter(conn)
        self.target, self.key = store.tables.target.name, q(store.key)
        lower = "" if window_start is None else "c.{col} >= :start AND "
        self.window = " OR ".join(f"({lower.format(col=q(c.name))}c.{q(c.name)} < :end)"
                                  for c in store.spec.change_columns)
        self.picked = (f"c.{self.key} IN ({int_list(keys)})" if keys is not None
                       else f"c.{self.key} >= :lo AND c.{self.key} <= :hi")
        self.bounds = {"end": window_end} if window_start is None else {"start": window_start, "end": window_end}
        self.params = {"lo": lo, "hi": hi, **self.bounds, "run_id": run_id, "now": synced_at}
        self.types = [sa.bindparam(n, type_=sa.DateTime()) for n in self.bounds]
        spec_cols = [c.name for c in store.spec.columns]
        self.columns = spec_cols + ["row_hash", "synced_at", "run_id", "is_deleted", "deleted_at", CHANGE_TIME]
        values = [f"c.{q(c)}" for c in spec_cols] + ["c.row_hash", ":now", ":run_id", "0", "NULL", "c.change_time"]
        self.head = f"INSERT INTO {q(self.target)} ({name_list(q, self.columns)}) SELECT {', '.join(values)}"


def copy_into_empty_range(conn: sa.Connection, store, lo: int, hi: int, window_start: dt.datetime | None,
                          window_end: dt.datetime, run_id: str, synced_at: dt.datetime,
                          limit: int | None = None) -> UpsertCounts | None:
    """A key range the target holds no row of (an initial load) takes a plain INSERT … SELECT:
    no join with the target, no counting query, no conflict clause; every row is new. Returns
    None, writing nothing, when the target holds a key of [lo, hi]. ``limit``: copy only the
    range's first ``limit`` window rows, in key order (MySQL).

    There is nothing to guard against only while the range stays empty: should a concurrent run
    write a key of it after the probe, the INSERT fails on that duplicate key (IntegrityError
    1062, ``is_duplicate_key``) and the caller must roll back what it wrote (MySQL only).
    """
    t, key = store.tables.target, store.key
    if conn.execute(sa.select(t.c[key]).where(t.c[key] >= lo, t.c[key] <= hi).limit(1)).first():
        return None
    s = _Statement(conn, store, lo, hi, window_start, window_end, run_id, synced_at)
    return _copy(conn, store, s, "" if limit is None else f" ORDER BY c.{s.key} LIMIT {int(limit)}")


def stored_keys(conn: sa.Connection, store, keys: Sequence[int]) -> set[int]:
    """Those of ``keys`` the target holds, soft-deleted or not: a plain (consistent, lock-free) read."""
    key = store.tables.target.c[store.key]
    return {int(k) for k in conn.execute(sa.select(key).where(key.in_([int(k) for k in keys]))).scalars()}


def copy_new_keys(conn: sa.Connection, store, keys: Sequence[int], window_start: dt.datetime | None,
                  window_end: dt.datetime, run_id: str, synced_at: dt.datetime) -> UpsertCounts:
    """The clean rows of ``keys`` in the window copied by plain ``INSERT … SELECT``, as
    ``copy_into_empty_range`` does for a range: keys the target held none of when the caller's
    transaction read it (``stored_keys``), so every row is new, and the statement never reads
    the target (no gap locks there). A key a concurrent run wrote since then fails the INSERT on
    the duplicate (IntegrityError 1062, ``is_duplicate_key``): the caller rolls back and guards."""
    return _copy(conn, store, _Statement(conn, store, keys[0], keys[-1], window_start, window_end, run_id,
                                         synced_at, keys))


def _copy(conn: sa.Connection, store, s: _Statement, tail: str = "") -> UpsertCounts:
    """Plain ``INSERT … SELECT`` of the statement's clean rows: every one counted new (and fresh)."""
    written = conn.execute(sa.text(s.head + f" FROM {s.q(store.tables.clean.name)} c WHERE {s.picked} AND ({s.window})"
                                   + tail).bindparams(*s.types, sa.bindparam("now", type_=sa.DateTime())),
                           s.params).rowcount
    return UpsertCounts(inserted=int(written), fresh=int(written))


def _insert_into_empty_range(conn: sa.Connection, store, s: _Statement) -> UpsertCounts | None:
    """``copy_into_empty_range`` inside the caller's transaction: in a savepoint, so a duplicate
    key (a concurrent run wrote into the range) rolls back only the copy, and None sends the range
    down the guarded path."""
    p = s.params
    try:
        with conn.begin_nested():
            return copy_into_empty_range(conn, store, p["lo"], p["hi"], p.get("start"), p["end"], p["run_id"], p["now"])
    except sa.exc.IntegrityError as exc:
        if not is_duplicate_key(exc):
            raise
        return None


def is_duplicate_key(exc: sa.exc.DBAPIError) -> bool:
    return getattr(exc.orig, "args", (None,))[0] == _DUPLICATE_KEY


_DUPLICATE_KEY = 1062  # MySQL ER_DUP_ENTRY


def sparse_window_keys(conn: sa.Connection, store, window_start: dt.datetime | None, window_end: dt.datetime,
                       limit: int) -> list[int] | None:
    """The window's clean keys in order when there are at most ``limit`` of them, else None.

    Read from the change-time indexes alone (one range per change column, unioned), never from
    the rows: a day's changes are spread over all keys, and a key-range scan or an index merge
    that re-checks every row read them from disk again for every chunk (measured at 1M rows with
    a 128 MB buffer pool: 15 s to publish 10,000 changed rows). The first partition's window
    (no lower bound) holds all history: None, paged by key range instead.
    """
    if window_start is None:
        return None
    t = store.tables.clean
    ranges = sa.union(*[sa.select(t.c[store.key].label("k"))
                        .where(t.c[c.name] >= window_start, t.c[c.name] < window_end)
                        for c in store.spec.change_columns]).subquery()
    keys = conn.execute(sa.select(ranges.c.k).order_by(ranges.c.k).limit(limit + 1)).scalars().all()
    return [int(k) for k in keys] if len(keys) <= limit else None


def int_list(keys: Sequence[int]) -> str:
    return ",".join(str(int(k)) for k in keys)
