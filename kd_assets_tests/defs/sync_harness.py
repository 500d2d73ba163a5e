"""Helpers for tests of the Dagster layer: resources on a simulator, runs, and what the source holds."""

from __future__ import annotations

import datetime as dt
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg
import pandas as pd
import sqlalchemy as sa

from kd_assets.defs.resources import KingdeeResource
from kd_assets.defs.target_db import MySQLResource
from kd_assets.kingdee import ClientConfig, K3CloudClient, Window
from kd_assets.sync.reconcile import reconcile
from kd_assets.sync.schemas import validate
from kd_assets.sync.store import TargetStore, create_target_engine
from kd_assets.sync.transform import to_frame
from kd_assets_tests.defs.forms import (
    SPEC, kingdee_customers_clean, kingdee_customers_raw, target_matches_clean, unique_keys, wk_wodtop_customer,
)

warnings.filterwarnings("ignore", category=dg.BetaWarning)
warnings.filterwarnings("ignore", category=dg.PreviewWarning)

SYNC_ASSETS = [kingdee_customers_raw, kingdee_customers_clean, wk_wodtop_customer, target_matches_clean, unique_keys]
SIM_CREDENTIALS = dict(acct_id="kd-demo", username="demo", app_id="300001_S0RBU1NFVFMtREVNTy1BUFAtU0VDUkVU",
                       app_secret="kdassets-demo-app-secret")
CHANGE_FIELDS = ("FModifyDate", "FForbidDate", "FApproveDate")


def resources(sim, target_url: str, **kingdee_overrides) -> dict:
    kingdee = KingdeeResource(server_url=sim.base_url, **{**SIM_CREDENTIALS, **kingdee_overrides})
    return {"kingdee": kingdee, "target_db": MySQLResource(url=target_url)}


def client(sim) -> K3CloudClient:
    return K3CloudClient(ClientConfig(server_url=sim.base_url, **SIM_CREDENTIALS))


def sync(res: dict, partition: str | None = None, *, first: str | None = None, last: str | None = None,
         instance: dg.DagsterInstance | None = None) -> dg.ExecuteInProcessResult:
    """Materialize the three assets and their checks for a partition or a single-run range."""
    if partition is not None:
        return dg.materialize(SYNC_ASSETS, partition_key=partition, resources=res, raise_on_error=False,
                              instance=instance)
    tags = {"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last}
    return dg.materialize(SYNC_ASSETS, tags=tags, resources=res, raise_on_error=False, instance=instance)


def source_rows(sim) -> pd.DataFrame:
    """Every customer at the source with its change fields, read straight from the simulator."""
    with client(sim) as c:
        pages = c.iter_keys(SPEC.form_id, key_field=SPEC.key_field, extra_fields=CHANGE_FIELDS)
        rows = [row for page in pages for row in page]
    frame = pd.DataFrame(rows, columns=["data_id", *CHANGE_FIELDS])
    for f in CHANGE_FIELDS:
        frame[f] = pd.to_datetime(frame[f], format="ISO8601")
    return frame


def changed_in(frame: pd.DataFrame, start: dt.datetime, end: dt.datetime) -> set[int]:
    """Keys with any change field in [start, end): what a partition must bring."""
    hit = pd.Series(False, index=frame.index)
    for f in CHANGE_FIELDS:
        hit |= (frame[f] >= start) & (frame[f] < end)
    return set(frame.loc[hit, "data_id"].astype(int))


def table_keys(url: str, table: str, where: str = "1=1") -> set[int]:
    column = "data_id" if not table.endswith("_quarantine") else "record_key"
    with sa.create_engine(url).connect() as conn:
        return {int(k) for (k,) in conn.execute(sa.text(f"SELECT {column} FROM {table} WHERE {where}"))}


def table_snapshot(url: str, table: str) -> list[tuple]:
    """Every row and column, bookkeeping included."""
    with sa.create_engine(url).connect() as conn:
        return [tuple(row) for row in conn.execute(sa.text(f"SELECT * FROM {table} ORDER BY data_id"))]


def materialization(result: dg.ExecuteInProcessResult, asset: str) -> dict:
    for event in result.get_asset_materialization_events():
        if event.asset_key.to_user_string() == asset:
            return {k: getattr(v, "value", v) for k, v in event.materialization.metadata.items()}
    raise AssertionError(f"{asset} was not materialized")


def checks(result: dg.ExecuteInProcessResult) -> dict[str, bool]:
    return {e.check_name: e.passed for e in result.get_asset_check_evaluations()}


def busiest_day(frame: pd.DataFrame, first: str, last: str) -> str:
    """The day in [first, last] on which most customers changed (a partition worth testing)."""
    days = pd.concat([frame[f].dt.strftime("%Y-%m-%d") for f in CHANGE_FIELDS]).dropna()
    days = days[(days >= first) & (days <= last)]
    return days.value_counts().index[0]


def pick_customer(sim, filter_string: str = "", last: bool = False) -> int:
    """The first (or last) FCUSTID at the source matching a FilterString."""
    with client(sim) as c:
        rows = c.execute_bill_query(SPEC.form_id, ["FCUSTID"], filter_string=filter_string,
                                    order_string="FCUSTID DESC" if last else "FCUSTID ASC", limit=1)
    assert rows, f"no customer matches {filter_string!r}"
    return int(rows[0][0])


def sync_by_hand(c: K3CloudClient, store: TargetStore, start: dt.datetime, end: dt.datetime, partition: str,
                 now: str) -> int:
    """What a partition run's three assets do, step by step: land, validate into clean and
    quarantine, publish in-database. Returns rows inserted."""
    spec = store.spec
    for page in c.iter_window(spec.form_id, spec.field_keys, Window(start, end), key_field=spec.key_field,
                              change_fields=spec.change_time_fields):
        store.land_rows(page, "run", partition)
    for rows in store.iter_landed(start, end, partition_key=partition):
        result = validate(spec, to_frame(spec, rows), pd.Timestamp(now))
        store.write_clean(result.clean, "run", partition)
        store.quarantine(result.rejects, "run", partition)
    return store.publish_clean(start, end, "run").inserted


@contextmanager
def initial_load(sim, target_url: str, now: str) -> Iterator[sa.Engine]:
    """An engine on the target, loaded with every customer by a first reconciliation at ``now``."""
    engine = create_target_engine(target_url)
    store = TargetStore(engine, SPEC)
    store.ensure_tables()
    try:
        with client(sim) as c:
            reconcile(c, store, SPEC, "initial-load", now=pd.Timestamp(now))
        yield engine
    finally:
        engine.dispose()
