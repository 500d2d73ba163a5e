"""A large window's clean step split over worker processes by key range (parclean.py) stages,
quarantines, counts and reports exactly what one process does; a worker's failure fails the step
with the worker's own error and publishes nothing; small windows and SQLite stay in one process."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa

from kd_assets.defs.resources import KingdeeResource
from kd_assets.defs.target_db import MySQLResource
from kd_assets.sync import parclean
from kd_assets.sync.store import TargetStore, create_target_engine
from kd_assets_tests.defs.forms import SPEC
from kd_assets_tests.defs.sync_harness import SIM_CREDENTIALS, materialization, source_rows, sync, table_keys
from kd_assets_tests.fixtures.database import MYSQL_SERVER

CLOCK = "2024-03-01 12:00:00"
RANGE = dict(first="2024-01-01", last="2024-03-01")
CUSTOMERS = 6_000  # with 500-row chunks: several chunks on each side of the split
BOOKKEEPING = {"run_id", "cleaned_at", "quarantined_at", "synced_at", "fetched_at"}


@pytest.fixture
def started(monkeypatch) -> list[parclean.WorkerProcess]:
    """Every worker process the clean step starts; windows of 1,000 rows and up are split."""
    workers: list = []
    real = parclean.WorkerProcess

    def recording(store, job):
        workers.append(real(store, job))
        return workers[-1]

    monkeypatch.setattr(parclean, "WorkerProcess", recording)
    monkeypatch.setattr(parclean, "PARALLEL_MIN_ROWS", 1_000)
    return workers


@pytest.fixture
def other_mysql_url(mysql_server):
    name = f"kdt_{uuid.uuid4().hex[:12]}"
    with mysql_server.connect() as conn:
        conn.execute(sa.text(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"))
    yield f"{MYSQL_SERVER}/{name}?charset=utf8mb4"
    with mysql_server.connect() as conn:
        conn.execute(sa.text(f"DROP DATABASE IF EXISTS `{name}`"))


def _resources(sim, url: str) -> dict:
    return {"kingdee": KingdeeResource(server_url=sim.base_url, **SIM_CREDENTIALS),
            "target_db": MySQLResource(url=url, chunk_size=500)}


def _rows(url: str, table: str, order: str) -> list[dict]:
    with sa.create_engine(url).connect() as conn:
        rows = conn.execute(sa.text(f"SELECT * FROM {table} ORDER BY {order}")).mappings().all()
    return [{k: v for k, v in r.items() if k not in BOOKKEEPING} for r in rows]


def _reports(result) -> dict:
    checks = {e.check_name: {k: getattr(v, "value", v) for k, v in e.metadata.items()}
              for e in result.get_asset_check_evaluations() if e.check_name in ("clean_schema", "reject_rate")}
    clean = materialization(result, "kingdee_customers_clean")
    return {"checks": checks, "counts": {k: clean[k] for k in ("rows_in", "clean", "rejected", "reject_share")}}


def test_a_split_window_stages_and_reports_what_one_process_does(simulator_factory, mysql_url, other_mysql_url,
                                                                started, monkeypatch):
    sim = simulator_factory(customers=CUSTOMERS, seed=7, clock_start=CLOCK, dirty_share=0.04)  # rejects in most chunks
    one = sync(_resources(sim, mysql_url), **RANGE)
    assert one.success and started == []
    monkeypatch.setenv("KD_CLEAN_WORKERS", "3")
    split = sync(_resources(sim, other_mysql_url), **RANGE)

    assert split.success
    assert len(started) == 2 and all(w.process.returncode == 0 for w in started)
    assert _reports(split) == _reports(one)
    assert _reports(one)["counts"]["rejected"] > 0
    for table, order in ((SPEC.tables.clean, "data_id"), (SPEC.tables.quarantine, "record_key, partition_key"),
                         (SPEC.tables.target, "data_id")):
        assert _rows(other_mysql_url, table, order) == _rows(mysql_url, table, order), table


def _refuse_clean_writes_from(url: str, first_key: int) -> None:
    """A real trigger: staging rows with keys from ``first_key`` on is refused by the database."""
    engine = create_target_engine(url)
    TargetStore(engine, SPEC).ensure_tables()
    with engine.begin() as conn:
        conn.exec_driver_sql(f"CREATE TRIGGER refuse BEFORE INSERT ON {SPEC.tables.clean} FOR EACH ROW "
                             f"IF NEW.data_id >= {first_key} THEN "
                             "SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'upper keys refused'; END IF")
    engine.dispose()


def test_a_failing_worker_fails_the_step_with_its_own_error_and_nothing_is_published(
        simulator_factory, mysql_url, started, monkeypatch):
    sim = simulator_factory(customers=CUSTOMERS, seed=7, clock_start=CLOCK)
    keys = sorted(source_rows(sim)["data_id"].astype(int))
    _refuse_clean_writes_from(mysql_url, keys[len(keys) * 3 // 4])  # only in the upper half: the worker's
    monkeypatch.setenv("KD_CLEAN_WORKERS", "2")

    result = sync(_resources(sim, mysql_url), **RANGE)

    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    assert failure.step_key == "kingdee_customers_clean"
    error = str(failure.event_specific_data.error)
    assert "clean worker for keys" in error and "upper keys refused" in error
    assert len(started) == 1 and started[0].process.returncode is not None
    assert table_keys(mysql_url, SPEC.tables.target) == set()
    with sa.create_engine(mysql_url).connect() as conn:
        status = conn.execute(sa.text(f"SELECT status FROM {SPEC.tables.sync_log} "
                                      "WHERE asset = 'kingdee_customers_clean'")).scalars().all()
    assert status == ["failed"]


@pytest.mark.parametrize("url, workers", [("mysql_url", "2"), ("sqlite_url", "2")])
def test_small_windows_and_sqlite_stay_in_one_process(simulator_factory, request, url, workers, started, monkeypatch):
    monkeypatch.setenv("KD_CLEAN_WORKERS", workers)
    if url == "mysql_url":
        monkeypatch.setattr(parclean, "PARALLEL_MIN_ROWS", 10**6)  # the one-day size: far below it
    sim = simulator_factory(customers=2_000, seed=7, clock_start=CLOCK)

    result = sync(_resources(sim, request.getfixturevalue(url)), **RANGE)

    assert result.success
    assert started == []
    assert materialization(result, "kingdee_customers_clean")["rows_in"] == 2_000
