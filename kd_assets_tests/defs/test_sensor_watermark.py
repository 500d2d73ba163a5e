"""The change sensor's watermark: a future-dated row, quarantined or published, must not blind the probe.

The simulator's clock follows real time here, so "now" on the source and on our side agree, as in
production; the future-dated row is made by moving the clock to 2030 for one Forbid.
"""

from __future__ import annotations

import dagster as dg
import pandas as pd
import pytest
import requests

from kd_assets.defs.partitions import partition_key_for
from kd_assets.sync import source_now
from kd_assets.sync.pending import newest_synced_change_time
from kd_assets.sync.reconcile import reconcile
from kd_assets.sync.store import TargetStore, create_target_engine
from kd_assets_tests.defs.forms import SPEC, customers_sync_job, kingdee_customers_change_sensor, sync_assets
from kd_assets_tests.defs.sync_harness import client, pick_customer, resources
from kd_assets_tests.sync.rows import clean_frame, kd_row

FUTURE = "2030-01-01 08:00:00"


@pytest.fixture
def sim(simulator_factory):
    return simulator_factory(customers=400, seed=5, dirty_share=0.0)  # clock: real time


def _clock(sim, **body) -> None:
    requests.post(sim.admin_url + "clock", json=body, timeout=10).raise_for_status()


def _tick(res: dict, instance) -> list[str]:
    defs = dg.Definitions(assets=sync_assets, jobs=[customers_sync_job], sensors=[kingdee_customers_change_sensor],
                          resources=res, executor=dg.in_process_executor)
    with dg.build_sensor_context(instance=instance, resources=res, definitions=defs) as context:
        result = kingdee_customers_change_sensor(context)
    return sorted(r.partition_key for r in (result.run_requests or []))


def _change_time(sim, key: int) -> pd.Timestamp:
    with client(sim) as c:
        (row,) = [r for page in c.fetch_by_keys(SPEC.form_id, ["FModifyDate"], [key], key_field=SPEC.key_field) for r in page]
    return pd.Timestamp(row[0])


@pytest.mark.parametrize("validated_at, absorbed_in", [(None, "quarantine"), ("2031-01-01", "target")])
def test_a_row_forbidden_in_2030_does_not_hide_a_later_edit(sim, target_url, instance, validated_at, absorbed_in):
    future = pick_customer(sim, "FForbidStatus = 'A'")
    _clock(sim, now=FUTURE)
    with client(sim) as c:
        c.execute_operation(SPEC.form_id, "Forbid", [future])
    _clock(sim, real=True)
    # The initial load, by reconciliation. Validated today, the 2030 row is quarantined; validated
    # by a clock that is itself ahead, it is published.
    engine = create_target_engine(target_url)
    store = TargetStore(engine, SPEC)
    store.ensure_tables()
    now = pd.Timestamp(validated_at) if validated_at else source_now()
    with client(sim) as c:
        reconcile(c, store, SPEC, "initial-load", now=now)
    held = store.quarantined() if absorbed_in == "quarantine" else store.read_target([future])
    key_column = "record_key" if absorbed_in == "quarantine" else SPEC.key_column
    (stamp,) = held.loc[held[key_column].astype(int) == future, "change_time"]
    assert pd.Timestamp(stamp) == pd.Timestamp(FUTURE)
    engine.dispose()

    edited = pick_customer(sim, f"FCUSTID <> {future}", last=True)
    with client(sim) as c:
        c.save(SPEC.form_id, {"FCUSTID": edited, "FName": "水印之后的修改有限公司"})

    assert _tick(resources(sim, target_url), instance) == [partition_key_for(_change_time(sim, edited))]


def test_the_watermark_is_the_newest_published_change_time_capped_at_now(store_with_future_rows):
    store = store_with_future_rows

    assert newest_synced_change_time(store, pd.Timestamp("2040-01-01")) == pd.Timestamp("2030-01-01 08:00:00")
    assert newest_synced_change_time(store, pd.Timestamp("2024-03-01 12:00:00")) == pd.Timestamp("2024-03-01 12:00")


@pytest.fixture
def store_with_future_rows(target_url):
    """A target holding a row published at 2030 and a row quarantined at 2031."""
    engine = create_target_engine(target_url)
    store = TargetStore(engine, SPEC)
    store.ensure_tables()
    store.upsert_target(clean_frame(kd_row(1, forbidden_at="2030-01-01T08:00:00")), "run")
    store.quarantine(pd.DataFrame({"key": ["2"], "change_time": [pd.Timestamp("2031-01-01")],
                                   "reasons": [[{"check": "plausible_date"}]], "payload": ["{}"]}), "run", "x")
    yield store
    engine.dispose()
