"""The MySQL grants the target user needs, exactly as the README documents them.

A MariaDB user with only those grants, on the test's database only, creates and migrates the
tables, syncs, re-syncs an edit and reconciles a delete; a user lacking any one of them fails on
the first statement that needs it, with the server's "<GRANT> command denied" naming the grant.
"""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path

import pandas as pd
import pymysql
import pytest
import sqlalchemy as sa
import yaml

from kd_assets.sync.reconcile import reconcile
from kd_assets.sync.spec import SPECS_DIR, load_spec
from kd_assets.sync.store import TargetStore, create_target_engine
from kd_assets_tests.defs.sync_harness import client, sync_by_hand

# README "Production notes" → "The target database user". Keep the two in step.
GRANTS = ["SELECT", "INSERT", "UPDATE", "DELETE", "CREATE", "ALTER", "INDEX"]
README = Path(__file__).resolve().parents[2] / "README.md"
CLOCK = "2024-03-01 12:00:00"
DAY = (dt.datetime(2024, 3, 1), dt.datetime(2024, 3, 2))


@pytest.fixture
def sim(simulator_factory):
    return simulator_factory(customers=300, seed=5, clock_start=CLOCK, dirty_share=0.0)


@pytest.fixture
def user_with(mysql_server, mysql_url):
    """Makes a user holding ``grants`` on the test's database only; returns its URL."""
    database = sa.engine.make_url(mysql_url).database
    users = []

    def make(grants: list[str]) -> str:
        name, password = f"kdu_{uuid.uuid4().hex[:10]}", uuid.uuid4().hex
        with mysql_server.connect() as conn:
            conn.execute(sa.text(f"CREATE USER '{name}'@'%' IDENTIFIED BY '{password}'"))
            users.append(name)
            conn.execute(sa.text(f"GRANT {', '.join(grants)} ON `{database}`.* TO '{name}'@'%'"))
        url = sa.engine.make_url(mysql_url).set(username=name, password=password)
        return url.render_as_string(hide_password=False)

    yield make
    with mysql_server.connect() as conn:
        for name in users:
            conn.execute(sa.text(f"DROP USER IF EXISTS '{name}'@'%'"))


def _spec_without_a_column(tmp_path):
    """The customer spec as it was before ``phone`` was added (so the next start runs ALTER TABLE)."""
    doc = yaml.safe_load((SPECS_DIR / "bd_customer.yaml").read_text(encoding="utf-8"))
    doc["columns"] = [c for c in doc["columns"] if c["name"] != "phone"]
    path = tmp_path / "bd_customer.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return load_spec(path)


def _lifecycle(sim, url: str, tmp_path) -> TargetStore:
    """Create and migrate the tables, load by reconciliation, sync an edit, reconcile a delete."""
    engine = create_target_engine(url)
    TargetStore(engine, _spec_without_a_column(tmp_path)).ensure_tables()
    store = TargetStore(engine, load_spec("bd_customer"))
    assert store.ensure_tables()  # the added column
    with client(sim) as c:
        edited, deleted = (int(r[0]) for r in c.execute_bill_query(
            store.spec.form_id, ["FCUSTID"], filter_string="FDocumentStatus = 'A'", order_string="FCUSTID ASC",
            limit=2))
        reconcile(c, store, store.spec, "initial-load", now=pd.Timestamp(CLOCK))
        c.save(store.spec.form_id, {"FCUSTID": edited, "FName": "权限测试后的名称有限公司"})
        sync_by_hand(c, store, *DAY, "2024-03-01", "2024-03-01 12:05:00")
        c.delete(store.spec.form_id, [deleted])
        reconcile(c, store, store.spec, "reconcile-grants", now=pd.Timestamp("2024-03-01 12:10:00"))
    return store


def test_the_documented_grants_are_enough_for_sync_and_reconciliation(sim, user_with, tmp_path):
    store = _lifecycle(sim, user_with(GRANTS), tmp_path)

    target = store.read_target()
    assert "权限测试后的名称有限公司" in set(target["customer_name"])
    assert target["is_deleted"].astype(bool).sum() == 1
    store.engine.dispose()


@pytest.mark.parametrize("missing", GRANTS)
def test_without_any_one_grant_the_run_fails_naming_it(sim, user_with, tmp_path, missing):
    with pytest.raises((sa.exc.DBAPIError, pymysql.err.MySQLError), match=f"{missing} command denied"):
        _lifecycle(sim, user_with([g for g in GRANTS if g != missing]), tmp_path)


def test_the_readme_documents_exactly_these_grants():
    assert f"GRANT {', '.join(GRANTS)} ON" in README.read_text(encoding="utf-8")
