"""Checks that fit a bill's lines table, as plain functions over the target (the Dagster layer
wraps them as asset checks; see defs/checks.py).

- unique (bill id, entry id): the target's unique index and the clean schema's unique line key
  enforce it; ``duplicate_lines`` counts violations anyway, for tables made before the index.
- every line's bill has a header: ``headerless_bills`` finds live lines without their bill's
  header values (no bill number), a bill whose live lines disagree on the header (two bill
  numbers or change times: lines of two versions), and a no-line header row (entry id 0) still
  live beside real lines.
For a split bill (layout ``header_and_lines``) ``headerless_bills`` checks the two tables instead:
every live line has its bill's live header at the same version (change time).
The reject share is counted per line by the sync (one landed row per line) and every reject
reason names the bill number, id and entry id (schemas.bill_line_names).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import sqlalchemy as sa

from kd_assets.sync.store import TargetStore
from kd_assets.sync.targetchecks import sampled_groups

SAMPLE = 20


@dataclass(frozen=True)
class BillCheckResult:
    """How many bills (or line pairs) fail, and up to 20 of them."""

    failures: int
    samples: list[dict] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.failures == 0


def duplicate_lines(store: TargetStore) -> BillCheckResult:
    """Live (bill id, entry id) pairs held by more than one target row.

    Where the unique (bill id, entry id) index is in place, only a pair with a NULL in it can
    repeat (a unique index lets NULLs through); when none is, nothing is grouped: grouping every
    live row took 18.7 s at 1M lines, reading that index for NULLs 0.46 s."""
    t, b = store.tables.target, store.spec.bill
    cols = [t.c[b.header_key_column], t.c[b.entry_key_column]]
    pairs_with_null = sa.select(sa.func.count()).select_from(t).where(sa.or_(*[c.is_(None) for c in cols]))
    with store.engine.connect() as conn:
        if _unique_index_on(conn, t.name, [c.name for c in cols]) and not conn.execute(pairs_with_null).scalar_one():
            return BillCheckResult(0)
    dupes = (sa.select(*cols, sa.func.count().label("rows")).where(t.c.is_deleted == sa.false())
             .group_by(*cols).having(sa.func.count() > 1))
    return _run(store, dupes, [b.header_key_column, b.entry_key_column, "rows"])


def _unique_index_on(conn: sa.Connection, table: str, columns: list[str]) -> bool:
    """Whether the database holds a unique index on exactly ``columns`` of ``table``, in order
    (a table made before the index, or whose index could not be built, has none)."""
    return any(i.get("unique") and list(i["column_names"]) == columns for i in sa.inspect(conn).get_indexes(table))


def headerless_bills(store: TargetStore, window_start: dt.datetime | None = None,
                     window_end: dt.datetime | None = None) -> BillCheckResult:
    """Bills (with a line changed in the window, or all) whose live lines lack a consistent header."""
    if store.spec.bill.split:
        return lines_without_header(store, window_start, window_end)
    t, b = store.tables.target, store.spec.bill
    bill, number, entry = t.c[b.header_key_column], t.c[b.number_column], t.c[b.entry_key_column]
    live = t.c.is_deleted == sa.false()
    where = [live]
    if window_end is not None:  # a window; no start: everything changed before its end
        changed = sa.select(bill).where(store.changed_in_window(t, window_start, window_end)).scalar_subquery()
        where.append(bill.in_(changed))
    numbers = sa.func.count(sa.distinct(number))
    versions = sa.func.count(sa.distinct(t.c.change_time))
    no_number = sa.func.sum(sa.case((number.is_(None), 1), else_=0))
    header_rows = sa.func.sum(sa.case((entry == 0, 1), else_=0))
    q = (sa.select(bill, sa.func.count().label("lines"), numbers.label("bill_numbers"),
                   versions.label("versions"), header_rows.label("header_rows"))
         .where(*where).group_by(bill)
         .having(sa.or_(numbers != 1, versions > 1, no_number > 0,
                        sa.and_(header_rows > 0, sa.func.count() > 1))))
    return _run(store, q, [b.header_key_column, "lines", "bill_numbers", "versions", "header_rows"])


def lines_without_header(store: TargetStore, window_start: dt.datetime | None = None,
                         window_end: dt.datetime | None = None) -> BillCheckResult:
    """A split bill's bills (changed in the window, or all) with live lines but no live header, or
    with live lines of another version than the header's."""
    lines, heads, b = store.tables.target, store.tables.headers, store.spec.bill
    bill, head_bill = lines.c[b.header_key_column], heads.c[b.header_key_column]
    where = [lines.c.is_deleted == sa.false()]
    if window_end is not None:
        # Headers carry the change fields; a line's change time is its bill version's.
        line_window = [lines.c.change_time < window_end,
                       *([] if window_start is None else [lines.c.change_time >= window_start])]
        changed_heads = sa.select(head_bill).where(store.changed_in_window(heads, window_start, window_end))
        where.append(sa.or_(bill.in_(changed_heads), sa.and_(*line_window)))
    no_header = sa.func.max(sa.case((sa.or_(head_bill.is_(None), heads.c.is_deleted == sa.true()), 1), else_=0))
    other_version = sa.func.sum(sa.case((heads.c.change_time != lines.c.change_time, 1), else_=0))
    q = (sa.select(bill, sa.func.count().label("lines"), no_header.label("no_header"),
                   other_version.label("other_version"))
         .select_from(lines.outerjoin(heads, head_bill == bill)).where(*where).group_by(bill)
         .having(sa.or_(no_header > 0, other_version > 0)))
    return _run(store, q, [b.header_key_column, "lines", "no_header", "other_version"])


def _run(store: TargetStore, query, names: list[str]) -> BillCheckResult:
    with store.engine.connect() as conn:
        n, rows = sampled_groups(conn, query, SAMPLE)
    return BillCheckResult(n, [dict(zip(names, (int(v) if v is not None else None for v in r))) for r in rows])
