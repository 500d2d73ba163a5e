"""Connections to the target database: MySQL/MariaDB through PyMySQL, or the embedded SQLite file.

One place decides what a connection may do: SQLite gets WAL and a busy timeout; MySQL gets a
pre-ping pool, and the LOAD DATA LOCAL capability only when the engine is made for the opt-in
bulk path (``load_file=True``), because a server may ask a client that offers it for any file.
"""

from __future__ import annotations

import os
from pathlib import Path

import sqlalchemy as sa

from kd_assets.sync.loadfile import disable_file_requests

DEFAULT_SQLITE_PATH = ".dagster_home/kd_target.sqlite"


def create_target_engine(url: str | None = None, *, pool_size: int = 5, max_overflow: int = 5,
                         load_file: bool = False) -> sa.Engine:
    """An engine for ``url``; None/"" means the embedded SQLite file (``KD_SQLITE_PATH``).

    ``load_file=True`` (for ``TargetStore(load_file=True)``) lets its MySQL connections use LOAD
    DATA LOCAL; every other engine leaves the capability off, as the path is off by default.
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
    connect_args = {}
    local_files = load_file and sa.engine.make_url(url).get_driver_name() == "pymysql"
    if local_files:
        # Advertise LOAD DATA LOCAL (the fast bulk path, see loadfile.py); the driver still
        # refuses file requests except while one of our own loads runs.
        connect_args["local_infile"] = True
    # pre_ping + recycle survive MySQL's wait_timeout closing idle pooled connections.
    engine = sa.create_engine(url, pool_pre_ping=True, pool_recycle=3600, pool_size=pool_size,
                              max_overflow=max_overflow, connect_args=connect_args)
    if local_files:
        sa.event.listen(engine, "connect", lambda dbapi_conn, _record: disable_file_requests(dbapi_conn))
    return engine
