"""Landing behind (land_behind on a depth-0 write_behind): pages written in order, each counted
once written, errors never lost."""

from __future__ import annotations

import datetime as dt
from contextlib import contextmanager

import pytest
import sqlalchemy as sa

from kd_assets.sync import landing
from kd_assets.sync.landing import land_behind
from kd_assets.sync.writebehind import write_behind
from kd_assets_tests.sync.rows import kd_row

DAY = (dt.datetime(2024, 5, 7), dt.datetime(2024, 5, 8))


@contextmanager
def landing_behind(store, run_id: str, on_written):
    """A ``land(rows)`` as the raw asset's: pages written behind, one at a time."""
    with write_behind(depth=0, name="test-land") as submit:
        yield lambda rows: land_behind(store, rows, run_id, None, submit, on_written)


def page_runs(store) -> list[str]:
    with store.engine.connect() as conn:
        p = store.tables.landing_pages
        return list(conn.execute(sa.select(p.c.run_id).order_by(p.c.page_id)).scalars())


def test_pages_are_written_in_order_each_counted_once_written(store):
    written = []
    pages = [[kd_row(1), kd_row(2)], [kd_row(None), kd_row(3)],
             [kd_row(2, phone="newer", modified_at="2024-05-07T11:00:00")]]
    for n, page in enumerate(pages):
        with landing_behind(store, f"run-{n}", lambda rows, counts: written.append((rows, counts))) as land:
            land(page)
    assert [(rows, c.landed, c.quarantined) for rows, c in written] == [(2, 2, 0), (2, 1, 1), (1, 1, 0)]
    assert page_runs(store) == ["run-0", "run-1", "run-2"]
    landed = {r[0]: r for chunk in store.iter_landed(*DAY) for r in chunk}
    assert sorted(landed) == [1, 2, 3] and landed[2] == pages[2][0]
    assert store.quarantine_count() == 1


def test_one_block_writes_every_page_in_the_order_given(store):
    written = []
    with landing_behind(store, "run-1", lambda rows, counts: written.append(rows)) as land:
        for k in range(1, 6):
            land([kd_row(k), kd_row(k + 100)])
    assert written == [2] * 5
    t = store.tables.landing
    with store.engine.connect() as conn:
        positions = conn.execute(sa.select(t.c[store.key], t.c.page_id).order_by(t.c[store.key])).all()
    pages = [page for _, page in positions[:5]]
    assert pages == sorted(pages) and len(set(pages)) == 5


def test_a_failed_write_is_raised_and_nothing_after_it_is_counted(store, monkeypatch):
    real, calls = landing.write_page, []

    def failing_second(store_, page):
        calls.append(page.run_id)
        if len(calls) == 2:
            raise RuntimeError("the database went away")
        real(store_, page)

    monkeypatch.setattr(landing, "write_page", failing_second)
    written = []
    with pytest.raises(RuntimeError, match="went away"):
        with landing_behind(store, "run-1", lambda rows, counts: written.append(rows)) as land:
            for k in range(1, 5):
                land([kd_row(k)])
    assert written == [1] and len(calls) == 2  # the third page waited for the second and was not written


def test_the_blocks_own_error_wins_after_the_page_being_written_is_done(store):
    written = []
    with pytest.raises(KeyError, match="fetch broke"):
        with landing_behind(store, "run-1", lambda rows, counts: written.append(rows)) as land:
            land([kd_row(1)])
            raise KeyError("fetch broke")
    assert page_runs(store) == ["run-1"] and written == []  # written, but its outcome is not reported
