"""Benchmark: what content verification costs on Kingdee, per daily slice and for the whole table.

    python -m bench.bench_verify [--customers 100000] [--days 7] [--edits 100]

A simulator runs in its own process; the target is a fresh MariaDB database loaded straight from
Kingdee pages (convert, validate, upsert). ``--edits`` customers are then changed at the source
through the simulator's ``silent_update`` admin action, which stamps nothing. Prints, each measured
once: the daily key-scan reconciliation without content verification (the baseline), today's
slice of a ``--days`` split, and a full verification: Kingdee calls, rows, MB, seconds; and the
projected Kingdee cost per day for 100k and 1M rows.
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import os
import time

import pandas as pd
import requests
import sqlalchemy as sa

from bench.harness import DEMO_CREDENTIALS, peak_rss_mb, scratch_database, simulator_process
from kd_assets.kingdee import ClientConfig, K3CloudClient
from kd_assets.sync.reconcile import reconcile
from kd_assets.sync.schemas import validate
from kd_assets.sync.spec import load_spec
from kd_assets.sync.store import TargetStore, create_target_engine
from kd_assets.sync.transform import to_frame
from kd_assets.sync.verify import verify_content
from kd_assets.sync.verify_scope import FULL_SCOPE, todays_scope

CLOCK = "2025-06-30 12:00:00"
NOW = pd.Timestamp(CLOCK)
SPEC = load_spec("bd_customer")


def _client(base_url: str) -> K3CloudClient:
    return K3CloudClient(ClientConfig(base_url, **DEMO_CREDENTIALS))


def _load(base_url: str, store: TargetStore) -> tuple[int, float]:
    started = time.perf_counter()
    loaded = 0
    with _client(base_url) as client:
        for page in client.iter_keys(SPEC.form_id, key_field=SPEC.key_field, extra_fields=SPEC.field_keys[1:]):
            result = validate(SPEC, to_frame(SPEC, page), NOW)
            store.quarantine(result.rejects, "bench-load", "bench")
            loaded += store.upsert_target(result.clean, "bench-load").inserted
    return loaded, time.perf_counter() - started


def _silent_edits(base_url: str, store: TargetStore, n: int) -> None:
    """Change ``n`` customers at the source the way a DBA script does: no change time moves."""
    t = store.tables.target
    with store.engine.connect() as conn:
        keys = [r[0] for r in conn.execute(sa.select(t.c.data_id).order_by(t.c.data_id))]
    picked = keys[:: max(1, len(keys) // n)][:n]
    admin = base_url.replace("/k3cloud/", "/_sim/")
    response = requests.post(f"{admin}forms/{SPEC.form_id}/silent_update",
                             json={"ids": picked, "values": {"FTEL": "000-00000000"}}, timeout=60)
    response.raise_for_status()


def _measured(base_url: str, label: str, action) -> dict:
    with _client(base_url) as client:
        started = time.perf_counter()
        outcome = action(client)
        seconds = time.perf_counter() - started
        s = client.stats
    figures = {"calls": s.calls, "rows": s.rows, "mb": s.bytes / 1e6, "s": seconds}
    print(f"{label}: {s.calls} Kingdee calls, {s.rows:,} rows, {figures['mb']:.1f} MB, {seconds:.1f} s "
          f"({s.rows / seconds:,.0f} rows/s); {outcome}")
    return figures


def run(customers: int, days: int, edits: int) -> None:
    with scratch_database() as url, simulator_process(customers, "--history-days", "365", "--clock-start", CLOCK,
                                                      "--session-ttl", "0") as (base_url, startup_s):
        store = TargetStore(create_target_engine(url), SPEC)
        store.ensure_tables()
        loaded, load_s = _load(base_url, store)
        print(f"simulator start {startup_s:.1f} s; target loaded with {loaded:,} rows in {load_s:.1f} s")
        _measured(base_url, "key-scan reconciliation alone (daily today)",
                  lambda c: reconcile(c, store, SPEC, "bench-reconcile", now=NOW).status)
        _silent_edits(base_url, store, edits)
        print(f"edited {edits} customers at the source without stamping a change time")
        day = dt.date.fromisoformat(CLOCK[:10])
        scope = todays_scope(store.engine, store.tables.target, store.key, day, days)
        _measured(base_url, f"content verification of {scope.describe(SPEC)}",
                  lambda c: _outcome(verify_content(c, store, SPEC, "bench-slice", scope, now=NOW)))
        full = _measured(base_url, "content verification of every row",
                         lambda c: _outcome(verify_content(c, store, SPEC, "bench-full", FULL_SCOPE, now=NOW)))
        _projection(days, full)
        print(f"peak RSS of the benchmark process: {peak_rss_mb():,.0f} MiB; load average {os.getloadavg()[0]:.1f}")


def _outcome(report) -> str:
    return (f"{report.checked:,} compared, {report.differs} differed, {report.healed} healed; "
            f"held at most {report.max_rows_held:,} rows")


def _projection(days: int, full: dict, page: int = 2000) -> None:
    """Kingdee cost per day, scaled from the full verification's measured rate."""
    rate = full["rows"] / full["s"]
    for rows in (100_000, 1_000_000):
        per_day = math.ceil(rows / days)
        calls = math.ceil(per_day / page) + 1  # the last page is short or empty
        print(f"projected per day at {rows:,} rows, KD_VERIFY_DAYS={days}: ~{calls} calls, {per_day:,} rows, "
              f"~{per_day * full['mb'] / full['rows']:.0f} MB, ~{per_day / rate:.0f} s "
              f"(full verify: ~{math.ceil(rows / page) + 1} calls, {rows:,} rows, ~{rows / rate:.0f} s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--edits", type=int, default=100)
    args = parser.parse_args()
    run(args.customers, args.days, args.edits)


if __name__ == "__main__":
    main()
