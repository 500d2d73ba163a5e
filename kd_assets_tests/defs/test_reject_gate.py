"""One reject gate for a sync run and for reconciliation's heals: a few bad rows never block a batch,
an unusual share of them (above a floor) blocks it whole, on either path."""

from __future__ import annotations

import pandas as pd
import pytest

from kd_assets.sync.reconcile import reconcile
from kd_assets.sync.rejectgate import RejectGate
from kd_assets.sync.store import TargetStore
from kd_assets_tests.defs.forms import SPEC
from kd_assets_tests.defs.sync_harness import checks, client, initial_load, resources, sync

CLOCK = "2024-03-01 12:00:00"
TODAY = CLOCK[:10]
BAD_CREDIT_CODE = "NOT-A-CREDIT-CODE"


@pytest.fixture
def sim(simulator_factory):
    return simulator_factory(customers=300, seed=21, clock_start=CLOCK, dirty_share=0.0)


@pytest.fixture
def store(sim, target_url):
    """The target loaded with every customer, before today's edits."""
    with initial_load(sim, target_url, CLOCK) as engine:
        yield TargetStore(engine, SPEC)


def _edit_today(sim, good: int, bad: int) -> tuple[list[int], list[int]]:
    """Rename ``good + bad`` customers today; the bad ones also get an invalid credit code."""
    with client(sim) as c:
        keys = [int(r[0]) for r in c.execute_bill_query(SPEC.form_id, ["FCUSTID"], order_string="FCUSTID ASC",
                                                        limit=good + bad)]
        for i, key in enumerate(keys):
            model = {"FCUSTID": key, "FName": f"今天改名的客户{i}有限公司"}
            if i >= good:
                model["FSOCIALCRECODE"] = BAD_CREDIT_CODE
            c.save(SPEC.form_id, model)
    return keys[:good], keys[good:]


def _published_names(store: TargetStore, keys: list[int]) -> list[str]:
    return store.read_target(keys)["customer_name"].tolist()


def _publish(path: str, sim, store: TargetStore, target_url: str) -> None:
    if path == "sync":
        result = sync(resources(sim, target_url), TODAY)
        assert checks(result).get("clean_schema") is not None
    else:
        with client(sim) as c:
            reconcile(c, store, SPEC, "reconcile", now=pd.Timestamp(CLOCK))


@pytest.mark.parametrize("path", ["sync", "reconcile"])
def test_a_quiet_day_with_one_bad_row_publishes_the_good_ones(sim, store, target_url, path):
    good, bad = _edit_today(sim, good=4, bad=1)

    _publish(path, sim, store, target_url)

    assert all(name.startswith("今天改名") for name in _published_names(store, good))
    assert not _published_names(store, bad)[0].startswith("今天改名")
    assert str(bad[0]) in set(store.quarantined()["record_key"])


@pytest.mark.parametrize("path", ["sync", "reconcile"])
def test_a_batch_rejected_above_share_and_floor_publishes_nothing(sim, store, target_url, path):
    good, bad = _edit_today(sim, good=4, bad=11)

    _publish(path, sim, store, target_url)

    assert not any(name.startswith("今天改名") for name in _published_names(store, good + bad))
    assert {str(k) for k in bad} <= set(store.quarantined()["record_key"])


def test_the_gate_needs_both_the_share_and_the_floor():
    gate = RejectGate(max_share=0.05, min_rejects=10)

    assert gate.blocks(1, 5) is None            # 20 %, but one row
    assert gate.blocks(10, 10) is None          # the floor itself does not block
    assert gate.blocks(11, 1000) is None        # above the floor, 1.1 %
    assert "11 of 15 rows rejected" in gate.blocks(11, 15)


def test_the_gate_reads_the_environment_and_names_a_bad_value():
    assert RejectGate.from_env({"KD_MAX_REJECT_SHARE": "0.1", "KD_REJECT_GATE_MIN_ROWS": "3"}) == RejectGate(0.1, 3)
    assert RejectGate.from_env({}) == RejectGate(0.05, 10)
    with pytest.raises(ValueError, match="KD_REJECT_GATE_MIN_ROWS"):
        RejectGate.from_env({"KD_REJECT_GATE_MIN_ROWS": "ten"})
    with pytest.raises(ValueError, match="KD_MAX_REJECT_SHARE"):
        RejectGate.from_env({"KD_MAX_REJECT_SHARE": "1.5"})
