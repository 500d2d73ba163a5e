"""Whether the target database's tables fit its InnoDB buffer pool.

A day's run reads and writes its changed rows at random places in tables keyed by Kingdee id.
While the tables fit the buffer pool those reads are memory; once they outgrow it, most changed
rows cost page reads from disk. Measured at 1M customers on MariaDB's default 128 MiB pool, that
is about half of a one-day run's steps (bench/README.md), and nothing in a run's own figures
says why. So the publish step reports the form's tables, the whole target database and the pool,
and warns when the database is the larger: every form syncing into it shares the one pool
(README, "Sizing the target database"). Sizes are the server's own estimates from
``information_schema``.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from kd_assets.sync.bulk import is_mysql

MIB = 1 << 20


@dataclass(frozen=True)
class MemoryFit:
    """Data plus index size of a form's tables and of its whole database, and the server's
    InnoDB buffer pool, in MiB."""

    tables: tuple[str, ...]
    tables_mib: float
    database_mib: float
    buffer_pool_mib: float

    @property
    def fits(self) -> bool:
        return self.database_mib <= self.buffer_pool_mib

    def metadata(self) -> dict[str, float]:
        return {"tables_mib": round(self.tables_mib, 1), "database_mib": round(self.database_mib, 1),
                "buffer_pool_mib": round(self.buffer_pool_mib, 1)}

    def report(self, log) -> dict[str, float]:
        """The sizes as metadata, with the warning in ``log`` (a run's log) while the pool is too small."""
        if warning := self.warning():
            log.warning(warning)
        return self.metadata()

    def warning(self) -> str | None:
        """What to tell the operator when the database outgrows the pool; None while it fits."""
        if self.fits:
            return None
        return (f"the target database's tables take {self.database_mib:,.0f} MiB ({', '.join(self.tables)}: "
                f"{self.tables_mib:,.0f} MiB), more than its InnoDB buffer pool ({self.buffer_pool_mib:,.0f} MiB): "
                f"incremental runs read their rows from disk and slow down; raise innodb_buffer_pool_size "
                f"(README, \"Sizing the target database\")")


def memory_fit(engine: sa.Engine, tables: list[sa.Table]) -> MemoryFit | None:
    """The tables' and their database's size against the buffer pool; None where there is no
    InnoDB (SQLite)."""
    if not is_mysql(engine):
        return None
    names = tuple(t.name for t in tables)
    sizes = (sa.select(sa.column("table_name"), sa.column("data_length") + sa.column("index_length"))
             .select_from(sa.table("tables", schema="information_schema"))
             .where(sa.column("table_schema") == sa.func.database()))
    with engine.connect() as conn:
        if not conn.dialect.is_mariadb and conn.dialect.server_version_info >= (8,):
            # MySQL 8 caches these sizes for a day by default; a backfill would report yesterday's.
            conn.exec_driver_sql("SET SESSION information_schema_stats_expiry = 0")
        pool = conn.exec_driver_sql("SELECT @@innodb_buffer_pool_size").scalar_one()
        by_table = {name: int(n or 0) for name, n in conn.execute(sizes)}
    return MemoryFit(names, sum(by_table.get(n, 0) for n in names) / MIB, sum(by_table.values()) / MIB,
                     int(pool) / MIB)
