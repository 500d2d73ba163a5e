"""Bulk writes through ``LOAD DATA LOCAL INFILE`` (MySQL/MariaDB with PyMySQL), one batch at a time.

A batch is encoded as tab-separated text (the client only escapes backslash, tab and newline;
the server parses a data file more cheaply than SQL text), served to the server from memory
when it asks for the name our statement gave (fileguard.py: no file is written or read), then
- straight into the table when it holds no row in the batch's key range (an initial load): one
  server write per row. A savepoint covers it: should a row of the range appear meanwhile (a
  concurrent writer), LOCAL skips that duplicate with a warning, the batch is rolled back and
  takes the guarded way below;
- else into a temporary table and on with one ``INSERT … SELECT … ON DUPLICATE KEY UPDATE``
  carrying the multi-row path's change-time guard (``bulk.mysql_update_clause``). Without the
  ``CREATE TEMPORARY TABLES`` grant such a batch goes back to the multi-row ``INSERT``.
LOCAL turns conversion errors into warnings: a batch with a warning or a missing row fails
(``LoadDataError``) as the multi-row statement would have.

Used where the server allows it (``@@local_infile``; OFF by default on MySQL 8) on connections
from ``create_target_engine`` (``fileguard.GuardedConnection``: it answers only a request for the
name our running load gave, from memory). ``load_file_available`` decides once per engine and
logs which path it is; ``bulk.upsert_frame`` falls back to the multi-row ``INSERT`` otherwise.
"""

from __future__ import annotations

import logging
import uuid
import threading
import weakref
from dataclasses import dataclass
from typing import Iterator, Sequence

import pandas as pd
import pymysql
import sqlalchemy as sa

from kd_assets.sync.fileguard import GuardedConnection, serve
from kd_assets.sync.identifiers import name_list, quote_mysql
from kd_assets.sync.sqltext import Kind
from kd_assets.sync.tsv import tsv_column, tsv_fields_of, tsv_rows  # noqa: F401 (tsv_column re-exported)

log = logging.getLogger(__name__)

_availability: "weakref.WeakKeyDictionary[sa.Engine, bool]" = weakref.WeakKeyDictionary()
_no_temp_tables: "weakref.WeakSet[sa.Engine]" = weakref.WeakSet()
_refused: "weakref.WeakSet[sa.Engine]" = weakref.WeakSet()  # the server refused a load after the probe
_availability_lock = threading.Lock()
_LOAD = "LOAD DATA LOCAL INFILE (straight into new key ranges, else temporary table + guarded INSERT … SELECT)"
_INSERT = "multi-row INSERT … ON DUPLICATE KEY UPDATE"


def load_file_available(conn: sa.Connection, enabled: bool = True) -> bool:
    """Whether bulk writes on this connection's engine use LOAD DATA LOCAL; decided and logged
    once per engine (``enabled=False``: the setting is off, KD_MYSQL_LOAD_FILE=0)."""
    engine = conn.engine
    with _availability_lock:
        known = _availability.get(engine)
    if known is not None:
        return known
    ok, why = _probe(conn) if enabled else (False, "turned off (load_file=False, KD_MYSQL_LOAD_FILE=0)")
    with _availability_lock:
        _availability[engine] = ok
    log.info("bulk writes to %s use %s (%s)", _where(engine), _LOAD if ok else _INSERT, why)
    return ok


def known_unavailable(engine: sa.Engine) -> bool:
    """Whether this engine is already known to take the multi-row INSERT (no use encoding for LOAD DATA)."""
    with _availability_lock:
        return _availability.get(engine) is False or engine in _refused


def _probe(conn: sa.Connection) -> tuple[bool, str]:
    if conn.dialect.driver != "pymysql":
        return False, f"driver {conn.dialect.driver} is not pymysql"
    if not isinstance(conn.connection.dbapi_connection, GuardedConnection):
        return False, "the engine was made with load_file=False (its connections do not offer LOCAL)"
    if not conn.exec_driver_sql("SELECT @@GLOBAL.local_infile").scalar():
        return False, "the server has local_infile OFF"
    return True, "the server has local_infile ON"


def _where(engine: sa.Engine) -> str:
    """Host/database of an engine for a log line: never the password."""
    u = engine.url
    return f"{u.get_backend_name()}://{u.host or ''}:{u.port or ''}/{u.database or ''}"


# Rows per LOAD DATA: the server loads one batch while Python encodes the next.
LOAD_BATCH_ROWS = 2500
_WINDOW_BATCHES = 4  # batches encoded column by column at once
_SAVEPOINT = "kd_load"
_DENIED = (1044, 1142)  # ER_DBACCESS_DENIED_ERROR, ER_TABLEACCESS_DENIED_ERROR
# ER_NOT_ALLOWED_COMMAND, MySQL 8's ER_CLIENT_LOCAL_FILES_DISABLED, MariaDB's ER_LOAD_INFILE_CAPABILITY_DISABLED
_LOCAL_REFUSED = (1148, 3948, 4166)


@dataclass(frozen=True)
class Encoded:
    """One batch as LOAD DATA bytes; nothing else of the frame (``tsv.tsv_values_sql`` makes its
    multi-row statement from these bytes when the load cannot be used)."""

    data: bytes
    rows: int
    lo: int | None  # the batch's key range, when its key is an integer
    hi: int | None


def int_key(kinds: dict[str, Kind], key: str | None) -> str | None:
    """The key whose range a batch reports (``Encoded.lo``/``hi``): only an integer key has one."""
    return key if key is not None and kinds[key][0] == "int" else None


def encode_batches(kinds: dict[str, Kind], columns: Sequence[str], key: str | None, frame: pd.DataFrame,
                   batch_rows: int = LOAD_BATCH_ROWS) -> Iterator[Encoded]:
    """``frame``'s batches in order, as LOAD DATA bytes (no connection needed: encoding can run
    ahead of the transaction that loads them). Columns are encoded a window of batches at a time
    (whole columns cost less per row than batch slices), so memory stays bounded for any frame."""
    key, columns = int_key(kinds, key), list(columns)
    window = batch_rows * _WINDOW_BATCHES
    for start in range(0, len(frame), window):
        part = frame.iloc[start:start + window]
        fields = tsv_fields_of(kinds, part, columns)
        keys = part[key].to_numpy() if key is not None else None
        for at in range(0, len(part), batch_rows):
            rows = min(batch_rows, len(part) - at)
            lo = hi = None
            if keys is not None:
                lo, hi = int(keys[at:at + rows].min()), int(keys[at:at + rows].max())
            yield Encoded(tsv_rows([f[at:at + rows] for f in fields]), rows, lo, hi)


class FileLoader:
    """One frame's batches into ``table`` (unique keys) on one connection, in its transaction.

    ``encode`` runs in the caller's thread, ``write`` in the writer thread, in batch order;
    ``update_clause`` is the ``ON DUPLICATE KEY UPDATE …`` text, qualified with ``table``.
    """

    def __init__(self, conn: sa.Connection, table: str, kinds: dict[str, Kind], columns: Sequence[str],
                 update_clause: str, key: str | None):
        self.engine, self.dbapi = conn.engine, conn.connection.dbapi_connection
        self.kinds, self.columns, self.update_clause = kinds, list(columns), update_clause
        self.key = int_key(kinds, key)
        self.cols = name_list(quote_mysql, columns)
        self.table, self.staging = quote_mysql(table), quote_mysql(f"kd_load_{table}"[:64])
        self.batch_rows = LOAD_BATCH_ROWS
        self.name = f"kd-load-{uuid.uuid4().hex}.tsv"  # never a file: served from memory (fileguard.py)
        self.staged = False

    def encode_batches(self, frame: pd.DataFrame) -> Iterator[Encoded]:
        return encode_batches(self.kinds, self.columns, self.key, frame, self.batch_rows)

    def write(self, cursor, enc: Encoded) -> bool:
        """Load one batch; False when it must take the multi-row INSERT (no temporary tables)."""
        if self.engine in _refused:
            return False
        if self._range_empty(cursor, enc):
            cursor.execute(f"SAVEPOINT {_SAVEPOINT}")
            done = self._load(cursor, self.table, enc.data)
            if done == (enc.rows, 0):
                cursor.execute(f"RELEASE SAVEPOINT {_SAVEPOINT}")
                return True
            # A row of the range was written since the probe, a value did not convert, or the
            # server refused the load (done is None).
            cursor.execute(f"ROLLBACK TO SAVEPOINT {_SAVEPOINT}")
            if done is None:
                return False
        if not self._new_staging(cursor):
            return False
        done = self._load(cursor, self.staging, enc.data)
        if done is None:
            return False
        loaded, warnings = done
        if loaded != enc.rows or warnings:
            raise LoadDataError(f"LOAD DATA into {self.staging}: {loaded} of {enc.rows} rows, "
                                f"{warnings} warnings")
        cursor.execute(f"INSERT INTO {self.table} ({self.cols}) SELECT {self.cols} FROM {self.staging}"
                       + self.update_clause)
        return True

    def _range_empty(self, cursor, enc: Encoded) -> bool:
        """Whether the table holds no key of the batch's range (a plain read: no locks taken)."""
        return enc.lo is not None and not cursor.execute(
            f"SELECT 1 FROM {self.table} WHERE {quote_mysql(self.key)} BETWEEN {enc.lo} AND {enc.hi} LIMIT 1")

    def _load(self, cursor, into: str, data: bytes) -> tuple[int, int] | None:
        """(rows loaded, warnings); None when the server refuses LOAD DATA LOCAL (its local_infile
        was turned OFF since the probe): this engine takes the multi-row INSERT from now on."""
        try:
            with serve(self.dbapi, self.name, data):
                cursor.execute(f"LOAD DATA LOCAL INFILE '{self.name}' INTO TABLE {into}"
                               f" CHARACTER SET utf8mb4 FIELDS TERMINATED BY '\\t' ESCAPED BY '\\\\'"
                               f" LINES TERMINATED BY '\\n' ({self.cols})")
        except pymysql.err.OperationalError as exc:
            if exc.args[0] not in _LOCAL_REFUSED:
                raise
            with _availability_lock:
                _availability[self.engine] = False
                _refused.add(self.engine)
            log.warning("bulk writes to %s use %s from now on: the server refused LOAD DATA LOCAL (%s)",
                        _where(self.engine), _INSERT, exc.args[1] if len(exc.args) > 1 else exc)
            return None
        return cursor.rowcount, cursor.warning_count

    def _new_staging(self, cursor) -> bool:
        """An empty temporary table like the target's columns, without keys (the load only appends)."""
        if self.engine in _no_temp_tables:
            return False
        try:
            cursor.execute(f"DROP TEMPORARY TABLE IF EXISTS {self.staging}")
            cursor.execute(f"CREATE TEMPORARY TABLE {self.staging} AS SELECT {self.cols} FROM {self.table} LIMIT 0")
        except pymysql.err.OperationalError as exc:
            if exc.args[0] not in _DENIED:
                raise
            _no_temp_tables.add(self.engine)
            log.info("bulk writes to %s: no CREATE TEMPORARY TABLES grant, so rows whose key range is "
                     "already stored take the multi-row INSERT", _where(self.engine))
            return False
        self.staged = True
        return True

    def close(self, cursor) -> None:
        if self.staged:
            cursor.execute(f"DROP TEMPORARY TABLE IF EXISTS {self.staging}")


class LoadDataError(RuntimeError):
    """The server read the file differently from what was written (rows or warnings)."""
