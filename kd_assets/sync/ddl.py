"""Table layouts derived from the spec, and idempotent create-or-migrate.

Migration only adds: a column new in the spec is added with ALTER TABLE and a missing index is
created (the checks and counts rely on them); columns, indexes and tables are never dropped or
retyped (a changed SQL type is left for a human, because narrowing a column can lose data).
Every table is keyed so that re-running a step overwrites instead of appending.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.dialects import mysql

from kd_assets.sync.billspec import header_column_names, line_column_names
from kd_assets.sync.identifiers import quoter
from kd_assets.sync.spec import ColumnSpec, SyncSpec
from kd_assets.sync.sqltext import Kind, kind_of

_MYSQL = ("mysql", "mariadb")

DATETIME3 = sa.DateTime().with_variant(mysql.DATETIME(fsp=3), *_MYSQL)
LONG_TEXT = sa.Text().with_variant(mysql.MEDIUMTEXT(), *_MYSQL)
LONG_BLOB = sa.LargeBinary().with_variant(mysql.LONGBLOB(), *_MYSQL)
BOOL = sa.Boolean(create_constraint=False)
RUN_ID = sa.String(64)
PARTITION = sa.String(64)
# Explicit, not the database's default: in a utf8mb3 database 4-byte characters (emoji, CJK
# extension B names) would fail or turn into "?". Both prefixes: mysql:// and mariadb:// URLs.
UTF8MB4 = {f"{d}_{k}": v for d in _MYSQL for k, v in (("charset", "utf8mb4"), ("collate", "utf8mb4_unicode_ci"))}


def sql_type(col: ColumnSpec) -> sa.types.TypeEngine:
    t = col.sql_type
    if t == "bigint":
        return sa.BigInteger()
    if t == "int":
        return sa.Integer()
    if t == "text":
        return sa.Text()
    if t == "boolean":
        return BOOL
    if t == "datetime":
        return sa.DateTime()
    if t == "datetime(3)":
        return DATETIME3
    if m := re.match(r"^varchar\((\d+)\)$", t):
        return sa.String(int(m.group(1)))
    if m := re.match(r"^char\((\d+)\)$", t):
        return sa.CHAR(int(m.group(1)))
    if col.precision_scale:
        return sa.Numeric(*col.precision_scale)
    raise ValueError(f"no SQL type for {col.name} {t!r}")


@dataclass(frozen=True)
class Tables:
    """The six tables of one spec, plus the writer kind of every column."""

    target: sa.Table
    landing: sa.Table
    landing_pages: sa.Table
    clean: sa.Table
    quarantine: sa.Table
    sync_log: sa.Table
    kinds: dict[str, Kind]
    headers: sa.Table | None = None  # a split bill's header table; ``target`` then holds its lines

    def all(self) -> list[sa.Table]:
        return [self.target, *([self.headers] if self.headers is not None else []), self.landing,
                self.landing_pages, self.clean, self.quarantine, self.sync_log]


BOOKKEEPING_KINDS: dict[str, Kind] = {
    "change_time": ("datetime", 0), "row_hash": ("int", 0), "synced_at": ("datetime", 0),
    "run_id": ("text", 0), "is_deleted": ("bool", 0), "deleted_at": ("datetime", 0),
    "partition_key": ("text", 0), "payload": ("text", 0), "fetched_at": ("datetime", 0),
    "cleaned_at": ("datetime", 0), "record_key": ("text", 0), "reasons": ("text", 0),
    "quarantined_at": ("datetime", 0), "partitions": ("text", 0), "page_id": ("int", 0), "position": ("int", 0),
}


def build_tables(spec: SyncSpec, metadata: sa.MetaData | None = None) -> Tables:
    md = metadata if metadata is not None else sa.MetaData()
    key = spec.key_column

    def spec_columns(names=None, pk=key):
        return [sa.Column(c.name, sql_type(c), primary_key=c.name == pk, autoincrement=False)
                for c in spec.columns if names is None or c.name in names]

    split = spec.bill is not None and spec.bill.split
    target = published_table(spec.tables.target, md, spec_columns(line_column_names(spec) if split else None),
                             _bill_indexes(spec))
    headers = (published_table(spec.tables.headers, md, spec_columns(header_column_names(spec),
                                                                     pk=spec.bill.header_key_column), [])
               if split else None)
    change_cols = [spec.column_for_field(f) for f in spec.change_time_fields]
    # The landing table is a per-key index into the landed pages (landing.py): the newest
    # version of each key is row ``position`` of page ``page_id``. ``payload`` holds the row's
    # JSON only for rows landed before pages existed ('' otherwise).
    landing = sa.Table(
        spec.tables.landing, md,
        sa.Column(key, sa.BigInteger(), primary_key=True, autoincrement=False),
        *[sa.Column(c.name, DATETIME3) for c in change_cols],
        sa.Column("change_time", DATETIME3),
        sa.Column("payload", LONG_TEXT, nullable=False),
        sa.Column("fetched_at", DATETIME3, nullable=False),
        sa.Column("run_id", RUN_ID),
        sa.Column("partition_key", PARTITION),
        sa.Column("page_id", sa.BigInteger()),
        sa.Column("position", sa.Integer()),
        # One index on change_time, not one per change field: any change field in [start, end)
        # implies change_time >= start, which is the range a window read narrows by (landing.py);
        # two fewer secondary index writes per landed row.
        sa.Index(f"ix_{spec.tables.landing}_change_time"[:64], "change_time"),
        sa.Index(landing_page_index(spec), "page_id", "position"),
        **UTF8MB4,
    )
    landing_pages = sa.Table(
        pages_table_name(spec), md,
        sa.Column("page_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True,
                  autoincrement=True),
        sa.Column("run_id", RUN_ID),
        sa.Column("partition_key", PARTITION),
        sa.Column("fetched_at", DATETIME3, nullable=False),
        sa.Column("field_keys", sa.Text(), nullable=False),  # JSON list: the rows' field order
        sa.Column("codec", sa.String(16), nullable=False),
        sa.Column("row_count", sa.Integer(), nullable=False),
        sa.Column("body", LONG_BLOB, nullable=False),
        **UTF8MB4,
    )
    clean = sa.Table(
        spec.tables.clean, md, *spec_columns(),
        sa.Column("change_time", DATETIME3, nullable=False),
        sa.Column("row_hash", sa.BigInteger()),
        sa.Column("run_id", RUN_ID),
        sa.Column("partition_key", PARTITION),
        sa.Column("cleaned_at", DATETIME3),
        *[sa.Index(f"ix_{spec.tables.clean}_{c.name}"[:64], c.name) for c in change_cols],
        *_business_key_index(spec, change_cols),
        **UTF8MB4,
    )
    quarantine = sa.Table(
        spec.tables.quarantine, md,
        sa.Column("record_key", sa.String(64), primary_key=True),
        sa.Column("partition_key", PARTITION, primary_key=True),
        sa.Column("run_id", RUN_ID),
        sa.Column("change_time", DATETIME3),
        sa.Column("reasons", LONG_TEXT, nullable=False),
        sa.Column("payload", LONG_TEXT),
        sa.Column("quarantined_at", DATETIME3, nullable=False),
        sa.Column("partitions", sa.Text()),  # every partition that rejected the key (quarantine.py)
        **UTF8MB4,
    )
    return Tables(target=target, landing=landing, landing_pages=landing_pages, clean=clean, quarantine=quarantine,
                  sync_log=sync_log_table(spec.tables.sync_log, md),
                  kinds={**BOOKKEEPING_KINDS, **{c.name: kind_of(c) for c in spec.columns}}, headers=headers)


def published_table(name: str, md: sa.MetaData, columns: list[sa.Column], indexes: list[sa.Index]) -> sa.Table:
    """A table other systems read: spec columns plus change time, signature and soft-delete marks."""
    return sa.Table(
        name, md, *columns,
        sa.Column("change_time", DATETIME3, nullable=False),
        sa.Column("row_hash", sa.BigInteger()),
        sa.Column("synced_at", DATETIME3),
        sa.Column("run_id", RUN_ID),
        sa.Column("is_deleted", BOOL, nullable=False, server_default=sa.false()),
        sa.Column("deleted_at", DATETIME3),
        sa.Index(f"ix_{name}_change_time"[:64], "change_time"),
        # Live rows are counted after every publish: this narrow index, not the wide rows, is read.
        sa.Index(f"ix_{name}_is_deleted"[:64], "is_deleted"),
        *indexes,
        **UTF8MB4,
    )


def pages_table_name(spec: SyncSpec) -> str:
    return f"{spec.tables.landing}_pages"[:64]


def landing_page_index(spec: SyncSpec) -> str:
    return f"ix_{spec.tables.landing}_page"[:64]


def landing_change_field_indexes(spec: SyncSpec) -> list[str]:
    """Indexes landing tables had before pages, one per change field (landing.migrate_landing drops them)."""
    return [f"ix_{spec.tables.landing}_{spec.column_for_field(f).name}"[:64] for f in spec.change_time_fields]


def _bill_indexes(spec: SyncSpec) -> list[sa.Index]:
    """A bill's lines table: unique (bill id, entry id), and lines found by bill."""
    if not spec.bill:
        return []
    b, t = spec.bill, spec.tables.target
    return [sa.Index(f"ux_{t}_bill_entry"[:64], b.header_key_column, b.entry_key_column, unique=True)]


def _business_key_index(spec: SyncSpec, change_cols: list[ColumnSpec]) -> list[sa.Index]:
    """The clean table's business key, then its change columns: the ``unique_keys`` check groups
    a whole window by reading this index alone (measured at 1M rows: a sort of the wide rows
    took 6–40 s, this scan under 1 s). Text columns cannot be indexed whole: no index then."""
    names = [*spec.business_key, *[c.name for c in change_cols]]
    types = {c.name: c.sql_type for c in spec.columns}
    if not spec.business_key or any(types.get(n) == "text" for n in spec.business_key):
        return []
    return [sa.Index(f"ix_{spec.tables.clean}_business_key"[:64], *dict.fromkeys(names))]


def sync_log_table(name: str, md: sa.MetaData) -> sa.Table:
    """One row per asset run, shared by all specs; a plain table a BI tool can chart."""
    counts = ["rows_in", "inserted", "updated", "unchanged", "skipped_older", "rejected",
              "deleted", "api_calls", "retries"]
    return sa.Table(
        name, md,
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True,
                  autoincrement=True),
        sa.Column("asset", sa.String(128), nullable=False),
        sa.Column("partition_key", PARTITION),
        sa.Column("window_start", sa.DateTime()),
        sa.Column("window_end", sa.DateTime()),
        sa.Column("run_id", RUN_ID),
        sa.Column("status", sa.String(16), nullable=False),
        *[sa.Column(c, sa.BigInteger(), nullable=False, server_default="0") for c in counts],
        sa.Column("duration_s", sa.Float()),
        sa.Column("started_at", DATETIME3),
        sa.Column("finished_at", DATETIME3),
        sa.Column("message", sa.Text()),
        sa.Index(f"ix_{name}_asset_partition"[:64], "asset", "partition_key"),
        **UTF8MB4,
    )


def ensure_tables(engine: sa.Engine, tables: Tables) -> list[str]:
    """Create missing tables and add missing columns; return the DDL changes made."""
    changes = []
    with engine.begin() as conn:
        inspector = sa.inspect(conn)
        existing = set(inspector.get_table_names())
        for table in tables.all():
            if table.name not in existing:
                table.create(conn)
                changes.append(f"created table {table.name}")
                continue
            have = {c["name"].lower() for c in inspector.get_columns(table.name)}
            for column in table.columns:
                if column.name.lower() not in have:
                    ddl = sa.schema.CreateColumn(column).compile(dialect=conn.dialect)
                    conn.exec_driver_sql(f"ALTER TABLE {quoter(conn)(table.name)} ADD COLUMN {ddl}")
                    changes.append(f"added column {table.name}.{column.name}")
            indexes = {i["name"].lower() for i in inspector.get_indexes(table.name) if i.get("name")}
            for index in table.indexes:
                if index.name.lower() not in indexes:
                    index.create(conn)
                    changes.append(f"created index {index.name} on {table.name}")
    return changes
