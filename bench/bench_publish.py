"""The SQL side of a load at scale: publish, the checks after it and the live-row count.

    python -m bench.bench_publish [--rows 1000000] [--rounds 2] [--base DIR]

Fills a clean table with ``--rows`` generated customers inside MariaDB (SEQUENCE engine, so
no Python in the setup), then per variant, each in its own child process and database:
- initial: ``publish_clean`` into the empty target over the first partition's window (all
  history), then ``unique_keys`` and ``target_matches_clean`` over that window (as the check
  step does it: not compared again when the publish copied the whole window), the live-row
  count and the preview read the target step does;
- incremental: 1% of the clean rows get a newer change time on one day, and the same steps
  run over that one day's window.
``--base DIR`` (a checkout of an older commit) adds it as variant A, run interleaved with this
tree (B) round by round, so both see the same load; the load average is printed with each.
``--limits`` then times bench.limits' bare two-connection upsert (threads, processes) of the rows.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import time

import sqlalchemy as sa

from bench.harness import scratch_database

DAY = dt.datetime(2025, 6, 30)
END = DAY + dt.timedelta(days=1)
EDITED = "data_id MOD 100 = 7"  # the 1% an incremental run finds edited on DAY


def load_avg() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


def _formula_values(n: int) -> str:
    """A SELECT of ``n`` customer rows of the bd_customer clean table, deterministic by key."""
    return f"""
    SELECT seq AS data_id, seq - seq MOD 3, CONCAT('CUST', LPAD(seq, 8, '0')),
           CONCAT('客户', seq, ' Trading Co., Ltd.'), IF(seq MOD 4 = 0, NULL, CONCAT('C', seq)), '100',
           ELT(1 + seq MOD 3, '100', '101', '102'), ELT(1 + seq MOD 5, 'Z', 'A', 'B', 'C', 'D'),
           IF(seq MOD 10 = 0, 'B', 'A'), (seq * 7919) MOD 50000000 / 100, CONCAT((seq * 7919) MOD 50000000 / 100),
           CONCAT('法人', seq MOD 997), CONCAT('91', LPAD(seq, 6, '0'), 'MA0000000X'),
           CONCAT('TAX', seq), CONCAT('0755-', LPAD(seq, 8, '0')), CONCAT('深圳市南山区科技园 ', seq, ' 号'),
           'G01', 'T01', 'PRE001', CONCAT('S', seq MOD 50), CONCAT('D', seq MOD 20), seq MOD 7 = 0,
           '2016-01-01' + INTERVAL (seq * 104729) MOD 252288000 SECOND,
           '2016-01-01' + INTERVAL (seq * 7919) MOD 252288000 SECOND + INTERVAL (seq MOD 1000) * 1000 MICROSECOND,
           IF(seq MOD 10 = 0, '2017-01-01' + INTERVAL (seq * 31) MOD 220000000 SECOND, NULL),
           IF(seq MOD 5 = 0, NULL, '2016-06-01' + INTERVAL (seq * 13) MOD 240000000 SECOND),
           '2016-01-01', (seq * 2654435761) MOD 9223372036854775807, 'bench', 'bench', UTC_TIMESTAMP()
    FROM seq_1_to_{n}"""


_CHANGE_TIME = "GREATEST(modified_at, COALESCE(forbidden_at, modified_at), COALESCE(approved_at, modified_at))"


def fill_clean(url: str, rows: int) -> None:
    """``rows`` clean customers, written by the server itself."""
    from kd_assets.sync.spec import load_spec
    from kd_assets.sync.store import TargetStore, create_target_engine
    spec = load_spec("bd_customer")
    engine = create_target_engine(url)
    TargetStore(engine, spec).ensure_tables()
    clean = spec.tables.target + "_clean"
    cols = [c.name for c in spec.columns] + ["change_time", "row_hash", "run_id", "partition_key", "cleaned_at"]
    with engine.begin() as conn:
        for lo in range(0, rows, 200_000):  # in slices: one huge transaction thrashes the 128 MB buffer pool
            n = min(200_000, rows - lo)
            conn.exec_driver_sql(f"INSERT INTO `{clean}` ({', '.join(cols)}) {_formula_values(n)}"
                                 .replace(f"seq_1_to_{n}", f"seq_{lo + 1}_to_{lo + n}"))
        conn.exec_driver_sql(f"UPDATE `{clean}` SET change_time = {_CHANGE_TIME}")
    engine.dispose()


def timed(results: dict, name: str, fn, *args):
    started = time.perf_counter()
    value = fn(*args)
    results[name] = round(time.perf_counter() - started, 3)
    return value


def child(url: str) -> dict:
    """One variant's initial and incremental steps on ``url``; timings in seconds."""
    from kd_assets.defs.target_db import MySQLResource
    from kd_assets.sync.spec import load_spec
    from kd_assets.sync.store import TargetStore, create_target_engine
    spec = load_spec("bd_customer")
    engine = create_target_engine(url)
    store = TargetStore(engine, spec)
    timed(r := {"load_before": load_avg()}, "ensure_tables", store.ensure_tables)
    resource = MySQLResource(url=url)
    unique_keys = _unique_keys_function()
    clean, target = spec.tables.target + "_clean", spec.tables.target
    with engine.begin() as conn:
        conn.exec_driver_sql(f"TRUNCATE TABLE `{target}`")  # no purge of a million deletes during the publish
    for phase, window in (("initial", (None, END)), ("incremental", (DAY, END))):
        if phase == "incremental":
            with engine.begin() as conn:
                conn.exec_driver_sql(f"UPDATE `{clean}` SET modified_at = '{DAY}' + INTERVAL data_id MOD 86400 SECOND,"
                                     f" row_hash = row_hash + 1 WHERE {EDITED}")
                conn.exec_driver_sql(f"UPDATE `{clean}` SET change_time = {_CHANGE_TIME} WHERE {EDITED}")
        counts = timed(r, f"{phase}_publish", store.publish_clean, *window, f"bench-{phase}", 5_000)
        r[f"{phase}_counts"] = [counts.inserted, counts.updated, counts.unchanged, counts.skipped_older]
        r[f"{phase}_unique_keys_groups"] = timed(r, f"{phase}_unique_keys", unique_keys, store, *window)
        r[f"{phase}_target_diff_rows"] = timed(r, f"{phase}_target_check", target_check, store, counts, *window)
        r[f"{phase}_live"] = timed(r, f"{phase}_live_rows", resource.live_rows, store)
        timed(r, f"{phase}_preview", lambda: next(store.iter_clean(*window, chunk_size=5), None))
    restore(engine, clean)  # the next round starts from the same clean rows
    r["load_after"] = load_avg()
    engine.dispose()
    return r


def target_check(store, counts, start, end):
    """What the target_matches_clean step does after this publish: nothing to compare when the
    publish copied the whole window into empty key ranges (checks.copied_whole_window), else the
    comparison (older trees: always)."""
    fresh = getattr(counts, "fresh", 0)
    if 0 < fresh == counts.total:
        return f"copied whole ({fresh:,} rows), not compared"
    return store.clean_target_diff(start, end)[0]


def restore(engine, clean: str) -> None:
    with engine.begin() as conn:
        conn.exec_driver_sql(f"UPDATE `{clean}` SET modified_at = '2016-01-01' + INTERVAL (data_id * 7919) MOD 252288000"
                             f" SECOND + INTERVAL (data_id MOD 1000) * 1000 MICROSECOND, row_hash = row_hash - 1"
                             f" WHERE {EDITED}")
        conn.exec_driver_sql(f"UPDATE `{clean}` SET change_time = {_CHANGE_TIME} WHERE {EDITED}")


def _unique_keys_function():
    """This tree's duplicate-business-key query, or main's two-pass GROUP BY when it has none."""
    try:
        from kd_assets.sync.targetchecks import duplicate_business_keys
        return lambda store, start, end: duplicate_business_keys(store, start, end).groups
    except ImportError:
        return _unique_keys_before


def _unique_keys_before(store, start, end) -> int:
    """checks.py's unique_keys body before this change (a copy, for the A/B)."""
    t, business_key = store.tables.clean, store.spec.business_key
    cols = [t.c[name] for name in business_key]
    dupes = (sa.select(*cols, sa.func.count().label("rows"))
             .where(store.in_window(t, start, end), *[c.is_not(None) for c in cols])
             .group_by(*cols).having(sa.func.count() > 1))
    with store.engine.connect() as conn:
        conn.execute(dupes.order_by(*cols).limit(20)).all()
        return conn.execute(sa.select(sa.func.count()).select_from(dupes.subquery())).scalar_one()


def run_variant(tree: str, url: str, action: str = "child", *args) -> dict:
    """``action(url, *args)`` of this module in a child process importing kd_assets from ``tree``."""
    env = {**os.environ, "PYTHONPATH": tree}
    # This file by path, kd_assets (and bench.harness) from ``tree``.
    load = (f"import sys, json, importlib.util; sys.path.insert(0, {tree!r}); "
            f"s = importlib.util.spec_from_file_location('bench_publish', {os.path.abspath(__file__)!r}); "
            f"m = importlib.util.module_from_spec(s); s.loader.exec_module(m); "
            f"print(json.dumps(m.{action}({url!r}, *{args!r})))")
    out = subprocess.run([sys.executable, "-c", load],
                         env=env, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-3000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--base", help="an older checkout to compare with, interleaved (variant A)")
    parser.add_argument("--limits", action="store_true", help="then time bench.limits' bare upserts on the target")
    args = parser.parse_args()
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    variants = ([("A " + args.base, args.base)] if args.base else []) + [("B this tree", here)]
    with scratch_database() as url_a, scratch_database() as url_b:
        urls = dict(zip([v[0] for v in variants], [url_a, url_b]))
        for name, tree in variants:
            started = time.perf_counter()
            run_variant(tree, urls[name], "fill_clean", args.rows)
            print(f"filled {args.rows:,} clean rows for {name} in {time.perf_counter() - started:.1f} s", flush=True)
        for round_ in range(args.rounds):
            for name, tree in variants:
                print(f"round {round_ + 1} {name}: {json.dumps(run_variant(tree, urls[name]))}", flush=True)
        if args.limits:
            from bench.limits import bare_upsert
            before = load_avg()
            bare = bare_upsert(urls[variants[-1][0]])
            print(f"bare two-connection upsert of the same {bare.rows:,} target rows: two threads "
                  f"{bare.threads_s:.1f} s, two processes {bare.processes_s:.1f} s; load average {before} -> "
                  f"{load_avg()}", flush=True)


if __name__ == "__main__":
    main()
