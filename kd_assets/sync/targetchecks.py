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
