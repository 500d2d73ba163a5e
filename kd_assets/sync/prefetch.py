"""Pages read ahead in a thread, so the next read overlaps working on this one.

Used for Kingdee pages: the next HTTP round trip (the server's work and the network wait) runs
while this page is landed. The queue holds at most ``depth`` items, so memory stays bounded.
Errors from the reader surface in the consumer at the item where they happened, so retries and
their classification are unchanged.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TypeVar

T = TypeVar("T")
_DONE = object()


@contextmanager
def prefetched(pages: Iterable[T], depth: int = 2) -> Iterator[Iterator[T]]:
    """``pages`` consumed by a background thread up to ``depth`` ahead; joined on exit."""
    ahead: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                ahead.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for page in pages:
                if not put((page, None)):
                    return
        except BaseException as exc:  # handed to the consumer, raised there
            put((_DONE, exc))
            return
        put((_DONE, None))

    def consume() -> Iterator[T]:
        while True:
            page, error = ahead.get()
            if page is _DONE:
                if error is not None:
                    raise error
                return
            yield page

    worker = threading.Thread(target=produce, name="prefetch", daemon=True)
    worker.start()
    try:
        yield consume()
    finally:
        stop.set()
        worker.join()
        close = getattr(pages, "close", None)
        if close is not None and not worker.is_alive():
            close()
