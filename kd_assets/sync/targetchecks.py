"""The SQL of the checks that run after a publish, each one pass over its window (or its keys).

A check's sample query (``ORDER BY … LIMIT 20``) reads the whole window again when there is
nothing to find, and on a 1,000,000-row initial load that second pass cost as much as the
first; so a count that comes back short of the sample size is the count, and a sample is read
only when there is something to show.
"""

from __future__ import annotations

import datetime as dt
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import sqlalchemy as sa

from kd_assets.sync.bulk import is_mysql
from kd_assets.sync.identifiers import quoter
from kd_assets.sync.sqltext import batches
from kd_assets.sync.upsert import int_list, sparse_window_keys

# A window of at most this many keys (a day) checks its own rows' business keys; beyond, one
# grouped pass over the table. Touched rows per statement: their keys are literals in an IN list.
TOUCHED_LIMIT = 100_000
TOUCHED_BATCH = 1_000
TOUCHED_WORKERS = 3  # connections: each touched row is two random page reads, and a disk answers several at once


@dataclass(frozen=True)
class DuplicateKeys:
    groups: int
    samples: list[dict] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.groups == 0


def duplicate_business_keys(store, start: dt.datetime | None, end: dt.datetime, sample: int = 20,
                            touched_limit: int | None = None) -> DuplicateKeys:
    """Groups of clean rows sharing the spec's business key (NULLs never match) of which at least
    one row is in the window: every duplicate the window's rows take part in, also with a row
    changed on another day (``rows`` counts the whole group).

    A recent window (at most ``touched_limit`` keys, default ``TOUCHED_LIMIT``, read from the
    change-column indexes alone) looks up only its own rows' business keys in the business-key
    index (ddl.py), ``TOUCHED_WORKERS`` batches at a time: at 1M rows and 1% changed, 0.8 s where
    the grouped pass over the whole index took 1.2-1.5 s. Any other window, or a table without that
    index, takes one grouped pass over the whole table.
    """
    keys = None
    if start is not None and _has_business_key_index(store):
        with store.engine.connect() as conn:
            keys = sparse_window_keys(conn, store, start, end, TOUCHED_LIMIT if touched_limit is None else touched_limit)
    if keys is None:
        return _grouped_duplicates(store, start, end, sample)

    def groups(batch) -> list[sa.Row]:
        with store.engine.connect() as conn:
            return conn.execute(_groups_of_keys(store, batch)).all()

    found: dict[tuple, int] = {}  # a business key two touched rows share is found by both batches: once here
    with ThreadPoolExecutor(TOUCHED_WORKERS, thread_name_prefix="kd-unique-keys") as pool:
        for rows in pool.map(groups, batches(keys, TOUCHED_BATCH)):
            found.update({tuple(row[:-1]): int(row[-1]) for row in rows})
    names = [*store.spec.business_key, "rows"]
    return DuplicateKeys(len(found), [dict(zip(names, [*k, found[k]])) for k in sorted(found)[:sample]])


def _groups_of_keys(store, keys) -> sa.Select:
    """Business-key groups of more than one clean row that hold a row of ``keys``: the keys' own
    rows (by primary key), then each of their business keys looked up in its index."""
    t, names = store.tables.clean, store.spec.business_key
    own = sa.text(f"{quoter(store.engine)(t.name)}.{quoter(store.engine)(store.key)} IN ({int_list(keys)})")
    touched = (sa.select(*[t.c[n] for n in names]).where(own, *[t.c[n].is_not(None) for n in names])
               .distinct().subquery("touched"))
    b = t.alias("b")
    cols = [b.c[n] for n in names]
    return (sa.select(*cols, sa.func.count().label("rows"))
            .join_from(b, touched, sa.and_(*[b.c[n] == touched.c[n] for n in names]))
            .group_by(*cols).having(sa.func.count() > 1))


def _grouped_duplicates(store, start: dt.datetime | None, end: dt.datetime, sample: int) -> DuplicateKeys:
    """``duplicate_business_keys`` in one grouped pass over the business-key index (or table)."""
    t, business_key = store.tables.clean, store.spec.business_key
    cols = [t.c[name] for name in business_key]
    in_window = sa.func.sum(sa.case((store.in_window(t, start, end), 1), else_=0))
    dupes = (sa.select(*cols, sa.func.count().label("rows")).where(*[c.is_not(None) for c in cols])
             .group_by(*cols).having(sa.and_(sa.func.count() > 1, in_window > 0)))
    with store.engine.connect() as conn:
        n, groups = sampled_groups(conn, dupes.order_by(*cols), sample)
    return DuplicateKeys(n, [dict(zip([*business_key, "rows"], g)) for g in groups])


def _has_business_key_index(store) -> bool:
    """Whether an index of the clean table starts with the business key (ddl.py makes one unless a
    column of the key is text)."""
    names = list(store.spec.business_key)
    return any([c.name for c in index.columns][:len(names)] == names for index in store.tables.clean.indexes)


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
    change_time index holds (change time, key) for every target row: a window row without its
    entry there is missing or at another version. One statement, so no row passes through Python
    (fetching the ranges' 30,000 entries into Python cost 0.2 s of CPU at 1% of 1M rows).
    None for the first partition (no lower bound), when a range holds more than ``limit``
    entries (an old day: every later change is in its ranges), or when a change column is
    stored less precisely than the change time (its max would not be the stored change time).
    """
    if start is None or any(c.sql_type != "datetime(3)" for c in store.spec.change_columns):
        return None
    c, t, key = store.tables.clean, store.tables.target, store.key
    ranges = [sa.select(c.c[key].label("k"), c.c[col.name].label("at")).where(c.c[col.name] >= start)
              for col in store.spec.change_columns]
    with store.engine.connect() as conn:
        if any(_range_size(conn, q, limit) > limit
               for q in [*ranges, sa.select(t.c[key]).where(t.c.change_time >= start)]):
            return None
        u = sa.union_all(*ranges).subquery("u")
        window = (sa.select(u.c.k, sa.func.max(u.c.at).label("at")).group_by(u.c.k)
                  .having(sa.func.min(u.c.at) < end).subquery("w"))
        entry = sa.select(sa.literal(1)).where(t.c.change_time == window.c.at, t.c[key] == window.c.k)
        if is_mysql(conn):  # an index probe on (change_time, key), never the row
            entry = entry.with_hint(t, f"FORCE INDEX ({_change_time_index(t)})")
        wrong = conn.execute(sa.select(window.c.k, window.c.at).where(~entry.exists()).order_by(window.c.k)).all()
        keys = [k for k, _ in wrong[:sample]]
        older = dict(conn.execute(sa.select(t.c[key], t.c.change_time).where(t.c[key].in_(keys))).all()) if keys else {}
    return len(wrong), [(k, at, older.get(k)) for k, at in wrong[:sample]]


def _range_size(conn: sa.Connection, query: sa.Select, limit: int) -> int:
    """Rows of ``query``, counted up to ``limit + 1``."""
    return int(conn.execute(sa.select(sa.func.count()).select_from(query.limit(limit + 1).subquery())).scalar_one())


def _change_time_index(target: sa.Table) -> str:
    return next(i.name for i in target.indexes if [c.name for c in i.columns] == ["change_time"])
