"""Writes run behind the work that produces them, in one thread, in order, with a bounded queue.

Used by the clean step: chunk N is staged (the database's work, and PyMySQL waiting on the socket
without the GIL) while chunk N+1 is converted and validated. At most ``depth`` writes wait, so
memory stays bounded. A failed write is raised in the producer (at its next ``submit`` or when
the block ends), and no later write runs after it: the step fails where it happened. If the
producer fails, the write under way finishes, the queued ones are dropped, and the thread is
joined before the producer's error propagates.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

_DONE = None


class WriteBehind:
    """``submit(write)`` queues a no-argument callable; see the module docstring."""

    def __init__(self, depth: int, name: str) -> None:
        self._jobs: queue.Queue = queue.Queue(maxsize=max(depth, 1))
        self._error: BaseException | None = None
        self._abandon = threading.Event()
        self._thread = threading.Thread(target=self._work, name=name, daemon=True)
        self._thread.start()

    def _work(self) -> None:
        while (job := self._jobs.get()) is not _DONE:
            if self._error is None and not self._abandon.is_set():
                try:
                    job()
                except BaseException as exc:  # raised in the producer
                    self._error = exc

    def _raise_failed(self) -> None:
        if self._error is not None:
            raise self._error

    def submit(self, write: Callable[[], object]) -> None:
        self._raise_failed()
        self._jobs.put(write)  # blocks while `depth` writes wait: back-pressure, bounded memory

    def finish(self) -> None:
        """Wait for every queued write; raise the first write error."""
        self._jobs.put(_DONE)
        self._thread.join()
        self._raise_failed()

    def abandon(self) -> None:
        """Drop queued writes (the one running finishes) and join the thread."""
        self._abandon.set()
        self._jobs.put(_DONE)  # the thread drains without writing, so this never blocks for long
        self._thread.join()


@contextmanager
def write_behind(depth: int = 1, name: str = "write-behind") -> Iterator[Callable[[Callable[[], object]], None]]:
    """A ``submit`` function whose writes run in a background thread; all done (or raised) on exit."""
    writer = WriteBehind(depth, name)
    try:
        yield writer.submit
    except BaseException:
        writer.abandon()
        raise
    writer.finish()
