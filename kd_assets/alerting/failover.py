"""Incidents that survive the target database being down: the moment an alert matters most.

The shared incident table lives in the target database, so that sensors in several processes
de-duplicate against one another. When that database cannot be reached, the alert must still go
out: incidents are then kept in a small SQLite file beside the Dagster instance
(``$DAGSTER_HOME/kd_alert_incidents.sqlite``, or ``KD_ALERT_INCIDENTS_FALLBACK``), which
de-duplicates the ticks of this host. When the database answers again, the incidents opened
meanwhile are moved into it first, so their recovery is sent once and a repeat is not.

Why a file and not "send without de-dup": a target outage is also when every sync run fails,
and the run-failure sensor would otherwise repeat the same alert for every run of the outage.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from kd_assets.alerting.alert import Alert
from kd_assets.alerting.delivery import LOGGER_NAME
from kd_assets.alerting.incidents import OpenIncident, SqlIncidentStore
from kd_assets.alerting.scrub import error_text

FALLBACK_FILE = "kd_alert_incidents.sqlite"


def fallback_path(environ=os.environ) -> Path:
    """``KD_ALERT_INCIDENTS_FALLBACK``, else the file in ``DAGSTER_HOME`` (or ``.dagster_home``)."""
    explicit = environ.get("KD_ALERT_INCIDENTS_FALLBACK", "").strip()
    if explicit:
        return Path(explicit)
    return Path(environ.get("DAGSTER_HOME", "").strip() or ".dagster_home") / FALLBACK_FILE


def target_incident_store(engine: sa.Engine, environ=os.environ) -> "FailoverIncidentStore":
    """The sensors' store: ``kd_alert_incidents`` in ``engine``'s database, failing over to a file."""
    return FailoverIncidentStore(lambda: SqlIncidentStore(engine), fallback_path(environ))


class FailoverIncidentStore:
    """An :class:`IncidentStore` on the target database that falls back to a local SQLite file.

    ``primary`` builds the shared store (it may raise when the database is down; it is built again
    on the next call). Any database error of the primary sends that call to the fallback.
    """

    def __init__(self, primary: Callable[[], SqlIncidentStore], fallback: Path,
                 logger: logging.Logger | None = None) -> None:
        self._make_primary = primary
        self._primary: SqlIncidentStore | None = None
        self._fallback_path = Path(fallback)
        self._fallback: SqlIncidentStore | None = None
        self.log = logger or logging.getLogger(LOGGER_NAME)
        self._warned = False

    def is_open(self, key: str) -> bool:
        return self._call("is_open", key)

    def open(self, key: str, alert: Alert) -> bool:
        return self._call("open", key, alert)

    def close(self, key: str) -> bool:
        return self._call("close", key)

    def open_keys(self, prefix: str = "") -> list[str]:
        return self._call("open_keys", prefix)

    def get(self, key: str) -> OpenIncident | None:
        return self._call("get", key)

    def _call(self, method: str, *args: Any) -> Any:
        try:
            primary = self._primary_store()
            self._move_fallback_incidents(primary)
            return getattr(primary, method)(*args)
        except sa.exc.DBAPIError as exc:
            self._primary = None
            if not self._warned:
                self._warned = True
                self.log.warning("incident store in the target database unavailable (%s); using %s",
                                 error_text(exc), self._fallback_path)
        return getattr(self._fallback_store(), method)(*args)

    def _primary_store(self) -> SqlIncidentStore:
        if self._primary is None:
            self._primary = self._make_primary()
        return self._primary

    def _fallback_store(self) -> SqlIncidentStore:
        if self._fallback is None:
            self._fallback_path.parent.mkdir(parents=True, exist_ok=True)
            engine = sa.create_engine(f"sqlite:///{self._fallback_path}", connect_args={"timeout": 30})
            self._fallback = SqlIncidentStore(engine)
        return self._fallback

    def _move_fallback_incidents(self, primary: SqlIncidentStore) -> None:
        """Incidents opened during an outage join the shared table (an incident already open there
        stays as it is), then leave the file."""
        if self._fallback is None and not self._fallback_path.exists():
            return
        fallback = self._fallback_store()
        for key in fallback.open_keys():
            incident = fallback.get(key)
            if incident is not None:
                primary.adopt(incident)
            fallback.close(key)
