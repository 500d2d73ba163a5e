"""The SQL of the checks that run after a publish, each one pass over its window.

A check's sample query (``ORDER BY … LIMIT 20``) reads the whole window again when there is
nothing to find, and on a 1,000,000-row initial load that second pass cost as much as the
first; so a count that comes back short of the sample size is the count, and a sample is read
only when there is something to show.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import sqlalchemy as sa


@dataclass(frozen=True)
class DuplicateKeys:
    groups: int
    samples: list[dict] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.groups == 0


def duplicate_business_keys(store, start: dt.datetime | None, end: dt.datetime, sample: int = 20) -> DuplicateKeys:
    """Groups of clean rows in the window sharing the spec's business key (NULLs never match).

    One grouped pass, read from the clean table's business-key index (ddl.py) where it exists;
    only when it finds more than ``sample`` groups is a second query needed, to count them all.
    """
    t, business_key = store.tables.clean, store.spec.business_key
    cols = [t.c[name] for name in business_key]
    dupes = (sa.select(*cols, sa.func.count().label("rows"))
             .where(store.in_window(t, start, end), *[c.is_not(None) for c in cols])
             .group_by(*cols).having(sa.func.count() > 1))
    with store.engine.connect() as conn:
        n, groups = sampled_groups(conn, dupes.order_by(*cols), sample)
    return DuplicateKeys(n, [dict(zip([*business_key, "rows"], g)) for g in groups])


def sampled_groups(conn: sa.Connection, query, sample: int) -> tuple[int, list[sa.Row]]:
    """How many rows a grouped check query finds, and up to ``sample`` of them, in one pass when
    they are at most ``sample`` (the usual case: none); a second query counts them only beyond."""
    rows = conn.execute(query.limit(sample + 1)).all()
    if len(rows) <= sample:
        return len(rows), rows
    return int(conn.execute(sa.select(sa.func.count()).select_from(query.subquery())).scalar_one()), rows[:sample]


# A bounded window whose change-index ranges hold at most this many entries is compared from the
# indexes alone (window_target_diff); beyond, the check joins the rows.
INDEX_DIFF_LIMIT = 100_000


def window_target_diff(store, start: dt.datetime | None, end: dt.datetime, sample: int = 20,
                       limit: int = INDEX_DIFF_LIMIT) -> tuple[int, list[tuple]] | None:
    """``target_matches_clean`` for a recent window, read from indexes alone: (rows of the window
    whose target row is missing or at another change time, up to ``sample`` of them as (key, clean
    change time, target change time)); None when it cannot be answered that way.

    A one-day window's rows are scattered through tables far larger than the buffer pool, so
    joining them reads a page from disk per row of each table (~0.7 s for 10,000 rows at 1M).
    Here: a clean row's change time is the max of its change columns (transform.to_frame); it is
    at least ``start`` for every row of the window, so it is the max of the values at or after
    ``start``, which the clean table's change-column indexes hold with the key; and the target's
    change_time index holds (change time, key) for every target row changed at or after
    ``start``: a window row absent from it is missing or older. One snapshot (one transaction).
    None for the first partition (no lower bound), when a range holds more than ``limit``
    entries (an old day: every later change is in its ranges), or when a change column is
    stored less precisely than the change time (its max would not be the stored change time).
    """
    if start is None or any(c.sql_type != "datetime(3)" for c in store.spec.change_columns):
        return None
    c, t, key = store.tables.clean, store.tables.target, store.key
    clean_times: dict[int, dt.datetime] = {}
    in_window: set[int] = set()
    with store.engine.connect() as conn:
        for col in store.spec.change_columns:
            rows = conn.execute(sa.select(c.c[key], c.c[col.name]).where(c.c[col.name] >= start)
                                .limit(limit + 1)).all()
            if len(rows) > limit:
                return None
            for k, at in rows:
                if k not in clean_times or at > clean_times[k]:
                    clean_times[k] = at
                if at < end:
                    in_window.add(k)
        published = conn.execute(sa.select(t.c[key], t.c.change_time).where(t.c.change_time >= start)
                                 .limit(limit + 1)).all()
        if len(published) > limit:
            return None
        target_times = dict(published)
        wrong = sorted(k for k in in_window if target_times.get(k) != clean_times[k])
        older = dict(conn.execute(sa.select(t.c[key], t.c.change_time).where(t.c[key].in_(wrong[:sample]))).all()
                     ) if wrong else {}
    return len(wrong), [(k, clean_times[k], older.get(k)) for k in wrong[:sample]]
