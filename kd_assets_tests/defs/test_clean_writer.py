"""The clean step stages chunks in a write-behind thread: a write the database refuses there
fails the step, with the database's message, and nothing is published."""

from __future__ import annotations

import sqlalchemy as sa

from kd_assets.sync.store import TargetStore, create_target_engine
from kd_assets_tests.defs.forms import SPEC
from kd_assets_tests.defs.sync_harness import materialization, resources, sync, table_keys

CLOCK = "2024-03-01 12:00:00"


def _refuse_clean_writes(url: str) -> None:
    """A real trigger in the target: the staging insert fails inside the database."""
    engine = create_target_engine(url)
    TargetStore(engine, SPEC).ensure_tables()
    t = SPEC.tables.clean
    with engine.begin() as conn:
        if engine.dialect.name == "sqlite":
            conn.exec_driver_sql(f"CREATE TRIGGER refuse BEFORE INSERT ON {t} "
                                 "BEGIN SELECT RAISE(ABORT, 'clean staging refuses writes'); END")
        else:
            conn.exec_driver_sql(f"CREATE TRIGGER refuse BEFORE INSERT ON {t} FOR EACH ROW "
                                 "SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'clean staging refuses writes'")
    engine.dispose()


def test_a_staging_write_that_fails_in_the_writer_thread_fails_the_clean_step(simulator_factory, target_url):
    sim = simulator_factory(customers=12_000, seed=5, clock_start=CLOCK)  # several 5,000-row chunks
    _refuse_clean_writes(target_url)

    result = sync(resources(sim, target_url), first="2024-01-01", last="2024-03-01")

    assert not result.success
    assert materialization(result, "kingdee_customers_raw")["landed"] > 5_000
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    assert failure.step_key == "kingdee_customers_clean"
    assert "clean staging refuses writes" in str(failure.event_specific_data.error)
    assert table_keys(target_url, SPEC.tables.target) == set()
    with sa.create_engine(target_url).connect() as conn:
        status = conn.execute(sa.text(f"SELECT status FROM {SPEC.tables.sync_log} "
                                      "WHERE asset = 'kingdee_customers_clean'")).scalars().all()
    assert status == ["failed"]
