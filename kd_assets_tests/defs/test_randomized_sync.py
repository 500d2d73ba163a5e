"""Randomized end-to-end test of DESIGN §3 invariant 1 (nothing lost), on two forms at once
(sale orders, a bill form, have theirs in test_randomized_bill_sync.py).

Customers and suppliers change at the same time: a few hundred random creates, edits, late
commits, renumbers, forbids, enables, audits, un-audits, submits and deletes go through the
simulator's protocol, with direct updates that stamp nothing (the simulator's silent_update),
edits within the same second as a row's last one and allocations (customer use-org copies
carrying their master's old stamps), interleaved with both change sensors' ticks and the runs they
request (both forms' runs in one random order), lost ticks, one run that fails (wrong app
secret), an older partition re-run out of order after newer edits, nightly re-syncs of yesterday
and daily reconciliations (content verification of today's slice). Once per seed, at a random
round:
- a single-run range run (a backfill up to today) is started while the source changes and the
  sensors tick; its steps run after the tick;
- a reconciliation runs between a sync run's clean and publish steps (the run split at the step,
  on the same instance), after a row the run staged was deleted at the source;
- a quiet day: a handful of edits, one of them a malformed credit code that stays bad; the good
  ones publish under the default reject gate (KD_MAX_REJECT_SHARE is never raised);
- a row forbidden while the server's clock read 2030: after reconciliation holds it, the next
  tick still sees today's edit;
- 0001-01-01 written into a row's FCreateDate without a stamp: at the end the row is quarantined
  with the field named, or, repaired half the time, healed.
Some seeds run against a server row cap (the simulator's max_limit) below the client's page size.
Every tick checks dagster.yaml's run queue: a supplier run is never held back by the customer
runs requested with it, and a second run of one form and day is. After the sensors have nothing
left to ask for and one reconciliation per form with a full content verification, each target
equals its source column by column: every source row live with equal values, every vanished key
soft-deleted; a second one finds nothing to heal.

On the way it checks what each step promises on its own:
- every successful sync run writes only the truth: a row it changed equals the source now, and a
  key gone from the source is never made live again;
- after a failed run, the next tick asks for its partition again;
- after any reconciliation the target equals the source (a daily one's content verification
  covers one slice, so rows changed without a stamp since the last full one are exempt there);
- once the sensors ask for nothing more, no source row has a change the target has not absorbed
  (only changes that move no timestamp or move it back, and deletes, are left to reconciliation).

`random.Random(seed)` drives everything and the simulator clock is frozen and moved by the test,
so a seed replays the same operations and stamps (for this version of the workload). Replay one
seed on both targets with KD_RANDOM_SEED=<n>; KD_RANDOM_TRAIL=<file> writes every event of the
scenario to a file. Seeds that found a bug stay in SCENARIOS, next to minimal reproductions at the
end of this file and in test_change_sensor.py.

Known gap, kept visible (issue 13.3, being fixed on branch sensor-backfill): the change sensor does
not see a range run in flight and asks for days inside the range; the trail notes them ("tick
asked for days inside it"), and they run after the range run here, as a per-day lock would hold
them. Assert them empty once that fix lands.

The race between a run's clean and publish steps deletes the newest staged row, whether the target
holds it or it was never published (seed 23 on MariaDB once published such a row live; reconciliation
now tombstones never-published staged rows gone at the source).

Choices:
- deletes stay under 4.5% of the initial rows, so the reconciliation's delete guard runs with its
  production setting (KD_MAX_DELETE_SHARE 5%) and never withholds;
- between rounds the clock moves at least a second: 70% of the simulator's stamps have whole
  seconds, and an edit in the same second as an already synced one moves no change time (a
  limit of change-time sync that content verification covers);
- the SQLite scenarios keep the simulator's dirty rows (2%): a key quarantined at the end whose
  source row is dirty (judged here from raw values, incl. out-of-range dates) may be absent or
  stale in the target; any other quarantined key counts as a difference;
- the Dagster instance is ephemeral (in-memory run and event storage; the sensor still asks it for
  failed and in-flight runs): a run costs ~0.5 s instead of ~3 s with SQLite storage.
"""

from __future__ import annotations

import os
import random

import dagster as dg
import pytest

from kd_assets_tests.defs.random_deployment import Deployment
from kd_assets_tests.defs.random_forms import CUSTOMERS
from kd_assets_tests.defs.random_scenario import (
    CLOCK, CUSTOMER_ROWS, HISTORY_DAYS, SUPPLIER_ROWS, Scenario, Trail, play,
)
from kd_assets_tests.defs.random_compare import Target
from kd_assets_tests.defs.random_workload import SourceWorkload

SERVER_CAP = 150           # rows per call on the capped seeds: below the client's page size (2000)

# (seed, target, simulator dirty_share, server row cap). Seed 11 found that a partition run after a
# reconciliation revived rows deleted at the source (fixed in kd_assets/sync/reconcile.py).
# Seed 202 found that a failed run of an older partition was not asked for again once a newer
# partition had synced (fixed in kd_assets/defs/sensors.py).
# Seed 210 found that changes left behind by a lost tick were skipped once the nightly re-sync
# synced a newer day (fixed: the sensor looks back two days below the newest synced change).
SCENARIOS = [(11, "mysql", 0.0, None), (23, "mysql", 0.0, SERVER_CAP), (202, "mysql", 0.0, None),
             (37, "sqlite", 0.02, SERVER_CAP), (210, "sqlite", 0.02, None)]


def _scenarios():
    replay = os.environ.get("KD_RANDOM_SEED", "").strip()
    if replay:
        cases = [(int(replay), "mysql", 0.0, None), (int(replay), "sqlite", 0.02, SERVER_CAP)]
    else:
        cases = SCENARIOS
    return [pytest.param(seed, target, dirty, cap,
                         id=f"{target}{'-dirty' if dirty else ''}{f'-cap{cap}' if cap else ''}-seed{seed}")
            for seed, target, dirty, cap in cases]


@pytest.mark.slow
@pytest.mark.parametrize("seed, target, dirty_share, server_cap", _scenarios())
def test_random_changes_and_syncs_end_with_the_target_equal_to_the_source(seed, target, dirty_share, server_cap,
                                                                          simulator_factory, request):
    url = request.getfixturevalue(f"{target}_url")
    cap = {"max_limit": server_cap} if server_cap else {}
    sim = simulator_factory(customers=CUSTOMER_ROWS, suppliers=SUPPLIER_ROWS, seed=seed, clock_start=CLOCK,
                            dirty_share=dirty_share, history_days=HISTORY_DAYS, **cap)
    with dg.DagsterInstance.ephemeral() as instance:
        play(Scenario(seed, sim, url, instance, Trail(seed, target, dirty_share)))


# ---- the minimal reproductions of what the randomized test found --------------------------------

@pytest.fixture
def small(simulator_factory, sqlite_url):
    """A loaded target on 60 customers, the source clock frozen at CLOCK, an ephemeral instance."""
    sim = simulator_factory(customers=60, seed=5, clock_start=CLOCK, dirty_share=0.0, history_days=3)
    with dg.DagsterInstance.ephemeral() as instance:
        work = SourceWorkload(sim, random.Random(5), delete_budget=5)
        deploy, target = Deployment(sim, sqlite_url, instance, [CUSTOMERS]), Target(sqlite_url)
        assert deploy.run(CUSTOMERS, "2024-02-26", "initial load", last="2024-03-01").success
        yield work, deploy, target
        work.close()
        target.dispose()


def test_a_partition_run_after_reconciliation_keeps_source_deletes_deleted(small):
    # Seed 11: reconciliation soft-deleted rows whose landed and clean versions stayed staged; the
    # next run of a partition holding their change times published them again, live.
    work, deploy, target = small
    doomed = next(k for k, m in sorted(work.rows.items()) if m.document != "B")
    work.edit(doomed)
    assert deploy.run(CUSTOMERS, "2024-03-01", "change_sensor").success
    work.advance(60)
    work.delete(doomed)
    assert deploy.reconcile(CUSTOMERS)[1]["soft_deleted"] == 1
    work.advance(60)
    work.edit()  # another customer, the same day: the sensor asks for 2024-03-01 again

    assert [r.partition_key for r in deploy.tick(CUSTOMERS)] == ["2024-03-01"]
    assert deploy.run(CUSTOMERS, "2024-03-01", "change_sensor").success

    assert target.rows()[doomed].deleted
