"""What the benchmarks share: a simulator in its own process (the honest measure)."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
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


def memory_kib(pid: int) -> tuple[int, int]:
    """(VmHWM, VmRSS) of a process, KiB: its peak resident memory so far and now; (0, 0) once it is gone."""
    try:
        with open(f"/proc/{pid}/status") as status:
            found = {k: int(v.split()[0]) for k, v in (line.split(":", 1) for line in status)
                     if k in ("VmHWM", "VmRSS")}
    except OSError:
        return 0, 0
    return found.get("VmHWM", 0), found.get("VmRSS", 0)


def _command(pid: int) -> str:
    """A process's first three arguments, paths by their last part: ``python watch_orphans.py 123``."""
    try:
        with open(f"/proc/{pid}/cmdline") as f:
            args = f.read().split("\0")[:3]
    except OSError:
        return "?"
    return " ".join(os.path.basename(a) if a.startswith("/") else a for a in args).strip()[:80] or "?"


class PeakRss:
    """What ``child_peak_rss_mb`` saw. Called: the summed VmHWM, MiB (the upper bound the goal is
    read against). ``at_once_mb``: the most the processes held together in one poll (a spike
    between polls is missed). ``others()``: every other process's peak and the command it ran
    when first seen, so an outlier in the sum can be traced (a child forked from a large parent
    counts the parent's pages until it execs)."""

    def __init__(self, pid: int) -> None:
        self.pid, self.peaks, self.commands, self.at_once_kib = pid, {}, {}, 0

    def __call__(self) -> float:
        return sum(self.peaks.values()) / 1024

    @property
    def at_once_mb(self) -> float:
        return self.at_once_kib / 1024

    def others(self) -> str:
        rest = sorted(((kib, p) for p, kib in self.peaks.items() if p != self.pid), reverse=True)
        return "; ".join(f"{kib / 1024:.0f} MiB {self.commands.get(p, '?')}" for kib, p in rest) or "none"

    def summary(self) -> str:
        """The benchmarks' "memory:" line: held at once, then every other process's peak."""
        return f"at most {self.at_once_mb:,.0f} MiB at once in 0.1 s polls; besides the run: {self.others()}"

    def poll(self) -> bool:
        """One look at the tree; False once the child is gone."""
        held, alive = 0, False
        for p in process_tree(self.pid):
            hwm, rss = memory_kib(p)
            if p not in self.commands and hwm:
                self.commands[p] = _command(p)
            self.peaks[p] = max(self.peaks.get(p, 0), hwm)
            held += rss
            alive = alive or (p == self.pid and hwm > 0)
        self.at_once_kib = max(self.at_once_kib, held)
        return alive


@contextmanager
def child_peak_rss_mb(pid: int, interval_s: float = 0.1) -> Iterator[PeakRss]:
    """The peak resident memory (MiB) of a running child and every process it starts: the sum of
    each one's kernel high-water mark (VmHWM), polled until the child exits; yields a
    :class:`PeakRss` that reads it. Summing each process's own peak over-counts pages they share
    and peaks that never coincided: an upper bound, never an under-count.

    Not ``wait4``'s ``ru_maxrss``: that also counts the pages of the parent the child was forked
    from (Linux folds the pre-exec memory into it), so a child of a 600 MiB benchmark process
    "peaks" at 600 MiB whatever it does itself."""
    peak = PeakRss(pid)
    done = threading.Event()

    def poll() -> None:
        while not done.is_set() and peak.poll():
            done.wait(interval_s)

    watcher = threading.Thread(target=poll, daemon=True)
    watcher.start()
    try:
        yield peak
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
