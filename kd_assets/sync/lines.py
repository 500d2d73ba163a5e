"""Lines replaced per bill: after a bill's new version is published, its lines that the fetch
no longer returned are soft-deleted, in the same transaction.

Which lines a version has is what was *landed* for it: every fetched line is landed with the
bill's change time B (rejected lines too, so a line quarantined at B keeps its last good version
instead of vanishing). A published line of the bill whose change time is below B and which was
not landed at B or later no longer exists: it is marked deleted and stamped just below B (B − 1 ms,
``RETIRED_BELOW``). The stamp is the guard: a run holding an older version of the bill (change time
< B) is "older" for every line, so it can neither resurrect the removed line (``plan_upsert``/
``publish_range`` skip it) nor remove lines of the newer version (only lines below *its* change
time are candidates). The statement re-checks the change time itself, so a concurrent newer
publish wins. Just below, not at B: the evidence may be partial (a fetch that broke after a page
landed part of version B, or a bill saved while its pages were read), and a line that version B
does hold must come back with the next fetch of B; a line soft-deleted *at* its version stays
deleted when that version comes in again (``plan_upsert``), as a reconciliation delete must.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping

import pandas as pd
import sqlalchemy as sa

from kd_assets.sync.billspec import line_keys
from kd_assets.sync.sqltext import batches
from kd_assets.sync.transform import convert_column

_IN_BATCH = 2_000
RETIRED_BELOW = dt.timedelta(milliseconds=1)  # change_time is datetime(3): the version just below B


def retire_missing_lines(conn: sa.Connection, store, bills: Mapping[int, dt.datetime], present: Iterable[int],
                         run_id: str, now: dt.datetime) -> int:
    """Soft-delete the published lines of ``bills`` (bill id → the change time B just published)
    that are not in ``present`` nor landed at B or later; returns the lines marked deleted."""
    if not bills:
        return 0
    bill_col, key = store.spec.bill.header_key_column, store.key
    t = store.tables.target
    newest = {int(b): pd.Timestamp(v) for b, v in bills.items()}
    candidates: dict[int, pd.Timestamp] = {}
    for batch in batches(sorted(newest), _IN_BATCH):
        for k, bill, ct in conn.execute(sa.select(t.c[key], t.c[bill_col], t.c.change_time).where(
                t.c[bill_col].in_(batch), t.c.is_deleted == sa.false())):
            if pd.Timestamp(ct) < newest[int(bill)]:
                candidates[int(k)] = newest[int(bill)]
    for k in set(map(int, present)) & candidates.keys():
        del candidates[k]
    return _retire(conn, store, candidates, run_id, now)


def retire_missing_in_range(conn: sa.Connection, store, lo: int, hi: int, window, run_id: str,
                            now: dt.datetime) -> int:
    """``retire_missing_lines`` for the bills of the clean lines with keys in [lo, hi] matching
    ``window`` (what one chunk of ``publish_clean`` published), each at its newest change time B.

    The database picks the candidates: only live lines older than their bill's B come back, not
    every line of the chunk's bills, so an initial load reads nothing back and neither memory
    nor time grows with the lines per bill (a 2,000-line bill straddling chunks was re-read whole
    by each of them)."""
    c, t = store.tables.clean, store.tables.target
    bill_col, key = store.spec.bill.header_key_column, store.key
    newest = (sa.select(c.c[bill_col].label("bill"), sa.func.max(c.c.change_time).label("newest"))
              .where(c.c[key] >= lo, c.c[key] <= hi, window).group_by(c.c[bill_col]).subquery())
    older = (sa.select(t.c[key], newest.c.newest)
             .select_from(t.join(newest, t.c[bill_col] == newest.c.bill))
             .where(t.c.is_deleted == sa.false(), t.c.change_time < newest.c.newest))
    candidates = {int(k): pd.Timestamp(b) for k, b in conn.execute(older)}
    return _retire(conn, store, candidates, run_id, now)


def _retire(conn: sa.Connection, store, candidates: dict[int, pd.Timestamp], run_id: str, now: dt.datetime) -> int:
    """Mark deleted, stamped just below B, the candidate lines (key → B) not landed at B or later."""
    key, t, landing = store.key, store.tables.target, store.tables.landing
    for batch in batches(sorted(candidates), _IN_BATCH):
        for k, ct in conn.execute(sa.select(landing.c[key], landing.c.change_time).where(landing.c[key].in_(batch))):
            if ct is not None and pd.Timestamp(ct) >= candidates[int(k)]:
                del candidates[int(k)]
    if not candidates:
        return 0
    by_version: dict[pd.Timestamp, list[int]] = {}
    for k, b in candidates.items():
        by_version.setdefault(b, []).append(k)
    retired = 0
    # One statement per bill version (lines of one bill share it), not per line.
    for version, keys in by_version.items():
        newer = version.to_pydatetime()
        stamp = newer - RETIRED_BELOW
        for batch in batches(keys, _IN_BATCH):
            retired += conn.execute(t.update().where(t.c[key].in_(batch), t.c.change_time < newer,
                                                     t.c.is_deleted == sa.false())
                                    .values(is_deleted=True, deleted_at=now, run_id=run_id,
                                            change_time=stamp)).rowcount
            # Their staged older versions go too: left in clean, a re-run of an old window would
            # count them as pending and clean_target_diff would report them.
            for table in (landing, store.tables.clean):
                conn.execute(table.delete().where(table.c[key].in_(batch), table.c.change_time < newer))
    return int(retired)


def row_keys(spec, rows, key_pos: int):
    """Fetched rows' keys (a bill's packed line keys, Int64) and the mask of rows without one."""
    if not spec.bill:
        return convert_column(spec.key, [r[key_pos] for r in rows])[:2]
    entry_pos = spec.field_keys.index(spec.bill.entry_key_field)
    keys, bad = line_keys([r[key_pos] for r in rows], [r[entry_pos] for r in rows])
    keys = pd.array(keys, dtype="Int64")
    keys[bad] = pd.NA
    return keys, bad


def retire_replaced_lines(conn: sa.Connection, store, published: pd.DataFrame, run_id: str,
                          now: dt.datetime) -> int:
    """``retire_missing_lines`` for the bills of a frame just upserted (its lines are present)."""
    bills = newest_per_bill(published, store.spec.bill.header_key_column, "change_time")
    return retire_missing_lines(conn, store, bills, published[store.key].astype("int64"), run_id, now)


def newest_per_bill(frame: pd.DataFrame, bill_column: str, change_time: str) -> dict[int, dt.datetime]:
    """Bill id → greatest change time among the frame's lines of that bill."""
    if frame.empty:
        return {}
    newest = frame.groupby(frame[bill_column].astype("int64"))[change_time].max()
    return {int(b): v.to_pydatetime() for b, v in newest.items()}

