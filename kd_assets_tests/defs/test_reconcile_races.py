"""Reconciliation racing a sync run: a real sync run (Dagster, simulator over HTTP) is run at the
exact point between two of reconciliation's steps, through a TargetStore whose step calls it.
Neither a soft-delete nor a forced heal may be undone by it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pandas as pd
import pytest
import requests

from kd_assets.kingdee import Window
from kd_assets.sync.reconcile import reconcile
from kd_assets.sync.reconcile_heal import RECONCILE_PARTITION
from kd_assets.sync.schemas import validate
from kd_assets.sync.store import TargetStore
from kd_assets.sync.transform import to_frame
from kd_assets_tests.defs.forms import SPEC
from kd_assets_tests.defs.sync_harness import client, initial_load, pick_customer, resources, sync, sync_by_hand

CLOCK = "2024-03-01 12:00:00"
TODAY = CLOCK[:10]


class InterleavingStore(TargetStore):
    """A TargetStore that runs a step once: right after soft_delete, right before reconciliation's
    first landing (that is, after its fetch by key), right before staging clean rows, or right
    before publishing them."""

    def __init__(self, *args, after_soft_delete: Callable[[], None] | None = None,
                 before_heal_landing: Callable[[], None] | None = None,
                 before_write_clean: Callable[[], None] | None = None,
                 before_publish: Callable[[], None] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self._after_soft_delete, self._before_heal_landing = after_soft_delete, before_heal_landing
        self._before_write_clean, self._before_publish = before_write_clean, before_publish

    def publish_clean(self, *args, **kwargs):
        if self._before_publish:
            self._before_publish, step = None, self._before_publish
            step()
        return super().publish_clean(*args, **kwargs)

    def write_clean(self, frame, run_id, partition_key):
        if self._before_write_clean:
            self._before_write_clean, step = None, self._before_write_clean
            step()
        return super().write_clean(frame, run_id, partition_key)

    def soft_delete(self, keys, run_id):
        marked = super().soft_delete(keys, run_id)
        if self._after_soft_delete:
            self._after_soft_delete, step = None, self._after_soft_delete
            step()
        return marked

    def land_rows(self, rows, run_id, partition_key):
        if partition_key == RECONCILE_PARTITION and self._before_heal_landing:
            self._before_heal_landing, step = None, self._before_heal_landing
            step()
        return super().land_rows(rows, run_id, partition_key)


@pytest.fixture
def sim(simulator_factory):
    return simulator_factory(customers=300, seed=31, clock_start=CLOCK, dirty_share=0.0)


@pytest.fixture
def loaded(sim, target_url):
    """The target loaded with every customer; returns a store factory on it."""
    with initial_load(sim, target_url, CLOCK) as engine:
        yield lambda **steps: InterleavingStore(engine, SPEC, **steps)


def _advance(sim, seconds: int) -> None:
    requests.post(sim.admin_url + "clock", json={"advance_seconds": seconds}, timeout=10).raise_for_status()


def _create_customer(sim, name: str) -> int:
    with client(sim) as c:
        result = c.save(SPEC.form_id, {"FName": name, "FCreateOrgId": {"FNumber": "100"},
                                       "FUseOrgId": {"FNumber": "100"}})
    assert result["ResponseStatus"]["IsSuccess"], result
    return int(result["Id"])


def _sync_today(sim, target_url) -> None:
    assert sync(resources(sim, target_url), TODAY).success


def test_a_sync_run_right_after_the_soft_delete_does_not_revive_the_row(sim, target_url, loaded):
    key = pick_customer(sim, "FDocumentStatus <> 'C'")
    with client(sim) as c:
        c.save(SPEC.form_id, {"FCUSTID": key, "FName": "今天修改后删除的客户有限公司"})
    _sync_today(sim, target_url)  # its version is now landed, clean and published
    with client(sim) as c:
        c.delete(SPEC.form_id, [key])

    store = loaded(after_soft_delete=lambda: _sync_today(sim, target_url))
    with client(sim) as c:
        report = reconcile(c, store, SPEC, "reconcile", now=pd.Timestamp(CLOCK))

    assert report.soft_deleted == 1
    assert bool(store.read_target([key])["is_deleted"].iloc[0])


def test_a_sync_run_that_fetched_the_row_before_its_deletion_does_not_revive_it(sim, target_url, loaded):
    key = pick_customer(sim, "FDocumentStatus = 'A'")
    with client(sim) as c:
        c.save(SPEC.form_id, {"FCUSTID": key, "FName": "同步途中被删除的客户有限公司"})
    _sync_today(sim, target_url)  # published; the next run fetches the same version

    def deleted_at_the_source_and_reconciled() -> None:
        with client(sim) as c:
            c.delete(SPEC.form_id, [key])
            assert reconcile(c, loaded(), SPEC, "reconcile", now=pd.Timestamp(CLOCK)).soft_deleted == 1

    # The run has landed and read the row; reconciliation deletes it before the run stages it.
    run = loaded(before_write_clean=deleted_at_the_source_and_reconciled)
    with client(sim) as c:
        sync_by_hand(c, run, dt.datetime(2024, 3, 1), dt.datetime(2024, 3, 2), TODAY, CLOCK)

    assert bool(run.read_target([key])["is_deleted"].iloc[0])


def test_a_forced_heal_does_not_revert_an_edit_a_sync_run_published_meanwhile(sim, target_url, loaded):
    key = pick_customer(sim, "FForbidStatus = 'A'")
    with client(sim) as c:
        c.execute_operation(SPEC.form_id, "Forbid", [key])
    _sync_today(sim, target_url)
    with client(sim) as c:  # Enable clears FForbidDate: the source's change time drops, a drift
        c.execute_operation(SPEC.form_id, "Enable", [key])

    def user_edits_and_a_sync_run_publishes() -> None:
        _advance(sim, 60)
        with client(sim) as c:
            c.save(SPEC.form_id, {"FCUSTID": key, "FName": "对账期间的新修改有限公司"})
        _sync_today(sim, target_url)

    store = loaded(before_heal_landing=user_edits_and_a_sync_run_publishes)
    with client(sim) as c:
        reconcile(c, store, SPEC, "reconcile", now=pd.Timestamp(CLOCK))

    row = store.read_target([key]).iloc[0]
    assert row["customer_name"] == "对账期间的新修改有限公司"
    assert row["change_time"] == pd.Timestamp(row["modified_at"])


def _deleted_at_the_source_and_reconciled(sim, loaded, key: int, reports: list) -> Callable[[], None]:
    def step() -> None:
        with client(sim) as c:
            c.delete(SPEC.form_id, [key])
            reports.append(reconcile(c, loaded(), SPEC, "reconcile", now=pd.Timestamp(CLOCK)))
    return step


def _tombstoned_one_new_row(reports: list) -> tuple:
    """(rows tombstoned, target rows soft-deleted, deletes withheld): a tombstone is not a deletion."""
    (report,) = reports
    return report.staged_vanished, report.soft_deleted, report.deletes_withheld


def _live(store: TargetStore, key: int) -> bool:
    row = store.read_target([key])
    return not row.empty and not bool(row["is_deleted"].iloc[0])


def test_a_new_row_deleted_between_clean_and_publish_is_not_published_live(sim, target_url, loaded):
    key = _create_customer(sim, "清洗后发布前删除的新客户有限公司")
    # The run lands and cleans the new row; it is deleted at the source and reconciled before the run publishes.
    reports: list = []
    run = loaded(before_publish=_deleted_at_the_source_and_reconciled(sim, loaded, key, reports))
    with client(sim) as c:
        sync_by_hand(c, run, dt.datetime(2024, 3, 1), dt.datetime(2024, 3, 2), TODAY, CLOCK)
    assert not _live(run, key)
    assert _tombstoned_one_new_row(reports) == (1, 0, None)

    # Control: the simulator gives the next new customer the same key, at a newer change time.
    _advance(sim, 60)
    assert _create_customer(sim, "重新创建的新客户有限公司") == key
    _sync_today(sim, target_url)
    assert _live(run, key)
    assert run.read_target([key])["customer_name"].iloc[0] == "重新创建的新客户有限公司"


def test_a_run_holding_a_new_row_read_before_reconciliation_does_not_publish_it_live(sim, target_url, loaded):
    key = _create_customer(sim, "同步途中被删除的新客户有限公司")
    store = loaded()
    start, end = dt.datetime(2024, 3, 1), dt.datetime(2024, 3, 2)
    with client(sim) as c:
        for page in c.iter_window(SPEC.form_id, SPEC.field_keys, Window(start, end), key_field=SPEC.key_field,
                                  change_fields=SPEC.change_time_fields):
            store.land_rows(page, "run", TODAY)
    held = [validate(SPEC, to_frame(SPEC, rows), pd.Timestamp(CLOCK)).clean
            for rows in store.iter_landed(start, end, partition_key=TODAY)]
    for frame in held:
        store.write_clean(frame, "run", TODAY)
    reports: list = []
    _deleted_at_the_source_and_reconciled(sim, loaded, key, reports)()
    for frame in held:  # the run publishes the rows it read before reconciliation
        store.upsert_target(frame, "run")
    assert not _live(store, key)
    assert _tombstoned_one_new_row(reports) == (1, 0, None)
