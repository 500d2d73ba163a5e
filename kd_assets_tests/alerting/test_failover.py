"""The failover incident store: the target database down, then back (a real closed port, real MariaDB)."""

from __future__ import annotations

import logging
import socket

import sqlalchemy as sa

from kd_assets.alerting import SqlIncidentStore, target_incident_store
from kd_assets.alerting.failover import fallback_path

from .factories import run_failure

KEY = "run_failure:kingdee_sync_job:2025-01-02"
PASSWORD = "db-Passw0rd-never-logged"


def _down_engine() -> sa.Engine:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return sa.create_engine(f"mysql+pymysql://kd:{PASSWORD}@127.0.0.1:{port}/kd?charset=utf8mb4")


def test_incidents_opened_while_the_database_is_down_move_into_it_when_it_returns(mysql_url, tmp_path, caplog):
    env = {"KD_ALERT_INCIDENTS_FALLBACK": str(tmp_path / "incidents.sqlite")}
    down = target_incident_store(_down_engine(), env)
    with caplog.at_level(logging.WARNING):
        assert down.open(KEY, run_failure()) is True
        assert down.open(KEY, run_failure()) is False  # de-duplicated by the file
    assert "unavailable" in caplog.text and PASSWORD not in caplog.text

    engine = sa.create_engine(mysql_url)
    up = target_incident_store(engine, env)
    assert up.open(KEY, run_failure()) is False
    assert SqlIncidentStore(engine).is_open(KEY)
    assert up.close(KEY) is True
    assert SqlIncidentStore(sa.create_engine(f"sqlite:///{tmp_path / 'incidents.sqlite'}")).open_keys() == []
    engine.dispose()


def test_the_fallback_file_lives_in_dagster_home_unless_configured():
    assert str(fallback_path({"DAGSTER_HOME": "/srv/dagster"})) == "/srv/dagster/kd_alert_incidents.sqlite"
    assert str(fallback_path({"KD_ALERT_INCIDENTS_FALLBACK": "/var/kd/i.sqlite"})) == "/var/kd/i.sqlite"
