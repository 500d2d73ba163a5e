"""The three sync assets against the simulator (HTTP) and a real target (MariaDB and SQLite)."""

from __future__ import annotations

import datetime as dt

import dagster as dg
import pytest
import requests
import sqlalchemy as sa

from kd_assets_tests.defs.forms import SPEC, kingdee_customers_clean, wk_wodtop_customer
from kd_assets_tests.defs.sync_harness import (
    busiest_day, changed_in, checks, client, materialization, resources, source_rows, sync, table_keys, table_snapshot,
)

CLOCK = "2024-03-01 12:00:00"
TARGET, QUARANTINE = SPEC.tables.target, SPEC.tables.quarantine


@pytest.fixture
def sim(simulator_factory):
    return simulator_factory(customers=3000, seed=11, clock_start=CLOCK, dirty_share=0.05)


@pytest.fixture
def day(sim) -> str:
    return busiest_day(source_rows(sim), "2024-01-01", "2024-02-28")


def _bounds(day: str) -> tuple[dt.datetime, dt.datetime]:
    start = dt.datetime.strptime(day, "%Y-%m-%d")
    return start, start + dt.timedelta(days=1)


def test_partition_fills_target_with_exactly_the_rows_changed_that_day(sim, day, target_url):
    expected = changed_in(source_rows(sim), *_bounds(day))
    assert expected, "the seeded data should have changes on the test day"

    result = sync(resources(sim, target_url), day)

    published = table_keys(target_url, TARGET)
    quarantined = table_keys(target_url, QUARANTINE)
    assert published | quarantined == expected
    assert not published & quarantined
    assert materialization(result, TARGET)["inserted"] == len(published)


def test_range_run_loads_every_day_in_one_run(sim, target_url):
    # The range starts at the first partition, which also holds every earlier change.
    expected = changed_in(source_rows(sim), dt.datetime(1900, 1, 1), dt.datetime(2024, 3, 2))

    result = sync(resources(sim, target_url), first="2024-01-01", last="2024-03-01")

    assert result.success
    assert table_keys(target_url, TARGET) | table_keys(target_url, QUARANTINE) == expected
    raw = materialization(result, "kingdee_customers_raw")
    assert raw["partition"] == "2024-01-01...2024-03-01"
    assert raw["kingdee_calls"] >= 1


def test_dirty_rows_are_quarantined_with_the_failed_field(sim, target_url):
    sync(resources(sim, target_url), first="2024-01-01", last="2024-03-01")

    with sa.create_engine(target_url).connect() as conn:
        rows = conn.execute(sa.text(f"SELECT record_key, reasons, payload FROM {QUARANTINE}")).all()
    assert rows, "5% dirty rows over two months must produce rejects"
    for key, reasons, payload in rows:
        assert '"field"' in reasons and '"check"' in reasons
        assert key in payload  # the raw Kingdee row is kept, naming the record


def test_rerun_changes_nothing(sim, day, target_url):
    res = resources(sim, target_url)
    sync(res, day)
    before = table_snapshot(target_url, TARGET)

    again = sync(res, day)

    counts = materialization(again, TARGET)
    assert (counts["inserted"], counts["updated"], counts["skipped_older"]) == (0, 0, 0)
    assert counts["unchanged"] == len(before)
    assert table_snapshot(target_url, TARGET) == before


def test_older_partition_rerun_does_not_revert_a_newer_edit(sim, day, target_url):
    res = resources(sim, target_url)
    sync(res, day)
    key = min(table_keys(target_url, TARGET))
    with client(sim) as c:
        c.save(SPEC.form_id, {"FCUSTID": key, "FName": "新名称有限公司"})
    today = CLOCK[:10]
    sync(res, today)

    rerun = sync(res, day)

    assert rerun.success
    with sa.create_engine(target_url).connect() as conn:
        name = conn.execute(sa.text(f"SELECT customer_name FROM {TARGET} WHERE data_id = :k"), {"k": key}).scalar()
    assert name == "新名称有限公司"


def test_too_many_rejects_block_publishing(sim, target_url, monkeypatch):
    monkeypatch.setenv("KD_MAX_REJECT_SHARE", "0")
    monkeypatch.setenv("KD_REJECT_GATE_MIN_ROWS", "0")

    result = sync(resources(sim, target_url), first="2024-01-01", last="2024-03-01")

    assert not result.success
    assert checks(result)["clean_schema"] is False
    assert "wk_wodtop_customer" not in {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert table_keys(target_url, TARGET) == set()


def test_auth_failure_fails_the_run_without_retries(sim, day, sqlite_url):
    result = sync(resources(sim, sqlite_url, app_secret="wrong-secret"), day)

    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    message = str(failure.event_specific_data.error)
    assert "wrong-secret" not in message
    assert not any(e.event_type_value == "STEP_UP_FOR_RETRY" for e in result.all_events)


def test_a_window_is_recleaned_and_republished_from_landing_without_kingdee(sim, day, target_url):
    res = resources(sim, target_url)
    sync(res, day)
    columns = ", ".join([c.name for c in SPEC.columns] + ["change_time", "is_deleted"])
    published = f"SELECT {columns} FROM {TARGET} ORDER BY data_id"
    with sa.create_engine(target_url).connect() as conn:
        before = conn.execute(sa.text(published)).all()
    with sa.create_engine(target_url).begin() as conn:
        conn.execute(sa.text(f"DELETE FROM {TARGET}"))
        conn.execute(sa.text(f"DELETE FROM {SPEC.tables.clean}"))
    requests.post(sim.admin_url + "faults", json={"fail_rate": 1.0}, timeout=10).raise_for_status()

    result = dg.materialize([kingdee_customers_clean, wk_wodtop_customer], partition_key=day, resources=res,
                            raise_on_error=False)

    assert result.success
    with sa.create_engine(target_url).connect() as conn:
        assert conn.execute(sa.text(published)).all() == before
