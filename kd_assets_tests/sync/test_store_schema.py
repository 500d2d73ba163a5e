"""Table creation and migration from the spec, engine defaults, and the sync log."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
import yaml

from kd_assets.sync.spec import SPECS_DIR, load_spec
from kd_assets.sync.store import TargetStore, create_target_engine
from kd_assets.sync.synclog import SyncRecord
from kd_assets_tests.sync.rows import clean_frame, kd_row


def columns_of(engine, table: str) -> list[str]:
    return [c["name"] for c in sa.inspect(engine).get_columns(table)]


def test_ensure_tables_creates_all_tables_then_changes_nothing(store):
    names = set(sa.inspect(store.engine).get_table_names())
    assert {"wk_wodtop_customer", "wk_wodtop_customer_landing", "wk_wodtop_customer_clean",
            "wk_wodtop_customer_quarantine", "kd_sync_log"} <= names
    assert store.ensure_tables() == []
    target = columns_of(store.engine, "wk_wodtop_customer")
    assert target[:2] == ["data_id", "master_id"]
    assert {"change_time", "synced_at", "run_id", "is_deleted", "deleted_at"} <= set(target)
    assert sa.inspect(store.engine).get_pk_constraint("wk_wodtop_customer")["constrained_columns"] == ["data_id"]


def test_a_column_added_in_yaml_is_added_to_the_tables_and_filled(target_url, tmp_path):
    engine = create_target_engine(target_url)
    first = TargetStore(engine, load_spec("bd_customer"))
    first.ensure_tables()
    first.upsert_target(clean_frame(kd_row(1)), "run-1")

    doc = yaml.safe_load((SPECS_DIR / "bd_customer.yaml").read_text(encoding="utf-8"))
    doc["columns"].insert(5, {"field": "FWEBSITE", "name": "website", "type": "varchar(200)", "conversion": "text"})
    path = tmp_path / "bd_customer.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    spec = load_spec(path)
    second = TargetStore(engine, spec)
    assert second.ensure_tables() == ["added column wk_wodtop_customer.website",
                                      "added column wk_wodtop_customer_clean.website"]
    assert "website" in columns_of(engine, "wk_wodtop_customer")
    assert second.ensure_tables() == []

    # The new column changes every row's signature, so re-syncing the same version fills it in.
    frame = clean_frame(kd_row(1, spec=spec, website="https://acme.example"), spec=spec)
    assert second.upsert_target(frame, "run-2").updated == 1
    assert second.read_target()["website"].tolist() == ["https://acme.example"]
    engine.dispose()


def test_default_engine_is_a_sqlite_file_from_kd_sqlite_path(tmp_path, monkeypatch):
    path = tmp_path / "sub" / "target.sqlite"
    monkeypatch.setenv("KD_SQLITE_PATH", str(path))
    engine = create_target_engine("")
    assert engine.dialect.name == "sqlite" and str(path) in str(engine.url)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    assert path.exists()
    engine.dispose()


def test_mysql_engine_pings_pooled_connections(mysql_url):
    engine = create_target_engine(mysql_url)
    assert engine.pool._pre_ping and engine.dialect.name in ("mysql", "mariadb")
    engine.dispose()


def test_sync_log_keeps_one_row_per_run_newest_first(store):
    start = dt.datetime(2024, 5, 7)
    first = store.log_sync(SyncRecord(asset="wk_wodtop_customer", status="success", partition_key="2024-05-07",
                                      window_start=start, window_end=start + dt.timedelta(days=1),
                                      run_id="run-1", rows_in=10, inserted=8, rejected=2, api_calls=3,
                                      retries=1, duration_s=1.5, started_at=start, finished_at=start))
    second = store.log_sync(SyncRecord(asset="kingdee_customers_raw", status="failed", message="auth"))
    assert second > first
    log = store.read_sync_log()
    assert log["id"].tolist() == [second, first]
    mine = store.read_sync_log(asset="wk_wodtop_customer", partition_key="2024-05-07").iloc[0]
    assert (mine["inserted"], mine["rejected"], mine["api_calls"], mine["retries"]) == (8, 2, 3, 1)
    assert mine["duration_s"] == 1.5 and mine["status"] == "success"
    assert store.read_sync_log(asset="kingdee_customers_raw")["message"].tolist() == ["auth"]
