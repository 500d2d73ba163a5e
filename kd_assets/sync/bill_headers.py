"""A bill published as a header table plus a lines table (spec ``bill.layout: header_and_lines``).

The header table (``tables.headers``, default ``<target>_headers``) holds one row per bill keyed by
bill id, with the header columns; the lines table (``tables.target``) one row per line keyed by the
packed line key, with bill id, entry id and the entry's columns. Landing and clean staging are the
lines layout's (one row per fetched line, all columns), so fetching, validation and quarantine are
shared; only publishing and reading back differ:

- a bill's new version upserts its header (guarded by change time, like every row) and its lines,
  and soft-deletes the lines the version no longer has (lines.py), in one transaction;
- a bill without lines (Kingdee returns one row with an empty entry id) keeps its header and has
  no line rows;
- reads for reconciliation and verification join both tables back into the lines layout's shape
  (bill_headers_read.py), so the key scan, the status and content comparisons stay as they are;
- a bill deleted at the source soft-deletes its header and its lines (``soft_delete_bills``).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable, Mapping

import pandas as pd
import sqlalchemy as sa

from kd_assets.sync.billspec import ID_LIMIT, LINE_SHIFT, bill_of, header_column_names, line_column_names
from kd_assets.sync.bill_headers_publish import lineless_keys, newest_headers, publish_lines
from kd_assets.sync.bill_headers_read import merged_frames, merged_rows
from kd_assets.sync.bulk import upsert_frame
from kd_assets.sync.identifiers import quoter
from kd_assets.sync.lines import newest_per_bill, retire_missing_in_range, retire_missing_lines
from kd_assets.sync.sqltext import batches, row_signature
from kd_assets.sync.reconcile_support import insert_tombstones
from kd_assets.sync.store import DEFAULT_CHUNK_SIZE, TargetStore, utc_now
from kd_assets.sync.transform import CHANGE_TIME
from kd_assets.sync.upsert import UpsertCounts, plan_upsert, update_forced

_IN_BATCH = 2_000


class HeaderLinesStore(TargetStore):
    """``TargetStore`` of a split bill: ``tables.target`` holds lines, ``tables.headers`` headers."""

    def __init__(self, engine: sa.Engine, spec, *, load_file: bool = True):
        super().__init__(engine, spec, load_file=load_file)
        b = spec.bill
        self.bill_column = b.header_key_column
        self.header_names = header_column_names(spec)
        self.line_names = line_column_names(spec)
        self.spec_names = {c.name for c in spec.columns}
        self.header_spec = dataclasses.replace(
            spec, key_column=b.header_key_column, columns=tuple(c for c in spec.columns if c.name in self.header_names))

    # ---- publishing ---------------------------------------------------------------------

    def upsert_target(self, frame: pd.DataFrame, run_id: str,
                      force_upto: Mapping[int, dt.datetime] | None = None) -> UpsertCounts:
        """Publish clean rows of whole bill versions: header and lines in one transaction, each
        guarded by change time (``TargetStore.upsert_target`` for the rules). Counts are per line,
        a bill without lines counting as its header row."""
        if frame.empty:
            return UpsertCounts()
        force_upto = force_upto or {}
        out = self._spec_frame(frame).reset_index(drop=True)
        out["row_hash"] = row_signature(self.spec, out)
        is_line = out[self.spec.bill.entry_key_column].fillna(0).astype("int64").to_numpy() != 0
        lines = out[is_line].reset_index(drop=True)
        heads = self._header_frame(out)
        stored_lines = self._stored_in(self.tables.target, self.key, lines[self.key])
        lplan = plan_upsert(lines, stored_lines, self.key, force_upto)
        head_force = {b: force_upto[b << LINE_SHIFT] for b in heads[self.bill_column].astype("int64")
                      if (b << LINE_SHIFT) in force_upto}
        now = utc_now()
        with self.engine.begin() as conn:
            lost = self._write(conn, self.tables.target, lines, lplan, self.line_names, self.key, force_upto, run_id)
            counts = self._publish_headers(conn, heads, set(out.loc[~is_line, self.bill_column].astype("int64")),
                                           head_force, run_id)
            bills = newest_per_bill(out, self.bill_column, CHANGE_TIME)
            # Only the newest version's lines are present: a clean chunk may still hold older ones.
            newest = out[CHANGE_TIME] == out.groupby(self.bill_column)[CHANGE_TIME].transform("max")
            removed = retire_missing_lines(conn, self, bills, out.loc[newest, self.key].astype("int64"), run_id, now)
            self._forget_stale_lineless(conn, bills)
        return (lplan.counts.moved_to_older(lost) + counts).with_lines_removed(removed)

    def _publish_headers(self, conn: sa.Connection, heads: pd.DataFrame, lineless: set[int],
                         force_upto: Mapping[int, dt.datetime], run_id: str) -> UpsertCounts:
        """Upsert one row per bill (guarded; forced up to ``force_upto``); returns the counts of the
        bills without lines (``lineless``), whose header is their only row."""
        stored = self._stored_in(self.tables.headers, self.bill_column, heads[self.bill_column])
        plan = plan_upsert(heads, stored, self.bill_column, force_upto)
        mine = heads[self.bill_column].astype("int64").isin(lineless).to_numpy()
        counts = plan_upsert(heads[mine], stored, self.bill_column, force_upto).counts
        lost = self._write(conn, self.tables.headers, heads, plan, self.header_names, self.bill_column, force_upto,
                           run_id)
        return counts.moved_to_older(min(lost, counts.updated))

    def publish_clean(self, window_start: dt.datetime | None, window_end: dt.datetime, run_id: str,
                      chunk_size: int = DEFAULT_CHUNK_SIZE, on_chunk=None) -> UpsertCounts:
        """Publish the window's clean rows inside the database, chunk by key range: lines by the
        lines layout's ``INSERT … SELECT``, headers one row per bill (bill_headers_publish.py);
        then the lines each bill's new version lacks are soft-deleted, all in one transaction."""
        c, total = self.tables.clean, UpsertCounts()
        for keys in self._keyset(c, [c.c[self.key]], self.in_window(c, window_start, window_end), chunk_size):
            lo, hi, now = keys[0][0], keys[-1][0], utc_now()
            lineless = lineless_keys([k for (k,) in keys])
            with self.engine.begin() as conn:
                total += publish_lines(conn, self, lo, hi, lineless, window_start, window_end, run_id, now)
                heads = newest_headers(conn, self, lo, hi, window_start, window_end)
                heads["row_hash"] = row_signature(self.header_spec, heads)
                total += self._publish_headers(conn, heads, {bill_of(k) for k in lineless}, {}, run_id)
                bills = {int(b): pd.Timestamp(t).to_pydatetime()
                         for b, t in zip(heads[self.bill_column], heads[CHANGE_TIME])}
                window = self.in_window(c, window_start, window_end)
                total += UpsertCounts(lines_removed=retire_missing_in_range(conn, self, lo, hi, window, run_id, now))
                self._forget_stale_lineless(conn, bills)
            if on_chunk is not None:
                on_chunk(len(keys))
        return total

    def _header_frame(self, out: pd.DataFrame) -> pd.DataFrame:
        """One row per bill, from its newest line (the lines of one version share the header)."""
        newest = out.sort_values([self.bill_column, CHANGE_TIME], kind="stable")
        heads = newest.drop_duplicates(self.bill_column, keep="last").reset_index(drop=True)
        heads = heads[[*self.header_names, CHANGE_TIME]].copy()
        heads["row_hash"] = row_signature(self.header_spec, heads)
        return heads

    def _write(self, conn, table: sa.Table, frame: pd.DataFrame, plan, names: list[str], key: str,
               force_upto: Mapping[int, dt.datetime], run_id: str) -> int:
        """Send a plan's rows (guarded, then forced); returns forced rows that lost to a newer version."""
        out = frame[[*names, "row_hash", CHANGE_TIME]].copy()
        out["synced_at"], out["run_id"], out["is_deleted"], out["deleted_at"] = utc_now(), run_id, False, pd.NaT
        cols = [c for c in out.columns if c != CHANGE_TIME] + [CHANGE_TIME]
        upsert_frame(conn, table, self.tables.kinds, out[plan.send_guarded], cols, guard=CHANGE_TIME)
        return plan.forced - update_forced(conn, table, self.tables.kinds, out[plan.send_forced], cols, key, force_upto)

    def _forget_stale_lineless(self, conn: sa.Connection, bills: Mapping[int, dt.datetime]) -> None:
        """Staged no-line rows of bills published at a newer version: they are no row of the lines
        table, so ``retire_missing_lines`` never sees them, yet a re-run of their old window would
        count them as unpublished."""
        newest = {b << LINE_SHIFT: pd.Timestamp(v) for b, v in bills.items()}
        for table in (self.tables.landing, self.tables.clean):
            for batch in batches(sorted(newest), _IN_BATCH):
                stale = [int(k) for k, ct in conn.execute(sa.select(table.c[self.key], table.c.change_time)
                                                          .where(table.c[self.key].in_(batch)))
                         if ct is not None and pd.Timestamp(ct) < newest[int(k)]]
                if stale:
                    conn.execute(table.delete().where(table.c[self.key].in_(stale)))

    def _stored_in(self, table: sa.Table, key: str, keys) -> pd.DataFrame:
        return self._stored_state(pd.Series(keys), table, key)

    # ---- deletes, tombstones, signatures --------------------------------------------------

    def soft_delete(self, keys: Iterable[int], run_id: str) -> int:
        """Lines (and no-line rows) deleted at the source; a header goes when nothing of its bill
        stays live. Reconciliation calls ``soft_delete_bills``, which knows the bills still there."""
        return self.soft_delete_bills(keys, (), run_id)

    def soft_delete_bills(self, keys: Iterable[int], at_source: Iterable[int], run_id: str) -> int:
        """Soft-delete line keys gone at the source, and the header of each of their bills that the
        source no longer has (no key of ``at_source``, the keys a fetch by bill still found) and
        that keeps no live line; returns lines plus no-line bills newly marked."""
        keys = sorted({int(k) for k in keys})
        still = {bill_of(k) for k in at_source}
        bills = sorted({bill_of(k) for k in keys} - still)
        lineless = {bill_of(k) for k in keys if k % ID_LIMIT == 0}
        lines, heads, now, n = self.tables.target, self.tables.headers, utc_now(), 0
        with self.engine.begin() as conn:
            for batch in batches(keys, _IN_BATCH):
                n += conn.execute(lines.update().where(lines.c[self.key].in_(batch), lines.c.is_deleted == sa.false())
                                  .values(is_deleted=True, deleted_at=now, run_id=run_id)).rowcount
                self._forget_staged(conn, batch)
            live_line = (sa.select(sa.literal(1)).where(lines.c[self.bill_column] == heads.c[self.bill_column],
                                                        lines.c.is_deleted == sa.false()).exists())
            for batch in batches(bills, _IN_BATCH):
                gone = conn.execute(sa.select(heads.c[self.bill_column]).where(
                    heads.c[self.bill_column].in_(batch), heads.c.is_deleted == sa.false(), ~live_line)).scalars().all()
                if gone:
                    conn.execute(heads.update().where(heads.c[self.bill_column].in_(gone))
                                 .values(is_deleted=True, deleted_at=now, run_id=run_id))
                n += len(lineless & set(map(int, gone)))
        return n

    def unpublished_staged(self) -> list[int]:
        """Staged line keys the lines table never held, and staged no-line rows of bills the header
        table never held."""
        lines, heads, found = self.tables.target, self.tables.headers, set()
        with self.engine.connect() as conn:
            for table in (self.tables.landing, self.tables.clean):
                k = table.c[self.key]
                j = table.outerjoin(lines, k == lines.c[self.key])
                found.update(conn.execute(sa.select(k).select_from(j).where(
                    lines.c[self.key].is_(None), k % ID_LIMIT != 0)).scalars())
                lineless = [int(x) for x in conn.execute(sa.select(k).where(k % ID_LIMIT == 0)).scalars()]
                for batch in batches(lineless, _IN_BATCH):
                    held = set(conn.execute(sa.select(heads.c[self.bill_column]).where(
                        heads.c[self.bill_column].in_([bill_of(x) for x in batch]))).scalars())
                    found.update(x for x in batch if bill_of(x) not in held)
        return sorted(int(k) for k in found)

    def tombstone_staged(self, keys: Iterable[int], run_id: str) -> int:
        """``TargetStore.tombstone_staged`` for both tables: lines from their staged rows, and the
        header of each bill the header table does not hold yet from any staged row of the bill."""
        keys, n = [int(k) for k in keys], 0
        with self.engine.begin() as conn:
            q = quoter(conn)
            key, bill, entry = (f"c.{q(n)}" for n in (self.key, self.bill_column, self.spec.bill.entry_key_column))
            for batch in batches(keys, _IN_BATCH):
                in_batch, bills = f"{key} IN ({_ints(batch)})", sorted({bill_of(k) for k in batch})
                n += insert_tombstones(conn, self.tables.target, self.tables.clean, self.line_names, self.key,
                                       f"{in_batch} AND COALESCE({entry}, 0) <> 0", run_id)
                n += insert_tombstones(conn, self.tables.headers, self.tables.clean, self.header_names,
                                       self.bill_column, f"{in_batch} AND COALESCE({entry}, 0) = 0", run_id)
                insert_tombstones(conn, self.tables.headers, self.tables.clean, self.header_names, self.bill_column,
                                  f"{bill} IN ({_ints(bills)})", run_id)
                self._forget_staged(conn, batch)
        return n

    def forget_signatures(self, keys: list[int]) -> None:
        """Content verification found these rows differing: rewrite their lines and headers."""
        super().forget_signatures(keys)
        heads = self.tables.headers
        with self.engine.begin() as conn:
            for batch in batches(sorted({bill_of(k) for k in keys}), _IN_BATCH):
                conn.execute(heads.update().where(heads.c[self.bill_column].in_(batch)).values(row_hash=None))

    # ---- reading back in the lines layout's shape ----------------------------------------

    def change_times(self, keys: Iterable[int]) -> dict[int, dt.datetime]:
        """Stored change time of each line key held, and each bill's header under its no-line key."""
        keys = [int(k) for k in keys]
        found = super().change_times(keys)
        stored = self._stored_in(self.tables.headers, self.bill_column, pd.Series(sorted({bill_of(k) for k in keys})))
        for bill, stamp in zip(stored[self.bill_column], stored["stored_change_time"]):
            found[int(bill) << LINE_SHIFT] = stamp.to_pydatetime()
        return found

    def published_change_times(self, conn: sa.Connection, keys: list[int]) -> list[tuple[int, dt.datetime]]:
        found = super().published_change_times(conn, keys)
        heads = self.tables.headers
        lineless = [bill_of(k) for k in keys if k % ID_LIMIT == 0]
        if lineless:
            found += [(int(b) << LINE_SHIFT, ct) for b, ct in conn.execute(sa.select(
                heads.c[self.bill_column], heads.c.change_time).where(heads.c[self.bill_column].in_(lineless),
                                                                       heads.c.is_deleted == sa.false()))]
        return found

    def newest_change_time(self) -> dt.datetime | None:
        with self.engine.connect() as conn:
            stamps = [conn.execute(sa.select(sa.func.max(t.c.change_time))).scalar()
                      for t in (self.tables.target, self.tables.headers)]
        stamps = [s for s in stamps if s is not None]
        return max(stamps) if stamps else None

    def target_keys(self, chunk_size: int = DEFAULT_CHUNK_SIZE, extra=()):
        names = ["change_time", *[c.name for c in self.spec.columns if c.conversion == "code"], "is_deleted", *extra]
        return merged_rows(self, names, chunk_size=chunk_size)

    def iter_target(self, where, chunk_size: int = DEFAULT_CHUNK_SIZE):
        """Rows in key bounds given as a function of the key column (``verify.target_chunks``): the
        lines layout's key is a column, a no-line bill's is computed from its header's bill id."""
        if not callable(where):
            raise TypeError(f"{self.spec.tables.target}: iter_target of a header_and_lines bill takes its "
                            "key bounds as a function of the key column")
        return merged_frames(self, [c.name for c in self.spec.columns] + ["is_deleted"], where, chunk_size)

    def read_target(self, keys: Iterable[int] | None = None) -> pd.DataFrame:
        """Every bill in the lines layout's shape (no-line bills as entry 0), with bookkeeping."""
        names = [c.name for c in self.spec.columns] + ["change_time", "synced_at", "run_id", "is_deleted", "deleted_at"]
        wanted = None if keys is None else {int(k) for k in keys}
        frames = [f for f in merged_frames(self, names) if not f.empty]
        frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=[self.key, *names[1:]])
        return frame if wanted is None else frame[frame[self.key].astype("int64").isin(wanted)].reset_index(drop=True)

    def clean_target_diff(self, window_start: dt.datetime | None, window_end: dt.datetime,
                          sample: int = 20) -> tuple[int, pd.DataFrame]:
        """Clean rows of the window whose line (or, for a no-line row, header) is missing or at
        another change time."""
        c, lines, heads = self.tables.clean, self.tables.target, self.tables.headers
        window = self.in_window(c, window_start, window_end)
        parts = [(lines, c.c[self.key] == lines.c[self.key], lines.c[self.key], c.c[self.key] % ID_LIMIT != 0),
                 (heads, c.c[self.bill_column] == heads.c[self.bill_column], heads.c[self.bill_column],
                  c.c[self.key] % ID_LIMIT == 0)]
        n, rows = 0, []
        with self.engine.connect() as conn:
            for table, on, held, kind in parts:
                cond = sa.and_(window, kind, sa.or_(held.is_(None), table.c.change_time != c.c.change_time))
                j = c.outerjoin(table, on)
                n += conn.execute(sa.select(sa.func.count()).select_from(j).where(cond)).scalar_one()
                rows += conn.execute(sa.select(c.c[self.key], c.c.change_time, table.c.change_time).select_from(j)
                                     .where(cond).order_by(c.c[self.key]).limit(sample)).all()
        frame = pd.DataFrame(sorted(rows)[:sample], columns=[self.key, "clean_change_time", "target_change_time"])
        return int(n), frame


def _ints(keys: list[int]) -> str:
    return ",".join(str(int(k)) for k in keys)

