"""Pages fetched ahead in a thread, so the next HTTP round trip overlaps landing this page.

On two cores the Kingdee server (or its network wait) and our landing can run at once; the
queue holds at most ``depth`` pages, so memory stays bounded. Errors from the fetch surface in
the consumer at the page where they happened, so retries and their classification are unchanged.
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

    worker = threading.Thread(target=produce, name="kingdee-prefetch", daemon=True)
    worker.start()
    try:
        yield consume()
    finally:
        stop.set()
        worker.join()
        close = getattr(pages, "close", None)
        if close is not None and not worker.is_alive():
            close()
