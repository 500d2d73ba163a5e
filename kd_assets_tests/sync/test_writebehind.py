"""Write-behind: writes run in order in one thread, bounded, and errors surface in the producer."""

from __future__ import annotations

import threading

import pytest

from kd_assets.sync.writebehind import write_behind


def _no_writer_left(name: str) -> bool:
    return not any(t.name == name and t.is_alive() for t in threading.enumerate())


def test_every_write_runs_in_order_before_the_block_ends():
    done = []
    with write_behind(name="wb-order") as submit:
        for i in range(20):
            submit(lambda i=i: done.append(i))
    assert done == list(range(20))
    assert _no_writer_left("wb-order")


def test_a_failed_write_is_raised_in_the_producer_and_no_later_write_runs():
    done, failed = [], threading.Event()

    def bad():
        failed.set()
        raise RuntimeError("clean table refused chunk 2")

    with pytest.raises(RuntimeError, match="refused chunk 2"):
        with write_behind(name="wb-fail") as submit:
            submit(lambda: done.append(1))
            submit(bad)
            assert failed.wait(timeout=30)
            for i in range(3, 10):  # raised at one of these submits, or when the block ends
                submit(lambda i=i: done.append(i))
    assert done == [1]
    assert _no_writer_left("wb-fail")


def test_a_producer_error_finishes_the_writes_handed_over_and_joins_the_writer():
    done, running, release = [], threading.Event(), threading.Event()

    def slow():
        running.set()
        assert release.wait(timeout=30)
        done.append("slow")

    with pytest.raises(ValueError, match="chunk 3 does not convert"):
        with write_behind(depth=1, name="wb-producer") as submit:
            submit(slow)
            assert running.wait(timeout=30)
            submit(lambda: done.append("queued"))  # waits in the queue behind `slow`
            release.set()
            raise ValueError("chunk 3 does not convert")
    assert done == ["slow", "queued"]  # not cut off mid-statement, nor a handed-over write lost
    assert _no_writer_left("wb-producer")


def test_at_most_depth_writes_wait_so_memory_stays_bounded():
    events, running, release = [], threading.Event(), threading.Event()

    def first():
        running.set()
        assert release.wait(timeout=30)
        events.append("first written")

    with write_behind(depth=1, name="wb-bound") as submit:
        submit(first)
        assert running.wait(timeout=30)
        submit(lambda: events.append("second written"))  # the one write that may wait

        def third():
            submit(lambda: events.append("third written"))
            events.append("third submitted")  # only once the writer took the second write

        producer = threading.Thread(target=third)
        producer.start()
        release.set()
        producer.join(timeout=30)
    assert events.index("first written") < events.index("third submitted")
    assert events.index("first written") < events.index("second written") < events.index("third written")


def test_depth_zero_hands_over_a_write_once_the_previous_returned_and_reports_it_in_the_producer():
    events, running, release, producer = [], threading.Event(), threading.Event(), threading.current_thread()

    def first():
        running.set()
        assert release.wait(timeout=30)
        events.append("first written")

    def releaser():
        assert running.wait(timeout=30)
        events.append("released")
        release.set()

    helper = threading.Thread(target=releaser)
    helper.start()
    with write_behind(depth=0, name="wb-zero") as submit:
        submit(first, lambda: events.append(("first reported", threading.current_thread() is producer)))
        submit(lambda: events.append("second written"))  # returns only once `first` returned
        events.append("second submitted")
    helper.join(timeout=30)
    assert events[:3] == ["released", "first written", ("first reported", True)]
    assert sorted(events[3:]) == ["second submitted", "second written"]
