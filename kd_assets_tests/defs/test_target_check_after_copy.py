"""target_matches_clean after an initial load: what the run's publish copied into empty key ranges
is not compared again; anything else is, and a mismatch still fails the check."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from kd_assets_tests.defs.forms import CUSTOMERS, SPEC
from kd_assets_tests.defs.sync_harness import materialization, resources, sync

FIRST = CUSTOMERS.settings.sync_start
TARGET = SPEC.tables.target


@pytest.fixture
def sim(simulator_factory):
    return simulator_factory(customers=300, seed=5, clock_start="2024-03-01 12:00:00")


def target_check(result) -> tuple[bool, dict]:
    (evaluation,) = [e for e in result.get_asset_check_evaluations() if e.check_name == "target_matches_clean"]
    return evaluation.passed, {k: getattr(v, "value", v) for k, v in evaluation.metadata.items()}


def test_an_initial_load_copied_whole_is_not_compared_again_and_a_rerun_is(sim, mysql_url):
    res = resources(sim, mysql_url)
    first = sync(res, FIRST)
    published = materialization(first, TARGET)
    assert first.success and published["copied_fresh"] == published["rows_in"] == published["inserted"] > 0
    passed, meta = target_check(first)
    assert passed and meta["mismatched_rows"] == 0 and meta["copied_by_this_run"] == published["rows_in"]

    engine = sa.create_engine(mysql_url)
    with engine.begin() as conn:  # a stored version newer than any staged one: the re-run must skip it
        conn.exec_driver_sql(f"UPDATE {TARGET} SET change_time = '2030-01-01' ORDER BY data_id LIMIT 1")
    engine.dispose()
    rerun = sync(res, FIRST)
    assert materialization(rerun, TARGET)["copied_fresh"] == 0
    passed, meta = target_check(rerun)
    assert not passed and meta["mismatched_rows"] == 1 and "copied_by_this_run" not in meta


def test_on_sqlite_the_publish_is_guarded_and_the_check_compares(sim, sqlite_url):
    result = sync(resources(sim, sqlite_url), FIRST)
    assert result.success and materialization(result, TARGET)["copied_fresh"] == 0
    passed, meta = target_check(result)
    assert passed and meta["mismatched_rows"] == 0 and "copied_by_this_run" not in meta
