"""Landing write-behind: a page is written in a writer thread while the caller prepares the next.

``landing.land_rows`` is Python work (keys, change times, index rows, the page body) followed by
waiting for the database (the page, then the index rows by LOAD DATA). Here the caller prepares
page N+1 while page N is written, so the raw step's time is the larger of the two, not their sum.

Pages are written one at a time in the order given (page ids keep ascending in landing order),
each in its own transaction exactly as ``land_rows`` writes it. At most one page is waiting to be
written, so memory stays bounded. A page's counts are reported (``on_written``, in the caller's thread) once
it is written; a failed write is raised by the next ``land`` or on leaving the block, which
always waits for the page being written.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager

from kd_assets.sync.landing import LandCounts, prepare_page, write_page
from kd_assets.sync.reconcile_support import utc_now


OnWritten = Callable[[int, LandCounts], None]  # (rows given, their counts) once the page is written


class LandBehind:
    """Lands pages of one run and partition; see the module docstring."""

    def __init__(self, store, run_id: str, partition_key: str | None, writer: ThreadPoolExecutor,
                 on_written: OnWritten) -> None:
        self.store, self.run_id, self.partition_key = store, run_id, partition_key
        self._writer, self._on_written = writer, on_written
        self._pending: tuple[Future, int, LandCounts] | None = None

    def land(self, rows: Sequence[Sequence]) -> None:
        """Prepare ``rows`` now, write them once the previous page is written."""
        page = prepare_page(self.store, rows, self.run_id, self.partition_key, utc_now())
        self.wait()
        self._pending = (self._writer.submit(write_page, self.store, page), len(rows), page.counts)

    def wait(self) -> None:
        """Until every page given is written, each reported to ``on_written``; raises a write's error."""
        pending, self._pending = self._pending, None
        if pending is not None:
            written, rows, counts = pending
            written.result()
            self._on_written(rows, counts)

    def abandon(self) -> None:
        """Until the page being written has been written or failed, its outcome unreported."""
        pending, self._pending = self._pending, None
        if pending is not None:
            pending[0].exception()


@contextmanager
def landing_behind(store, run_id: str, partition_key: str | None, on_written: OnWritten) -> Iterator[LandBehind]:
    """A :class:`LandBehind` whose pages are all written when the block ends without error; on an
    error the page being written is waited for (the block's error is the one raised)."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="kd-land") as writer:
        lander = LandBehind(store, run_id, partition_key, writer, on_written)
        try:
            yield lander
        except BaseException:
            lander.abandon()
            raise
        lander.wait()
