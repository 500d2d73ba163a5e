"""SQLite storage for the BD_Customer rows and their reference tables.

One connection guarded by a lock: an in-memory database lives in exactly one connection, and
SQLite serialises writers anyway. Columns are named after the field keys (see fields.py).
"""

from __future__ import annotations

import sqlite3
import threading
from contextlib import contextmanager
from typing import Any, Iterable, Iterator, Sequence

from kd_assets.simulator.fields import BOOL, DATE, DECIMAL, FIELDS, INT, REF, REF_TABLES

# FRegisterFund has no declared type on purpose: it holds numbers and, like some real tenants,
# the occasional numeric string, and SQLite keeps whichever was stored.
_SQL_TYPES = {INT: "INTEGER", REF: "INTEGER NOT NULL DEFAULT 0", BOOL: "INTEGER", DATE: "TEXT",
              DECIMAL: ""}
_INDEXED = ("FMasterId", "FNumber", "FUseOrgId", "FCreateDate", "FModifyDate", "FForbidDate",
            "FApproveDate")
COLUMNS: tuple[str, ...] = tuple(f.key for f in FIELDS)


def _column_ddl(field: Any) -> str:
    if field.key == "FCUSTID":
        return "FCUSTID INTEGER PRIMARY KEY"
    # Kingdee runs on SQL Server with a case-insensitive collation; text compares alike here.
    return f"{field.key} {_SQL_TYPES.get(field.kind, 'TEXT COLLATE NOCASE')}".rstrip()


def schema_sql() -> str:
    statements = [f"CREATE TABLE IF NOT EXISTS customer ({', '.join(map(_column_ddl, FIELDS))})"]
    statements += [f"CREATE INDEX IF NOT EXISTS ix_customer_{c} ON customer ({c})" for c in _INDEXED]
    statements += [
        f"CREATE TABLE IF NOT EXISTS ref_{t} (id INTEGER PRIMARY KEY, "
        "number TEXT COLLATE NOCASE NOT NULL, name TEXT COLLATE NOCASE NOT NULL)"
        for t in REF_TABLES
    ]
    return ";\n".join(statements) + ";"


class Store:
    """The simulator's database: customers plus reference tables (org, user, staff, ...)."""

    def __init__(self, path: str | None = None) -> None:
        self._conn = sqlite3.connect(path or ":memory:", check_same_thread=False,
                                     isolation_level=None)
        self._lock = threading.RLock()
        if path:
            self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=OFF")
        self._conn.executescript(schema_sql())

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """Exclusive access for a read-modify-write; commits on success, rolls back on error."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        with self._lock:
            return self._conn.execute(sql, params).fetchall()

    def scalar(self, sql: str, params: Sequence[Any] = ()) -> Any:
        rows = self.fetch(sql, params)
        return rows[0][0] if rows else None

    def customer_count(self) -> int:
        return int(self.scalar("SELECT count(*) FROM customer"))

    def load(self, refs: dict[str, Iterable[tuple]], customers: Iterable[Sequence[Any]]) -> None:
        """Bulk-insert generated reference rows and customers (columns in COLUMNS order)."""
        marks = ", ".join("?" * len(COLUMNS))
        with self.transaction() as conn:
            for table, rows in refs.items():
                conn.executemany(f"INSERT OR REPLACE INTO ref_{table} VALUES (?, ?, ?)", rows)
            conn.executemany(f"INSERT INTO customer ({', '.join(COLUMNS)}) VALUES ({marks})",
                             customers)

    def table_exists(self, name: str) -> bool:
        return bool(self.scalar("SELECT count(*) FROM sqlite_master WHERE type='table' AND name=?",
                                (name,)))
