"""The target SQL itself: reserved words as names, 4-byte characters in a utf8mb3 database, and
LOAD DATA LOCAL offered unless an engine is made with it off. Real MariaDB (and SQLite), simulator over HTTP."""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
import yaml
from pymysql.constants import CLIENT

from kd_assets.alerting import SqlIncidentStore
from kd_assets.sync.loadfile import load_file_available
from kd_assets.sync.reconcile import reconcile
from kd_assets.sync.spec import SyncSpec, load_spec
from kd_assets.sync.store import TargetStore, create_target_engine
from kd_assets_tests.alerting.factories import run_failure
from kd_assets_tests.defs.sync_harness import client, sync_by_hand
from kd_assets_tests.sync.rows import SPEC, clean_frame, kd_row
from kd_assets_tests.sync.test_loadfile import local_infile_on  # noqa: F401 (a fixture)

CLOCK = "2024-03-01 12:00:00"
MONTH = (dt.datetime(2024, 2, 1), dt.datetime(2024, 3, 1))
# Reserved words in MySQL/MariaDB and SQLite, for the key, columns and target table.
RESERVED = {"data_id": "key", "customer_name": "desc", "customer_group": "group", "short_name": "range"}
FOUR_BYTE = "客户😀𠀀𠮷"  # an emoji and two CJK extension B characters: 4 bytes each in UTF-8


def reserved_word_spec(tmp_path: Path) -> SyncSpec:
    """bd_customer with its key and three columns renamed to reserved words, into table ``order``."""
    doc = yaml.safe_load(SPEC.path.read_text(encoding="utf-8"))
    doc["key"]["column"] = RESERVED[doc["key"]["column"]]
    for column in doc["columns"]:
        column["name"] = RESERVED.get(column["name"], column["name"])
    doc["tables"] = {"target": "order", "sync_log": "kd_sync_log_reserved"}
    path = tmp_path / "reserved.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    return load_spec(path)


@pytest.mark.parametrize("target, load_file", [("mysql", False), ("mysql", True), ("sqlite", False)])
def test_a_spec_with_reserved_word_names_lands_cleans_publishes_and_reconciles(
        simulator_factory, tmp_path, request, target, load_file):
    if load_file:
        request.getfixturevalue("local_infile_on")
    sim = simulator_factory(customers=300, seed=17, clock_start=CLOCK, dirty_share=0.02)
    spec = reserved_word_spec(tmp_path)
    engine = create_target_engine(request.getfixturevalue(f"{target}_url"), load_file=load_file)
    store = TargetStore(engine, spec, load_file=load_file)
    store.ensure_tables()
    with client(sim) as c:
        assert sync_by_hand(c, store, *MONTH, "2024-02", CLOCK) > 0
        assert reconcile(c, store, spec, "reconcile-1", now=pd.Timestamp(CLOCK)).heal.changed > 0
        forbidden = int(c.execute_bill_query(spec.form_id, ["FCUSTID"], filter_string="FForbidStatus = 'B'",
                                             limit=1)[0][0])
        c.execute_operation(spec.form_id, "Enable", [forbidden])  # a drift: a forced heal
        deleted = int(c.execute_bill_query(spec.form_id, ["FCUSTID"], filter_string="FDocumentStatus = 'A'",
                                           limit=1)[0][0])
        c.delete(spec.form_id, [deleted])
        edited = int(c.execute_bill_query(spec.form_id, ["FCUSTID"], order_string="FCUSTID DESC", limit=1)[0][0])
        c.save(spec.form_id, {"FCUSTID": edited, "FShortName": FOUR_BYTE})
        second = reconcile(c, store, spec, "reconcile-2", now=pd.Timestamp(CLOCK))
        third = reconcile(c, store, spec, "reconcile-3", now=pd.Timestamp(CLOCK))

    assert second.soft_deleted == 1 and second.heal.changed >= 1
    assert third.differences == third.heal.known_rejects  # only known bad rows differ
    assert store.read_target([forbidden]).iloc[0]["forbid_status"] == "A"
    row = store.read_target([edited]).iloc[0]
    assert row["range"] == FOUR_BYTE and row["desc"] and row["key"] == edited
    assert bool(store.read_target([deleted])["is_deleted"].iloc[0])
    engine.dispose()


@pytest.fixture
def utf8mb3_url(mysql_server):
    """A database whose default character set is utf8mb3 (what many existing MySQL schemas use)."""
    name = f"kdt3_{uuid.uuid4().hex[:12]}"
    with mysql_server.connect() as conn:
        conn.execute(sa.text(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb3 COLLATE utf8mb3_general_ci"))
    url = mysql_server.url.set(database=name, query={"charset": "utf8mb4"}).render_as_string(hide_password=False)
    yield url
    with mysql_server.connect() as conn:
        conn.execute(sa.text(f"DROP DATABASE IF EXISTS `{name}`"))


def test_four_byte_characters_round_trip_in_a_utf8mb3_database(utf8mb3_url):
    engine = create_target_engine(utf8mb3_url)
    store = TargetStore(engine, SPEC)
    store.ensure_tables()
    row = kd_row(1, customer_name=FOUR_BYTE, address="地址 " + FOUR_BYTE)
    store.land_rows([row], "run", "2024-05-07")
    store.write_clean(clean_frame(row), "run", "2024-05-07")
    store.upsert_target(clean_frame(row), "run")
    incidents = SqlIncidentStore(engine)
    incidents.open("run_failure:x", run_failure(title="同步失败 😀𠀀"))

    target = store.read_target().iloc[0]
    assert (target["customer_name"], target["address"]) == (FOUR_BYTE, "地址 " + FOUR_BYTE)
    assert next(iter(store.iter_clean(dt.datetime(2024, 5, 7), dt.datetime(2024, 5, 8))))["customer_name"][0] \
        == FOUR_BYTE
    assert incidents.get("run_failure:x").title == "同步失败 😀𠀀"
    engine.dispose()


def _offers_load_data_local(engine: sa.Engine) -> tuple[bool, bool]:
    """(the connection advertises LOCAL_FILES, the bulk writer would use LOAD DATA LOCAL)."""
    with engine.connect() as conn:
        offered = bool(conn.connection.dbapi_connection.client_flag & CLIENT.LOCAL_FILES)
        usable = load_file_available(conn)
    engine.dispose()
    return offered, usable


def test_engines_offer_load_data_local_unless_made_with_load_file_off(mysql_url, local_infile_on):  # noqa: F811
    assert _offers_load_data_local(create_target_engine(mysql_url)) == (True, True)
    assert _offers_load_data_local(create_target_engine(mysql_url, load_file=False)) == (False, False)
