"""The machine's limit for an initial load, measured on the same rows, and the 1% edits.

- fetch-only: the client pages every row out of the simulator and discards it;
- bare upsert: the target's rows, held in memory, written again with multi-row
  ``INSERT … ON DUPLICATE KEY UPDATE`` over two connections (two threads) into an empty copy.
With fetching and writing overlapped the slower of the two bounds the load.
"""

from __future__ import annotations

import datetime as dt
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from bench.bench_load import pymysql_connect
from bench.harness import DEMO_CREDENTIALS
from kd_assets.kingdee import ClientConfig, K3CloudClient, Window
from kd_assets.sync.spec import load_spec

SPEC = load_spec("bd_customer")
BATCH = 1000


def fetch_only_s(base_url: str) -> float:
    """Seconds for the client to page every customer (the spec's fields) and drop them."""
    started = time.perf_counter()
    with K3CloudClient(ClientConfig(base_url, **DEMO_CREDENTIALS)) as client:
        for _page in client.iter_window(SPEC.form_id, SPEC.field_keys, Window(None, dt.datetime(2100, 1, 1)),
                                        key_field=SPEC.key_field, change_fields=SPEC.change_time_fields):
            pass
    return time.perf_counter() - started


def bare_upsert_s(url: str, table: str = SPEC.tables.target) -> tuple[float, int]:
    """Seconds to upsert a target table's rows (read into memory first) over two connections."""
    copy = table + "_bare"
    conn = pymysql_connect(url)
    with conn.cursor() as cur:
        cur.execute(f"CREATE TABLE `{copy}` LIKE `{table}`")
        cur.execute(f"SELECT * FROM `{table}`")
        columns = [d[0] for d in cur.description]
        rows = list(cur.fetchall())
    conn.close()
    sql = (f"INSERT INTO `{copy}` ({', '.join(f'`{c}`' for c in columns)}) VALUES ({', '.join(['%s'] * len(columns))})"
           " ON DUPLICATE KEY UPDATE " + ", ".join(f"`{c}`=VALUES(`{c}`)" for c in columns[1:]))
    halves = [rows[i::2] for i in range(2)]
    ready = threading.Barrier(3)

    def write(part: list) -> None:
        c = pymysql_connect(url)
        ready.wait()
        with c.cursor() as cur:
            for i in range(0, len(part), BATCH):
                cur.executemany(sql, part[i:i + BATCH])
                c.commit()
        c.close()

    with ThreadPoolExecutor(2) as pool:
        futures = [pool.submit(write, half) for half in halves]
        ready.wait()
        started = time.perf_counter()
        for f in futures:
            f.result()
        seconds = time.perf_counter() - started
    return seconds, len(rows)


def edit_customers(base_url: str, share: float, threads: int = 4) -> tuple[int, float]:
    """Edit ``share`` of the customers through Kingdee's Save (stamps FModifyDate): (count, seconds)."""
    with K3CloudClient(ClientConfig(base_url, **DEMO_CREDENTIALS)) as client:
        keys = [row[0] for page in client.iter_keys(SPEC.form_id, key_field=SPEC.key_field) for row in page]
    picked = random.Random(7).sample(keys, int(len(keys) * share))

    def save(part: list[int]) -> None:
        with K3CloudClient(ClientConfig(base_url, **DEMO_CREDENTIALS)) as client:
            for key in part:
                client.save(SPEC.form_id, {"FCUSTID": key, "FTEL": f"0755-{key % 10_000_000:08d}"})

    started = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(save, [picked[i::threads] for i in range(threads)]))
    return len(picked), time.perf_counter() - started
