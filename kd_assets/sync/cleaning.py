"""The clean step's work on one key range of a window: read landed rows, convert, validate, stage.

Used as it is by the clean asset (the whole window, one process) and by each worker of a split
window (parclean.py). A chunk's staging (clean rows in, rejects to quarantine) runs in a
write-behind thread while the next chunk is converted and validated; what each chunk did is
reported as a :class:`Tally` to ``on_chunk``, and tallies add up to the step's counts, reject
reasons and samples.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial

import pandas as pd
import sqlalchemy as sa

from kd_assets.sync.heap import bound_heap
from kd_assets.sync.schemas import validate
from kd_assets.sync.store import PreparedClean
from kd_assets.sync.transform import to_frame
from kd_assets.sync.writebehind import write_behind

SAMPLES = 5  # rejected rows shown in the check's metadata


@dataclass
class Tally:
    """What cleaning some chunks did: rows read, clean and rejected, reasons, the first rejects."""

    rows_in: int = 0
    clean: int = 0
    rejected: int = 0
    reasons: Counter = field(default_factory=Counter)
    samples: list[dict] = field(default_factory=list)

    def add(self, other: "Tally") -> None:
        """Add ``other``, which came after everything added so far (samples keep that order)."""
        self.rows_in += other.rows_in
        self.clean += other.clean
        self.rejected += other.rejected
        self.reasons.update(other.reasons)
        self.samples += other.samples[:SAMPLES - len(self.samples)]


@dataclass(frozen=True)
class CleanJob:
    """One key range of a window to clean (picklable: a worker process gets it whole)."""

    window: tuple[dt.datetime | None, dt.datetime]
    partition_key: str | None
    run_id: str
    now: pd.Timestamp
    chunk_size: int
    keys: tuple[int | None, int | None] = (None, None)  # [low, high), None: unbounded
    shared: bool = False  # other processes clean other key ranges of the window at the same time


def _stage(store, clean: PreparedClean, rejects: pd.DataFrame, job: CleanJob) -> None:
    store.write_prepared_clean(clean)
    if rejects.empty:
        return
    if not job.shared:
        store.quarantine(rejects, job.run_id, job.partition_key)
        return
    # Quarantine keys are text, so two key ranges interleave in its index; its replace deletes
    # absent keys (InnoDB gap locks) then inserts into those gaps, which deadlocks between two
    # writers. One writer at a time: rejects are few.
    with named_lock(store.engine, f"kd_quarantine_{store.tables.quarantine.name}"[:64]):
        store.quarantine(rejects, job.run_id, job.partition_key)


@contextmanager
def named_lock(engine: sa.Engine, name: str, timeout_s: int = 600) -> Iterator[None]:
    """A MySQL/MariaDB server-wide named lock (GET_LOCK), held on a connection of its own."""
    with engine.connect() as conn:
        if conn.execute(sa.text("SELECT GET_LOCK(:n, :t)"), {"n": name, "t": timeout_s}).scalar() != 1:
            raise TimeoutError(f"lock {name!r} not granted within {timeout_s} s")
        try:
            yield
        finally:
            conn.execute(sa.text("SELECT RELEASE_LOCK(:n)"), {"n": name})


def clean_chunk(store, rows: list[list], job: CleanJob, submit: Callable) -> Tally:
    """Validate one landed chunk, prepare its staging here and ``submit`` the writes to the
    write-behind thread (which then only waits for the database, without the GIL)."""
    spec = store.spec
    result = validate(spec, to_frame(spec, rows), job.now)
    staged = store.prepare_clean(result.clean, job.run_id, job.partition_key)
    submit(partial(_stage, store, staged, result.rejects, job))
    tally = Tally(rows_in=len(rows), clean=len(result.clean), rejected=len(result.rejects))
    for reject in result.rejects.itertuples(index=False):
        tally.reasons.update(f"{r['field']}:{r['check']}" for r in reject.reasons)
        if len(tally.samples) < SAMPLES:
            tally.samples.append({"key": reject.key, "reasons": reject.reasons})
    return tally


def clean_range(store, job: CleanJob, on_chunk: Callable[[Tally], None]) -> None:
    """Clean the job's key range of its window, chunk by chunk; every staging write is done (or
    raised) when this returns. From here on the process returns large freed blocks (heap.py)."""
    bound_heap()
    # No read-ahead here: measured, it bought nothing at load 5 and cost ~55 MiB of peak RSS.
    # Write-behind: staging chunk N overlaps validating chunk N+1 (writebehind.py).
    with write_behind(depth=1, name="kd-clean-writer") as submit:
        for rows in store.iter_landed(*job.window, chunk_size=job.chunk_size, partition_key=job.partition_key,
                                      keys=job.keys):
            on_chunk(clean_chunk(store, rows, job, submit))
