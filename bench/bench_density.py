"""Where publishing a window by its keys stops paying: the keyed path against the range path over
the window's key span, for windows of one size whose keys cover more and more of their span.

    python -m bench.bench_density [--rows 1000000] [--keys 10000] [--densities 0.01 0.1 0.5 1]

Fills a clean table with ``--rows`` customers inside MariaDB (bench_publish.fill_clean), then per
density d a window of ``--keys`` keys, every (1/d)-th key from the middle of the table, on a day of
its own, published both ways (``rangepublish.publish_keys`` and ``publish_by_range`` over the
window's span), ``--first`` A then B, B, A (the first after an edit finds the window's pages cold):
- update: the target holds every row and the window's rows are newer (a day's edits);
- insert: the target is emptied first (a window of new keys, as bench_load's initial publish).
Prints seconds per publish, the transactions a deadlock or lock wait rolled back and run again
(rangepublish's warnings; none: no "retries" shown), and the load average; store.DENSE_WINDOW is
chosen from these figures.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import time

import sqlalchemy as sa

from bench.bench_publish import _CHANGE_TIME, END, fill_clean, load_avg
from bench.harness import scratch_database

FIRST_DAY = dt.datetime(2025, 7, 1)


class RetryCounter(logging.Handler):
    """Counts publish transactions the server rolled back (rangepublish._retrying's warnings)."""

    def __init__(self):
        super().__init__(logging.WARNING)
        self.retries = 0

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage().startswith("publish: transaction rolled back"):
            self.retries += 1


def edit_window(engine, clean: str, keys: list[int], day: dt.datetime, round_: int) -> None:
    """The window's rows get a newer change time on ``day`` (later each round) and a new signature."""
    lo, hi, step = keys[0], keys[-1], keys[1] - keys[0] if len(keys) > 1 else 1
    where = f"data_id BETWEEN {lo} AND {hi} AND (data_id - {lo}) MOD {step} = 0"
    with engine.begin() as conn:
        conn.exec_driver_sql(f"UPDATE `{clean}` SET modified_at = '{day}' + INTERVAL {round_} MINUTE"
                             f" + INTERVAL data_id MOD 3000 SECOND, row_hash = row_hash + 1 WHERE {where}")
        conn.exec_driver_sql(f"UPDATE `{clean}` SET change_time = {_CHANGE_TIME} WHERE {where}")


def measure(url: str, rows: int, n_keys: int, densities: list[float], first: str) -> None:
    from kd_assets.sync.rangepublish import publish_by_range, publish_keys
    from kd_assets.sync.spec import load_spec
    from kd_assets.sync.store import TargetStore, create_target_engine
    spec = load_spec("bd_customer")
    engine = create_target_engine(url)
    store, clean, target = TargetStore(engine, spec), spec.tables.target + "_clean", spec.tables.target
    paths = {"keyed": lambda keys, day, run: publish_keys(store, keys, day, day + dt.timedelta(days=1), run),
             "range": lambda keys, day, run: publish_by_range(store, day, day + dt.timedelta(days=1), run, 5_000,
                                                              span=(keys[0], keys[-1]))}
    retries = RetryCounter()
    logging.getLogger("kd_assets.sync.rangepublish").addHandler(retries)
    for scenario in ("update", "insert"):
        with engine.begin() as conn:
            conn.exec_driver_sql(f"TRUNCATE TABLE `{target}`")
        if scenario == "update":
            store.publish_clean(None, END, "bench-initial")
        for i, density in enumerate(densities):
            step = max(1, round(1 / density))
            low = max(1, rows // 2 - step * n_keys // 2)
            keys = list(range(low, min(rows, low + step * n_keys), step))
            day = FIRST_DAY + dt.timedelta(days=i + (len(densities) if scenario == "insert" else 0))
            figures = []
            other = "keyed" if first == "range" else "range"
            for round_, path in enumerate([first, other, other, first]):
                edit_window(engine, clean, keys, day, round_)
                if scenario == "insert":
                    with engine.begin() as conn:
                        conn.exec_driver_sql(f"TRUNCATE TABLE `{target}`")
                started, retried = time.perf_counter(), retries.retries
                try:
                    counts = paths[path](keys, day, f"bench-{path}-{round_}")
                except sa.exc.OperationalError as exc:  # deadlocks beyond the retries
                    figures.append(f"{path} FAILED ({exc.orig.args[0]}, {retries.retries - retried} retries)")
                    continue
                seconds = time.perf_counter() - started
                assert counts.total == len(keys), (path, counts)
                retried = retries.retries - retried
                figures.append(f"{path} {seconds:5.2f} s" + (f" ({retried} retries)" if retried else ""))
            print(f"{scenario:6} density {len(keys) / (keys[-1] - keys[0] + 1):6.1%} ({len(keys):,} keys over "
                  f"{keys[-1] - keys[0] + 1:,}): {', '.join(figures)}  load {load_avg()}", flush=True)
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--keys", type=int, default=10_000)
    parser.add_argument("--densities", type=float, nargs="+", default=[0.01, 0.03, 0.1, 0.2, 0.3, 0.5, 1.0])
    parser.add_argument("--first", choices=["range", "keyed"], default="range",
                        help="the path run first after each edit (the one to find the pages cold)")
    args = parser.parse_args()
    with scratch_database() as url:
        started = time.perf_counter()
        fill_clean(url, args.rows)
        print(f"filled {args.rows:,} clean rows in {time.perf_counter() - started:.1f} s; load {load_avg()}",
              flush=True)
        measure(url, args.rows, args.keys, args.densities, args.first)


if __name__ == "__main__":
    main()
