"""Connections to the target database: MySQL/MariaDB through PyMySQL, or the embedded SQLite file.

One place decides what a connection may do: SQLite gets WAL and a busy timeout; MySQL gets a
pre-ping pool and, unless ``load_file=False``, PyMySQL connections that offer LOAD DATA LOCAL
but answer a server's file request only for the name our own running load gave, from memory
(fileguard.py).
"""

from __future__ import annotations

import os
from pathlib import Path

import sqlalchemy as sa

from kd_assets.sync.fileguard import GuardedConnection

DEFAULT_SQLITE_PATH = ".dagster_home/kd_target.sqlite"


def create_target_engine(url: str | None = None, *, pool_size: int = 5, max_overflow: int = 5,
                         load_file: bool = True) -> sa.Engine:
    """An engine for ``url``; None/"" means the embedded SQLite file (``KD_SQLITE_PATH``).

    ``load_file`` (the default; ``KD_MYSQL_LOAD_FILE=0`` turns it off through ``MySQLResource``)
    lets its PyMySQL connections offer LOAD DATA LOCAL, the bulk path of ``TargetStore`` where the
    server allows it (loadfile.py); other drivers and SQLite ignore it.
    """
    if not url:
        path = Path(os.environ.get("KD_SQLITE_PATH") or DEFAULT_SQLITE_PATH)
        path.parent.mkdir(parents=True, exist_ok=True)
        url = f"sqlite:///{path}"
    if url.startswith("sqlite"):
        engine = sa.create_engine(url)

        @sa.event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):
            # WAL lets the UI read while a run writes; busy_timeout waits instead of failing.
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        return engine
    # pre_ping + recycle survive MySQL's wait_timeout closing idle pooled connections.
    engine = sa.create_engine(url, pool_pre_ping=True, pool_recycle=3600, pool_size=pool_size,
                              max_overflow=max_overflow)
    if load_file and engine.dialect.driver == "pymysql":
        @sa.event.listens_for(engine, "do_connect")
        def _guarded_connection(_dialect, _record, cargs, cparams):
            return GuardedConnection(*cargs, **cparams)
    return engine
