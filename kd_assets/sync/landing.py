"""Landing: every fetched page is kept whole, compressed, as one row of ``<landing>_pages``; the
landing table is a narrow per-key index into those pages.

Per key the index keeps the newest version landed (guarded by change time, like every write):
its change fields, the page and the row's position in it, the run and partition. So a row costs
one narrow index write instead of a JSON object per row, and the clean step parses each page's
JSON once instead of one object per row. Rows landed before pages existed keep their JSON in
``payload`` (``page_id`` NULL) and are still read; nothing is migrated by rewriting.

A page is the response body as the server sent it when the rows still are that body
(``page_body``: no row is encoded again), else the rows JSON-encoded. Landing a page is Python
work (``prepare_page``) then database work (``write_page``); the raw step overlaps the two
across pages (``land_behind``).

A page that no index row points to any more (its keys were landed again, or forgotten) is
deleted by :func:`prune_pages`. An index row only ever points to a page written in the same
transaction, so a committed page that is unreferenced stays unreferenced: pruning needs no
lock. A reader reads index rows and their pages in one transaction, and reads the index again
should a page have been pruned in between (possible only where reads are not one snapshot).
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import operator
import zlib
from dataclasses import dataclass
from decimal import Decimal
from typing import Callable, Iterator, Sequence

import numpy as np
import pandas as pd
import sqlalchemy as sa

from kd_assets.kingdee.responses import QueryPage
from kd_assets.sync.bulk import is_mysql, upsert_frame
from kd_assets.sync.ddl import landing_change_field_indexes
from kd_assets.sync.identifiers import quoter
from kd_assets.sync.lines import row_keys
from kd_assets.sync.reconcile_support import utc_now
from kd_assets.sync.transform import CHANGE_TIME, convert_column, payloads_json, record_key_text

try:  # lz4 compresses a page ~6x faster than zlib at level 1 (2.3 vs 14 ms for 2,000 rows)
    import lz4.frame as _lz4
except ImportError:  # a dependency; without it pages are written with zlib
    _lz4 = None

_IN_BATCH = 500  # page ids per IN (...)
_PAGES_PER_READ = 2  # pages read and decoded at a time: a few MB, whatever the chunk size
# Page bodies are ASCII JSON (non-ASCII escaped): any text Kingdee sends, even a lone surrogate,
# encodes, and compression takes back the size the escapes add.
_encode_rows = json.JSONEncoder(ensure_ascii=True, separators=(",", ":"), default=str).encode
_COMPRESS = {"none": lambda b: b, "zlib": lambda b: zlib.compress(b, 1)}
_DECOMPRESS = {"none": lambda b: b, "zlib": zlib.decompress}
if _lz4 is not None:
    _COMPRESS["lz4"], _DECOMPRESS["lz4"] = _lz4.compress, _lz4.decompress
PAGE_CODEC = "lz4" if _lz4 is not None else "zlib"
_SENT = "+sent"  # codec suffix: the page is the server's response body (UTF-8 JSON), not encoded by us


@dataclass(frozen=True)
class LandCounts:
    landed: int = 0
    quarantined: int = 0  # rows without a usable key: they cannot be landed, so they are kept here


def encode_page(rows: Sequence[Sequence], codec: str | None = None) -> tuple[str, bytes]:
    codec = codec or PAGE_CODEC
    return codec, _COMPRESS[codec](_encode_rows(list(rows)).encode("ascii"))


def page_body(rows: Sequence[Sequence], field_keys: Sequence[str], codec: str | None = None) -> tuple[str, bytes]:
    """The stored page: the response body as the server sent it (codec ``<codec>+sent``) when
    ``rows`` are a ``QueryPage`` that still is exactly that body in ``field_keys`` order (its
    ``sent_body``), else ``encode_page``; rows of any other type are always encoded.

    Keeping the body saves encoding every row again; read back it gives the very values the
    encoded rows would (``decode_page``)."""
    sent = rows.sent_body(field_keys) if isinstance(rows, QueryPage) else None
    if sent is None:
        return encode_page(rows, codec)
    codec = codec or PAGE_CODEC
    return codec + _SENT, _COMPRESS[codec](sent)


def decode_page(codec: str, body: bytes) -> list[list]:
    compression, sent = (codec[:-len(_SENT)], True) if codec.endswith(_SENT) else (codec, False)
    if compression not in _DECOMPRESS:
        raise ValueError(f"landed page compressed with {codec!r}, which this installation cannot read"
                         + (" (pip install lz4)" if compression == "lz4" else ""))
    text = _DECOMPRESS[compression](body)
    if not sent:
        return json.loads(text)
    # As the client parses it (UTF-8, numbers with a fraction or exponent as Decimal), with each
    # such number as the text ``encode_page`` would have stored for that Decimal.
    return json.loads(text.decode("utf-8"), parse_float=_decimal_text)


def _decimal_text(literal: str) -> str:
    return str(Decimal(literal))


@dataclass(frozen=True)
class PreparedPage:
    """One fetched page made ready to write (``prepare_page``), nothing written yet."""
    counts: LandCounts
    run_id: str
    partition_key: str | None
    now: dt.datetime
    rejects: pd.DataFrame | None = None  # keyless rows, for the quarantine
    index: pd.DataFrame | None = None  # an index row per row with a key (None: no row has one)
    codec: str = ""
    body: bytes = b""
    row_count: int = 0


def land_rows(store, rows: Sequence[Sequence], run_id: str, partition_key: str | None,
              now: dt.datetime) -> LandCounts:
    """Keep one fetched page: the page as one compressed row, an index row per key (newest
    version per key, guarded by change time); keyless rows → quarantine with their payload."""
    page = prepare_page(store, rows, run_id, partition_key, now)
    write_page(store, page)
    return page.counts


def land_behind(store, rows: Sequence[Sequence], run_id: str, partition_key: str | None, submit,
                on_written: Callable[[int, LandCounts], None]) -> None:
    """``land_rows`` with the write handed to ``submit`` (writebehind.py, ``depth=0``): the page is
    prepared now and written while the caller prepares the next; ``on_written(len(rows), counts)``
    runs in the caller's thread once the page is written."""
    page = prepare_page(store, rows, run_id, partition_key, utc_now())
    submit(functools.partial(write_page, store, page), functools.partial(on_written, len(rows), page.counts))


def prepare_page(store, rows: Sequence[Sequence], run_id: str, partition_key: str | None,
                 now: dt.datetime) -> PreparedPage:
    """The Python half of ``land_rows`` (keys, change times, index rows, page body); reads and
    writes nothing, so it can run while the previous page is written (``land_behind``)."""
    if not rows:
        return PreparedPage(LandCounts(), run_id, partition_key, now)
    spec = store.spec
    key_pos = spec.field_keys.index(spec.key_field)
    keys, bad_key = row_keys(spec, rows, key_pos)
    bad = np.asarray(bad_key) | np.asarray(pd.isna(keys))
    changes = {}
    for col in spec.change_columns:
        pos = spec.field_keys.index(col.field)
        changes[col.name] = convert_column(col, [r[pos] for r in rows])[0]
    # The newest change time of the row; NaT only where every change field is (as DataFrame.max).
    change_time = functools.reduce(np.fmax, changes.values())
    rejects = keyless_rejects(spec, store.key, rows, change_time, bad, key_pos) if bad.any() else None
    counts = LandCounts(landed=int((~bad).sum()), quarantined=int(bad.sum()))
    if bad.all():
        return PreparedPage(counts, run_id, partition_key, now, rejects)
    frame = pd.DataFrame({store.key: keys, **changes, CHANGE_TIME: change_time, "payload": "", "fetched_at": now,
                          "run_id": run_id, "partition_key": partition_key, "position": np.arange(len(rows))})
    codec, body = page_body(rows, spec.field_keys)
    return PreparedPage(counts, run_id, partition_key, now, rejects, frame[~bad].copy() if bad.any() else frame,
                        codec, body, len(rows))


def write_page(store, page: PreparedPage) -> None:
    """Write a prepared page: its keyless rows to the quarantine, then in one transaction the page
    and its index rows (each key's newest version: guarded by change time)."""
    if page.rejects is not None:
        store.quarantine(page.rejects, page.run_id, page.partition_key)
    if page.index is None:
        return
    t = store.tables
    with store.engine.begin() as conn:
        page.index["page_id"] = conn.execute(t.landing_pages.insert().values(
            run_id=page.run_id, partition_key=page.partition_key, fetched_at=page.now, codec=page.codec,
            row_count=page.row_count, field_keys=json.dumps(store.spec.field_keys),
            body=page.body)).inserted_primary_key[0]
        upsert_frame(conn, t.landing, t.kinds, page.index, list(page.index.columns), guard=CHANGE_TIME,
                     load_file=store.load_file)


def keyless_rejects(spec, key_column: str, rows, change_time: np.ndarray, bad: np.ndarray,
                    key_pos: int) -> pd.DataFrame:
    reason = {"check": "raw_key", "field": spec.key_field, "column": key_column,
              "value": None, "message": f"{spec.key_field} missing or not an integer"}
    picked = np.flatnonzero(bad)
    return pd.DataFrame({
        "key": [record_key_text(rows[i][key_pos]) for i in picked],
        "change_time": change_time[picked],
        "reasons": [[{**reason, "value": rows[i][key_pos]}] for i in picked],
        "payload": payloads_json(spec, [rows[i] for i in picked]),
    })


def iter_landed(store, where, chunk_size: int) -> Iterator[list[list]]:
    """The landed rows matching ``where``, in chunks of rows in the spec's FieldKeys order.

    Rows landed before pages first, then the paged rows page by page in landing order, each page
    read and parsed once. The index is read once for the whole window, as one row per page (its
    live positions), not one per landed row: a one-day window's index rows are scattered through
    a landing table larger than the buffer pool, and each further pass read them from disk again
    (at 1M rows: a pass per two pages, and one for the rows landed before pages). Within a chunk
    rows are in key order; a window one run fetched (keyset pages) comes out in key order throughout.
    """
    groups = _page_groups(store, where)
    if None in groups:  # rows landed before pages: only a landing table that predates them has any
        yield from _legacy_chunks(store, where, chunk_size)
    buffer: list[list] = []
    for rows in _paged_rows(store, where, [g for page_id, g in groups.items() if page_id is not None]):
        buffer += rows
        while len(buffer) >= chunk_size:
            yield in_key_order(store, buffer[:chunk_size])
            del buffer[:chunk_size]
    if buffer:
        yield in_key_order(store, buffer)


def _legacy_chunks(store, where, chunk_size: int) -> Iterator[list[list]]:
    t = store.tables.landing
    key, last = t.c[store.key], None
    while True:
        q = sa.select(key, t.c.payload).where(where, t.c.page_id.is_(None)).order_by(key).limit(chunk_size)
        with store.engine.connect() as conn:
            chunk = conn.execute(q if last is None else q.where(key > last)).all()
        if not chunk:
            return
        yield rows_from_payloads(store.spec, [r.payload for r in chunk])
        last = chunk[-1][0]
        if len(chunk) < chunk_size:
            return


def _page_groups(store, where, after: int | None = None) -> dict[int | None, tuple]:
    """One pass over the index rows ``where`` selects: per page (None: rows landed before pages)
    (page id, rows, first position, last position, the positions as text if they are not one run)."""
    t = store.tables.landing
    page, position = t.c.page_id, t.c.position
    count, first, final = sa.func.count(), sa.func.min(position), sa.func.max(position)
    # Positions are sent only for a page whose rows are not one run (keys landed again since),
    # and kept as text until the page is read: a few bytes per row whatever the window's size.
    scattered = sa.case((count == final - first + 1, None), else_=sa.func.group_concat(position))
    q = (sa.select(page, count, first, final, scattered)
         .where(where, *([] if after is None else [page > after])).group_by(page))
    with store.engine.connect() as conn:
        if is_mysql(conn):  # the default (1024 bytes) would cut a page's positions short
            conn.exec_driver_sql("SET SESSION group_concat_max_len = 67108864")
        rows = conn.execute(q).all()
    return {r[0]: tuple(r) for r in sorted(rows, key=lambda r: (r[0] is not None, r[0] or 0))}


def _paged_rows(store, where, groups: list[tuple]) -> Iterator[list[list]]:
    """Each page's rows that ``where`` selected when ``groups`` were read, page by page (by page id).

    Pages never change, so rows read from a page are exactly the versions the index named. A
    page pruned since held no live key any more: its keys were landed again, in pages with
    higher ids than any of ``groups`` (new pages get higher ids); so are keys landed again while
    this reads. Those are read at the end, with the index rows after the last page read (none
    is skipped; where no page was landed since, one probe of the page index costs nothing).
    """
    last = None
    while groups:
        for i in range(0, len(groups), _PAGES_PER_READ):
            batch = groups[i:i + _PAGES_PER_READ]
            with store.engine.connect() as conn:
                pages = read_pages(conn, store, [g[0] for g in batch])
            for page_id, count, first, final, scattered in batch:
                if page_id not in pages:  # pruned: its keys are in newer pages, read below
                    continue
                rows = pages.pop(page_id)
                picked = (rows[first:final + 1] if scattered is None else
                          [rows[i] for i in sorted(map(int, scattered.split(","))) if i < len(rows)])
                if len(picked) != count:
                    raise RuntimeError(f"{store.spec.form_id}: landed page {page_id} has {len(rows)} rows, "
                                       f"its index names {count}")
                yield picked
        last = groups[-1][0]
        groups = list(_page_groups(store, where, last).values()) if _pages_after(store, last) else []


def _pages_after(store, last: int) -> bool:
    """Whether any index row points to a page after ``last`` (read from the page index alone)."""
    t = store.tables.landing
    with store.engine.connect() as conn:
        return conn.execute(sa.select(t.c.page_id).where(t.c.page_id > last).limit(1)).first() is not None


def in_key_order(store, rows: list[list]) -> list[list]:
    """``rows`` sorted by key (already so for the pages of one fetch: then nothing moves)."""
    keys = np.asarray(row_keys(store.spec, rows, store.spec.field_keys.index(store.spec.key_field))[0],
                      dtype="int64")
    if len(keys) < 2 or (keys[1:] > keys[:-1]).all():
        return rows
    return [rows[i] for i in np.argsort(keys, kind="stable")]


def read_pages(conn: sa.Connection, store, page_ids) -> dict[int, list[list]]:
    """Pages by id (those that exist), decoded, their rows in the spec's FieldKeys order (None for
    a field the page lacks: pages keep the field list they were fetched with)."""
    p, fields, out = store.tables.landing_pages, store.spec.field_keys, {}
    ids = sorted(page_ids)
    for i in range(0, len(ids), _IN_BATCH):
        for page_id, field_keys, codec, body in conn.execute(
                sa.select(p.c.page_id, p.c.field_keys, p.c.codec, p.c.body).where(p.c.page_id.in_(ids[i:i + _IN_BATCH]))):
            out[page_id] = _in_field_order(decode_page(codec, body), json.loads(field_keys), fields)
    return out


def _in_field_order(rows: list[list], have: list[str], want: list[str]) -> list[list]:
    if have == want:
        return rows
    where = {f: i for i, f in enumerate(have)}
    pick = [where.get(f) for f in want]
    return [[r[i] if i is not None else None for i in pick] for r in rows]


def rows_from_payloads(spec, payloads: list[str]) -> list[list]:
    """Rows landed before pages (one JSON object per row) in FieldKeys order: one JSON parse of
    the joined array; a payload lacking a field gets None."""
    pick = operator.itemgetter(*spec.field_keys)
    single = len(spec.field_keys) == 1
    rows = []
    for d in json.loads("[" + ",".join(payloads) + "]"):
        try:
            rows.append([pick(d)] if single else list(pick(d)))
        except KeyError:
            rows.append([d.get(k) for k in spec.field_keys])
    return rows


def prune_pages(store) -> int:
    """Delete the pages no index row points to; returns how many."""
    p, t = store.tables.landing_pages, store.tables.landing
    with store.engine.begin() as conn:
        orphans = list(conn.execute(sa.select(p.c.page_id).where(
            ~sa.exists().where(t.c.page_id == p.c.page_id))).scalars())
        for i in range(0, len(orphans), _IN_BATCH):
            conn.execute(p.delete().where(p.c.page_id.in_(orphans[i:i + _IN_BATCH])))
    return len(orphans)


def migrate_landing(engine: sa.Engine, store, changes: list[str]) -> list[str]:
    """After ``ensure_tables``: a landing table made before pages gets the page and change-time
    indexes and loses its per-change-field ones (its rows keep their JSON payload and are read as
    they are: nothing is rewritten)."""
    name = store.tables.landing.name
    with engine.begin() as conn:
        have = {ix["name"] for ix in sa.inspect(conn).get_indexes(name)}
        for index in store.tables.landing.indexes:
            if index.name not in have:
                index.create(conn)
                changes.append(f"created index {index.name} on {name}")
        for old in landing_change_field_indexes(store.spec):
            if old in have:
                q = quoter(conn)
                conn.exec_driver_sql(f"DROP INDEX {q(old)}" + (f" ON {q(name)}" if is_mysql(conn) else ""))
                changes.append(f"dropped index {old} on {name}")
    return changes
