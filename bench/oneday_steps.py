"""The one-day run's steps called directly (no Dagster), each part timed with the disk reads it
caused (InnoDB ``Innodb_buffer_pool_reads``): where a one-day run at 1M rows spends its time.

    python -m bench.oneday_steps [--trees A B] [--rounds 1]

Uses bench_oneday's database and simulator (``python -m bench.bench_oneday setup`` first). Per
round and tree: a new day, 1% edits, then in a child process importing that tree's code:
fetch+land, clean (landed read, validate, stage, quarantine), unique_keys, publish, live rows,
target check, as the assets do them.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent


def _status(conn) -> int:
    return int(conn.exec_driver_sql("SHOW GLOBAL STATUS LIKE 'Innodb_buffer_pool_reads'").one()[1])


def child(day: str, base: str, url: str) -> dict:
    """In a process importing kd_assets from the tree under test."""
    from collections import Counter

    import sqlalchemy as sa

    from kd_assets.defs.partitions import source_timezone
    from kd_assets.defs.resources import KingdeeResource
    from kd_assets.defs.target_db import MySQLResource
    from kd_assets.kingdee import Window
    from kd_assets.sync import source_now, to_frame, validate
    from kd_assets.sync.spec import load_spec
    from kd_assets.sync.targetchecks import duplicate_business_keys
    from bench.harness import DEMO_CREDENTIALS

    spec = load_spec("bd_customer")
    db = MySQLResource(url=url)
    store = db.store(spec)
    probe = sa.create_engine(url).connect()
    start = dt.datetime.fromisoformat(day)
    window, run_id, out = (start, start + dt.timedelta(days=1)), f"oneday-{day}", {}

    def timed(name, fn, *args, **kw):
        reads, t0 = _status(probe), time.perf_counter()
        value = fn(*args, **kw)
        out[name] = f"{time.perf_counter() - t0:.2f}s/{_status(probe) - reads}r"
        return value

    def land():
        with KingdeeResource(server_url=base, **DEMO_CREDENTIALS).get_client() as client:
            for page in client.iter_window(spec.form_id, spec.field_keys, Window(*window),
                                           change_fields=spec.change_time_fields, key_field=spec.page_key,
                                           extra_filter=spec.extra_filter):
                timed_add("land_rows", store.land_rows, page, run_id, day)
        timed("prune", store.prune_landed_pages)

    parts: Counter = Counter()

    def timed_add(name, fn, *args):
        reads, t0 = _status(probe), time.perf_counter()
        value = fn(*args)
        parts[name + "_s"] += time.perf_counter() - t0
        parts[name + "_r"] += _status(probe) - reads
        return value

    timed("fetch+land", land)
    now = source_now(source_timezone())

    def clean():
        it = store.iter_landed(*window, chunk_size=db.chunk_size, partition_key=day)
        while True:
            rows = timed_add("iter_landed", next, it, None)
            if rows is None:
                return
            result = timed_add("validate", lambda: validate(spec, to_frame(spec, rows), now))
            timed_add("write_clean", store.write_clean, result.clean, run_id, day)
            timed_add("quarantine", store.quarantine, result.rejects, run_id, day)

    timed("clean", clean)
    timed("unique_keys", duplicate_business_keys, store, *window)
    timed("publish_clean", store.publish_clean, *window, run_id, chunk_size=db.chunk_size)
    timed("live_rows", db.live_rows, store)
    timed("preview", lambda: next(store.iter_clean(*window, chunk_size=5), None))
    timed("target_check", store.clean_target_diff, *window)
    out.update({k: round(v, 2) for k, v in parts.items()})
    return out


def main() -> None:
    from bench.bench_oneday import _save_state, _state, edit_day, target_url  # not in the child: trees may lack it
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trees", nargs="*", default=[str(HERE)])
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    for _ in range(args.rounds):
        for i, tree in enumerate(args.trees):
            state = _state()
            day = (dt.date.fromisoformat(state["day"]) + dt.timedelta(days=1)).isoformat()
            _save_state(day=day)
            edited = edit_day(state["base_url"], day, seed=dt.date.fromisoformat(day).toordinal())
            before = "/".join(f"{x:.1f}" for x in os.getloadavg())
            res = subprocess.run([sys.executable, "-c", _harness_first(tree, day, state["base_url"], target_url())],
                                 env={**os.environ, "PYTHONPATH": tree}, capture_output=True, text=True)
            if res.returncode:
                raise RuntimeError(res.stderr[-3000:])
            after = "/".join(f"{x:.1f}" for x in os.getloadavg())
            label = "AB"[i] if len(args.trees) == 2 else Path(tree).name
            print(f"{label} {day} ({edited} edits) load {before}->{after}: {res.stdout.strip().splitlines()[-1]}",
                  flush=True)


def _harness_first(tree: str, day: str, base: str, url: str) -> str:
    """kd_assets from ``tree`` (first on the path), this file loaded by path."""
    return (f"import sys, json, importlib.util; sys.path.insert(0, {tree!r}); "
            f"s = importlib.util.spec_from_file_location('oneday_steps', {os.path.abspath(__file__)!r}); "
            f"m = importlib.util.module_from_spec(s); sys.modules['oneday_steps'] = m; s.loader.exec_module(m); "
            f"print(json.dumps(m.child({day!r}, {base!r}, {url!r})))")


if __name__ == "__main__":
    main()
