"""Reconciliation test helpers: a client on a simulator, the source's changes that incremental
syncs cannot see (made through the simulator's protocol), direct edits of the target, and a
comparison of target and source."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pandas as pd
import pytest
import requests
import sqlalchemy as sa

from kd_assets.kingdee import ClientConfig, K3CloudClient, RetryPolicy
from kd_assets.sync.schemas import validate
from kd_assets.sync.spec import load_spec
from kd_assets.sync.store import TargetStore
from kd_assets.sync.transform import to_frame

SPEC = load_spec("bd_customer")
FORM = SPEC.form_id
CLOCK = "2024-03-01 12:00:00"
# Tiny delays so that exhausting the client's retries takes milliseconds, not minutes.
FAST_RETRY = RetryPolicy(network_attempts=2, network_interval_s=0.01, max_attempts=2, base_delay_s=0.01,
                         max_delay_s=0.01, max_total_wait_s=1.0)


@pytest.fixture
def sim(simulator_factory):
    """300 clean customers (no rows for quarantine), changes from 2018 to 2024-02."""
    return simulator_factory(customers=300, seed=7, clock_start=CLOCK, dirty_share=0.0)


@pytest.fixture
def client(sim):
    with kingdee_client(sim) as c:
        yield c


def kingdee_client(sim, **config) -> K3CloudClient:
    c = sim.config
    return K3CloudClient(ClientConfig(server_url=sim.base_url, acct_id=c.acct_id, username=c.username,
                                      app_id=c.app_id, app_secret=c.app_secret, retry=FAST_RETRY, **config))


def source_state(client: K3CloudClient) -> pd.DataFrame:
    """Every customer's key and status/change fields, straight from the source."""
    fields = ["FDocumentStatus", "FForbidStatus", *SPEC.change_time_fields]
    rows = [r for page in client.iter_keys(FORM, key_field=SPEC.key_field, extra_fields=fields) for r in page]
    return pd.DataFrame(rows, columns=["key", *fields])


def source_clean_rows(client: K3CloudClient) -> pd.DataFrame:
    """The source as the target should hold it: every row, converted and validated."""
    rows = [r for page in client.iter_keys(FORM, key_field=SPEC.key_field, extra_fields=SPEC.field_keys[1:]) for r in page]
    result = validate(SPEC, to_frame(SPEC, rows), pd.Timestamp("2030-01-01"))
    return result.clean.sort_values(SPEC.key_column).reset_index(drop=True)


def live_target_rows(store: TargetStore) -> pd.DataFrame:
    target = store.read_target()
    live = target[~target["is_deleted"].astype(bool)]
    columns = [c.name for c in SPEC.columns] + ["change_time"]
    return live[columns].sort_values(SPEC.key_column).reset_index(drop=True)


def assert_target_equals_source(client: K3CloudClient, store: TargetStore) -> None:
    pd.testing.assert_frame_equal(live_target_rows(store), source_clean_rows(client), check_dtype=False)


def deleted_keys(store: TargetStore) -> set[int]:
    t = store.tables.target
    with store.engine.connect() as conn:
        rows = conn.execute(sa.select(t.c.data_id, t.c.deleted_at).where(t.c.is_deleted == sa.true())).all()
    assert all(r.deleted_at is not None for r in rows), "a soft-deleted row must carry deleted_at"
    return {int(r.data_id) for r in rows}


@dataclass
class Edits:
    """Keys touched by :func:`make_hidden_changes`, by the difference each should produce."""

    deleted_at_source: list[int]
    enabled: int
    unaudited: int
    missing_in_target: int
    stale_in_target: int


def delete_at_source(client: K3CloudClient, keys: list[int], status: pd.Series) -> None:
    """Delete through the protocol: audited rows must be un-audited first, as in Kingdee."""
    if not keys:
        return
    audited = [k for k in keys if status[k] == "C"]
    if audited:
        client.unaudit(FORM, audited)
    result = client.delete(FORM, keys)
    assert result["ResponseStatus"]["IsSuccess"], result


def delete_many_at_source(client: K3CloudClient, n: int, status: str | None = None) -> list[int]:
    """Delete the first ``n`` customers that can be deleted (optionally only of one status)."""
    state = source_state(client).set_index("key")["FDocumentStatus"]
    keys = [int(k) for k, s in state.items() if s != "B" and status in (None, s)][:n]
    delete_at_source(client, keys, state)
    return keys


def make_hidden_changes(client: K3CloudClient, store: TargetStore, n_deletes: int = 3) -> Edits:
    """Changes no incremental sync sees, one of each kind, on distinct keys."""
    state = source_state(client).set_index("key")
    status, forbid = state["FDocumentStatus"], state["FForbidStatus"]
    plain = [int(k) for k in state.index if status[k] in ("A", "D") and forbid[k] == "A"]
    enabled = int(next(k for k in state.index if forbid[k] == "B" and state.loc[k, "FForbidDate"]))
    unaudited = int(next(k for k in state.index if status[k] == "C" and forbid[k] == "A"))
    deletes, missing, stale = plain[:n_deletes], plain[n_deletes], plain[n_deletes + 1]

    delete_at_source(client, deletes, status)
    client.execute_operation(FORM, "Enable", [enabled])
    client.unaudit(FORM, [unaudited])
    t = store.tables.target
    with store.engine.begin() as conn:
        conn.execute(t.delete().where(t.c.data_id == missing))
        conn.execute(t.update().where(t.c.data_id == stale).values(
            customer_name="stale name", change_time=dt.datetime(2020, 1, 1), modified_at=dt.datetime(2020, 1, 1)))
    return Edits(deletes, enabled, unaudited, missing, stale)


PASS = {"kind": "delay", "ms": 0}  # a scripted "fault" that lets one request through unharmed


def inject_faults(sim, *faults: str | dict) -> None:
    """One-shot faults for the next business requests, in order (a kind name or a fault object)."""
    script = [{"kind": f} if isinstance(f, str) else f for f in faults]
    response = requests.post(sim.admin_url + "faults", json={"script": script}, timeout=10)
    response.raise_for_status()


def forbidden_on_a_partition_day(client: K3CloudClient, first_day: str) -> tuple[int, str]:
    """A forbidden customer whose newest change is its FForbidDate, on or after ``first_day``."""
    state = source_state(client)
    times = {f: pd.to_datetime(state[f], format="ISO8601") for f in SPEC.change_time_fields}
    newest = pd.concat(times.values(), axis=1).max(axis=1)
    hit = state[(state["FForbidStatus"] == "B") & (times["FForbidDate"] == newest) & (newest >= first_day)]
    assert not hit.empty, "the seeded data should hold a customer forbidden within the partitions"
    return int(hit["key"].iloc[0]), times["FForbidDate"][hit.index[0]].strftime("%Y-%m-%d")
