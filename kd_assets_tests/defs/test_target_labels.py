"""What the UI shows of the target: its kind is the database actually written, its
materialization carries the table's live row count and (on MySQL) its tables' size beside the
buffer pool, and the reconciliation's schedule can be moved by KD_RECONCILE_CRON (the demo's
every-10-minutes) while a defs.yaml cron still wins."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from kd_assets.defs.component import KingdeeFormSync
from kd_assets.defs.target_db import target_kind
from kd_assets.definitions import form_definitions
from kd_assets_tests.defs.forms import SPEC
from kd_assets_tests.defs.sync_harness import materialization, resources, sync

CLOCK = "2024-03-01 12:00:00"


def _kinds(asset) -> set[str]:
    return set(next(iter(asset.specs)).kinds)


@pytest.mark.parametrize("url, kind", [("", "sqlite"), ("mysql+pymysql://u:p@db:3306/kd", "mysql"),
                                       ("mariadb+pymysql://u@db/kd", "mariadb")])
def test_the_target_and_reconciliation_are_labelled_by_the_configured_dialect(monkeypatch, url, kind):
    monkeypatch.setenv("KD_MYSQL_URL", url)
    assert target_kind() == kind
    customers = form_definitions()["customers"]
    assert _kinds(customers.sync_assets[-1]) == {kind}
    assert _kinds(customers.reconciliation) == {"kingdee", kind}


def test_reconcile_cron_comes_from_kd_reconcile_cron_unless_the_yaml_sets_one(monkeypatch):
    monkeypatch.delenv("KD_RECONCILE_CRON", raising=False)
    assert form_definitions()["customers"].reconcile_schedule.cron_schedule == "30 2 * * *"
    monkeypatch.setenv("KD_RECONCILE_CRON", "*/10 * * * *")
    assert form_definitions()["suppliers"].reconcile_schedule.cron_schedule == "*/10 * * * *"
    own = KingdeeFormSync(spec="bd_supplier", name="suppliers", reconcile_schedule={"cron": "0 3 * * *"})
    assert own.form_settings().reconcile.cron == "0 3 * * *"


def test_the_target_reports_the_tables_live_rows_beside_the_partitions_rows(simulator_factory, target_url):
    sim = simulator_factory(customers=400, seed=5, clock_start=CLOCK)
    res = resources(sim, target_url)
    assert sync(res, first="2024-01-01", last="2024-02-28").success
    engine = sa.create_engine(target_url)
    with engine.begin() as conn:
        conn.execute(sa.text(f"UPDATE {SPEC.tables.target} SET is_deleted = 1 WHERE data_id IN "
                             f"(SELECT data_id FROM (SELECT data_id FROM {SPEC.tables.target} LIMIT 3) AS three)"))
        live = conn.execute(sa.text(f"SELECT COUNT(*) FROM {SPEC.tables.target} WHERE is_deleted = 0")).scalar_one()
    engine.dispose()
    meta = materialization(sync(res, "2024-02-29"), SPEC.tables.target)
    assert meta["target_live_rows"] == live
    assert live > meta["dagster/row_count"]
    if target_url.startswith("mysql"):  # beside the tables' size, the pool a day's run reads them through
        assert 0 < meta["tables_mib"] <= meta["database_mib"] < meta["buffer_pool_mib"]
    else:
        assert not {"tables_mib", "database_mib", "buffer_pool_mib"} & set(meta)
