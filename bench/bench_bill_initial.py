"""Benchmark for issue 11: the initial load of ~1,000,000 sales-order lines as a user runs it.

    python -m bench.bench_bill_initial [--quick] [--case mean|few|max|beyond ...] [--lines N]

Like ``bench.bench_initial`` (issue 12's customers): README's own command, ``dagster asset
materialize -m kd_assets.definitions --select <sale_orders' three assets> --partition-range
START...DAY``, in its own process on a fresh SQLite ``DAGSTER_HOME``, against a simulator in its
own process serving ``SAL_SaleOrder`` and a fresh MariaDB database. Cases, each the same total of
lines (``--lines``, default 1,000,000; ``--quick`` a tenth):

- ``mean``: the simulator's own bills, 1–200 lines (about 19.4 on average, so ~51,600 orders);
  also the yardstick: a bare in-memory two-connection multi-row upsert of the same target rows
  into an empty copy of the lines table (``bench.limits.bare_upsert_s``), and the ratio to it;
- ``few``: 2 lines on every bill (``--bill-lines FSaleOrderEntry=2``), half as many bills as lines;
- ``max``: 200 lines on every bill, the simulator's (and the field table's) maximum;
- ``beyond``: 2,000 lines on every bill, ten times that.

Each prints lines/s end to end, Dagster's bookkeeping, the peak RSS of the load process, what
the target holds afterwards, and the load average before and after. Peak RSS staying flat across
the cases is what "memory stays bounded whatever the number of lines per bill" means here.
Each case takes minutes at 1M lines: on a shared machine run them one at a time with
``--lock /tmp/kd-bench.lock`` (each load, and the yardstick, under the benchmarks' lock).
"""

from __future__ import annotations

import argparse
import fcntl
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

import requests
import sqlalchemy as sa

from bench.bench_initial import CLOCK, DAY, SYNC_START, cli_env, cli_run, load_avg
from bench.harness import scratch_database, simulator_process
from bench.limits import bare_upsert_s
from kd_assets.definitions import form_definitions

FORM = form_definitions()["sale_orders"].settings
SELECTION = ",".join([FORM.names.raw, FORM.names.clean, FORM.names.target])
ENTITY = FORM.spec.bill.entity
STEP_LABELS = {FORM.names.raw: "fetch+land", FORM.names.clean: "clean", FORM.names.target: "publish"}
MEAN_LINES = 19.37  # the simulator's lines per order: 50,000 orders are 968,611 lines
# case → lines on every bill (None: the simulator's own 1-200 lines per bill)
CASES = {"mean": None, "few": 2, "max": 200, "beyond": 2000}


def simulator_options(case: str, lines: int) -> tuple[int, list[str]]:
    """(orders, extra simulator options) for ``lines`` lines shaped as ``case`` says."""
    per_bill = CASES[case]
    if per_bill is None:
        return round(lines / MEAN_LINES), []
    return lines // per_bill, ["--bill-lines", f"{ENTITY}={per_bill}"]


def source_lines(admin_url: str) -> tuple[int, int]:
    """(bills, lines) the simulator serves, from its admin state."""
    form = requests.get(admin_url + "state", timeout=60).json()["rows"]["forms"][FORM.spec.form_id]
    return form["rows"], form["lines"][ENTITY]


def target_state(url: str) -> tuple[int, int]:
    """(live target lines, quarantined rows) after the load."""
    engine = sa.create_engine(url)
    tables = FORM.spec.tables
    with engine.connect() as conn:
        live = conn.execute(sa.text(f"SELECT count(*) FROM `{tables.target}` WHERE NOT is_deleted")).scalar_one()
        quarantined = conn.execute(sa.text(f"SELECT count(*) FROM `{tables.quarantine}`")).scalar_one()
    engine.dispose()
    return int(live), int(quarantined)


@contextmanager
def held(lock_path: str | None) -> Iterator[None]:
    """The benchmarks' shared lock (``flock``), when one is named: a heavy phase never overlaps
    another engineer's, and none holds it longer than one phase."""
    if lock_path is None:
        yield
        return
    with open(lock_path, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def load(case: str, lines: int, lock: str | None = None) -> None:
    """One initial load of ``lines`` lines shaped as ``case``; with the yardstick for ``mean``."""
    orders, options = simulator_options(case, lines)
    with tempfile.TemporaryDirectory(prefix="bill-bench-") as home, scratch_database() as url:
        with held(lock), simulator_process(
                1000, "--orders", str(orders), "--materials", "2000", "--history-days", str(6 * 365),
                "--clock-start", CLOCK, "--session-ttl", "0", *options) as (base, boot):
            bills, served = source_lines(base.replace("/k3cloud/", "/_sim/"))
            before = load_avg()
            run = cli_run(cli_env(base, url, home), "--partition-range", f"{SYNC_START}...{DAY}", selection=SELECTION)
            after, wall = load_avg(), run.wall
        live, quarantined = target_state(url)
        shape = f"{CASES[case]:,} lines on every bill" if CASES[case] else "1-200 lines per bill"
        print(f"[{case}] {served:,} lines of {bills:,} bills ({shape}) end to end: {wall:.1f} s = "
              f"{served / wall:,.0f} lines/s; peak RSS of the load process {run.rss_mb:,.0f} MiB; target "
              f"{live:,} live lines, {quarantined:,} quarantined; load average {before} -> {after} "
              f"(simulator start-up {boot:.0f} s, not counted)\n    CLI start-up {run.start_up:.1f} s, run "
              f"{run.times.summary(STEP_LABELS)}", flush=True)
        if case != "mean":
            return
        with held(lock):
            before = load_avg()
            upsert_s, n = bare_upsert_s(url, FORM.spec.tables.target)
            after = load_avg()
        print(f"[{case}] yardstick, bare in-memory two-connection multi-row upsert of the same {n:,} target rows "
              f"into an empty copy of {FORM.spec.tables.target}: {upsert_s:.1f} s = {n / upsert_s:,.0f} rows/s; "
              f"load average {before} -> {after}", flush=True)
        print(f"[{case}] ratio to the yardstick: {upsert_s / wall:.2f}x ({upsert_s:.1f} s / {wall:.1f} s)", flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a tenth of the lines")
    parser.add_argument("--lines", type=int, default=1_000_000, help="lines per case (before --quick)")
    parser.add_argument("--case", choices=list(CASES), action="append",
                        help="run only these cases (repeatable); default: all")
    parser.add_argument("--lock", metavar="PATH", help="hold this flock file during each load and each "
                                                       "yardstick, not in between (e.g. /tmp/kd-bench.lock)")
    args = parser.parse_args(argv)
    lines = args.lines // 10 if args.quick else args.lines
    for case in args.case or list(CASES):
        load(case, lines, args.lock)


if __name__ == "__main__":
    main()
