"""The target database: landing, clean staging, quarantine, monotonic target upsert, sync log.

Write-audit-publish in tables: ``land_rows`` keeps rows as fetched (landing.py), ``write_clean`` keeps the
validated typed rows, ``upsert_target`` publishes them to the table other systems read. Every
write is keyed and guarded by the change time, so re-runs are idempotent and an older version
never overwrites a newer one. Reads are keyset-paged iterators, so memory stays bounded.

Works on MySQL/MariaDB (PyMySQL) and on SQLite, the embedded default. Datetimes are naive
source-local (Kingdee's clock); bookkeeping times (``synced_at``, ``fetched_at`` …) are naive UTC.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Iterator, Mapping, Sequence

import pandas as pd
import sqlalchemy as sa

from kd_assets.sync import landing
from kd_assets.sync.bulk import is_mysql, upsert_encoded, upsert_frame
from kd_assets.sync.ddl import build_tables, ensure_tables
from kd_assets.sync.engine import DEFAULT_SQLITE_PATH, create_target_engine  # noqa: F401 (re-exported)
from kd_assets.sync.identifiers import quoter
from kd_assets.sync.landing import LandCounts  # noqa: F401 (re-exported)
from kd_assets.sync.loadfile import Encoded, encode_batches, known_unavailable
from kd_assets.sync.lines import retire_missing_in_range, retire_replaced_lines
from kd_assets.sync.rangepublish import publish_by_range, publish_keys
from kd_assets.sync.quarantine import migrate_quarantine, write_rejects
from kd_assets.sync.spec import SyncSpec
from kd_assets.sync.sqltext import row_signature
from kd_assets.sync.synclog import SyncLog
from kd_assets.sync.transform import CHANGE_TIME, read_frame
from kd_assets.sync.reconcile_support import (  # noqa: F401 (utc_now re-exported)
    DEFAULT_CHUNK_SIZE, IN_BATCH, ReconcileSupport, batches, int_list, utc_now)
from kd_assets.sync.upsert import UpsertCounts, plan_upsert, publish_range, sparse_window_keys, update_forced

SPARSE_WINDOW_KEYS = 100_000  # a window this small publishes by its keys, not by key range (upsert.py)…
DENSE_WINDOW = 0.2  # …unless its keys are at least this share of its key span (bench/bench_density.py)


def is_dense(keys: Sequence[int]) -> bool:
    """Whether sorted ``keys`` are at least ``DENSE_WINDOW`` of their span: then reading the span in
    key order (the range path) is cheaper than looking each key up (the keyed path)."""
    return bool(keys) and len(keys) >= DENSE_WINDOW * (keys[-1] - keys[0] + 1)


@dataclass(frozen=True)
class PreparedClean:
    """Validated rows as they will be staged: their keys and change times (``keys``, for the
    quarantine), the staged ``columns``, and either the rows themselves (``frame``) or, where LOAD
    DATA may take them, only their encoded batches: a chunk waiting for the writer holds its bytes,
    not its frame beside them. ``unique``: no key repeats (else LOAD DATA is not used)."""

    keys: pd.DataFrame
    columns: list[str]
    frame: pd.DataFrame | None = None
    encoded: list[Encoded] | None = None
    unique: bool = True


class TargetStore(ReconcileSupport, SyncLog):
    """All tables of one spec in one database.

    A bill spec with ``layout: header_and_lines`` gets its subclass ``HeaderLinesStore``
    (bill_headers.py) whichever way the store is made, so no caller can publish it in the wrong shape.
    """

    def __new__(cls, engine: sa.Engine, spec: SyncSpec, **_kwargs):
        if cls is TargetStore and spec.bill is not None and spec.bill.split:
            from kd_assets.sync.bill_headers import HeaderLinesStore  # imports this module
            cls = HeaderLinesStore
        return super().__new__(cls)

    def __init__(self, engine: sa.Engine, spec: SyncSpec, *, load_file: bool = True):
        """``load_file`` (the default) lands and stages clean rows through LOAD DATA LOCAL INFILE
        where the engine and server allow it, else multi-row INSERT (loadfile.py, logged once per
        engine); ``False`` (KD_MYSQL_LOAD_FILE=0) always takes the multi-row INSERT."""
        self.engine = engine
        self.load_file = load_file
        self.spec = spec
        self.tables = build_tables(spec)
        self.key = spec.key_column

    # ---- schema -------------------------------------------------------------------------

    def ensure_tables(self) -> list[str]:
        """Create or migrate (add columns only) every table; returns the changes made."""
        if is_mysql(self.engine):
            with self.engine.connect() as conn:
                mode = conn.exec_driver_sql("SELECT @@SESSION.sql_mode").scalar() or ""
            if "NO_BACKSLASH_ESCAPES" in mode:
                raise RuntimeError("sql_mode NO_BACKSLASH_ESCAPES is set; the bulk writer escapes "
                                   "with backslashes. Remove it for this user or database.")
        changes = migrate_quarantine(self.engine, self.tables, ensure_tables(self.engine, self.tables))
        return landing.migrate_landing(self.engine, self, changes)

    # ---- landing (landing.py) ----------------------------------------------------------

    def land_rows(self, rows: Sequence[Sequence], run_id: str, partition_key: str | None) -> LandCounts:
        """Keep a fetched page as fetched (one compressed page, an index row per key: the newest
        version per key); keyless rows → quarantine."""
        return landing.land_rows(self, rows, run_id, partition_key, utc_now())

    def iter_landed(self, window_start: dt.datetime | None, window_end: dt.datetime,
                    chunk_size: int = DEFAULT_CHUNK_SIZE, partition_key: str | None = None,
                    keys: tuple[int | None, int | None] = (None, None)) -> Iterator[list[list]]:
        """Landed rows whose change fields fall in [start, end), in chunks (key order within a
        chunk; see ``landing.iter_landed``); ``keys``: only keys in [low, high) (None: unbounded).

        Rows whose change time could not be read are yielded for the partition they were landed
        under (``partition_key``), so they reach validation and quarantine instead of vanishing.
        """
        key, (low, high) = self.tables.landing.c[self.key], keys
        where = sa.and_(self.landed_where(window_start, window_end, partition_key),
                        *([] if low is None else [key >= low]), *([] if high is None else [key < high]))
        return landing.iter_landed(self, where, chunk_size)

    def landed_where(self, window_start: dt.datetime | None, window_end: dt.datetime,
                     partition_key: str | None = None):
        """The landing rows ``iter_landed`` reads for a window."""
        t = self.tables.landing
        where = self.changed_in_window(t, window_start, window_end)
        if partition_key is not None:
            # change_time is NULL exactly when every change field is (it is their max). Both arms
            # must be answerable from an index, or a one-day window scans the whole landing table
            # (3.6 s per chunk at 1M rows): `change_time >= start` and `change_time IS NULL` are
            # ranges of the change_time index (EXPLAIN: one range scan for a recent day).
            unreadable = [t.c.change_time.is_(None), *[t.c[c.name].is_(None) for c in self.spec.change_columns]]
            where = sa.or_(where, sa.and_(*unreadable, t.c.partition_key == partition_key))
        return where

    def prune_landed_pages(self) -> int:
        """Delete landed pages no key points to any more (after a raw step); returns how many."""
        return landing.prune_pages(self)

    # ---- clean staging ------------------------------------------------------------------

    def write_clean(self, frame: pd.DataFrame, run_id: str, partition_key: str | None) -> int:
        """Stage validated rows (guarded by change time); rows that now pass leave quarantine."""
        return self.write_prepared_clean(self.prepare_clean(frame, run_id, partition_key))

    def prepare_clean(self, frame: pd.DataFrame, run_id: str, partition_key: str | None) -> PreparedClean:
        """``write_clean``'s Python half (the staged columns, signatures, LOAD DATA bytes), so it
        can run while the database writes the previous chunk."""
        out = self._spec_frame(frame)
        keys = out[[self.key, CHANGE_TIME]]
        if out.empty:
            return PreparedClean(keys, list(out.columns), frame=out)
        out["row_hash"] = row_signature(self.spec, out)
        out["run_id"], out["partition_key"], out["cleaned_at"] = run_id, partition_key, utc_now()
        columns = list(out.columns)
        if self.load_file and is_mysql(self.engine) and not known_unavailable(self.engine):
            return PreparedClean(keys, columns, encoded=list(encode_batches(self.tables.kinds, columns, self.key, out)),
                                 unique=not keys[self.key].duplicated().any())
        return PreparedClean(keys, columns, frame=out)

    def write_prepared_clean(self, prepared: PreparedClean) -> int:
        """``write_clean``'s database half: one transaction."""
        keys = prepared.keys
        if keys.empty:
            return 0
        with self.engine.begin() as conn:
            if prepared.encoded is None:
                upsert_frame(conn, self.tables.clean, self.tables.kinds, prepared.frame, prepared.columns,
                             guard=CHANGE_TIME, load_file=self.load_file)
            else:
                upsert_encoded(conn, self.tables.clean, self.tables.kinds, prepared.encoded, prepared.columns,
                               guard=CHANGE_TIME, load_file=self.load_file, unique=prepared.unique)
            self._resolve_quarantine(conn, keys)
        return len(keys)

    def iter_clean(self, window_start: dt.datetime | None, window_end: dt.datetime,
                   chunk_size: int = DEFAULT_CHUNK_SIZE) -> Iterator[pd.DataFrame]:
        """Clean rows whose change fields fall in [start, end), typed as ``to_frame`` types them."""
        t = self.tables.clean
        cols = [t.c[c.name] for c in self.spec.columns] + [t.c.change_time]
        for chunk in self._keyset(t, cols, self.in_window(t, window_start, window_end), chunk_size):
            yield read_frame(self.spec, chunk, [c.name for c in cols])

    # ---- quarantine ---------------------------------------------------------------------

    def quarantine(self, rejects: pd.DataFrame, run_id: str, partition_key: str | None) -> int:
        """Keep rejects (key, change_time, reasons, payload): one row per key, the newest rejection
        with every partition that saw it (quarantine.py)."""
        if rejects.empty:
            return 0
        out = pd.DataFrame({
            "record_key": rejects["key"].astype(str).to_numpy(),
            "partition_key": partition_key or "",
            "run_id": run_id,
            CHANGE_TIME: pd.to_datetime(rejects["change_time"]).to_numpy(),
            "reasons": [json.dumps(r, ensure_ascii=False, default=str) for r in rejects["reasons"]],
            "payload": rejects["payload"].to_numpy(),
            "quarantined_at": utc_now(),
        })
        with self.engine.begin() as conn:
            write_rejects(conn, self.tables, out)
        return len(out)

    def quarantined(self, partition_key: str | None = None) -> pd.DataFrame:
        """Quarantined rows (all, or one partition's), with ``reasons`` decoded from JSON."""
        t = self.tables.quarantine
        q = sa.select(t).order_by(t.c.partition_key, t.c.record_key)
        if partition_key is not None:
            q = q.where(t.c.partition_key == partition_key)
        with self.engine.connect() as conn:
            frame = pd.DataFrame(conn.execute(q).all(), columns=[c.name for c in t.columns])
        frame["reasons"] = [json.loads(r) for r in frame["reasons"]]
        return frame

    def quarantine_count(self, partition_key: str | None = None) -> int:
        t = self.tables.quarantine
        q = sa.select(sa.func.count()).select_from(t)
        if partition_key is not None:
            q = q.where(t.c.partition_key == partition_key)
        with self.engine.connect() as conn:
            return int(conn.execute(q).scalar_one())

    def _resolve_quarantine(self, conn: sa.Connection, clean: pd.DataFrame) -> None:
        """A key that passes at a change time ≥ its quarantined one is removed from quarantine
        (in every partition): quarantine lists what is wrong now, not what once was."""
        t = self.tables.quarantine
        keys = clean[self.key].to_numpy(dtype="int64")
        times, stale = clean[CHANGE_TIME].to_numpy(), []
        for start in range(0, len(keys), IN_BATCH):
            # Keys are ints rendered by us: safe as literals, and far cheaper than 10k bind params.
            in_list = "'" + "','".join(map(str, keys[start:start + IN_BATCH].tolist())) + "'"
            found = conn.execute(sa.text(
                f"SELECT record_key, partition_key, change_time FROM {quoter(conn)(t.name)}"
                f" WHERE record_key IN ({in_list})"
            ).columns(t.c.record_key, t.c.partition_key, t.c.change_time)).all()
            # Usually nothing is quarantined: look up change times only for the keys found.
            at = pd.Index(keys).get_indexer([int(r.record_key) for r in found]) if found else []
            stale += [{"k": r.record_key, "p": r.partition_key} for r, i in zip(found, at)
                      if r.change_time is None or pd.Timestamp(r.change_time) <= pd.Timestamp(times[i])]
        if stale:
            conn.execute(t.delete().where(t.c.record_key == sa.bindparam("k"),
                                          t.c.partition_key == sa.bindparam("p")), stale)

    # ---- target -------------------------------------------------------------------------

    def upsert_target(self, frame: pd.DataFrame, run_id: str,
                      force_upto: Mapping[int, dt.datetime] | None = None) -> UpsertCounts:
        """Publish clean rows: insert new keys, update changed rows whose change time is ≥ the
        stored one, skip unchanged and older rows without sending them.

        ``force_upto`` (key → stored change time seen before fetching) overwrites those keys
        whatever their incoming change time, but only while the stored change time is still at
        most that: reconciliation heals rows whose change time went backwards at the source
        (Enable clearing FForbidDate), and a newer version a concurrent run published meanwhile
        is never reverted. A soft-deleted row comes back with a newer version or when forced
        (see ``plan_upsert``).
        """
        if frame.empty:
            return UpsertCounts()
        out = self._spec_frame(frame).reset_index(drop=True)
        out["row_hash"] = row_signature(self.spec, out)
        stored = self._stored_state(out[self.key])
        plan = plan_upsert(out, stored, self.key, force_upto or {})
        out["synced_at"], out["run_id"] = utc_now(), run_id
        out["is_deleted"], out["deleted_at"] = False, pd.NaT
        cols = [c for c in out.columns if c != CHANGE_TIME] + [CHANGE_TIME]
        with self.engine.begin() as conn:
            upsert_frame(conn, self.tables.target, self.tables.kinds, out[plan.send_guarded], cols,
                         guard=CHANGE_TIME)
            lost = plan.forced - update_forced(conn, self.tables.target, self.tables.kinds,
                                               out[plan.send_forced], cols, self.key, force_upto or {})
            removed = retire_replaced_lines(conn, self, out, run_id, utc_now()) if self.spec.bill else 0
        return plan.counts.moved_to_older(lost).with_lines_removed(removed)

    def publish_clean(self, window_start: dt.datetime | None, window_end: dt.datetime, run_id: str,
                      chunk_size: int = DEFAULT_CHUNK_SIZE, on_chunk=None) -> UpsertCounts:
        """Publish the window's clean rows inside the database, chunk by key range.

        Same rules and counts as ``upsert_target`` over ``iter_clean`` chunks, but no row
        travels through Python: the fast path for large windows (an initial load).
        A window of at most ``SPARSE_WINDOW_KEYS`` keys spread thinner than ``DENSE_WINDOW`` over
        their span (a day's edits) is published by its keys; any other by key range, over its span.
        ``on_chunk(rows)`` is called after each chunk (progress logging).
        """
        t, total = self.tables.clean, UpsertCounts()
        with self.engine.connect() as conn:
            sparse = sparse_window_keys(conn, self, window_start, window_end, SPARSE_WINDOW_KEYS)
        if not self.spec.bill and (sparse is None or is_dense(sparse)):  # two connections (rangepublish.py)
            span = None if sparse is None else (sparse[0], sparse[-1])
            return publish_by_range(self, window_start, window_end, run_id, chunk_size, on_chunk, span)
        if not self.spec.bill and is_mysql(self.engine):  # a few connections reading at once
            return publish_keys(self, sparse, window_start, window_end, run_id, on_chunk)
        chunks = ([[(k,) for k in sparse[i:i + chunk_size]] for i in range(0, len(sparse), chunk_size)]
                  if sparse is not None else
                  self._keyset(t, [t.c[self.key]], self.in_window(t, window_start, window_end), chunk_size))
        for chunk in chunks:
            keys = [k for k, in chunk] if sparse is not None else None
            with self.engine.begin() as conn:
                total += publish_range(conn, self, chunk[0][0], chunk[-1][0], window_start, window_end,
                                       run_id, utc_now(), keys=keys)
                if self.spec.bill:
                    window = self.in_window(t, window_start, window_end)
                    total += UpsertCounts(lines_removed=retire_missing_in_range(
                        conn, self, chunk[0][0], chunk[-1][0], window if keys is None
                        else sa.and_(window, t.c[self.key].in_(keys)), run_id, utc_now()))
            if on_chunk is not None:
                on_chunk(len(chunk))
        return total

    def _stored_state(self, keys: pd.Series, table: sa.Table | None = None, key: str | None = None) -> pd.DataFrame:
        """Stored change time, signature and deletion of ``keys`` in the target (or ``table`` by ``key``)."""
        t, key, q = self.tables.target if table is None else table, key or self.key, quoter(self.engine)
        rows = []
        with self.engine.connect() as conn:
            for batch in batches([int(k) for k in keys], IN_BATCH):
                rows += conn.execute(sa.text(
                    f"SELECT {q(key)}, change_time, row_hash, is_deleted FROM {q(t.name)}"
                    f" WHERE {q(key)} IN ({int_list(batch)})"
                ).columns(t.c[key], t.c.change_time, t.c.row_hash, t.c.is_deleted)).all()
        stored = pd.DataFrame(rows, columns=[key, "stored_change_time", "stored_hash", "stored_deleted"])
        stored[key] = stored[key].astype("Int64")
        stored["stored_change_time"] = pd.to_datetime(stored["stored_change_time"]).astype("datetime64[ns]")
        return stored

    def _spec_frame(self, frame: pd.DataFrame) -> pd.DataFrame:
        return frame[[c.name for c in self.spec.columns] + [CHANGE_TIME]].copy()

    # ---- helpers ------------------------------------------------------------------------

    def in_window(self, table: sa.Table, start: dt.datetime | None, end: dt.datetime):
        """Any change field in the half-open window [start, end); ``start=None``: no lower bound.

        No bound rather than a floor date: MySQL's DATETIME cannot hold year 1 (Kingdee's empty date).
        """
        return sa.or_(*[sa.and_(table.c[c.name] < end, *([] if start is None else [table.c[c.name] >= start]))
                        for c in self.spec.change_columns])

    def changed_in_window(self, table: sa.Table, start: dt.datetime | None, end: dt.datetime):
        """``in_window`` answerable from ``table``'s change_time index: change_time is the max of
        the change fields, so a field at or after ``start`` puts change_time there too."""
        window = self.in_window(table, start, end)
        return window if start is None else sa.and_(table.c.change_time >= start, window)

    def _keyset(self, table: sa.Table, columns, where, chunk_size: int) -> Iterator[list[sa.Row]]:
        """Pages by key (``key > last``), never by offset: bounded memory, stable under writes."""
        key, last = table.c[self.key], None
        while True:
            q = sa.select(*columns).where(where).order_by(key).limit(chunk_size)
            if last is not None:
                q = q.where(key > last)
            with self.engine.connect() as conn:
                chunk = conn.execute(q).all()
            if not chunk:
                return
            yield chunk
            last = chunk[-1]._mapping[self.key]
            if len(chunk) < chunk_size:
                return
