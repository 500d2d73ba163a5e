"""Publishing a large or dense window (an initial load) by key range, on two connections at once.

``TargetStore.publish_clean``'s path for a window too large to publish by its keys, or whose keys
fill enough of their span that reading the span in key order beats looking each up. On
MySQL/MariaDB the window's key span [min, max] (the clean table's when a large window's is not
known) is cut into contiguous slices of about ``SPAN_CHUNKS`` chunks each (by key value: no pass
over the rows to page them), and two workers publish slices concurrently (threads: the work is the
server's, PyMySQL waits on its socket without the GIL), so both cores work. A slice the target
holds no row of is copied by plain ``INSERT … SELECT`` (``copy_into_empty_range``), at most one
span of rows per transaction, in key order, so a slice holding more keys than expected is still
copied in bounded transactions. Any other slice goes chunk by chunk (the window's keys in it,
paged) through ``publish_range``: guarded, or copied where a chunk's own range is empty. SQLite
keeps one connection and pages the window's keys.

Locking (InnoDB, REPEATABLE READ), why two workers cannot deadlock each other and what remains:
- a plain copy into an empty range takes insert-intention locks in the target and record locks
  on its own new rows, never a gap lock: two copies of disjoint ranges never wait for each other;
- the guarded path reads the target with shared next-key locks, and a key it does not find locks
  the gap before the next row, which can reach into a neighbouring slice: two guarded chunks whose
  new keys share a gap would each wait for the other's gap lock to insert (a deadlock). So guarded
  chunks run one at a time (``_Workers.guarded``). A guarded chunk waits at most for a copy's new
  rows, and a copy at most for the guarded chunk's gap locks, never both ways: no cycle;
- a concurrent run (the change sensor's) can still deadlock with either, or time out waiting.
  InnoDB then rolls the victim's transaction back whole; ours is run again from the start (each
  transaction is idempotent, and its counts are those of the attempt that committed), up to
  ``RETRIES``. A concurrent write into a slice between the probe and the copy fails the copy on
  the duplicate key: that transaction is rolled back and the rest of the slice is guarded.

A sparse window (a day's changes spread over the table) is published by its keys instead
(``publish_keys``), in batches of disjoint key ranges on ``KEYED_WORKERS`` connections. A guarded
statement there would lock the gap of every key it does not find, and new keys of different
batches share a gap wherever the target holds no row between them (all of them, into an empty
target): each would wait for the other's gap lock to insert, a deadlock on every such pair. So a
batch's transaction first reads which of its keys the target holds (a plain read: no locks), then
- publishes those through the guarded statement: each is found, so it takes record locks on
  that row alone (shared to read, exclusive to update), never a gap lock;
- copies the rest by plain ``INSERT … SELECT`` from the clean table (``copy_new_keys``): it never
  reads the target, so it takes insert-intention locks only, which wait for nothing but gap
  locks, and its new rows are locked by it alone.
The same holds in the target's secondary indexes: an update marks its row's old entry (a record
lock) and inserts the new one (insert intention); nothing here reads them with locks. No batch
takes a gap lock in the target or locks a row of another batch (their keys are disjoint; the
clean table is only read, with shared locks): no batch waits for another, so
they cannot deadlock each other, whatever gaps their keys share. A key a concurrent run wrote
after the read fails the copy on the duplicate: the transaction is rolled back and the batch is
published through the guarded statement alone, as before; deadlocks with a concurrent run are
run again as above.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import threading
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Callable

import sqlalchemy as sa

from kd_assets.sync.bulk import is_mysql
from kd_assets.sync.reconcile_support import utc_now
from kd_assets.sync.sqltext import batches
from kd_assets.sync.upsert import (UpsertCounts, copy_into_empty_range, copy_new_keys, is_duplicate_key,
                                   publish_range, stored_keys)

SPAN_CHUNKS = 8    # rows per copy transaction, in chunks: an empty slice is copied this many at a time
MAX_SLICES = 256   # sparse keys: no more slices than this, each then copied a span at a time
WORKERS = 2        # this machine's cores; the server does the work
RETRIES = 5        # attempts of one transaction that a concurrent run's locks kill
KEYED_WORKERS = 3  # connections publishing a sparse window's keys: the disk's parallel reads, not the cores
KEYED_PARALLEL_BATCH = 500  # keys per transaction there
_RETRYABLE = {1213, 1205}  # ER_LOCK_DEADLOCK, ER_LOCK_WAIT_TIMEOUT

log = logging.getLogger(__name__)


def publish_by_range(store, window_start: dt.datetime | None, window_end: dt.datetime, run_id: str,
                     chunk_size: int, on_chunk: Callable[[int], None] | None = None,
                     span: tuple[int, int] | None = None) -> UpsertCounts:
    """Publish the window's clean rows; ``on_chunk(rows)`` after each slice (chunk on SQLite), in key order.
    ``span``: the window's first and last key when known (a dense window), else the clean table's."""
    workers = _Workers(store, window_start, window_end, run_id, chunk_size)
    if not is_mysql(store.engine):  # SQLite: one writer at a time anyway
        for lo, hi, rows in workers.chunks(*(span or (None, None))):
            workers.add(workers.publish_chunk(lo, hi), on_chunk, rows)
        return workers.total
    with ThreadPoolExecutor(WORKERS, thread_name_prefix="kd-publish") as pool:
        in_key_order(pool, workers.publish_slice, key_slices(store, chunk_size * SPAN_CHUNKS, span),
                     lambda counts: workers.add(counts, on_chunk))
    return workers.total


def publish_keys(store, keys: list[int], window_start: dt.datetime | None, window_end: dt.datetime, run_id: str,
                 on_chunk: Callable[[int], None] | None = None) -> UpsertCounts:
    """Publish a sparse window by its keys (sorted; a day's changes spread over the table), each
    ``KEYED_PARALLEL_BATCH`` keys in a transaction of its own, ``KEYED_WORKERS`` at a time (MySQL).

    Each key reads its clean row, its target row and the target's change-time index entry at
    random: from disk, when the tables outgrow the buffer pool (O_DIRECT: no OS cache), and a
    disk answers several reads at once much faster than one after another. The batches' pages
    in flight together still fit MariaDB's default 128 MB pool (upsert.KEYED_BATCH). Batches hold
    disjoint key ranges, and each batch's transaction locks no target gap (``publish_key_batch``),
    so they cannot deadlock each other (module docstring). ``on_chunk(rows)`` after each batch,
    in key order.
    """
    def publish(batch: list[int]) -> tuple[UpsertCounts, int]:
        try:
            return _retrying(store.engine, lambda conn: publish_key_batch(
                conn, store, batch, window_start, window_end, run_id, utc_now())), len(batch)
        except sa.exc.IntegrityError as exc:  # a concurrent run wrote one of the new keys after the read
            if not is_duplicate_key(exc):
                raise
        return _retrying(store.engine, lambda conn: publish_range(
            conn, store, batch[0], batch[-1], window_start, window_end, run_id, utc_now(), keys=batch)), len(batch)

    total = UpsertCounts()

    def add(done: tuple[UpsertCounts, int]) -> None:
        nonlocal total
        total += done[0]
        if on_chunk is not None:
            on_chunk(done[1])

    with ThreadPoolExecutor(KEYED_WORKERS, thread_name_prefix="kd-publish-keys") as pool:
        in_key_order(pool, publish, [(b,) for b in batches(keys, KEYED_PARALLEL_BATCH)], add)
    return total


def publish_key_batch(conn: sa.Connection, store, keys: list[int], window_start: dt.datetime | None,
                      window_end: dt.datetime, run_id: str, synced_at: dt.datetime) -> UpsertCounts:
    """``publish_range`` of ``keys`` (sorted), taking no gap lock in the target: the keys it holds
    through the guarded statement (found: record locks), the others by plain copy (new rows)."""
    held = stored_keys(conn, store, keys)
    old, new = [k for k in keys if k in held], [k for k in keys if k not in held]
    counts = UpsertCounts()
    if old:
        counts += publish_range(conn, store, old[0], old[-1], window_start, window_end, run_id, synced_at, keys=old)
    if new:
        counts += copy_new_keys(conn, store, new, window_start, window_end, run_id, synced_at)
    return counts


def in_key_order(pool: ThreadPoolExecutor, work: Callable, items, on_result: Callable) -> None:
    """``work(*item)`` for every item on ``pool``; ``on_result`` of each in the items' order. A
    worker's error surfaces here, and what has not started by then does not start."""
    pending: deque[Future] = deque(pool.submit(work, *item) for item in items)
    try:
        while pending:
            on_result(pending[0].result())
            pending.popleft()
    finally:
        for future in pending:
            future.cancel()


def key_slices(store, rows_per_slice: int, span: tuple[int, int] | None = None) -> list[tuple[int, int]]:
    """Contiguous ranges covering ``span`` (default: the clean table's keys), about
    ``rows_per_slice`` keys each if the keys are dense, at most ``MAX_SLICES`` of them."""
    key = store.tables.clean.c[store.key]
    if span is None:
        with store.engine.connect() as conn:
            span = conn.execute(sa.select(sa.func.min(key), sa.func.max(key))).one()
    if span[0] is None:
        return []
    lo, hi = int(span[0]), int(span[1])
    width = math.ceil((hi - lo + 1) / min(MAX_SLICES, math.ceil((hi - lo + 1) / rows_per_slice)))
    return [(a, min(a + width - 1, hi)) for a in range(lo, hi + 1, width)]


class _Workers:
    """What the slices of one publish share: the window, one guarded chunk at a time, the total."""

    def __init__(self, store, window_start, window_end, run_id: str, chunk_size: int):
        self.store, self.window, self.run_id, self.chunk_size = store, (window_start, window_end), run_id, chunk_size
        self.guarded = threading.Lock()
        self.total = UpsertCounts()

    def add(self, counts: UpsertCounts, on_chunk, rows: int | None = None) -> None:
        self.total += counts
        if on_chunk is not None:
            on_chunk(counts.total if rows is None else rows)

    def publish_slice(self, lo: int, hi: int) -> UpsertCounts:
        """Copy the slice a span at a time while the target holds nothing of what is left of it;
        the rest chunk by chunk through ``publish_range``."""
        total, span = UpsertCounts(), self.chunk_size * SPAN_CHUNKS
        while True:
            try:
                step = _retrying(self.store.engine, lambda conn: self._copy_span(conn, lo, hi, span))
            except sa.exc.IntegrityError as exc:  # a concurrent run wrote into the slice after the probe
                if not is_duplicate_key(exc):
                    raise
                step = None
            if step is None:
                break
            copied, lo = step
            total += copied
            if lo is None:
                return total
        for chunk_lo, chunk_hi, _ in self.chunks(lo, hi):
            with self.guarded:
                total += self.publish_chunk(chunk_lo, chunk_hi)
        return total

    def _copy_span(self, conn: sa.Connection, lo: int, hi: int, span: int) -> tuple[UpsertCounts, int | None] | None:
        """Up to ``span`` rows of [lo, hi] copied; and where the rest of the slice starts, or None."""
        copied = copy_into_empty_range(conn, self.store, lo, hi, *self.window, self.run_id, utc_now(), limit=span)
        if copied is None or copied.inserted < span:
            return None if copied is None else (copied, None)
        key = self.store.tables.target.c[self.store.key]
        last = int(conn.execute(sa.select(sa.func.max(key)).where(key >= lo, key <= hi)).scalar_one())
        return copied, (last + 1 if last < hi else None)

    def chunks(self, lo: int | None, hi: int | None):
        """(first key, last key, rows) of each chunk of the window's keys, within [lo, hi] when given."""
        c, (start, end) = self.store.tables.clean, self.window
        key = c.c[self.store.key]
        where = self.store.in_window(c, start, end)
        if lo is not None:
            where = sa.and_(where, key >= lo, key <= hi)
        for chunk in self.store._keyset(c, [key], where, self.chunk_size):
            yield chunk[0][0], chunk[-1][0], len(chunk)

    def publish_chunk(self, lo: int, hi: int) -> UpsertCounts:
        start, end = self.window
        return _retrying(self.store.engine,
                         lambda conn: publish_range(conn, self.store, lo, hi, start, end, self.run_id, utc_now()))


def _retrying(engine: sa.Engine, work: Callable[[sa.Connection], object]):
    """``work`` in a transaction of its own, run again when a concurrent transaction's locks kill it."""
    for attempt in range(1, RETRIES + 1):
        try:
            with engine.begin() as conn:
                return work(conn)
        except sa.exc.OperationalError as exc:
            code = getattr(exc.orig, "args", (None,))[0]
            if code not in _RETRYABLE or attempt == RETRIES:
                raise
            log.warning("publish: transaction rolled back by the server (%s), attempt %d of %d", code, attempt,
                        RETRIES)
    raise AssertionError("unreachable")
