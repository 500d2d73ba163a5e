"""Multi-row upserts of a typed frame, one statement per batch, for MySQL/MariaDB and SQLite.

With ``guard`` set, a stored row is only overwritten when the incoming guard value (the change
time) is at least the stored one, so an old partition re-run cannot revert a newer edit. The
guard lives in the statement itself, so it also holds against a concurrent writer.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Sequence

import pandas as pd
import sqlalchemy as sa

from kd_assets.sync.identifiers import name_list, quote_mysql, quote_sqlite
from kd_assets.sync.loadfile import Encoded, FileLoader, load_file_available
from kd_assets.sync.sqltext import Kind, param_values, sql_literals, sql_values_rows
from kd_assets.sync.tsv import tsv_values_sql

MYSQL_DIALECTS = ("mysql", "mariadb")
# ~1 MB of SQL per statement at ~500 bytes a row: far below max_allowed_packet (16 MB default),
# large enough that per-statement overhead does not matter.
MYSQL_BATCH_ROWS = 2000


def is_mysql(conn_or_engine) -> bool:
    return conn_or_engine.dialect.name in MYSQL_DIALECTS


def upsert_frame(conn: sa.Connection, table: sa.Table, kinds: dict[str, Kind], frame: pd.DataFrame,
                 columns: Sequence[str], guard: str | None = None, load_file: bool = False) -> None:
    """Insert ``frame[columns]`` into ``table``; on key conflict update (guarded if ``guard``).

    ``load_file``: on MySQL/MariaDB, go through ``LOAD DATA LOCAL INFILE`` (loadfile.py: straight
    into key ranges the table does not hold yet, else a temporary table and a guarded ``INSERT …
    SELECT``) when the engine allows it (``loadfile.load_file_available``) and the frame's keys are
    unique (repeated keys keep the multi-row statement's in-order semantics).
    """
    if frame.empty:
        return
    keys = [c.name for c in table.primary_key.columns]
    if not is_mysql(conn):
        _upsert_sqlite(conn, table.name, kinds, frame, list(columns), keys, guard)
        return
    loader = _loader(conn, table, kinds, columns, keys, guard, load_file and not frame.duplicated(subset=keys).any())
    batches = loader.encode_batches(frame) if loader is not None else (
        ",".join(sql_values_rows([sql_literals(batch[c], kinds[c]) for c in columns])) for batch in _slices(frame))
    _send(conn, table.name, columns, keys, guard, loader, batches, overlap=True)


def upsert_encoded(conn: sa.Connection, table: sa.Table, kinds: dict[str, Kind], encoded: Sequence[Encoded],
                   columns: Sequence[str], guard: str | None = None, load_file: bool = False,
                   unique: bool = True) -> None:
    """``upsert_frame`` of a frame already encoded (``loadfile.encode_batches`` with these columns
    and the table's key), MySQL/MariaDB only: the batches in order through LOAD DATA where
    ``upsert_frame`` would take it (``unique``: the frame's keys were), else each batch's
    multi-row statement made from the same bytes. This thread only waits for the server."""
    keys = [c.name for c in table.primary_key.columns]
    loader = _loader(conn, table, kinds, columns, keys, guard, load_file and unique)
    _send(conn, table.name, columns, keys, guard, loader, encoded, overlap=False)


def _loader(conn, table: sa.Table, kinds, columns, keys, guard, wanted: bool) -> FileLoader | None:
    if not (wanted and load_file_available(conn)):
        return None
    return FileLoader(conn, table.name, kinds, columns, mysql_update_clause(columns, keys, guard, qualifier=table.name),
                      key=keys[0])


def _send(conn, name: str, columns, keys, guard, loader: FileLoader | None, batches, overlap: bool) -> None:
    """Each batch to the server in order, on this connection: an ``Encoded`` one through LOAD DATA
    (``loader``), or as the multi-row ``INSERT`` of its bytes when it cannot be; rows text (str) as
    a multi-row ``INSERT``. ``overlap``: the batches are still being made, so write them in a thread
    (``_overlapped``). No parameters: the driver does no %-interpolation, the text is already escaped."""
    head = f"INSERT INTO {quote_mysql(name)} ({name_list(quote_mysql, columns)}) VALUES "
    tail = mysql_update_clause(columns, keys, guard)
    cursor = conn.connection.cursor()

    def write(batch: Encoded | str) -> None:
        if isinstance(batch, str):
            cursor.execute(head + batch + tail)
        elif loader is None or not loader.write(cursor, batch):
            cursor.execute(head + tsv_values_sql(batch.data) + tail)

    try:
        if overlap:
            _overlapped(write, batches)
        else:
            for batch in batches:
                write(batch)
        if loader is not None:
            loader.close(cursor)
    finally:
        cursor.close()


def _slices(frame: pd.DataFrame):
    return (frame.iloc[start:start + MYSQL_BATCH_ROWS] for start in range(0, len(frame), MYSQL_BATCH_ROWS))


def mysql_update_clause(columns: Sequence[str], keys: Sequence[str], guard: str | None,
                        qualifier: str | None = None) -> str:
    """``ON DUPLICATE KEY UPDATE …``, each assignment guarded by ``guard`` when given."""
    m, q = quote_mysql, f"{quote_mysql(qualifier)}." if qualifier else ""
    updates = [c for c in columns if c not in keys]
    if not guard:
        return " ON DUPLICATE KEY UPDATE " + ", ".join(f"{q}{m(c)}=VALUES({m(c)})" for c in updates)
    # MySQL applies assignments left to right and later ones see earlier results, so the guard
    # column must be assigned last or the remaining columns would compare with the new value.
    updates = [c for c in updates if c != guard] + [guard]
    cond = f"({q}{m(guard)} IS NULL OR VALUES({m(guard)}) >= {q}{m(guard)})"
    return " ON DUPLICATE KEY UPDATE " + ", ".join(f"{q}{m(c)}=IF({cond}, VALUES({m(c)}), {q}{m(c)})"
                                                   for c in updates)


def sqlite_conflict_clause(table: str, columns: Sequence[str], keys: Sequence[str], guard: str | None) -> str:
    """``ON CONFLICT(keys) DO UPDATE …``, guarded by ``guard`` when given."""
    s, updates = quote_sqlite, [c for c in columns if c not in keys]
    if not updates:
        return f" ON CONFLICT({name_list(s, keys)}) DO NOTHING"
    where = (f" WHERE {s(table)}.{s(guard)} IS NULL OR excluded.{s(guard)} >= {s(table)}.{s(guard)}"
             if guard else "")
    return (f" ON CONFLICT({name_list(s, keys)}) DO UPDATE SET "
            + ", ".join(f"{s(c)}=excluded.{s(c)}" for c in updates) + where)


def _overlapped(write, batches) -> None:
    """``write`` each batch in a thread while the next is encoded (the driver waits on the socket
    without the GIL): one connection, statements in order, same transaction."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="kd-bulk") as writer:
        pending = None
        try:
            for batch in batches:
                if pending is not None:
                    pending.result()
                pending = writer.submit(write, batch)
            if pending is not None:
                pending.result()
        finally:
            if pending is not None:
                pending.exception()  # never close the cursor under a running statement


def _upsert_sqlite(conn, name, kinds, frame, columns, keys, guard) -> None:
    sql = (f"INSERT INTO {quote_sqlite(name)} ({name_list(quote_sqlite, columns)})"
           f" VALUES ({', '.join('?' * len(columns))})"
           + sqlite_conflict_clause(name, columns, keys, guard))
    rows = list(zip(*[param_values(frame[c], kinds[c]) for c in columns]))
    cursor = conn.connection.cursor()
    try:
        cursor.executemany(sql, rows)
    finally:
        cursor.close()
