"""Landing per page: one stored page per fetch, a per-key index, pruning, and landing tables made
before pages (their rows keep their JSON payload and are still read)."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
import yaml

from kd_assets.sync.spec import SPECS_DIR, load_spec
from kd_assets.sync.store import TargetStore, create_target_engine
from kd_assets.sync.transform import payload_json
from kd_assets_tests.sync.rows import SPEC, kd_row

DAY = (dt.datetime(2024, 5, 7), dt.datetime(2024, 5, 8))


def landed(store, chunk_size=10_000, spec=SPEC) -> list[list]:
    return [row for chunk in store.iter_landed(*DAY, chunk_size=chunk_size) for row in chunk]


def count(store, table: sa.Table) -> int:
    with store.engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()


def test_a_fetched_page_is_stored_once_and_indexed_per_key(store):
    rows = [kd_row(k, phone=f"p{k}") for k in range(1, 51)]
    assert store.land_rows(rows, "run-1", "2024-05-07").landed == 50
    assert count(store, store.tables.landing_pages) == 1
    assert count(store, store.tables.landing) == 50
    assert landed(store) == rows


def test_interleaved_pages_give_each_key_once_newest_version_in_key_order_per_chunk(store):
    store.land_rows([kd_row(k, phone="first") for k in range(1, 11)], "run-1", None)
    newer = [kd_row(k, phone="newer", modified_at="2024-05-07T11:00:00") for k in (6, 2, 4)]
    store.land_rows(newer, "run-2", None)
    store.land_rows([kd_row(9, phone="older", modified_at="2024-05-07T08:00:00")], "run-3", None)
    chunks = list(store.iter_landed(*DAY, chunk_size=4))
    keys = [[r[0] for r in c] for c in chunks]
    assert all(k == sorted(k) for k in keys) and [len(k) for k in keys] == [4, 4, 2]
    phone = SPEC.field_keys.index(next(c.field for c in SPEC.columns if c.name == "phone"))
    by_key = {r[0]: r[phone] for c in chunks for r in c}
    assert sorted(by_key) == list(range(1, 11))
    assert {k for k, p in by_key.items() if p == "newer"} == {2, 4, 6}
    assert by_key[9] == "first"


def test_pages_no_key_points_to_are_pruned_and_their_rows_stay_readable(store):
    store.land_rows([kd_row(1), kd_row(2)], "run-1", None)
    store.land_rows([kd_row(1, phone="newer", modified_at="2024-05-07T11:00:00"), kd_row(3)], "run-2", None)
    store.land_rows([kd_row(3, modified_at="2024-05-07T08:00:00")], "run-3", None)  # older: lands nothing
    assert store.prune_landed_pages() == 1  # run-3's page; run-1's still holds key 2
    assert [r[0] for r in landed(store)] == [1, 2, 3]
    store.land_rows([kd_row(2, modified_at="2024-05-07T11:00:00")], "run-4", None)
    assert store.prune_landed_pages() == 1  # now run-1's page holds nothing
    assert count(store, store.tables.landing_pages) == 2
    store.forget_staged([1, 2, 3])
    assert store.prune_landed_pages() == 2 and landed(store) == []


def test_a_page_fetched_before_a_field_was_added_reads_none_for_it(target_url, tmp_path):
    engine = create_target_engine(target_url)
    before = TargetStore(engine, SPEC)
    before.ensure_tables()
    before.land_rows([kd_row(1), kd_row(2)], "run-1", None)
    doc = yaml.safe_load((SPECS_DIR / "bd_customer.yaml").read_text(encoding="utf-8"))
    doc["columns"].insert(5, {"field": "FWEBSITE", "name": "website", "type": "varchar(200)", "conversion": "text"})
    (tmp_path / "bd_customer.yaml").write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    spec = load_spec(tmp_path / "bd_customer.yaml")
    after = TargetStore(engine, spec)
    after.ensure_tables()
    assert landed(after) == [kd_row(1, spec=spec, website=None), kd_row(2, spec=spec, website=None)]
    engine.dispose()


def test_a_landing_table_from_before_pages_keeps_its_rows(target_url):
    engine = create_target_engine(target_url)
    store = TargetStore(engine, SPEC)
    name = store.tables.landing.name
    old = sa.Table(name, sa.MetaData(),
                   *[c._copy() for c in store.tables.landing.columns if c.name not in ("page_id", "position")],
                   *[sa.Index(f"ix_{name}_{c}", c) for c in ("modified_at", "forbidden_at", "approved_at")])
    old.create(engine)
    legacy = [kd_row(k, phone=f"legacy {k}") for k in (1, 2, 3)]
    with engine.begin() as conn:
        conn.execute(old.insert(), [
            {"data_id": r[0], "modified_at": dt.datetime(2024, 5, 7, 10), "change_time": dt.datetime(2024, 5, 7, 10),
             "payload": payload_json(SPEC, r), "fetched_at": dt.datetime(2024, 5, 7), "run_id": "old",
             "partition_key": "2024-05-07"} for r in legacy])
    changes = store.ensure_tables()
    assert f"added column {old.name}.page_id" in changes
    assert f"created index ix_{old.name}_page on {old.name}" in changes
    assert {ix["name"] for ix in sa.inspect(engine).get_indexes(old.name)} == \
        {f"ix_{old.name}_page", f"ix_{old.name}_change_time"}  # not one per change field any more
    assert landed(store) == legacy
    newer = kd_row(2, phone="paged", modified_at="2024-05-07T11:00:00")
    store.land_rows([newer], "new", "2024-05-07")
    assert landed(store, chunk_size=2) == [legacy[0], legacy[2], newer]  # landed before pages come first
    assert store.ensure_tables() == []
    engine.dispose()


def test_keys_landed_again_while_a_window_is_read_come_out_in_their_newest_version(store, monkeypatch):
    from kd_assets.sync import landing
    monkeypatch.setattr(landing, "_PAGES_PER_READ", 1)
    for keys in ((1, 2, 3), (4, 5, 6), (7, 8, 9)):
        store.land_rows([kd_row(k, phone="first") for k in keys], "run-1", "2024-05-07")
    chunks = store.iter_landed(*DAY, chunk_size=3)
    assert [r[0] for r in next(chunks)] == [1, 2, 3]  # the window's index is read; the first page too
    # Meanwhile another run lands keys 4-6 and 8 again: the second page is pruned before it is read.
    store.land_rows([kd_row(k, phone="again", modified_at="2024-05-07T11:00:00") for k in (4, 5, 6, 8)],
                    "run-2", "2024-05-07")
    assert store.prune_landed_pages() == 1
    rest = [r for chunk in chunks for r in chunk]
    phone = SPEC.field_keys.index(next(c.field for c in SPEC.columns if c.name == "phone"))
    newest = {r[0]: r[phone] for r in rest}  # a key read twice: its newer page comes later
    assert sorted(newest) == [4, 5, 6, 7, 8, 9]
    assert {k for k, p in newest.items() if p == "again"} == {4, 5, 6, 8}
