"""Reconciliation racing a sync run: a real sync run (Dagster, simulator over HTTP) is run at the
exact point between two of reconciliation's steps, through a TargetStore whose step calls it.
Neither a soft-delete nor a forced heal may be undone by it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pandas as pd
import pytest
import requests

from kd_assets.sync.reconcile import reconcile
from kd_assets.sync.reconcile_heal import RECONCILE_PARTITION
from kd_assets.sync.store import TargetStore
from kd_assets_tests.defs.forms import SPEC
from kd_assets_tests.defs.sync_harness import client, initial_load, pick_customer, resources, sync, sync_by_hand

CLOCK = "2024-03-01 12:00:00"
TODAY = CLOCK[:10]


class InterleavingStore(TargetStore):
    """A TargetStore that runs a step once: right after soft_delete, right before reconciliation's
    first landing (that is, after its fetch by key), or right before staging clean rows."""

    def __init__(self, *args, after_soft_delete: Callable[[], None] | None = None,
                 before_heal_landing: Callable[[], None] | None = None,
                 before_write_clean: Callable[[], None] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self._after_soft_delete, self._before_heal_landing = after_soft_delete, before_heal_landing
        self._before_write_clean = before_write_clean

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
