"""Quoted identifiers for the statements we build as text (bulk upserts, in-database publish).

Spec names are validated as ``[a-z_][a-z0-9_]*``, which still admits reserved words: a column
named ``key``, ``group``, ``desc`` or ``range`` passes validation and, unquoted, breaks every
write. SQLAlchemy Core quotes such names itself; text statements quote every name through these.
"""

from __future__ import annotations

from collections.abc import Iterable


def quote_mysql(name: str) -> str:
    """`name` for MySQL/MariaDB (backticks; a backtick inside is doubled)."""
    return "`" + name.replace("`", "``") + "`"


def quote_sqlite(name: str) -> str:
    """"name" for SQLite (standard double quotes; a quote inside is doubled)."""
    return '"' + name.replace('"', '""') + '"'


def quoter(conn_or_engine):
    """The quoting function of a connection's or engine's dialect."""
    return quote_mysql if conn_or_engine.dialect.name in ("mysql", "mariadb") else quote_sqlite


def name_list(quote, names: Iterable[str]) -> str:
    """``a, b, c`` quoted: a column list."""
    return ", ".join(quote(n) for n in names)
