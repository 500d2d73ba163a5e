"""The machine's limit for an initial load, measured on the same rows, and the 1% edits.

- fetch-only: the client pages every row out of the simulator and discards it;
- bare upsert: the target's rows, held in memory, written again with multi-row
  ``INSERT … ON DUPLICATE KEY UPDATE`` over two connections into an empty copy, from two threads
  of one process and from two processes (PyMySQL builds each statement's text in Python, so two
  threads share one GIL: the processes are the tighter, honest bound);
With fetching and writing overlapped the slower of the two (fetch, and the faster upsert) bounds
the load.
"""

from __future__ import annotations

import datetime as dt
import multiprocessing
import queue
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

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


@dataclass(frozen=True)
class BareUpsert:
    """The bare two-connection upsert of the same rows, timed two ways."""

    rows: int
    threads_s: float    # two threads of one process: PyMySQL's escaping shares one GIL
    processes_s: float  # two processes: each connection has a core's worth of Python

    @property
    def best_s(self) -> float:
        """The tighter bound on the machine's write limit: the faster way."""
        return min(self.threads_s, self.processes_s)

    @property
    def best(self) -> str:
        return "processes" if self.processes_s <= self.threads_s else "threads"


def bare_upsert(url: str, table: str = SPEC.tables.target) -> BareUpsert:
    """Upsert a target table's rows (each writer reads its half into memory first, untimed) into
    an empty copy over two connections, once from two threads and once from two processes."""
    copy = table + "_bare"
    conn = pymysql_connect(url)
    with conn.cursor() as cur:
        cur.execute(f"CREATE TABLE `{copy}` LIKE `{table}`")
        cur.execute(f"SELECT COUNT(*) FROM `{table}`")
        rows = cur.fetchone()[0]
    timings = {}
    for mode in ("threads", "processes"):
        with conn.cursor() as cur:
            cur.execute(f"TRUNCATE TABLE `{copy}`")
        timings[mode] = _two_writers(url, table, copy, mode)
    with conn.cursor() as cur:
        cur.execute(f"DROP TABLE `{copy}`")
    conn.close()
    return BareUpsert(rows, timings["threads"], timings["processes"])


def bare_upsert_s(url: str, table: str = SPEC.tables.target) -> tuple[float, int]:
    """Seconds of the faster of the two bare upserts (``bare_upsert``), and the rows written."""
    result = bare_upsert(url, table)
    return result.best_s, result.rows


def _two_writers(url: str, table: str, copy: str, mode: str) -> float:
    """Seconds from both writers holding their rows to the last commit (each writer reads the
    monotonic clock itself, so a process's exit is not counted)."""
    if mode == "threads":
        ready, done = threading.Barrier(3, timeout=900), queue.Queue()
        with ThreadPoolExecutor(2) as pool:
            futures = [pool.submit(_write_half, url, table, copy, i, ready, done) for i in range(2)]
            ready.wait()
            started = time.perf_counter()
            for f in futures:
                f.result()
        return max(done.get() for _ in futures) - started
    ctx = multiprocessing.get_context("spawn")
    # Synchronisation objects reach a process only as start arguments.
    ready, done = ctx.Barrier(3, timeout=900), ctx.Queue()
    workers = [ctx.Process(target=_write_half, args=(url, table, copy, i, ready, done)) for i in range(2)]
    for w in workers:
        w.start()
    ready.wait()
    started = time.perf_counter()
    finished = [done.get(timeout=900) for _ in workers]
    for w in workers:
        w.join()
    if any(w.exitcode for w in workers):
        raise RuntimeError(f"a bare-upsert writer process failed: exit codes {[w.exitcode for w in workers]}")
    return max(finished) - started


def _write_half(url: str, table: str, copy: str, half: int, ready, done) -> None:
    """Read the rows of ``table`` whose key is even (``half`` 0) or odd (1), wait for the start, upsert them,
    and report the monotonic time of the last commit to ``done``."""
    conn = pymysql_connect(url)
    with conn.cursor() as cur:
        cur.execute(f"SHOW KEYS FROM `{table}` WHERE Key_name = 'PRIMARY'")
        key = cur.fetchone()[4]
        # The server picks the half: each writer decodes only its own rows.
        cur.execute(f"SELECT * FROM `{table}` WHERE MOD(`{key}`, 2) = {half}")
        columns = [d[0] for d in cur.description]
        rows = cur.fetchall()
    sql = (f"INSERT INTO `{copy}` ({', '.join(f'`{c}`' for c in columns)}) VALUES ({', '.join(['%s'] * len(columns))})"
           " ON DUPLICATE KEY UPDATE " + ", ".join(f"`{c}`=VALUES(`{c}`)" for c in columns[1:]))
    ready.wait()
    with conn.cursor() as cur:
        for i in range(0, len(rows), BATCH):
            cur.executemany(sql, rows[i:i + BATCH])
            conn.commit()
    done.put(time.perf_counter())
    conn.close()


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
