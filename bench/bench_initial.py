"""Benchmark for issue 12: the initial load as a user runs it, against the machine's own limit.

    python -m bench.bench_initial [--quick]

Every load runs README's own command, ``dagster asset materialize -m kd_assets.definitions
--select <the three assets> --partition-range START...DAY``, in its own process on a fresh SQLite
``DAGSTER_HOME``, against a simulator in its own process and a fresh MariaDB database, with
``KD_SYNC_START`` a week before the simulator's day (the first partition holds all history).
Prints, from one run, with the load average before and after each figure:
- 100k customers over six and over ten years of history: wall time, and Dagster's bookkeeping
  (the run's span minus our assets' own ``duration_s`` and the check steps) as a share of it;
- 1M customers end to end: rows/s, peak RSS of the load process, and the ratio to the machine's
  limit measured right there: the slower of the client fetching the same rows and discarding
  them, and a bare in-memory two-connection multi-row upsert of the same rows;
- the incremental run (one day, README's ``--partition``) after 1% of the 1M rows were edited
  through Kingdee's Save, as a share of the initial load.
``--quick`` uses 10k and 100k rows and skips the ten-year load (a minute or two).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import subprocess
import sys
import tempfile
import time

import dagster as dg

from bench.harness import DEMO_CREDENTIALS, child_peak_rss_mb, scratch_database, simulator_process
from bench.limits import bare_upsert_s, edit_customers, fetch_only_s
from kd_assets.definitions import form_definitions

CLOCK = "2025-06-30 12:00:00"
DAY = CLOCK[:10]
SYNC_START = (dt.date.fromisoformat(DAY) - dt.timedelta(days=7)).isoformat()
NAMES = form_definitions()["customers"].settings.names
SELECTION = ",".join([NAMES.raw, NAMES.clean, NAMES.target])
GOALS = {"bookkeeping": 0.10, "limit": 0.7, "rss_mb": 300, "incremental": 0.02}


def load_avg() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


def materialize(env: dict[str, str], *partition_args: str, selection: str = SELECTION) -> tuple[float, float, str]:
    """README's CLI command in a child process: (wall seconds, peak RSS MiB of that process, run id)."""
    started = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-m", "dagster", "asset", "materialize", "-m",
                                "kd_assets.definitions", "--select", selection, *partition_args],
                               env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    with child_peak_rss_mb(process.pid) as peak_rss:  # not wait4's ru_maxrss: it counts our own pages too
        err = process.stderr.read()
        process.wait()
    wall = time.perf_counter() - started
    if process.returncode != 0:
        raise RuntimeError(f"materialize failed ({process.returncode}): {err[-2000:]}")
    with dg.DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance:
        run_id = instance.get_runs(limit=1)[0].run_id
    return wall, peak_rss(), run_id


def bookkeeping(dagster_home: str, run_id: str) -> dict[str, float]:
    """The run's span, our work in it (assets' duration_s + check steps), and the rest: Dagster's."""
    with dg.DagsterInstance.from_config(dagster_home) as instance:
        record = instance.get_run_record_by_id(run_id)
        events = instance.all_logs(run_id)
    span = record.end_time - record.create_timestamp.timestamp()
    ours, seen, starts = 0.0, set(), {}
    asset_steps = set()
    for e in events:
        de = e.dagster_event
        if de is None:
            continue
        if de.event_type == dg.DagsterEventType.ASSET_MATERIALIZATION:
            asset_steps.add(de.step_key)
            if de.step_key not in seen:
                seen.add(de.step_key)
                ours += float(de.event_specific_data.materialization.metadata["duration_s"].value)
        elif de.event_type == dg.DagsterEventType.STEP_START:
            starts[de.step_key] = e.timestamp
        elif de.event_type == dg.DagsterEventType.STEP_SUCCESS and de.step_key not in asset_steps:
            ours += e.timestamp - starts.get(de.step_key, e.timestamp)
    return {"span": span, "ours": ours, "dagster": max(0.0, span - ours)}


def cli_env(base_url: str, target_url: str, dagster_home: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KD_")}
    env.update({"KD_SERVER_URL": base_url, "KD_ACCT_ID": DEMO_CREDENTIALS["acct_id"],
                "KD_USERNAME": DEMO_CREDENTIALS["username"], "KD_APP_ID": DEMO_CREDENTIALS["app_id"],
                "KD_APP_SECRET": DEMO_CREDENTIALS["app_secret"], "KD_MYSQL_URL": target_url,
                "KD_SYNC_START": SYNC_START, "DAGSTER_HOME": dagster_home})
    return env


def history_load(customers: int, years: int) -> None:
    """The initial load of ``customers`` over ``years`` of history, and Dagster's share of it."""
    with tempfile.TemporaryDirectory() as home, scratch_database() as url, simulator_process(
            customers, "--history-days", str(years * 365), "--clock-start", CLOCK, "--session-ttl", "0") as (base, _):
        before = load_avg()
        wall, _rss, run_id = materialize(cli_env(base, url, home), "--partition-range", f"{SYNC_START}...{DAY}")
        b = bookkeeping(home, run_id)
    share = b["dagster"] / wall
    print(f"{customers:,} customers over {years} years, {SYNC_START}...{DAY}: {wall:.1f} s wall, "
          f"run span {b['span']:.1f} s, our steps {b['ours']:.1f} s, Dagster bookkeeping {b['dagster']:.1f} s = "
          f"{share:.1%} of the run (goal <= {GOALS['bookkeeping']:.0%}: {'met' if share <= GOALS['bookkeeping'] else 'NOT met'}); "
          f"load average {before} -> {load_avg()}", flush=True)


def big_load(customers: int) -> None:
    """1M end to end, the machine's limit for the same rows, and the 1% incremental run."""
    with tempfile.TemporaryDirectory() as home, scratch_database() as url, simulator_process(
            customers, "--history-days", str(6 * 365), "--clock-start", CLOCK, "--session-ttl", "0") as (base, boot):
        env = cli_env(base, url, home)
        before = load_avg()
        fetch_s = fetch_only_s(base)
        print(f"limit, client fetch-only of {customers:,} rows: {fetch_s:.1f} s = {customers / fetch_s:,.0f} rows/s; "
              f"load average {before} -> {load_avg()}", flush=True)
        before = load_avg()
        wall, rss, run_id = materialize(env, "--partition-range", f"{SYNC_START}...{DAY}")
        b = bookkeeping(home, run_id)
        print(f"initial load of {customers:,} customers end to end: {wall:.1f} s = {customers / wall:,.0f} rows/s "
              f"(Dagster bookkeeping {b['dagster']:.1f} s); peak RSS {rss:,.0f} MiB "
              f"(goal <= {GOALS['rss_mb']}); load average {before} -> {load_avg()}", flush=True)
        before = load_avg()
        upsert_s, n = bare_upsert_s(url)
        print(f"limit, bare in-memory two-connection multi-row upsert of the same {n:,} rows: {upsert_s:.1f} s = "
              f"{n / upsert_s:,.0f} rows/s; load average {before} -> {load_avg()}", flush=True)
        limit_s = max(fetch_s, upsert_s)
        ratio = limit_s / wall
        print(f"ratio to the machine's limit ({'fetch' if fetch_s >= upsert_s else 'upsert'}, {limit_s:.1f} s): "
              f"{ratio:.2f}x (goal >= {GOALS['limit']}x: {'met' if ratio >= GOALS['limit'] else 'NOT met'})",
              flush=True)
        before = load_avg()
        edited, edit_s = edit_customers(base, 0.01)
        inc_wall, _, _ = materialize(env, "--partition", DAY)
        share = inc_wall / wall
        print(f"incremental run of {DAY} after {edited:,} edits (made in {edit_s:.1f} s): {inc_wall:.1f} s = "
              f"{share:.1%} of the initial load (goal <= {GOALS['incremental']:.0%}: "
              f"{'met' if share <= GOALS['incremental'] else 'NOT met'}); load average {before} -> {load_avg()}",
              flush=True)
        print(f"(simulator start-up with {customers:,} rows: {boot:.0f} s, not counted)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10k/100k rows, six years only")
    args = parser.parse_args()
    small, big = (10_000, 100_000) if args.quick else (100_000, 1_000_000)
    for years in (6,) if args.quick else (6, 10):
        history_load(small, years)
    big_load(big)


if __name__ == "__main__":
    main()
