"""What reconciliation, content verification and the change sensor ask of a form's tables.

A mixin of ``TargetStore`` (store.py): key scans of the target, soft deletes and tombstones of
rows gone at the source, forgetting staged versions before a heal, and the comparisons the
checks and the sensor make. Every write is keyed and batched; reads are keyset-paged.
"""

from __future__ import annotations

import datetime as dt
from typing import Iterable, Iterator, Sequence

import pandas as pd
import sqlalchemy as sa

from kd_assets.sync.bulk import is_mysql
from kd_assets.sync.identifiers import quoter
from kd_assets.sync.sqltext import batches
from kd_assets.sync.targetchecks import window_target_diff
from kd_assets.sync.transform import CHANGE_TIME, read_frame

DEFAULT_CHUNK_SIZE = 10_000
IN_BATCH = 5_000  # keys per IN (...) list: short statements, few round trips


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


class ReconcileSupport:
    """Target-side reads and writes for reconciliation, verification and the sensor (needs the
    ``engine``, ``spec``, ``tables``, ``key``, ``_keyset`` and ``_stored_state`` of TargetStore)."""

    def target_keys(self, chunk_size: int = DEFAULT_CHUNK_SIZE, extra: Sequence[str] = ()) -> Iterator[sa.Row]:
        """Every target row's key, change_time, code (status) columns, is_deleted and ``extra``
        columns, by key."""
        t = self.tables.target
        cols = [t.c[self.key], t.c.change_time, *[t.c[c.name] for c in self.spec.columns
                                                  if c.conversion == "code"], t.c.is_deleted,
                *[t.c[name] for name in extra]]
        for chunk in self._keyset(t, cols, sa.true(), chunk_size):
            yield from chunk

    def iter_target(self, where, chunk_size: int = DEFAULT_CHUNK_SIZE) -> Iterator[pd.DataFrame]:
        """Target rows matching ``where`` (spec columns and is_deleted) by key, typed as ``to_frame``
        types them: what content verification compares with the source. ``where`` may be a function
        of the key column (a split bill's no-line rows compute their key)."""
        t = self.tables.target
        where = where(t.c[self.key]) if callable(where) else where
        cols = [t.c[c.name] for c in self.spec.columns] + [t.c.is_deleted]
        for chunk in self._keyset(t, cols, where, chunk_size):
            yield read_frame(self.spec, chunk, [c.name for c in cols])

    def soft_delete(self, keys: Iterable[int], run_id: str) -> int:
        """Mark rows deleted at the source (found by a key scan); returns rows newly marked.

        Their landed and clean versions go in the same transaction: left there, a sync run of a
        partition holding their change times would publish them again and un-delete the rows.
        """
        t, n = self.tables.target, 0
        with self.engine.begin() as conn:
            for batch in batches([int(k) for k in keys], IN_BATCH):
                n += conn.execute(t.update().where(t.c[self.key].in_(batch), t.c.is_deleted == sa.false())
                                  .values(is_deleted=True, deleted_at=utc_now(), run_id=run_id)).rowcount
                self._forget_staged(conn, batch)
        return n

    def unpublished_staged(self) -> list[int]:
        """Keys landed or staged clean that the target has never held (created since the last publish)."""
        t, found = self.tables.target, set()
        with self.engine.connect() as conn:
            for table in (self.tables.landing, self.tables.clean):
                j = table.outerjoin(t, table.c[self.key] == t.c[self.key])
                found.update(conn.execute(sa.select(table.c[self.key]).select_from(j)
                                          .where(t.c[self.key].is_(None))).scalars())
        return sorted(int(k) for k in found)

    def tombstone_staged(self, keys: Iterable[int], run_id: str) -> int:
        """Write never-published staged rows deleted at the source as soft-deleted target rows at
        their staged change time, and forget their staged versions, in one transaction: a run that
        read them before reconciliation cannot publish them live (a soft-deleted row at the same
        version stays deleted), a newer version of the key still can. Returns tombstones written."""
        n, names = 0, [col.name for col in self.spec.columns]
        with self.engine.begin() as conn:
            for batch in batches([int(k) for k in keys], IN_BATCH):
                n += insert_tombstones(conn, self.tables.target, self.tables.clean, names, self.key,
                                       f"c.{quoter(conn)(self.key)} IN ({int_list(batch)})", run_id)
                self._forget_staged(conn, batch)
        return n

    def forget_staged(self, keys: Iterable[int]) -> None:
        """Drop the landed and clean versions of ``keys`` (before a forced heal re-stages them):
        staging keeps the newest change time, which for a drifted row is a version the source has
        since undone, and a re-run of its old partition would publish it again."""
        with self.engine.begin() as conn:
            for batch in batches([int(k) for k in keys], IN_BATCH):
                self._forget_staged(conn, batch)

    def _forget_staged(self, conn: sa.Connection, keys: list[int]) -> None:
        for table in (self.tables.landing, self.tables.clean):
            conn.execute(table.delete().where(table.c[self.key].in_(keys)))

    def published_change_times(self, conn: sa.Connection, keys: list[int]) -> list[tuple[int, dt.datetime]]:
        """(key, change time) of the live published rows of ``keys``: what the change sensor compares."""
        t = self.tables.target
        return [tuple(r) for r in conn.execute(sa.select(t.c[self.key], t.c.change_time)
                                               .where(t.c[self.key].in_(keys), t.c.is_deleted == sa.false()))]

    def forget_signatures(self, keys: list[int]) -> None:
        """Forget the stored row signature of ``keys``, so the next upsert rewrites them even when
        the incoming signature matches (content verification found the target edited)."""
        t = self.tables.target
        with self.engine.begin() as conn:
            for batch in batches([int(k) for k in keys], IN_BATCH):
                conn.execute(t.update().where(t.c[self.key].in_(batch)).values(row_hash=None))

    def change_times(self, keys: Iterable[int]) -> dict[int, dt.datetime]:
        """Stored change time of each key the target holds (soft-deleted rows included)."""
        stored = self._stored_state(pd.Series(list(keys), dtype="int64"))
        return {int(k): t.to_pydatetime() for k, t in zip(stored[self.key], stored["stored_change_time"])}

    def read_target(self, keys: Iterable[int] | None = None) -> pd.DataFrame:
        """Target rows (all, or the given keys), typed like ``to_frame`` plus bookkeeping."""
        t = self.tables.target
        q = sa.select(t).order_by(t.c[self.key])
        if keys is not None:
            q = q.where(t.c[self.key].in_([int(k) for k in keys]))
        with self.engine.connect() as conn:
            return read_frame(self.spec, conn.execute(q).all(), [c.name for c in t.columns])

    def newest_change_time(self) -> dt.datetime | None:
        """Greatest change time in the target: where an incremental probe starts."""
        with self.engine.connect() as conn:
            return conn.execute(sa.select(sa.func.max(self.tables.target.c.change_time))).scalar()

    def clean_target_diff(self, window_start: dt.datetime | None, window_end: dt.datetime,
                          sample: int = 20) -> tuple[int, pd.DataFrame]:
        """Clean rows of the window missing from the target or with another change time."""
        found = window_target_diff(self, window_start, window_end, sample)
        if found is not None:  # a recent window: from the indexes alone, no row read
            return found[0], pd.DataFrame(found[1], columns=[self.key, "clean_change_time", "target_change_time"])
        c, t = self.tables.clean, self.tables.target
        j = c.outerjoin(t, c.c[self.key] == t.c[self.key])
        cond = sa.and_(self.in_window(c, window_start, window_end),
                       sa.or_(t.c[self.key].is_(None), t.c.change_time != c.c.change_time))
        with self.engine.connect() as conn:
            n = conn.execute(sa.select(sa.func.count()).select_from(j).where(cond)).scalar_one()
            # With nothing to show, the sample query would only read the whole window again.
            rows = conn.execute(sa.select(c.c[self.key], c.c.change_time.label("clean_change_time"),
                                          t.c.change_time.label("target_change_time"))
                                .select_from(j).where(cond).order_by(c.c[self.key]).limit(sample)).all() if n else []
        return int(n), pd.DataFrame(rows, columns=[self.key, "clean_change_time", "target_change_time"])


def insert_tombstones(conn: sa.Connection, table: sa.Table, clean: sa.Table, names: list[str], key: str,
                      where_sql: str, run_id: str) -> int:
    """Copy the clean rows (alias ``c``) matching ``where_sql`` into ``table`` as soft-deleted rows
    at their staged change time; a key ``table`` holds already (a concurrent run published it
    meanwhile) is left alone: its next reconciliation soft-deletes it. Returns rows written."""
    q = quoter(conn)
    cols = names + ["row_hash", "synced_at", "run_id", "is_deleted", "deleted_at", CHANGE_TIME]
    values = [f"c.{q(col)}" for col in names] + ["c.row_hash", ":now", ":run_id", "1", ":now", "c.change_time"]
    keep = (f" ON DUPLICATE KEY UPDATE {q(table.name)}.{q(key)} = {q(table.name)}.{q(key)}" if is_mysql(conn)
            else " ON CONFLICT DO NOTHING")
    # NOT NULL columns take the staged values.
    return conn.execute(sa.text(
        f"INSERT INTO {q(table.name)} ({', '.join(q(x) for x in cols)}) SELECT {', '.join(values)}"
        f" FROM {q(clean.name)} c WHERE {where_sql}{keep}"
    ).bindparams(sa.bindparam("now", type_=sa.DateTime())), {"now": utc_now(), "run_id": run_id}).rowcount


def int_list(keys: list[int]) -> str:
    return ",".join(str(int(k)) for k in keys)
