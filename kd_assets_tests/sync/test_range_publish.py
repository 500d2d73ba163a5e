"""The initial load's publish on two connections (rangepublish.py): key slices copied a span at a
time, the rest guarded; the same rows and counts as the guarded path, transactions a concurrent
run's locks kill run again, and a worker's error fails the publish."""

from __future__ import annotations

import datetime as dt
import re
import threading
import time

import pandas as pd
import pymysql
import pytest
import sqlalchemy as sa

from kd_assets.sync import rangepublish
from kd_assets.sync.store import UpsertCounts
from kd_assets_tests.sync.rows import clean_frame, kd_row

ALL_HISTORY = (None, dt.datetime(2024, 5, 8))
BOOKKEEPING = ["synced_at", "run_id"]


@pytest.fixture
def small_spans(monkeypatch):
    monkeypatch.setattr(rangepublish, "SPAN_CHUNKS", 2)  # with chunk_size=3: copies of 6 rows


def row(key: int, **fields):
    return kd_row(key, customer_name=f"O'Neil \\ {key}", **fields)


def stage(store, keys):
    store.write_clean(clean_frame(*[row(k) for k in keys]), "run-clean", "2024-05-07")


def guarded_result(store) -> pd.DataFrame:
    """The window published through the frame path (guarded, one connection) into an emptied target."""
    with store.engine.begin() as conn:
        conn.exec_driver_sql(f"DELETE FROM {store.tables.target.name}")
    for chunk in store.iter_clean(*ALL_HISTORY, chunk_size=7):
        store.upsert_target(chunk, "run-frames")
    return store.read_target().drop(columns=BOOKKEEPING)


def test_slices_cover_the_keys_and_sparse_keys_are_copied_a_span_at_a_time(mysql_store, small_spans):
    keys = [*range(1, 31), 1_000_000]  # 31 keys spread over a million: 256 slices, the first holds 30
    stage(mysql_store, keys)
    slices = rangepublish.key_slices(mysql_store, 6)
    assert len(slices) == rangepublish.MAX_SLICES and slices[0][0] == 1 and slices[-1][1] == 1_000_000
    assert all(a[1] + 1 == b[0] for a, b in zip(slices, slices[1:]))
    progress = []
    counts = mysql_store.publish_clean(*ALL_HISTORY, "run-1", chunk_size=3, on_chunk=progress.append)
    assert counts == UpsertCounts(inserted=31) and counts.fresh == 31 and sum(progress) == 31
    published = mysql_store.read_target()
    assert sorted(published["data_id"]) == keys and set(published["run_id"]) == {"run-1"}
    pd.testing.assert_frame_equal(published.drop(columns=BOOKKEEPING), guarded_result(mysql_store))


def test_slices_partly_published_are_guarded_on_two_workers(mysql_store, small_spans):
    stage(mysql_store, range(1, 61))
    mysql_store.upsert_target(clean_frame(*[row(k) for k in range(20, 26) if k != 22],
                                          row(22, phone="newer", modified_at="2024-05-07T12:00:00")), "run-0")
    counts = mysql_store.publish_clean(*ALL_HISTORY, "run-1", chunk_size=3)
    assert counts == UpsertCounts(inserted=54, unchanged=5, skipped_older=1) and 0 < counts.fresh < 54
    target = mysql_store.read_target().set_index("data_id")
    assert sorted(target.index) == list(range(1, 61)) and target.loc[22, "phone"] == "newer"
    assert set(target.drop(index=range(20, 26))["run_id"]) == {"run-1"}
    assert mysql_store.publish_clean(*ALL_HISTORY, "run-2", chunk_size=3) == \
        UpsertCounts(unchanged=59, skipped_older=1)  # idempotent


@pytest.mark.parametrize("step", ["copy_into_empty_range", "publish_range"])
def test_a_transaction_a_concurrent_run_deadlocks_is_run_again_and_counted_once(mysql_store, small_spans,
                                                                                monkeypatch, caplog, step):
    """The first attempt writes its rows, then the server picks it as a deadlock's victim: rolled
    back whole, run again, counted once."""
    stage(mysql_store, range(1, 41))
    if step == "publish_range":  # every slice holds a row already: all of them go the guarded way
        mysql_store.upsert_target(clean_frame(*[row(k) for k in range(1, 41, 5)]), "run-0")
    real, failed = getattr(rangepublish, step), []

    def deadlocked_once(conn, *args, **kwargs):
        result = real(conn, *args, **kwargs)
        if not failed and result is not None and result.inserted:
            failed.append(result.inserted)
            raise sa.exc.OperationalError("INSERT …", {}, pymysql.err.OperationalError(1213, "Deadlock found"))
        return result

    monkeypatch.setattr(rangepublish, step, deadlocked_once)
    counts = mysql_store.publish_clean(*ALL_HISTORY, "run-1", chunk_size=3)
    assert failed and "attempt 1 of 5" in caplog.text
    assert counts.inserted == (40 if step == "copy_into_empty_range" else 32) and counts.total == 40
    assert sorted(mysql_store.read_target()["data_id"]) == list(range(1, 41))


def test_a_worker_error_fails_the_publish(mysql_store, small_spans, monkeypatch):
    stage(mysql_store, range(1, 41))
    real = rangepublish.copy_into_empty_range

    def broken(conn, store, lo, *args, **kwargs):
        if lo > 20:
            raise RuntimeError("the server went away")
        return real(conn, store, lo, *args, **kwargs)

    monkeypatch.setattr(rangepublish, "copy_into_empty_range", broken)
    with pytest.raises(RuntimeError, match="went away"):
        mysql_store.publish_clean(*ALL_HISTORY, "run-1", chunk_size=3)
    written = set(mysql_store.read_target()["data_id"])  # only slices starting at most at key 20
    assert written <= {k for lo, hi in rangepublish.key_slices(mysql_store, 6) if lo <= 20 for k in range(lo, hi + 1)}


def lock_waits(probe: sa.Connection, db: str) -> int:
    """Transactions waiting for a row lock in ``db``, as InnoDB's monitor shows them, built afresh on
    every call. Not INNODB_TRX: the server refills its cache only once 0.1 s pass without a read of
    it, so a tight poll keeps reading the first, stale snapshot, and it omits transactions that have
    not written yet."""
    status = probe.exec_driver_sql("SHOW ENGINE INNODB STATUS").one()[2]
    return len(re.findall(rf"TO BE GRANTED:\n[^\n]* of table `{re.escape(db)}`\.", status))


def wait_for_lock_waits(probe: sa.Connection, db: str, count: int, worker: threading.Thread,
                        timeout_s: float = 60) -> None:
    """Returns once ``count`` transactions wait for a row lock in ``db``; fails the test if the
    ``worker`` running them ends first, or after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while (seen := lock_waits(probe, db)) < count:
        assert worker.is_alive(), f"the publish ended while {seen} of {count} lock waits were seen"
        assert time.monotonic() < deadline, f"{seen} of {count} lock waits seen after {timeout_s:.0f} s"


def test_a_real_deadlock_with_a_concurrent_run_is_retried_and_its_newer_rows_kept(mysql_store, caplog):
    """Another run holds a key of the slice uncommitted; the copy waits on it; that run then writes
    a key the copy already wrote: InnoDB rolls back the smaller transaction, ours, which runs again
    and finds the other run's committed rows: the slice is guarded, and their newer versions stay."""
    stage(mysql_store, range(1, 31))
    target, db = mysql_store.tables.target.name, mysql_store.engine.url.database
    other = sa.create_engine(mysql_store.engine.url)
    names = [c.name for c in mysql_store.spec.columns]
    picked = ", ".join("data_id + {shift}" if n == "data_id" else n for n in names)
    copy = (f"INSERT INTO {target} ({', '.join(names)}, row_hash, synced_at, run_id, is_deleted, change_time)"
            f" SELECT {picked}, row_hash, UTC_TIMESTAMP(), 'run-other', 0, change_time"
            f" FROM {mysql_store.tables.clean.name} WHERE {{where}}")
    newer = f"UPDATE {target} SET change_time = '2024-05-07 12:00:00', phone = 'other' WHERE data_id IN (5, 30)"
    with other.begin() as conn:  # the other run's transaction, committed at the end of the block
        for shift in range(1000, 18000, 1000):  # 510 rows outside the slice: the heavier transaction
            conn.exec_driver_sql(copy.format(shift=shift, where="1=1"))
        conn.exec_driver_sql(copy.format(shift=0, where="data_id = 30"))
        done: list = []
        worker = threading.Thread(target=lambda: done.append(mysql_store.publish_clean(*ALL_HISTORY, "run-1")))
        worker.start()
        with other.connect() as probe:
            wait_for_lock_waits(probe, db, 1, worker)  # the copy waits on key 30
        conn.exec_driver_sql(copy.format(shift=0, where="data_id = 5"))  # the copy holds 5: a deadlock
        conn.exec_driver_sql(newer)
    worker.join(60)
    other.dispose()
    assert "(1213), attempt 1 of 5" in caplog.text
    assert done == [UpsertCounts(inserted=28, skipped_older=2)]
    published = mysql_store.read_target().set_index("data_id")
    assert len(published) == 30 + 510 and set(published.loc[[5, 30], "phone"]) == {"other"}
    assert set(published.loc[[k for k in range(1, 31) if k not in (5, 30)], "run_id"]) == {"run-1"}


DAY = (dt.datetime(2024, 5, 7), dt.datetime(2024, 5, 8))
EARLIER = {"modified_at": "2024-05-06T10:00:00", "approved_at": None}
SPARSE, DENSE = 100, 1  # the day's 23 keys over a span of 3,901 (keyed path) or of 39 (range path)


@pytest.fixture
def small_batches(monkeypatch):
    monkeypatch.setattr(rangepublish, "KEYED_PARALLEL_BATCH", 2)  # many batches on three connections


def stage_a_day(store, spread: int = SPARSE):
    """Even keys published a day earlier; the day edits some, adds the odd keys between them (new
    keys sharing gaps with their neighbours' batches), and one edit is older than the target's.
    Every key times ``spread``."""
    store.write_clean(clean_frame(*[row(k * spread, **EARLIER) for k in range(2, 41, 2)]), "run-clean", "2024-05-06")
    store.publish_clean(*ALL_HISTORY, "run-0")
    store.upsert_target(clean_frame(row(12 * spread, phone="newer", modified_at="2024-05-07T12:00:00",
                                        approved_at=None)), "run-newer")
    store.write_clean(clean_frame(*[row(k * spread, phone=f"day {k}", modified_at="2024-05-07T10:00:00",
                                        approved_at=None) for k in [*range(1, 40, 2), 4, 8, 12]]),
                      "run-clean", "2024-05-07")


@pytest.mark.parametrize("spread, progress", [(SPARSE, [2] * 11 + [1]), (DENSE, [23])], ids=["sparse", "dense"])
def test_a_day_is_published_by_key_batches_when_sparse_and_by_range_when_dense(mysql_store, small_batches,
                                                                              spread, progress):
    """Either path: new keys in, edits over older rows, never over a newer one; a re-run changes nothing."""
    stage_a_day(mysql_store, spread)
    done: list[int] = []
    counts = mysql_store.publish_clean(*DAY, "run-1", on_chunk=done.append)
    assert counts == UpsertCounts(inserted=20, updated=2, skipped_older=1)
    assert done == progress  # key batches in key order, or the one key slice of the span
    target = mysql_store.read_target().set_index("data_id")
    assert target.loc[12 * spread, "phone"] == "newer" and \
        [target.loc[k * spread, "phone"] for k in (1, 4, 39)] == ["day 1", "day 4", "day 39"]
    assert set(target.loc[[k * spread for k in range(14, 41, 2)], "run_id"]) == {"run-0"}  # not in the day
    assert mysql_store.clean_target_diff(*DAY)[0] == 1  # the older edit, kept out
    assert mysql_store.publish_clean(*DAY, "run-2") == UpsertCounts(unchanged=22, skipped_older=1)  # idempotent


def test_a_key_batch_a_deadlock_kills_is_run_again_and_counted_once(mysql_store, small_batches, monkeypatch,
                                                                    caplog):
    stage_a_day(mysql_store)
    real, failed = rangepublish.publish_key_batch, []

    def deadlocked_once(conn, store, keys, *args, **kwargs):
        result = real(conn, store, keys, *args, **kwargs)
        if keys[0] == 7 * SPARSE and not failed:  # the batch (7, 8): written, then rolled back by the server
            failed.append(result)
            raise sa.exc.OperationalError("INSERT …", {}, pymysql.err.OperationalError(1213, "Deadlock found"))
        return result

    monkeypatch.setattr(rangepublish, "publish_key_batch", deadlocked_once)
    assert mysql_store.publish_clean(*DAY, "run-1") == UpsertCounts(inserted=20, updated=2, skipped_older=1)
    assert failed == [UpsertCounts(inserted=1, updated=1)] and "(1213), attempt 1 of 5" in caplog.text
    assert mysql_store.read_target().set_index("data_id").loc[8 * SPARSE, "phone"] == "day 8"


@pytest.mark.parametrize("spread", [SPARSE, DENSE], ids=["sparse", "dense"])
def test_an_error_publishing_part_of_a_day_fails_the_publish(mysql_store, small_batches, monkeypatch, spread):
    stage_a_day(mysql_store, spread)
    real = rangepublish.publish_range

    def broken(conn, store, lo, *args, **kwargs):
        if lo <= 8 * spread <= args[0]:  # the batch or chunk holding key 8
            raise RuntimeError("the server went away")
        return real(conn, store, lo, *args, **kwargs)

    monkeypatch.setattr(rangepublish, "publish_range", broken)
    with pytest.raises(RuntimeError, match="went away"):
        mysql_store.publish_clean(*DAY, "run-1")
    assert mysql_store.read_target().set_index("data_id").loc[8 * spread, "phone"] != "day 8"


def test_new_keys_sharing_a_gap_are_published_by_three_workers_without_a_deadlock(mysql_store, small_batches,
                                                                                  caplog):
    """A day of new keys into an empty target: all of them fall into its one gap, across batches.
    Another connection holds each batch's last clean row, so all three workers are in flight at
    once, past their first keys, when it lets go; no transaction is rolled back and run again."""
    keys = [k * SPARSE for k in range(1, 7)]  # three batches of two, one per worker
    mysql_store.write_clean(clean_frame(*[row(k, modified_at="2024-05-07T10:00:00", approved_at=None)
                                          for k in keys]), "run-clean", "2024-05-07")
    db, clean = mysql_store.engine.url.database, mysql_store.tables.clean.name
    holder = sa.create_engine(mysql_store.engine.url)
    done: list = []
    with holder.connect() as conn, holder.connect() as probe:
        held = conn.begin()
        for last in keys[1::2]:  # by primary key: that row alone, no gap
            conn.exec_driver_sql(f"SELECT data_id FROM {clean} WHERE data_id = {last} FOR UPDATE")
        worker = threading.Thread(target=lambda: done.append(mysql_store.publish_clean(*DAY, "run-1")))
        worker.start()
        wait_for_lock_waits(probe, db, rangepublish.KEYED_WORKERS, worker)
        held.rollback()
    worker.join(60)
    holder.dispose()
    assert "rolled back by the server" not in caplog.text
    assert done == [UpsertCounts(inserted=6)]
    published = mysql_store.read_target()
    assert sorted(published["data_id"]) == keys and set(published["run_id"]) == {"run-1"}


def test_a_new_key_a_concurrent_run_writes_meanwhile_sends_its_batch_down_the_guarded_path(mysql_store,
                                                                                          small_batches,
                                                                                          monkeypatch):
    """The batch (7, 8) read key 7 as new; another run then commits a newer version of it before the
    copy: the copy fails on the duplicate, the batch is published guarded, and the newer row stays."""
    stage_a_day(mysql_store)
    real, raced = rangepublish.copy_new_keys, []

    def another_run_first(conn, store, keys, *args, **kwargs):
        if keys[0] == 7 * SPARSE and not raced:
            raced.append(mysql_store.upsert_target(clean_frame(row(7 * SPARSE, phone="other run",
                                                                   modified_at="2024-05-07T12:00:00",
                                                                   approved_at=None)), "run-other"))
        return real(conn, store, keys, *args, **kwargs)

    monkeypatch.setattr(rangepublish, "copy_new_keys", another_run_first)
    counts = mysql_store.publish_clean(*DAY, "run-1")
    assert raced == [UpsertCounts(inserted=1)]
    assert counts == UpsertCounts(inserted=19, updated=2, skipped_older=2)
    target = mysql_store.read_target().set_index("data_id")
    assert target.loc[7 * SPARSE, "phone"] == "other run" and target.loc[8 * SPARSE, "phone"] == "day 8"
