"""Pages fetched ahead in a thread: same pages in order, errors where they happened, bounded, joined."""

from __future__ import annotations

import threading

import pytest

from kd_assets.sync.prefetch import prefetched


def test_pages_arrive_in_order_and_complete():
    with prefetched(iter([[1], [2, 3], [4]])) as pages:
        assert list(pages) == [[1], [2, 3], [4]]


def test_a_fetch_error_is_raised_in_the_consumer_after_the_pages_before_it():
    def pages():
        yield [1]
        raise ConnectionError("page 2 failed")

    seen = []
    with pytest.raises(ConnectionError, match="page 2 failed"), prefetched(pages()) as ahead:
        for page in ahead:
            seen.append(page)
    assert seen == [[1]]


def test_the_fetch_runs_at_most_depth_pages_ahead_and_stops_when_the_consumer_does():
    produced, blocked = [], threading.Event()

    def pages():
        for i in range(100):
            produced.append(i)
            if i == 3:
                blocked.set()  # [0] taken, [1] and [2] queued: this put must wait for room
            yield [i]

    with prefetched(pages(), depth=2) as ahead:
        assert next(ahead) == [0]
        assert blocked.wait(timeout=30)
    assert produced == [0, 1, 2, 3]
    assert not any(t.name == "prefetch" and t.is_alive() for t in threading.enumerate())
