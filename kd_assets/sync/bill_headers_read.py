"""Reading a split bill (layout ``header_and_lines``) back in the shape of the lines layout.

Reconciliation, content verification and the change sensor compare the target with Kingdee row
by row, in line-key order, with every spec column. A split bill keeps header columns once per bill
and line columns per line, so these reads join them back: every line row of the lines table with
its bill's header, and every header whose bill has no live line as the bill's no-line row (entry
id 0, line key ``bill_id·2³¹``), just as Kingdee returns such a bill. Two keyset-paged streams
merged by key: memory stays one chunk of each, whatever the number of lines per bill.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterator, Sequence

import pandas as pd
import sqlalchemy as sa

from kd_assets.sync.billspec import LINE_SHIFT, header_column_names, line_column_names
from kd_assets.sync.transform import read_frame

KeyBounds = Callable[[sa.ColumnElement], sa.ColumnElement]


def everything(_key: sa.ColumnElement) -> sa.ColumnElement:
    return sa.true()


def merged_rows(store, names: Sequence[str], bounds: KeyBounds = everything,
                chunk_size: int = 5_000) -> Iterator[tuple]:
    """Rows ``(line key, *names)`` of the joined bill in key order; ``names`` are spec columns or
    bookkeeping columns (change_time, is_deleted, deleted_at, run_id, synced_at, row_hash), read
    from the line for lines and from the header for no-line rows. ``bounds(key)`` limits the keys."""
    names = [n for n in names if n != store.key]
    return heapq.merge(_line_rows(store, names, bounds, chunk_size),
                       _lineless_rows(store, names, bounds, chunk_size), key=lambda r: r[0])


def merged_frames(store, names: Sequence[str], bounds: KeyBounds = everything,
                  chunk_size: int = 5_000) -> Iterator[pd.DataFrame]:
    """``merged_rows`` in typed frames of ``chunk_size`` rows (``coerce_frame`` dtypes)."""
    chunk: list[tuple] = []
    columns = [store.key, *[n for n in names if n != store.key]]
    for row in merged_rows(store, names, bounds, chunk_size):
        chunk.append(row)
        if len(chunk) == chunk_size:
            yield _frame(store, chunk, columns)
            chunk = []
    if chunk:
        yield _frame(store, chunk, columns)


def _frame(store, rows: list[tuple], columns: list[str]) -> pd.DataFrame:
    if all(c.name in columns for c in store.spec.columns):
        return read_frame(store.spec, rows, columns)
    return pd.DataFrame(rows, columns=columns)


def _line_rows(store, names: Sequence[str], bounds: KeyBounds, chunk_size: int) -> Iterator[tuple]:
    lines, heads, b = store.tables.target, store.tables.headers, store.spec.bill
    line_names = set(line_column_names(store.spec))
    cols = [lines.c[n] if n in line_names or n not in store.spec_names else heads.c[n] for n in names]
    join = lines.outerjoin(heads, heads.c[b.header_key_column] == lines.c[b.header_key_column])
    yield from _keyset(store, join, lines.c[store.key], cols, bounds(lines.c[store.key]), chunk_size)


def _lineless_rows(store, names: Sequence[str], bounds: KeyBounds, chunk_size: int) -> Iterator[tuple]:
    lines, heads, b = store.tables.target, store.tables.headers, store.spec.bill
    bill = heads.c[b.header_key_column]
    header_names = set(header_column_names(store.spec))
    cols = []
    for n in names:
        if n == b.entry_key_column:
            cols.append(sa.literal(0, sa.BigInteger).label(n))
        elif n in header_names or n not in store.spec_names:
            cols.append(heads.c[n])
        else:
            cols.append(sa.null().label(n))
    live_line = (sa.select(sa.literal(1)).where(lines.c[b.header_key_column] == bill,
                                                lines.c.is_deleted == sa.false()).exists())
    for row in _keyset(store, heads, bill, cols, sa.and_(bounds(_LinelessKey(bill)), ~live_line), chunk_size):
        yield (int(row[0]) << LINE_SHIFT, *row[1:])


class _LinelessKey:
    """A no-line row's key (bill id·2³¹) in key bounds: each comparison with a whole number becomes
    one on the bill id, so the header table's primary key serves the range."""

    def __init__(self, bill: sa.ColumnElement):
        self.bill = bill

    def __gt__(self, key: int):
        return self.bill > (int(key) >> LINE_SHIFT)

    def __ge__(self, key: int):
        return self.bill >= -(-int(key) >> LINE_SHIFT)

    def __lt__(self, key: int):
        return self.bill < -(-int(key) >> LINE_SHIFT)

    def __le__(self, key: int):
        return self.bill <= (int(key) >> LINE_SHIFT)


def _keyset(store, source, order_key, cols, where, chunk_size: int) -> Iterator[tuple]:
    """Rows ``(order key, *cols)`` by keyset on ``order_key``: bounded memory, stable under writes."""
    last = None
    while True:
        q = sa.select(order_key, *cols).select_from(source).where(where).order_by(order_key).limit(chunk_size)
        if last is not None:
            q = q.where(order_key > last)
        with store.engine.connect() as conn:
            chunk = conn.execute(q).all()
        for row in chunk:
            yield tuple(row)
        if len(chunk) < chunk_size:
            return
        last = chunk[-1][0]
