"""SQLite storage for every served form's rows and the reference tables.

One connection guarded by a lock: an in-memory database lives in exactly one connection, and
SQLite serialises writers anyway. One table per form (named in its field table, e.g. `customer`),
columns named after the field keys; reference tables are `ref_<name>` (id, number, name).
"""

from __future__ import annotations

import sqlite3
import threading
from contextlib import contextmanager
from typing import Any, Iterable, Iterator, Sequence

from kd_assets.simulator.fields import BOOL, DATE, DECIMAL, INT, REF, Field, Form

# DECIMAL has no declared type on purpose: a column like FRegisterFund holds numbers and, like
# some real tenants, the occasional numeric string, and SQLite keeps whichever was stored.
_SQL_TYPES = {INT: "INTEGER", REF: "INTEGER NOT NULL DEFAULT 0", BOOL: "INTEGER", DATE: "TEXT",
              DECIMAL: ""}


def _column_ddl(key: str, field: Field) -> str:
    if field.key == key:
        return f"{field.key} INTEGER PRIMARY KEY"
    # Kingdee runs on SQL Server with a case-insensitive collation; text compares alike here.
    return f"{field.key} {_SQL_TYPES.get(field.kind, 'TEXT COLLATE NOCASE')}".rstrip()


def schema_sql(forms: Iterable[Form], ref_tables: Iterable[str]) -> str:
    statements = []
    for form in forms:
        columns = ", ".join(_column_ddl(form.key, f) for f in form.fields)
        statements.append(f"CREATE TABLE IF NOT EXISTS {form.table} ({columns})")
        statements += [f"CREATE INDEX IF NOT EXISTS ix_{form.table}_{f.key} ON {form.table} ({f.key})"
                       for f in form.fields if f.indexed]
        for entity in form.entities:  # lines: (bill id, entry id) in order, for joins and paging
            columns = ", ".join(_column_ddl(entity.entry_key, f) for f in entity.fields)
            statements += [
                f"CREATE TABLE IF NOT EXISTS {entity.table} ({form.key} INTEGER NOT NULL, {columns})",
                f"CREATE INDEX IF NOT EXISTS ix_{entity.table}_bill ON {entity.table} "
                f"({form.key}, {entity.entry_key})"]
    statements += [
        f"CREATE TABLE IF NOT EXISTS ref_{t} (id INTEGER PRIMARY KEY, "
        "number TEXT COLLATE NOCASE NOT NULL, name TEXT COLLATE NOCASE NOT NULL)"
        for t in ref_tables
    ]
    return ";\n".join(statements) + ";"


class Store:
    """The simulator's database: one table per form plus reference tables (org, user, ...)."""

    def __init__(self, path: str | None, forms: Iterable[Form], ref_tables: Iterable[str]) -> None:
        self._conn = sqlite3.connect(path or ":memory:", check_same_thread=False,
                                     isolation_level=None)
        self._lock = threading.RLock()
        if path:
            self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=OFF")
        self._conn.executescript(schema_sql(forms, ref_tables))

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

    def count(self, form: Form) -> int:
        return int(self.scalar(f"SELECT count(*) FROM {form.table}"))

    def load_refs(self, refs: dict[str, Iterable[tuple]]) -> None:
        with self.transaction() as conn:
            for table, rows in refs.items():
                conn.executemany(f"INSERT OR REPLACE INTO ref_{table} VALUES (?, ?, ?)", rows)

    def load(self, form: Form, rows: Iterable[Sequence[Any]]) -> None:
        """Bulk-insert generated rows (columns in the form's field order)."""
        marks = ", ".join("?" * len(form.columns))
        with self.transaction() as conn:
            conn.executemany(f"INSERT INTO {form.table} ({', '.join(form.columns)}) "
                             f"VALUES ({marks})", rows)

    def load_batches(self, batches: Iterable[tuple[str, Sequence[str], list]]) -> None:
        """Bulk-insert (table, columns, rows) batches in one transaction."""
        with self.transaction() as conn:
            for table, columns, rows in batches:
                conn.executemany(f"INSERT INTO {table} ({', '.join(columns)}) "
                                 f"VALUES ({', '.join('?' * len(columns))})", rows)

    def table_exists(self, name: str) -> bool:
        return bool(self.scalar("SELECT count(*) FROM sqlite_master WHERE type='table' AND name=?",
                                (name,)))
