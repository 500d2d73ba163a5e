"""Initial load of generated BD_Customer rows into MariaDB: our pipeline vs the seed's naive way.

    python -m bench.bench_load [--rows 100000 1000000] [--naive-sample 50000]

For each size, three measurements, each in its own process (so peak RSS is its own) and its own
fresh database:
- pipeline: Kingdee-format rows → land_rows → iter_landed → to_frame → validate → write_clean
  (+ quarantine) → publish_clean, i.e. all three assets' work; afterwards the publish step is
  repeated through the frame path (iter_clean → upsert_target) into an emptied target, timed
  on its own;
- yardstick: the same clean rows written with plain PyMySQL ``executemany`` multi-row
  ``INSERT … ON DUPLICATE KEY UPDATE`` (one connection), target table only;
- naive: the seed's way, row by row: ``SELECT`` existence check, then ``UPDATE … WHERE data_id``
  or ``INSERT`` (committed every 1,000 rows, which is kinder than autocommit). For large sizes it
  runs on the first ``--naive-sample`` rows and is extrapolated (said so in the output).
Row generation is not timed: rows arrive as the Kingdee client would hand them over.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import resource
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager
from functools import partial
from typing import Iterator

import pymysql
import sqlalchemy as sa

from kd_assets.sync.loadfile import load_file_available
from kd_assets.sync.schemas import validate
from kd_assets.sync.spec import load_spec
from kd_assets.sync.store import TargetStore, create_target_engine
from kd_assets.sync.transform import to_frame
from kd_assets.sync.writebehind import WriteBehind

SERVER = os.environ.get("KD_BENCH_MYSQL_SERVER",
                        os.environ.get("KD_TEST_MYSQL_SERVER", "mysql+pymysql://root@127.0.0.1:3306"))
CHUNK = 5_000  # the clean and publish steps' chunk (KD_MYSQL_CHUNK_SIZE default)
# TargetStore(load_file=…) for the pipeline: on unless KD_MYSQL_LOAD_FILE says off, as in a deployment.
LOAD_FILE = os.environ.get("KD_MYSQL_LOAD_FILE", "1").strip().lower() not in {"0", "false", "no", "off"}
WINDOW = (dt.datetime(2015, 1, 1), dt.datetime(2030, 1, 1))
SPEC = load_spec("bd_customer")
_CODE_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"


# ---- deterministic Kingdee-format rows --------------------------------------------------

def generate_chunks(n_rows: int, seed: int = 42, chunk: int = CHUNK) -> Iterator[list[list]]:
    """Rows as ExecuteBillQuery returns them (FieldKeys order), ~0.5% dirty, chunk by chunk."""
    for start in range(0, n_rows, chunk):
        rnd = random.Random(seed * 1_000_003 + start)
        yield [_customer(rnd, 100_000 + i) for i in range(start, min(start + chunk, n_rows))]


def _when(rnd: random.Random, year_from: int = 2016) -> str | None:
    t = dt.datetime(year_from, 1, 1) + dt.timedelta(seconds=rnd.randrange(8 * 365 * 86400))
    text = t.strftime("%Y-%m-%dT%H:%M:%S")
    return text + f".{rnd.randrange(1000):03d}" if rnd.random() < 0.3 else text


_FIRST_COLUMN = {c.field: c.name for c in reversed(SPEC.columns)}  # a field read by two columns: its first


def _customer(rnd: random.Random, cust_id: int) -> list:
    code = "".join(rnd.choice(_CODE_CHARS) for _ in range(2)) + f"{rnd.randrange(10**6):06d}" + \
        "".join(rnd.choice(_CODE_CHARS) for _ in range(10))
    capital: object = round(rnd.uniform(0, 5e7), 2)
    if rnd.random() < 0.3:
        capital = f"{capital:.2f}"          # numeric string, as some servers send it
    forbidden = rnd.random() < 0.1
    values = {
        "data_id": cust_id, "master_id": cust_id - cust_id % 3, "customer_number": f"CUST{cust_id:08d}",
        "customer_name": f"客户{cust_id} Trading Co., Ltd.", "short_name": rnd.choice(["", " ", None, f"C{cust_id}"]),
        "creating_org": "100", "using_org": rnd.choice(["100", "101", "102"]),
        "document_status": rnd.choice("ZABCCCCD"), "forbid_status": "B" if forbidden else "A",
        "registered_capital": capital, "legal_person": rnd.choice(["张三", "李四", "Wang Wu", None]),
        "social_credit_code": code if rnd.random() < 0.9 else None, "tax_register_code": code,
        "phone": f"0591-{rnd.randrange(10**7):07d}", "address": f"福州市鼓楼区{rnd.randrange(999)}号 O'Hara \\ St.",
        "customer_group": f"G{rnd.randrange(20):02d}", "customer_type": "KHLB001_SYS",
        "trading_currency": "PRE001", "seller": f"S{rnd.randrange(200):04d}", "sales_dept": f"D{rnd.randrange(30):03d}",
        "is_group": rnd.random() < 0.05, "created_at": _when(rnd, 2015), "modified_at": _when(rnd),
        "forbidden_at": _when(rnd) if forbidden else None,
        "approved_at": _when(rnd) if rnd.random() < 0.8 else None,
    }
    if rnd.random() < 0.005:
        values["master_id"] = "12abc"       # dirty row → quarantine
    return [values[_FIRST_COLUMN[field]] for field in SPEC.field_keys]


# ---- databases --------------------------------------------------------------------------

@contextmanager
def fresh_database() -> Iterator[str]:
    name = f"kd_bench_{uuid.uuid4().hex[:10]}"
    server = sa.create_engine(f"{SERVER}/?charset=utf8mb4", isolation_level="AUTOCOMMIT")
    with server.connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
    try:
        yield f"{SERVER}/{name}?charset=utf8mb4"
    finally:
        with server.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS `{name}`")
        server.dispose()


def pymysql_connect(url: str) -> pymysql.Connection:
    u = sa.engine.make_url(url)
    return pymysql.connect(host=u.host, port=u.port or 3306, user=u.username, password=u.password or "",
                           database=u.database, charset="utf8mb4")


# ---- the three measurements (each runs in a child process) ------------------------------

def measure_pipeline(n_rows: int) -> dict:
    stages = dict.fromkeys(["land", "read_landed", "transform", "validate", "write_clean", "publish"], 0.0)
    counts = {"landed": 0, "clean": 0, "rejected": 0}

    def timed(stage, fn, *args, **kwargs):
        t = time.perf_counter()
        out = fn(*args, **kwargs)
        stages[stage] += time.perf_counter() - t
        return out

    with fresh_database() as url:
        store = TargetStore(create_target_engine(url, load_file=LOAD_FILE), SPEC, load_file=LOAD_FILE)
        store.ensure_tables()
        with store.engine.connect() as conn:
            write_path = ("LOAD DATA LOCAL INFILE (new key ranges straight in, else temporary table)"
                          if LOAD_FILE and load_file_available(conn)
                          else "multi-row INSERT … ON DUPLICATE KEY UPDATE"
                          + ("" if LOAD_FILE else " (KD_MYSQL_LOAD_FILE=0)")
                          + (" (LOAD DATA unavailable)" if LOAD_FILE else ""))
        for rows in generate_chunks(n_rows):   # kingdee_customers_raw
            counts["landed"] += timed("land", store.land_rows, rows, "bench", "initial").landed
        landed = store.iter_landed(*WINDOW, chunk_size=CHUNK)
        # Staged behind in a thread as the clean asset does: write_clean is the time the loop waited for it.
        writer = WriteBehind(depth=1, name="bench-clean-writer")
        while (rows := timed("read_landed", next, landed, None)) is not None:   # kingdee_customers_clean
            frame = timed("transform", to_frame, SPEC, rows)
            result = timed("validate", validate, SPEC, frame)
            timed("write_clean", writer.submit, partial(_stage, store, result))
            counts["clean"] += len(result.clean)
            counts["rejected"] += len(result.rejects)
        timed("write_clean", writer.finish)
        published = timed("publish", store.publish_clean, *WINDOW, "bench", chunk_size=CHUNK)  # wk_wodtop_customer
        counts["inserted"] = published.inserted
        counts["republish_unchanged"] = store.publish_clean(*WINDOW, "bench-again").unchanged
        frame_path = publish_through_frames(store)
        store.engine.dispose()
    return {"rows": n_rows, "seconds": sum(stages.values()), "stages": stages, "counts": counts,
            "frame_publish_seconds": frame_path, "write_path": write_path}


def _stage(store: TargetStore, result) -> None:
    store.write_clean(result.clean, "bench", "initial")
    store.quarantine(result.rejects, "bench", "initial")


def publish_through_frames(store: TargetStore) -> float:
    """The other publish path (iter_clean → upsert_target) into an emptied target, timed."""
    with store.engine.begin() as conn:
        conn.exec_driver_sql(f"DELETE FROM {SPEC.tables.target}")
    t = time.perf_counter()
    for frame in store.iter_clean(*WINDOW, chunk_size=CHUNK):
        store.upsert_target(frame, "bench-frames")
    return time.perf_counter() - t


def _clean_tuples(n_rows: int, columns: list[str]) -> Iterator[list[tuple]]:
    """The same rows as typed Python tuples (what a hand-written loader would send)."""
    for rows in generate_chunks(n_rows):
        clean = validate(SPEC, to_frame(SPEC, rows)).clean
        clean = clean.astype(object).where(clean.notna(), None)
        yield [tuple(_py(v) for v in r) for r in clean[columns].itertuples(index=False, name=None)]


def _py(v):
    return v.to_pydatetime() if hasattr(v, "to_pydatetime") else v


def _timed_plain_load(n_rows: int, write_chunk) -> dict:
    """Create the target table in a fresh database, then time ``write_chunk(conn, cursor, rows)``."""
    seconds, sent = 0.0, 0
    with fresh_database() as url:
        TargetStore(create_target_engine(url), SPEC).ensure_tables()
        conn = pymysql_connect(url)
        with conn.cursor() as cur:
            for chunk in _clean_tuples(n_rows, COLUMNS):
                t = time.perf_counter()
                write_chunk(conn, cur, chunk)
                conn.commit()
                seconds += time.perf_counter() - t
                sent += len(chunk)
        conn.close()
    return {"rows": sent, "seconds": seconds}


COLUMNS = [c.name for c in SPEC.columns] + ["change_time"]
_PLACEHOLDERS = ", ".join(["%s"] * len(COLUMNS))


def measure_yardstick(n_rows: int) -> dict:
    sql = (f"INSERT INTO {SPEC.tables.target} ({', '.join(COLUMNS)}) VALUES ({_PLACEHOLDERS}) "
           f"ON DUPLICATE KEY UPDATE " + ", ".join(f"{c}=VALUES({c})" for c in COLUMNS[1:]))
    return _timed_plain_load(n_rows, lambda conn, cur, rows: cur.executemany(sql, rows))


def measure_naive(n_rows: int) -> dict:
    table = SPEC.tables.target
    update = f"UPDATE {table} SET " + ", ".join(f"{c}=%s" for c in COLUMNS[1:]) + " WHERE data_id=%s"
    insert = f"INSERT INTO {table} ({', '.join(COLUMNS)}) VALUES ({_PLACEHOLDERS})"
    exists = f"SELECT 1 FROM {table} WHERE data_id=%s"

    def row_by_row(conn, cur, rows):
        for i, row in enumerate(rows, 1):
            if cur.execute(exists, (row[0],)):
                cur.execute(update, row[1:] + row[:1])
            else:
                cur.execute(insert, row)
            if i % 1000 == 0:
                conn.commit()

    return _timed_plain_load(n_rows, row_by_row)


MEASUREMENTS = {"pipeline": measure_pipeline, "yardstick": measure_yardstick, "naive": measure_naive}


def run_child(kind: str, n_rows: int) -> dict:
    """Run one measurement in a fresh interpreter; its peak RSS is its own."""
    out = subprocess.run([sys.executable, "-m", "bench.bench_load", "--child", kind, str(n_rows)],
                         check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    p.add_argument("--naive-sample", type=int, default=50_000)
    p.add_argument("--child", nargs=2, metavar=("KIND", "ROWS"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        load_before = os.getloadavg()[0]
        result = MEASUREMENTS[args.child[0]](int(args.child[1]))
        result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        # Shared 2-core machines: the load average says how much to trust a figure.
        result["load_avg"] = [round(load_before, 1), round(os.getloadavg()[0], 1)]
        print(json.dumps(result))
        return
    for n in args.rows:
        report(n, min(n, args.naive_sample))


def report(n: int, naive_rows: int) -> None:
    pipe, yard, naive = run_child("pipeline", n), run_child("yardstick", n), run_child("naive", naive_rows)
    rate = {k: r["rows"] / r["seconds"] for k, r in (("pipeline", pipe), ("yardstick", yard), ("naive", naive))}
    extrapolated = naive["rows"] < n
    print(f"\n== initial load of {n:,} customers into MariaDB ==")
    print(f"pipeline  (land → clean → publish, end to end): {rate['pipeline']:>9,.0f} rows/s  "
          f"{pipe['seconds']:7.1f} s  peak RSS {pipe['peak_rss_mb']:6.0f} MB  {pipe['counts']}")
    print("   stages (s): " + ", ".join(f"{k} {v:.1f}" for k, v in pipe["stages"].items()))
    print(f"   landing/clean write path: {pipe.get('write_path', '?')}")
    print(f"yardstick (plain PyMySQL executemany ODKU, target only): {rate['yardstick']:>9,.0f} rows/s  "
          f"{yard['seconds']:7.1f} s  peak RSS {yard['peak_rss_mb']:6.0f} MB")
    naive_s = n / rate["naive"]
    print(f"naive     (seed: SELECT + UPDATE/INSERT per row): {rate['naive']:>9,.0f} rows/s  "
          f"{naive_s:7.1f} s" + (f"  (measured on {naive['rows']:,} rows, extrapolated)" if extrapolated else "")
          + f"  peak RSS {naive['peak_rss_mb']:6.0f} MB")
    print("load average before/after each: " + ", ".join(
        f"{k} {r.get('load_avg', '?')}" for k, r in (("pipeline", pipe), ("yardstick", yard), ("naive", naive))))
    print(f"ratio pipeline/naive: {rate['pipeline'] / rate['naive']:.1f}x   "
          f"pipeline/yardstick: {rate['pipeline'] / rate['yardstick']:.2f}x")
    # Publishing is the step the yardstick does; print both publish paths like for like.
    for label, seconds in (("publish_clean (in-database)", pipe["stages"]["publish"]),
                           ("iter_clean + upsert_target", pipe["frame_publish_seconds"])):
        rows = pipe["counts"]["clean"]
        print(f"publish step alone, {label}: {rows / seconds:>9,.0f} rows/s = "
              f"{rows / seconds / rate['yardstick']:.2f}x yardstick")


if __name__ == "__main__":
    main()
