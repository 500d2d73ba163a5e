"""Randomized end-to-end test of DESIGN §3 invariant 1 on a bill form: sale orders, line by line.

Random creates (0–4 lines), Saves that add, edit and remove lines (and change the customer every
line repeats), deletes of unaudited bills, submits, audits, un-audits, closes, un-closes and
write-backs of delivered quantities go through the simulator's protocol (random_bill_workload.py),
interleaved with change-sensor ticks and the runs they ask for (in random order), lost ticks, a
run that fails (wrong app secret), a run whose fetch breaks after a page or two (part of the window
landed, nothing published), a stale run (its raw step lands a day, its clean and publish steps run
rounds later after more changes), an older partition re-run out of order, nightly re-syncs and daily
reconciliations. Every seed runs against a server row cap (the simulator's max_limit) far below the
client's page size, so bills straddle pages, and with a sensor probe cut at a few pages of lines
(KD_SENSOR_MAX_PROBE_ROWS), so the probe reads bills in slices across ticks.

It checks:
- every successful run writes only the truth: a line it published or retired at the version its
  bill has at the source now equals the source's line (retired: the source has no such line);
- after a failed run, and after a fetch that broke midway, the next tick asks for the day again;
- after any reconciliation the target's live lines equal the source's (a daily one verifies the
  content of one slice, so bills changed without a stamp since the last full one are exempt);
- once the sensor asks for nothing more, every bill at the source changed with a stamp has exactly
  its lines, column by column (deleted bills and unstamped changes are reconciliation's);
- after a reconciliation with full content verification, the target's live lines equal the source's,
  line by line and column by column (bills/line_compare.py), and a second one finds nothing to heal.

`random.Random(seed)` drives everything on a frozen simulator clock: replay a seed with
KD_RANDOM_SEED=<n> (both targets); KD_RANDOM_TRAIL=<file> writes the scenario's events to a file.
"""

from __future__ import annotations

import datetime as dt
import os

import dagster as dg
import pytest

from kd_assets_tests.defs.random_bill_scenario import CLOCK, HISTORY_DAYS, ORDERS, BillScenario
from kd_assets_tests.defs.random_forms import SALE_ORDERS
from kd_assets_tests.defs.random_scenario import Trail, play

SERVER_CAP = 37        # rows per call: bills of ~20 lines straddle pages
PROBE_ROWS = 150       # KD_SENSOR_MAX_PROBE_ROWS: a probe reads four capped pages, then the next tick goes on

TODAY = CLOCK[:10]
SCENARIOS = [(5, "mysql"), (8, "sqlite")]


def _scenarios():
    replay = os.environ.get("KD_RANDOM_SEED", "").strip()
    cases = [(int(replay), "mysql"), (int(replay), "sqlite")] if replay else SCENARIOS
    return [pytest.param(seed, target, id=f"{target}-seed{seed}") for seed, target in cases]


@pytest.mark.slow
@pytest.mark.parametrize("seed, target", _scenarios())
def test_random_bill_changes_and_syncs_end_with_the_target_lines_equal_to_the_source(
        seed, target, simulator_factory, request, monkeypatch):
    url = request.getfixturevalue(f"{target}_url")
    monkeypatch.setenv("KD_SENSOR_MAX_PROBE_ROWS", str(PROBE_ROWS))
    sim = simulator_factory(customers=30, materials=30, suppliers=5, orders=ORDERS, seed=seed, clock_start=CLOCK,
                            dirty_share=0.0, history_days=HISTORY_DAYS, max_limit=SERVER_CAP)
    with dg.DagsterInstance.ephemeral() as instance:
        play(BillScenario(seed, sim, url, instance, Trail(seed, target, 0.0, "test_randomized_bill_sync.py")))


# ---- minimal reproductions ----------------------------------------------------------------------

@pytest.fixture
def orders(simulator_factory, sqlite_url):
    """A loaded sale-order target (server cap 37 rows per call), a frozen clock, an ephemeral instance."""
    sim = simulator_factory(customers=30, materials=30, suppliers=5, orders=ORDERS, seed=5, clock_start=CLOCK,
                            dirty_share=0.0, history_days=HISTORY_DAYS, max_limit=SERVER_CAP)
    with dg.DagsterInstance.ephemeral() as instance:
        trail = Trail(5, "sqlite", 0.0)
        scenario = BillScenario(5, sim, sqlite_url, instance, trail)
        first = (dt.date.fromisoformat(CLOCK[:10]) - dt.timedelta(days=HISTORY_DAYS + 1)).isoformat()
        assert scenario.deploy.run(SALE_ORDERS, first, "initial load", last=CLOCK[:10]).success
        yield scenario
        scenario.close()


def retire_on_partial_evidence(orders, lines: int, pages: int) -> int:
    """A new bill of ``lines`` lines is synced; a run lands its next version; the bill is saved again
    and a second run's fetch breaks after ``pages`` pages, landing only the lines on them at the
    newer version; then the first run cleans and publishes. Returns the bill."""
    work, deploy = orders.work, orders.deploy
    raw, clean, target = SALE_ORDERS.defs.sync_assets
    work.create()
    bill = work.created
    work.lines_of(bill, [{"FEntryID": e} for e in work.bills[bill].entries] + [work.new_line() for _ in range(lines)])
    assert deploy.run(SALE_ORDERS, TODAY, "the new bill's run").success
    work.clock.advance(60)
    work.lines(bill)
    assert deploy.run(SALE_ORDERS, TODAY, "first run: land only", steps=[raw]).success
    work.clock.advance(60)
    work.lines(bill)
    assert len(work.bills[bill].entries) > pages * SERVER_CAP
    broken = [{"kind": "delay", "ms": 0}] * pages + [{"kind": "wrong_width"}]  # a delay of 0: a normal answer
    assert not orders.run(TODAY, "second run: the fetch breaks midway", expect_success=False, faults=broken)
    assert deploy.run(SALE_ORDERS, TODAY, "first run: clean and publish", steps=[clean, target]).success
    return bill


def test_lines_a_broken_fetch_never_landed_are_not_retired_by_a_stale_publish(orders):
    # The lines the broken fetch never landed still exist at the newer version: its next fetch brings them.
    bill = retire_on_partial_evidence(orders, lines=45, pages=1)

    assert [r.partition_key for r in orders.deploy.tick(SALE_ORDERS)] == [TODAY]
    assert orders.deploy.run(SALE_ORDERS, TODAY, "the next sensor run").success

    assert orders.differences(bills={bill}) == []


def test_lines_past_the_probe_cut_of_a_bill_longer_than_max_probe_rows_are_asked_for(orders, monkeypatch):
    # max_probe_rows counts lines. A bill of 120 lines is probed in slices of two capped pages (74 lines);
    # the broken fetch landed its first 74 lines, so only lines past the probe's cut are pending.
    monkeypatch.setenv("KD_SENSOR_MAX_PROBE_ROWS", "50")
    bill = retire_on_partial_evidence(orders, lines=120, pages=2)
    live = [k for k in orders.live() if k[0] == bill]
    assert 0 < len(live) < len(orders.work.bills[bill].entries)  # retired on partial evidence

    ticks = []
    for _ in range(12):
        ticks.append([r.partition_key for r in orders.deploy.tick(SALE_ORDERS)])
        if ticks[-1]:
            break
    assert ticks[-1] == [TODAY], ticks
    assert orders.deploy.run(SALE_ORDERS, TODAY, "the sensor's run").success
    assert orders.differences(bills={bill}) == []
