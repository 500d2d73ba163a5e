"""Writes run behind the work that produces them, in one thread, in order, with a bound.

Used by the raw step (page N is landed while page N+1 is prepared; ``depth=0``) and the clean
step (chunk N is staged while chunk N+1 is converted and validated; ``depth=1``): the database's
work, and PyMySQL waiting on the socket without the GIL, overlap the producer's Python work.
Besides the write under way at most ``depth`` writes wait, so memory stays bounded.

A write's ``on_done`` runs in the producer's thread (at its next ``submit`` or when the block
ends) once the write has returned, so counts are reported only for what was committed. A failed
write is raised in the producer the same way, and no later write runs after it: the step fails
where it happened. If the producer fails, the writes handed over finish (none after a failed
one), their ``on_done`` is not run, and the thread is joined before the producer's error
propagates.
"""

from __future__ import annotations

import queue
import threading
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager

_DONE = None
Submit = Callable[..., None]  # submit(write, on_done=None)


class WriteBehind:
    """``submit(write, on_done)`` hands over a no-argument callable; see the module docstring."""

    def __init__(self, depth: int, name: str) -> None:
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        self._room = threading.Semaphore(depth + 1)  # writes handed over and not yet returned
        self._done: deque[Callable[[], object]] = deque()  # on_done of returned writes, to run
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._work, name=name, daemon=True)
        self._thread.start()

    def _work(self) -> None:
        while (job := self._jobs.get()) is not _DONE:
            write, on_done = job
            if self._error is None:
                try:
                    write()
                    if on_done is not None:
                        self._done.append(on_done)
                except BaseException as exc:  # raised in the producer
                    self._error = exc
            self._room.release()

    def _report(self) -> None:
        while self._done:
            self._done.popleft()()
        if self._error is not None:
            raise self._error

    def submit(self, write: Callable[[], object], on_done: Callable[[], object] | None = None) -> None:
        self._room.acquire()  # blocks while `depth` writes wait: back-pressure, bounded memory
        self._report()
        self._jobs.put((write, on_done))

    def _join(self) -> None:
        self._jobs.put(_DONE)
        self._thread.join()

    def finish(self) -> None:
        """Wait for every write, run their ``on_done``; raise the first write error."""
        self._join()
        self._report()

    def abandon(self) -> None:
        """Wait for the writes handed over (none runs after a failed one); run no ``on_done``."""
        self._join()


@contextmanager
def write_behind(depth: int = 1, name: str = "write-behind") -> Iterator[Submit]:
    """A ``submit`` function whose writes run in a background thread; all done (or raised) on exit."""
    writer = WriteBehind(depth, name)
    try:
        yield writer.submit
    except BaseException:
        writer.abandon()
        raise
    writer.finish()
