"""Whether a form's tables fit the target database's InnoDB buffer pool.

A day's run reads and writes its changed rows at random places in tables keyed by Kingdee id.
While those tables fit the buffer pool the reads are memory; once they outgrow it, each row costs
page reads from disk. Measured at 1M customers on MariaDB's default 128 MiB pool, that is about
half of a one-day run (bench/README.md), and nothing in a run's own figures says why. So the
publish step reports both sizes and warns when the tables are the larger (README, "Sizing the
target database"). Sizes are the server's own estimates from ``information_schema``.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from kd_assets.sync.bulk import is_mysql

MIB = 1 << 20


@dataclass(frozen=True)
class MemoryFit:
    """Data plus index size of some tables, and the server's InnoDB buffer pool, in MiB."""

    tables: tuple[str, ...]
    tables_mib: float
    buffer_pool_mib: float

    @property
    def fits(self) -> bool:
        return self.tables_mib <= self.buffer_pool_mib

    def metadata(self) -> dict[str, float]:
        return {"tables_mib": round(self.tables_mib, 1), "buffer_pool_mib": round(self.buffer_pool_mib, 1)}

    def warning(self) -> str | None:
        """What to tell the operator when the tables outgrow the pool; None while they fit."""
        if self.fits:
            return None
        return (f"tables {', '.join(self.tables)} take {self.tables_mib:,.0f} MiB, more than the target "
                f"database's InnoDB buffer pool ({self.buffer_pool_mib:,.0f} MiB): incremental runs read "
                f"their rows from disk and slow down; raise innodb_buffer_pool_size (README, "
                f"\"Sizing the target database\")")


def memory_fit(engine: sa.Engine, tables: list[sa.Table]) -> MemoryFit | None:
    """The tables' size against the buffer pool; None where there is no InnoDB (SQLite)."""
    if not is_mysql(engine):
        return None
    names = tuple(t.name for t in tables)
    size = (sa.select(sa.func.coalesce(sa.func.sum(sa.column("data_length") + sa.column("index_length")), 0))
            .select_from(sa.table("tables", schema="information_schema"))
            .where(sa.column("table_schema") == sa.func.database(), sa.column("table_name").in_(names)))
    with engine.connect() as conn:
        pool = conn.exec_driver_sql("SELECT @@innodb_buffer_pool_size").scalar_one()
        tables_bytes = conn.execute(size).scalar_one()
    return MemoryFit(names, int(tables_bytes) / MIB, int(pool) / MIB)
