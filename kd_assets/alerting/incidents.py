"""Open-incident state: which alerts have been sent and not yet recovered.

De-duplication must hold across sensor ticks and daemon processes, so the durable store is a
table in the target database; the in-memory store serves tests and single-process use. Both
make ``open`` a claim (True only for the caller that opened the incident) and ``close`` the
same, so two processes racing on one incident send one message, not two.
"""

from __future__ import annotations

import dataclasses
import threading
from datetime import datetime, timezone
from typing import Protocol, runtime_checkable

import sqlalchemy as sa
from sqlalchemy.dialects import mysql

from kd_assets.alerting.alert import MAX_INCIDENT_KEY, Alert

TABLE_NAME = "kd_alert_incidents"
_MAX_TITLE = 500


@dataclasses.dataclass(frozen=True)
class OpenIncident:
    """What is remembered about an open incident: enough to word its recovery message."""

    key: str
    kind: str
    severity: str
    title: str
    opened_at: datetime


@runtime_checkable
class IncidentStore(Protocol):
    """Remembers open incidents by key."""

    def is_open(self, key: str) -> bool: ...

    def open(self, key: str, alert: Alert) -> bool:
        """Open ``key``; True if this call opened it, False if it was open already."""

    def close(self, key: str) -> bool:
        """Close ``key``; True if this call closed it, False if it was not open."""

    def open_keys(self, prefix: str = "") -> list[str]:
        """Keys of open incidents starting with ``prefix``, sorted."""

    def get(self, key: str) -> OpenIncident | None: ...


def _incident(key: str, alert: Alert) -> OpenIncident:
    return OpenIncident(key, alert.kind, alert.severity, alert.title[:_MAX_TITLE], alert.occurred_at)


class MemoryIncidentStore:
    """Process-local store; thread-safe, forgets everything on restart."""

    def __init__(self) -> None:
        self._open: dict[str, OpenIncident] = {}
        self._lock = threading.Lock()

    def is_open(self, key: str) -> bool:
        with self._lock:
            return key in self._open

    def open(self, key: str, alert: Alert) -> bool:
        with self._lock:
            if key in self._open:
                return False
            self._open[key] = _incident(key, alert)
            return True

    def close(self, key: str) -> bool:
        with self._lock:
            return self._open.pop(key, None) is not None

    def open_keys(self, prefix: str = "") -> list[str]:
        with self._lock:
            return sorted(k for k in self._open if k.startswith(prefix))

    def get(self, key: str) -> OpenIncident | None:
        with self._lock:
            return self._open.get(key)


def incidents_table(metadata: sa.MetaData, name: str = TABLE_NAME) -> sa.Table:
    """The incident table; on MySQL keys compare case-sensitively, as they do on SQLite (binary collation)."""
    key_type = sa.String(MAX_INCIDENT_KEY).with_variant(
        mysql.VARCHAR(MAX_INCIDENT_KEY, charset="utf8mb4", collation="utf8mb4_bin"), "mysql", "mariadb"
    )
    return sa.Table(
        name,
        metadata,
        sa.Column("incident_key", key_type, primary_key=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("title", sa.String(_MAX_TITLE), nullable=False),
        # Naive UTC: portable across SQLite and MySQL DATETIME.
        sa.Column("opened_at", sa.DateTime(), nullable=False),
        # Titles carry whatever text a run failure had: 4-byte characters even in a utf8mb3 database.
        mysql_charset="utf8mb4", mysql_collate="utf8mb4_unicode_ci",
        mariadb_charset="utf8mb4", mariadb_collate="utf8mb4_unicode_ci",
    )


class SqlIncidentStore:
    """Incidents in a table of ``engine``'s database (SQLite or MySQL/MariaDB), created if missing."""

    def __init__(self, engine: sa.Engine, table_name: str = TABLE_NAME) -> None:
        self._engine = engine
        self._table = incidents_table(sa.MetaData(), table_name)
        try:
            self._table.create(engine, checkfirst=True)
        except sa.exc.DBAPIError:
            # Another process created it between our check and our CREATE.
            if not sa.inspect(engine).has_table(table_name):
                raise

    def is_open(self, key: str) -> bool:
        return self.get(key) is not None

    def open(self, key: str, alert: Alert) -> bool:
        return self.adopt(_incident(key, alert))

    def adopt(self, incident: OpenIncident) -> bool:
        """Open an incident recorded elsewhere (e.g. while this database was down), keeping its
        opening time; True if this call opened it."""
        row = dataclasses.asdict(incident)
        row["incident_key"] = row.pop("key")
        row["opened_at"] = incident.opened_at.astimezone(timezone.utc).replace(tzinfo=None)
        try:
            with self._engine.begin() as conn:
                conn.execute(self._table.insert().values(**row))
        except sa.exc.IntegrityError:  # primary key taken: someone opened it first
            return False
        return True

    def close(self, key: str) -> bool:
        with self._engine.begin() as conn:
            result = conn.execute(self._table.delete().where(self._table.c.incident_key == key))
        return result.rowcount > 0

    def open_keys(self, prefix: str = "") -> list[str]:
        column = self._table.c.incident_key
        # autoescape: "_" and "%" in keys such as "run_failure:" are literals, not wildcards.
        # SQLite's LIKE ignores ASCII case, so the exact prefix test is repeated in Python.
        query = sa.select(column).where(column.startswith(prefix, autoescape=True)).order_by(column)
        with self._engine.connect() as conn:
            return [key for key in conn.scalars(query) if key.startswith(prefix)]

    def get(self, key: str) -> OpenIncident | None:
        table = self._table
        with self._engine.connect() as conn:
            row = conn.execute(sa.select(table).where(table.c.incident_key == key)).mappings().first()
        if row is None:
            return None
        return OpenIncident(
            key=row["incident_key"],
            kind=row["kind"],
            severity=row["severity"],
            title=row["title"],
            opened_at=row["opened_at"].replace(tzinfo=timezone.utc),
        )
