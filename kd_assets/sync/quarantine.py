"""The quarantine keeps one row per rejected key: its latest rejection, and every partition that
rejected it (``partitions``), so a key rejected by a range run and again by a day run is listed
once. The table's primary key stays (record_key, partition_key) for existing deployments; the
writes here keep one row per key, and :func:`merge_duplicates` folds rows written before.
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd
import sqlalchemy as sa

from kd_assets.sync.bulk import upsert_frame
from kd_assets.sync.ddl import Tables
from kd_assets.sync.sqltext import batches

PARTITIONS = "partitions"  # comma-separated partition keys that rejected the key, sorted
_BATCH = 1_000


def _split(text: str | None) -> set[str]:
    return {p for p in (text or "").split(",") if p}


def _fold(rows: pd.DataFrame) -> pd.DataFrame:
    """One row per key: the latest rejection (last in ``rows``), carrying the union of every
    row's partitions. Latest, not newest change time: an UnAudit lowers a row's change time, and
    the quarantine must hold the version the source has now (reconciliation matches on it)."""
    rows = rows.reset_index(drop=True)
    if not rows["record_key"].duplicated().any():  # the usual case: nothing to fold, no groupby
        return rows.assign(**{PARTITIONS: [",".join(sorted(_split(p) | {k}))
                                           for p, k in zip(rows[PARTITIONS], rows["partition_key"])]})
    parts = rows.groupby("record_key", sort=False).apply(
        lambda g: ",".join(sorted(set().union(*(_split(p) | {k} for p, k in zip(g[PARTITIONS], g["partition_key"]))))),
        include_groups=False)
    latest = rows.drop_duplicates("record_key", keep="last")
    return latest.assign(**{PARTITIONS: latest["record_key"].map(parts)}).reset_index(drop=True)


def _existing(conn: sa.Connection, table: sa.Table, keys: Iterable[str]) -> pd.DataFrame:
    frames = [pd.DataFrame(conn.execute(sa.select(table).where(table.c.record_key.in_(batch))).all(),
                           columns=[c.name for c in table.columns]) for batch in batches(list(keys), _BATCH)]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=[c.name for c in table.columns])


def _replace(conn: sa.Connection, tables: Tables, folded: pd.DataFrame) -> None:
    t = tables.quarantine
    for batch in batches(list(folded["record_key"]), _BATCH):
        conn.execute(t.delete().where(t.c.record_key.in_(batch)))
    upsert_frame(conn, t, tables.kinds, folded, [c.name for c in t.columns if c.name in folded.columns])


def write_rejects(conn: sa.Connection, tables: Tables, rejects: pd.DataFrame) -> None:
    """Quarantine ``rejects`` (quarantine columns, ``partitions`` unset), replacing what the
    quarantine holds for the same keys and keeping the partitions that rejected them before."""
    rejects = rejects.assign(**{PARTITIONS: None})
    before = _existing(conn, tables.quarantine, rejects["record_key"].unique())
    merged = pd.concat([before.astype(object), rejects.astype(object)], ignore_index=True) if len(before) else rejects
    _replace(conn, tables, _fold(merged))


def merge_duplicates(conn: sa.Connection, tables: Tables) -> int:
    """Migration: fold the rows of keys listed more than once into one; fill ``partitions``.
    Returns the number of keys folded."""
    t = tables.quarantine
    dupes = [k for (k,) in conn.execute(sa.select(t.c.record_key).group_by(t.c.record_key)
                                        .having(sa.func.count() > 1))]
    if dupes:
        rows = _existing(conn, t, dupes).sort_values("quarantined_at", kind="stable")
        _replace(conn, tables, _fold(rows))
    conn.execute(t.update().where(t.c[PARTITIONS].is_(None)).values({PARTITIONS: t.c.partition_key}))
    return len(dupes)


def migrate_quarantine(engine: sa.Engine, tables: Tables, changes: list[str]) -> list[str]:
    """After ``ensure_tables``: when it just added ``partitions``, fold the keys listed twice."""
    if f"added column {tables.quarantine.name}.{PARTITIONS}" in changes:
        with engine.begin() as conn:
            changes.append(f"merged {merge_duplicates(conn, tables)} keys listed twice in quarantine")
    return changes
