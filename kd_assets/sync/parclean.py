"""A large window's clean step on more than one core: the window split by key range.

The clean step is our Python (conversion, validation, SQL text), so threads share one core
(the GIL): the first key range is cleaned in the step's own process, each further range by a
worker process (``python -m kd_assets.sync.parclean``) with its own database connection. A
worker gets its job (and the target URL, with its password) over a pipe, never on its command
line, and reports a :class:`~kd_assets.sync.cleaning.Tally` per chunk back over another; the
step logs progress and adds the counts as they come, so the counts, reasons, samples and check
results are those of one process cleaning the window in key order.

Errors: a worker's error comes back with the worker's key range, its type, message and
traceback, and fails the step at the next chunk boundary; then every other worker is killed
(their open transaction rolls back) and nothing is published (publishing is the next step, which
does not run after a failed one). A worker that dies without a word fails the step too.

Memory: each worker is another Python with pandas (~190 MiB peak at 5,000-row chunks), so the
split is opt-in (``KD_CLEAN_WORKERS``, default 1: one process) and only for windows of at least
``PARALLEL_MIN_ROWS`` rows on MySQL/MariaDB; a one-day run always takes the one-process path.
"""

from __future__ import annotations

import dataclasses
import os
import pickle
import queue
import subprocess
import sys
import threading
import traceback
from collections.abc import Callable

import sqlalchemy as sa

from kd_assets.sync.bulk import is_mysql
from kd_assets.sync.cleaning import CleanJob, Tally, clean_range

PARALLEL_MIN_ROWS = 100_000  # a smaller window is not worth a process start (~1-2 s of imports)
_QUEUE_DEPTH = 16  # a worker's reports waiting to be read; then its pipe fills and it waits


class CleanWorkerError(RuntimeError):
    """A clean worker failed or died; the message says which key range and why."""


def clean_workers(environ=None) -> int:
    """How many processes clean a large window (``KD_CLEAN_WORKERS``, default 1)."""
    value = (os.environ if environ is None else environ).get("KD_CLEAN_WORKERS", "").strip()
    return max(int(value), 1) if value else 1


def key_bounds(store, job: CleanJob, rows: int, parts: int) -> list[int]:
    """Keys that split the window's landed rows into ``parts`` ranges of about equal size."""
    t = store.tables.landing
    key, where = t.c[store.key], store.landed_where(*job.window, job.partition_key)
    bounds = []
    with store.engine.connect() as conn:
        for i in range(1, parts):
            found = conn.execute(sa.select(key).where(where).order_by(key).limit(1).offset(rows * i // parts)).scalar()
            if found is not None and (not bounds or found > bounds[-1]):
                bounds.append(int(found))
    return bounds


def landed_rows(store, job: CleanJob) -> int:
    where = store.landed_where(*job.window, job.partition_key)
    with store.engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(store.tables.landing).where(where)).scalar_one())


def clean_window(store, job: CleanJob, on_chunk: Callable[[Tally], None], rows: int | None = None,
                 workers: int | None = None) -> Tally:
    """Clean the job's window, split over ``workers`` processes when it is large (see the module
    docstring); ``rows``: the window's landed rows when known. Returns the window's tally."""
    workers = clean_workers() if workers is None else workers
    bounds: list[int] = []
    if workers > 1 and is_mysql(store.engine) and store.spec.bill is None:
        rows = landed_rows(store, job) if rows is None else rows
        if rows >= PARALLEL_MIN_ROWS:
            bounds = key_bounds(store, job, rows, workers)
    edges = [None, *bounds, None]
    jobs = [dataclasses.replace(job, keys=(lo, hi), shared=bool(bounds)) for lo, hi in zip(edges, edges[1:])]
    tallies = [Tally() for _ in jobs]
    started: list[WorkerProcess] = []
    try:
        for j in jobs[1:]:
            started.append(WorkerProcess(store, j))

        def own(tally: Tally) -> None:
            tallies[0].add(tally)
            on_chunk(tally)
            for i, worker in enumerate(started, 1):
                worker.collect(tallies[i], on_chunk, wait=False)

        clean_range(store, jobs[0], own)
        for i, worker in enumerate(started, 1):
            worker.collect(tallies[i], on_chunk, wait=True)
    finally:
        for worker in started:
            worker.stop()
    total = Tally()
    for tally in tallies:  # in key order: the samples and reason order of one process
        total.add(tally)
    return total


class WorkerProcess:
    """One key range cleaned in a child process; its reports read by a thread into a queue."""

    def __init__(self, store, job: CleanJob) -> None:
        self.label = f"clean worker for keys {job.keys[0]}..{'' if job.keys[1] is None else job.keys[1] - 1}"
        self.done = False
        self.reports: queue.Queue = queue.Queue(maxsize=_QUEUE_DEPTH)
        self.process = subprocess.Popen([sys.executable, "-m", "kd_assets.sync.parclean"],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        url = store.engine.url.render_as_string(hide_password=False)
        pickle.dump((url, store.spec, store.load_file, job), self.process.stdin)
        self.process.stdin.close()
        self.reader = threading.Thread(target=self._read, name="kd-clean-reports", daemon=True)
        self.reader.start()

    def _read(self) -> None:
        try:
            while True:
                report = pickle.load(self.process.stdout)
                self.reports.put(report)
                if report[0] != "chunk":
                    return
        except Exception:  # EOF or a torn report: the worker died
            self.reports.put(("died", None))

    def collect(self, into: Tally, on_chunk: Callable[[Tally], None], wait: bool) -> None:
        """Add the reports so far (``wait``: all of them, until the worker is done); raise its error."""
        while not self.done:
            try:
                kind, body = self.reports.get(block=wait)
            except queue.Empty:
                return
            if kind == "chunk":
                into.add(body)
                on_chunk(body)
            elif kind == "done":
                self.done = True
            elif kind == "error":
                raise CleanWorkerError(f"{self.label} failed: {body}")
            else:
                code = self.process.wait()
                raise CleanWorkerError(f"{self.label} exited with code {code} before finishing")

    def stop(self) -> None:
        """Wait for a finished worker; kill one still running (its transaction rolls back)."""
        if not self.done and self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        while self.reader.is_alive():  # let a reader blocked on a full queue finish
            try:
                self.reports.get(timeout=0.1)
            except queue.Empty:
                pass
        self.process.stdout.close()


def _send(out, report) -> None:
    pickle.dump(report, out)
    out.flush()


def worker_main() -> int:
    """A worker: its job from stdin, a report per chunk on stdout, then ``done`` or ``error``."""
    from kd_assets.sync.store import TargetStore, create_target_engine

    out, sys.stdout = sys.stdout.buffer, sys.stderr  # stdout carries reports only
    url, spec, load_file, job = pickle.load(sys.stdin.buffer)
    engine = create_target_engine(url, pool_size=2, max_overflow=2, load_file=load_file)
    try:
        clean_range(TargetStore(engine, spec, load_file=load_file), job, lambda t: _send(out, ("chunk", t)))
    except Exception as exc:
        _send(out, ("error", f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=-8)}"))
        return 1
    finally:
        engine.dispose()
    _send(out, ("done", None))
    return 0


if __name__ == "__main__":
    sys.exit(worker_main())
