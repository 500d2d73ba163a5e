"""What the benchmarks share: a simulator in its own process (the honest measure)."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import sqlalchemy as sa

DEMO_CREDENTIALS = dict(acct_id="kd-demo", username="demo", app_id="300001_S0RBU1NFVFMtREVNTy1BUFAtU0VDUkVU",
                        app_secret="kdassets-demo-app-secret")
MYSQL_SERVER = "mysql+pymysql://root@127.0.0.1:3306"


@contextmanager
def simulator_process(customers: int, *options: str) -> Iterator[tuple[str, float]]:
    """A simulator on a free port in a child process; yields (base URL, startup seconds)."""
    started = time.monotonic()
    process = subprocess.Popen([sys.executable, "-m", "kd_assets.simulator", "--port", "0",
                                "--customers", str(customers), *options],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        banner = process.stdout.readline()  # printed once the data is loaded and the port bound
        if not banner:
            raise RuntimeError("simulator exited before printing its URL")
        yield banner.rsplit(" ", 1)[-1].strip(), time.monotonic() - started
    finally:
        process.terminate()
        process.wait(timeout=30)


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _children() -> dict[int, list[int]]:
    """Parent pid → its children's pids, for every live process."""
    out: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            out.setdefault(ppid, []).append(int(entry))
    return out


def process_tree(pid: int) -> set[int]:
    """``pid`` and every live process below it."""
    children, out, todo = _children(), set(), [pid]
    while todo:
        p = todo.pop()
        out.add(p)
        todo += children.get(p, [])
    return out


def vm_hwm_kib(pid: int) -> int:
    """A process's peak resident memory so far (VmHWM), KiB; 0 once it is gone."""
    try:
        with open(f"/proc/{pid}/status") as status:
            return next((int(line.split()[1]) for line in status if line.startswith("VmHWM:")), 0)
    except OSError:
        return 0


@contextmanager
def child_peak_rss_mb(pid: int, interval_s: float = 0.1) -> Iterator[Callable[[], float]]:
    """The peak resident memory (MiB) of a running child and every process it starts: the sum of
    each one's kernel high-water mark (VmHWM), polled until the child exits; yields a function
    that reads it. Summing each process's own peak over-counts pages they share and peaks that
    never coincided: an upper bound, never an under-count.

    Not ``wait4``'s ``ru_maxrss``: that also counts the pages of the parent the child was forked
    from (Linux folds the pre-exec memory into it), so a child of a 600 MiB benchmark process
    "peaks" at 600 MiB whatever it does itself."""
    peaks: dict[int, int] = {}
    done = threading.Event()

    def poll() -> None:
        while not done.is_set():
            tree = process_tree(pid)
            for p in tree:
                peaks[p] = max(peaks.get(p, 0), vm_hwm_kib(p))
            if pid not in tree or not vm_hwm_kib(pid):  # gone
                return
            done.wait(interval_s)

    watcher = threading.Thread(target=poll, daemon=True)
    watcher.start()
    try:
        yield lambda: sum(peaks.values()) / 1024
    finally:
        done.set()
        watcher.join()


@contextmanager
def scratch_database(server_url: str = MYSQL_SERVER) -> Iterator[str]:
    """A new, empty MariaDB database for one benchmark; yields its URL and drops it afterwards."""
    server = sa.create_engine(f"{server_url}/", isolation_level="AUTOCOMMIT")
    db = f"kdbench_{uuid.uuid4().hex[:8]}"
    with server.connect() as conn:
        conn.execute(sa.text(f"CREATE DATABASE {db} CHARACTER SET utf8mb4"))
    try:
        yield f"{server_url}/{db}?charset=utf8mb4"
    finally:
        with server.connect() as conn:
            conn.execute(sa.text(f"DROP DATABASE IF EXISTS {db}"))
        server.dispose()
