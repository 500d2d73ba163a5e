"""Bills over real HTTP: a sale-order simulator, a client, a lines store, and one sync pass."""

from __future__ import annotations

import datetime as dt

import pytest
import requests

from kd_assets.kingdee import ClientConfig, K3CloudClient
from kd_assets.kingdee.filters import Window
from kd_assets.sync.schemas import validate
from kd_assets.sync.spec import load_spec
from kd_assets.sync.store import TargetStore, create_target_engine
from kd_assets.sync.transform import to_frame
from kd_assets_tests.kingdee.conftest import ACCT, CREDENTIALS, FAST_RETRY, USER

SPEC = load_spec("sal_saleorder")
FORM, ENTRY = SPEC.form_id, SPEC.bill.entry_key_field
CLOCK = "2025-07-01 08:00:00"
NOW = dt.datetime(2025, 7, 1, 8, 0)
EVER = Window(dt.datetime(2000, 1, 1), dt.datetime(2100, 1, 1))


@pytest.fixture
def sim(simulator_factory):
    handle = simulator_factory(customers=30, materials=30, suppliers=5, orders=25, seed=11, clock_start=CLOCK,
                               dirty_share=0.0, max_limit=37)
    requests.post(handle.admin_url + "clock", json={"now": CLOCK, "frozen": True}, timeout=10).raise_for_status()
    return handle


def client_for(handle, **overrides) -> K3CloudClient:
    return K3CloudClient(ClientConfig(handle.base_url, ACCT, USER, auth_mode="signed", read_timeout_s=5.0,
                                      retry=FAST_RETRY, **{**CREDENTIALS["signed"], **overrides}))


@pytest.fixture
def client(sim):
    with client_for(sim, page_size=10, server_max_limit=2000) as c:
        yield c


@pytest.fixture
def lines_store(target_url):
    engine = create_target_engine(target_url)
    store = TargetStore(engine, SPEC)
    store.ensure_tables()
    yield store
    engine.dispose()


def advance(handle, seconds: int = 60) -> dt.datetime:
    """Move the frozen source clock; returns its new time."""
    answer = requests.post(handle.admin_url + "clock", json={"advance_seconds": seconds}, timeout=10)
    answer.raise_for_status()
    return dt.datetime.fromisoformat(answer.json()["now"])


def fetch(client, window: Window = EVER) -> list[list]:
    return [row for page in client.iter_window(FORM, SPEC.field_keys, window, key_field=SPEC.page_key,
                                               change_fields=SPEC.change_time_fields) for row in page]


def land(store, rows: list[list], run_id: str, partition: str = "p") -> None:
    for i in range(0, len(rows), 50):
        store.land_rows(rows[i:i + 50], run_id, partition)


def stage_and_publish(store, run_id: str, window: Window = EVER, partition: str = "p", chunk_size: int = 40):
    """landed → clean (+ quarantine) → target, in the database, as the Dagster assets do."""
    rejects = []
    for rows in store.iter_landed(window.start, window.end, chunk_size=chunk_size, partition_key=partition):
        result = validate(SPEC, to_frame(SPEC, rows), NOW)
        store.write_clean(result.clean, run_id, partition)
        store.quarantine(result.rejects, run_id, partition)
        rejects.append(result.rejects)
    return store.publish_clean(window.start, window.end, run_id, chunk_size=chunk_size), rejects


def sync(client, store, run_id: str, window: Window = EVER):
    land(store, fetch(client, window), run_id)
    return stage_and_publish(store, run_id, window)[0]


def source_lines(client) -> dict[tuple[int, int], list]:
    """(bill id, entry id) → the row as the spec fetches it, straight from the source."""
    return {(r[0], r[SPEC.field_keys.index(ENTRY)] or 0): r for r in fetch(client)}


def live_lines(store) -> dict[tuple[int, int], object]:
    t = store.read_target()
    live = t[~t["is_deleted"].astype(bool)]
    return {(int(b), int(e)): row for b, e, row in zip(live["bill_id"], live["entry_id"], live.itertuples())}


def line(material: str, qty: float, price: float, **more) -> dict:
    return {"FMaterialId": {"FNumber": material}, "FQty": qty, "FPrice": price, **more}


def new_bill(client, count: int = 3) -> int:
    result = client.save(FORM, {"FCustId": {"FNumber": "CUST000002"}, "FDate": "2025-07-01",
                                "FSaleOrderEntry": [line(f"MAT00000{i + 1}", i + 1, 10.5) for i in range(count)]})
    assert result["ResponseStatus"]["IsSuccess"], result
    return result["Id"]
