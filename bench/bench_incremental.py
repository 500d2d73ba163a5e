"""Benchmark: a whole initial load through Dagster, then an incremental sync of 1% changes.

    python -m bench.bench_incremental [--customers 100000] [--changed-share 0.01]

A simulator with a year of history runs in its own process; the target is a fresh MariaDB
database. Prints, each measured once on this machine:
- initial load: the three assets over every partition in one single-run backfill (rows/s);
- the change sensor's tick (its one probe query plus the key-by-key comparison), after 1% of
  the customers were edited through Kingdee's Save service;
- the incremental run of the partition the sensor asked for (updated vs unchanged rows);
- peak RSS of this process (the Dagster runs execute in it).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import time

import dagster as dg

from bench.harness import DEMO_CREDENTIALS, peak_rss_mb, scratch_database, simulator_process
from kd_assets.definitions import form_definitions
from kd_assets.defs.resources import KingdeeResource
from kd_assets.defs.target_db import MySQLResource
from kd_assets.kingdee import ClientConfig, K3CloudClient

CLOCK = "2025-06-30 12:00:00"
FIRST = (dt.date.fromisoformat(CLOCK[:10]) - dt.timedelta(days=366)).isoformat()
os.environ.setdefault("KD_SYNC_START", FIRST)  # a year of daily partitions, as this figure has always used
CUSTOMERS = form_definitions()["customers"]
SPEC = CUSTOMERS.settings.spec
ASSETS = CUSTOMERS.sync_assets
# The in-process runs' events would print ~1,100 DEBUG lines per initial load over the figures.
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
kingdee_customers_change_sensor = CUSTOMERS.change_sensor


def _metadata(result: dg.ExecuteInProcessResult, asset: str) -> dict:
    event = next(e for e in result.get_asset_materialization_events() if e.asset_key.to_user_string() == asset)
    return {k: getattr(v, "value", v) for k, v in event.materialization.metadata.items()}


def _edit_customers(base_url: str, share: float) -> tuple[int, float]:
    with K3CloudClient(ClientConfig(base_url, **DEMO_CREDENTIALS)) as client:
        keys = [row[0] for page in client.iter_keys(SPEC.form_id, key_field=SPEC.key_field) for row in page]
        picked = random.Random(7).sample(keys, int(len(keys) * share))
        started = time.perf_counter()
        for key in picked:
            client.save("BD_Customer", {"FCUSTID": key, "FTEL": f"0755-{key % 10_000_000:08d}"})
    return len(picked), time.perf_counter() - started


def run(customers: int, share: float) -> None:
    with scratch_database() as url, simulator_process(customers, "--history-days", "365", "--clock-start", CLOCK,
                                                      "--session-ttl", "0") as (base_url, startup_s):
        res = {"kingdee": KingdeeResource(server_url=base_url, **DEMO_CREDENTIALS),
               "target_db": MySQLResource(url=url)}
        first = FIRST
        tags = {"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": CLOCK[:10]}
        with dg.instance_for_test() as instance:
            started = time.perf_counter()
            load = dg.materialize(ASSETS, tags=tags, resources=res, instance=instance, run_config=QUIET)
            load_s = time.perf_counter() - started
            loaded = _metadata(load, "wk_wodtop_customer")["inserted"]
            print(f"simulator start {startup_s:.1f} s; initial load of {loaded:,} rows over "
                  f"{(dt.date.fromisoformat(CLOCK[:10]) - dt.date.fromisoformat(first)).days + 1} partitions: "
                  f"{load_s:.1f} s = {loaded / load_s:,.0f} rows/s end to end")
            edited, edit_s = _edit_customers(base_url, share)
            print(f"edited {edited:,} customers ({share:.0%}) through Save in {edit_s:.1f} s")
            with dg.build_sensor_context(instance=instance, resources=res) as context:
                started = time.perf_counter()
                tick = kingdee_customers_change_sensor(context)
                tick_s = time.perf_counter() - started
            partitions = [r.partition_key for r in tick.run_requests]
            print(f"change sensor tick: {tick_s * 1000:.0f} ms, asked for {partitions}")
            started = time.perf_counter()
            inc = dg.materialize(ASSETS, partition_key=partitions[0], resources=res, instance=instance,
                                 run_config=QUIET)
            inc_s = time.perf_counter() - started
            target = _metadata(inc, "wk_wodtop_customer")
            print(f"incremental run of {partitions[0]}: {inc_s:.1f} s; updated {target['updated']:,}, "
                  f"inserted {target['inserted']:,}, unchanged {target['unchanged']:,}; "
                  f"Kingdee calls {_metadata(inc, 'kingdee_customers_raw')['kingdee_calls']}")
            print(f"peak RSS of the benchmark process: {peak_rss_mb():,.0f} MiB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--changed-share", type=float, default=0.01)
    args = parser.parse_args()
    run(args.customers, args.changed_share)


if __name__ == "__main__":
    main()
