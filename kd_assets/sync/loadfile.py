"""Bulk upserts through ``LOAD DATA LOCAL INFILE`` (MySQL/MariaDB with PyMySQL).

A frame is written as tab-separated text to a temporary file, loaded into a per-call temporary
table, then moved into the real table with one server-side
``INSERT … SELECT … ON DUPLICATE KEY UPDATE`` carrying the same change-time guard as the
multi-row path (``bulk.mysql_update_clause``). Parsing a data file is cheaper for the server
than parsing SQL text, and the client only has to escape backslash, tab and newline.

Usable only when the server allows it (``local_infile`` is OFF by default on MySQL 8) and the
connection advertised the capability (only engines made by ``create_target_engine(...,
load_file=True)`` connect with ``local_infile=True``). ``load_file_available`` decides once per engine; callers fall back to
the multi-row ``INSERT`` otherwise. The driver only answers a server's file request while one of
our own statements runs: a server can name any client file in that request, so the permission
is off at all other times.
"""

from __future__ import annotations

import logging
import os
import tempfile
import threading
import weakref
from concurrent.futures import ThreadPoolExecutor
from typing import Sequence

import numpy as np
import pandas as pd
import sqlalchemy as sa

from kd_assets.sync.identifiers import name_list, quote_mysql
from kd_assets.sync.sqltext import Kind, datetime_text, decimal_text

log = logging.getLogger(__name__)

_TSV_NULL = "\\N"
# LOAD DATA's default escapes (FIELDS ESCAPED BY '\\'): backslash first, then the separators.
_TSV_ESCAPES = (("\\", "\\\\"), ("\t", "\\t"), ("\n", "\\n"), ("\r", "\\r"), ("\0", "\\0"))
_SEPARATOR, _NULL_SENTINEL = "\x01", "\x02"

_availability: "weakref.WeakKeyDictionary[sa.Engine, bool]" = weakref.WeakKeyDictionary()
_availability_lock = threading.Lock()


def load_file_available(conn: sa.Connection) -> bool:
    """Whether this connection's engine can use LOAD DATA LOCAL; checked once per engine."""
    engine = conn.engine
    with _availability_lock:
        known = _availability.get(engine)
    if known is not None:
        return known
    ok, why = _probe(conn)
    with _availability_lock:
        _availability[engine] = ok
    log.info("bulk writes to %s use %s (%s)", _where(engine),
             "LOAD DATA LOCAL INFILE + INSERT … SELECT" if ok else "multi-row INSERT … ON DUPLICATE KEY UPDATE",
             why)
    return ok


def _probe(conn: sa.Connection) -> tuple[bool, str]:
    if conn.dialect.driver != "pymysql":
        return False, f"driver {conn.dialect.driver} is not pymysql"
    dbapi = conn.connection.dbapi_connection
    from pymysql.constants import CLIENT
    if not getattr(dbapi, "client_flag", 0) & CLIENT.LOCAL_FILES:
        return False, "the connection did not enable local_infile"
    if not conn.exec_driver_sql("SELECT @@GLOBAL.local_infile").scalar():
        return False, "the server has local_infile OFF"
    return True, "the server has local_infile ON"


def _where(engine: sa.Engine) -> str:
    """Host/database of an engine for a log line: never the password."""
    u = engine.url
    return f"{u.get_backend_name()}://{u.host or ''}:{u.port or ''}/{u.database or ''}"


def disable_file_requests(dbapi_conn) -> None:
    """Connect hook: refuse server file requests except while ``load_upsert`` runs."""
    if hasattr(dbapi_conn, "_local_infile"):
        dbapi_conn._local_infile = False


def tsv_column(values, kind: Kind) -> list[str]:
    """One column as LOAD DATA field text (``\\N`` for NULL), vectorised like ``sql_literals``."""
    name, scale = kind
    s = values if isinstance(values, pd.Series) else pd.Series(values)
    if name == "datetime":
        text = datetime_text(s.to_numpy(dtype="datetime64[ns]"))
        text[np.equal(text, None)] = _TSV_NULL
        return text.tolist()
    if name not in ("int", "decimal", "bool"):
        return _escaped_text(s.astype(object).tolist())
    missing = s.isna().to_numpy()
    if name == "int":
        text = s.fillna(0).astype("int64").to_numpy().astype(str).astype(object)
    elif name == "decimal":
        text = decimal_text(s, scale)
    else:
        text = np.where(s.fillna(False).to_numpy(dtype=bool), "1", "0").astype(object)
    text[missing] = _TSV_NULL
    return text.tolist()


def _escaped_text(values: list) -> list[str]:
    texts = [None if v is None or v is pd.NA else v if type(v) is str else str(v) for v in values]
    nulls = texts.count(None)
    marked = [_NULL_SENTINEL if v is None else v for v in texts] if nulls else texts
    joined = _SEPARATOR.join(marked)
    if joined.count(_SEPARATOR) != max(len(marked) - 1, 0) or joined.count(_NULL_SENTINEL) != nulls:
        # A value contains one of our marker characters: escape value by value.
        return [_TSV_NULL if v is None else _escape_one(v) for v in texts]
    for old, new in _TSV_ESCAPES:
        if old in joined:
            joined = joined.replace(old, new)
    out = joined.split(_SEPARATOR) if marked else []
    if nulls:
        out = [_TSV_NULL if v == _NULL_SENTINEL else v for v in out]
    return out


def _escape_one(v: str) -> str:
    for old, new in _TSV_ESCAPES:
        v = v.replace(old, new)
    return v


def tsv_bytes(kinds: dict[str, Kind], frame: pd.DataFrame, columns: Sequence[str]) -> bytes:
    fields = [tsv_column(frame[c], kinds[c]) for c in columns]
    return ("\n".join(map("\t".join, zip(*fields))) + "\n").encode("utf-8")


# Rows per LOAD DATA: the server loads and merges one batch while Python encodes the next.
LOAD_BATCH_ROWS = 2500


def load_upsert(conn: sa.Connection, table: str, kinds: dict[str, Kind], frame: pd.DataFrame,
                columns: Sequence[str], update_clause: str, batch_rows: int | None = None) -> None:
    """Upsert ``frame[columns]`` (unique keys) into ``table`` via a loaded temporary table.

    ``update_clause`` is the ``ON DUPLICATE KEY UPDATE …`` text, qualified with ``table``.
    One connection, statements in order, the caller's transaction (temporary-table DDL does not
    commit); a worker thread waits on the server while this thread encodes the next batch.
    """
    cols = name_list(quote_mysql, columns)
    staging, table = quote_mysql(f"kd_load_{table}"[:64]), quote_mysql(table)
    batch_rows = batch_rows or LOAD_BATCH_ROWS
    cursor = conn.connection.cursor()
    dbapi = conn.connection.dbapi_connection
    path = _temp_path()

    def load(data: bytes, rows: int) -> None:
        with open(path, "wb") as f:
            f.write(data)
        cursor.execute(f"DROP TEMPORARY TABLE IF EXISTS {staging}")
        # Same column types, no keys: the load only appends; the key check happens once, below.
        cursor.execute(f"CREATE TEMPORARY TABLE {staging} AS SELECT {cols} FROM {table} LIMIT 0")
        dbapi._local_infile = True
        try:
            cursor.execute(f"LOAD DATA LOCAL INFILE '{_sql_string(path)}' INTO TABLE {staging}"
                           f" CHARACTER SET utf8mb4 FIELDS TERMINATED BY '\\t' ESCAPED BY '\\\\'"
                           f" LINES TERMINATED BY '\\n' ({cols})")
        finally:
            dbapi._local_infile = False
        # LOCAL turns conversion errors into warnings; the multi-row path would have failed.
        if cursor.rowcount != rows or cursor.warning_count:
            raise LoadDataError(f"LOAD DATA into {staging}: {cursor.rowcount} of {rows} rows, "
                                f"{cursor.warning_count} warnings")
        cursor.execute(f"INSERT INTO {table} ({cols}) SELECT {cols} FROM {staging}" + update_clause)

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="kd-load") as writer:
        pending = None
        try:
            for start in range(0, len(frame), batch_rows):
                batch = frame.iloc[start:start + batch_rows]
                data = tsv_bytes(kinds, batch, columns)
                if pending is not None:
                    pending.result()
                pending = writer.submit(load, data, len(batch))
            if pending is not None:
                pending.result()
            cursor.execute(f"DROP TEMPORARY TABLE IF EXISTS {staging}")
        finally:
            if pending is not None:
                pending.exception()  # never close the cursor under a running statement
            cursor.close()
            os.unlink(path)


class LoadDataError(RuntimeError):
    """The server read the file differently from what was written (rows or warnings)."""


def _temp_path() -> str:
    fd, path = tempfile.mkstemp(prefix="kd-load-", suffix=".tsv")
    os.close(fd)
    return path


def _sql_string(text: str) -> str:
    return text.replace("\\", "\\\\").replace("'", "\\'")
