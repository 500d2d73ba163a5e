"""Randomized end-to-end test of DESIGN §3 invariant 1 (nothing lost).

A few hundred random creates, edits, late commits, renumbers, forbids, enables, audits,
un-audits, submits and deletes go through the simulator's protocol, with direct updates that stamp
nothing (the simulator's silent_update), edits within the same second as a row's last one and
allocations (use-org copies carrying their master's old stamps), interleaved with change-sensor ticks and the runs they request (in random order), lost ticks, one run that fails
(wrong app secret), an older partition re-run out of order after newer edits, a single-run
backfill, nightly re-syncs of yesterday and daily reconciliations (content verification of
today's slice). After the sensor has nothing left to ask for and one reconciliation with a full
content verification, the target equals the source column by column: every source row live with
equal values, every vanished key soft-deleted; a second one finds nothing to heal.

On the way it checks what each step promises on its own:
- every successful sync run writes only the truth: a row it changed equals the source now, and a
  key gone from the source is never made live again;
- after a failed run, the next tick asks for its partition again;
- after any reconciliation the target equals the source (a daily one's content verification
  covers one slice, so rows changed without a stamp since the last full one are exempt there);
- once the sensor asks for nothing more, no source row has a change the target has not absorbed
  (only changes that move no timestamp, and deletes, are left to reconciliation).

`random.Random(seed)` drives everything and the simulator clock is frozen and moved by the test,
so a seed replays the same operations and stamps (for this version of the workload). Replay one
seed on both targets with KD_RANDOM_SEED=<n>; KD_RANDOM_TRAIL=<file> writes every event of a
failing scenario to a file. Seeds that found a bug stay in SCENARIOS, next to minimal
reproductions at the end of this file and in test_change_sensor.py.

Choices:
- deletes stay under 4.5% of the initial rows, so the reconciliation's delete guard runs with its
  production setting (KD_MAX_DELETE_SHARE 5%) and never withholds;
- between rounds the clock moves at least a second: 70% of the simulator's stamps have whole
  seconds, and an edit in the same second as an already synced one moves no change time (a
  limit of change-time sync, not what this test is about);
- the SQLite scenario keeps the simulator's dirty rows (2%): a key quarantined at the end whose
  source row is dirty by the simulator's own rules (judged here from raw values) may be absent or
  stale in the target; any other quarantined key counts as a difference. The reject gate keeps its
  defaults: one dirty row in a quiet day's partition is below its floor of rejects;
- the Dagster instance is ephemeral (in-memory run and event storage; the sensor still asks it for
  failed and in-flight runs): a run costs ~0.5 s instead of ~3 s with SQLite storage.
"""

from __future__ import annotations

import datetime as dt
import os
import random

import dagster as dg
import pytest

from kd_assets.defs.partitions import sync_start
from kd_assets_tests.defs.random_workload import (
    Deployment, SourceWorkload, Target, changed_keys, compare, expected_row, is_dirty,
)

CLOCK = "2024-03-01 12:00:00"
CUSTOMERS = 400
HISTORY_DAYS = 7           # all generated changes fall in the partitions the initial load covers
ROUNDS = 20
DELETE_SHARE = 0.045       # of the initial rows; under the reconciliation's 5% delete guard
MAX_RECONCILES = 2         # daily reconciliations during the rounds (the final two come on top)

# (seed, target, simulator dirty_share). Seed 11 found that a partition run after a
# reconciliation revived rows deleted at the source (fixed in kd_assets/sync/reconcile.py).
# Seed 202 found that a failed run of an older partition was not asked for again once a newer
# partition had synced (fixed in kd_assets/defs/sensors.py).
# Seed 210 found that changes left behind by a lost tick were skipped once the nightly re-sync
# synced a newer day (fixed: the sensor looks back two days below the newest synced change).
SCENARIOS = [(11, "mysql", 0.0), (23, "mysql", 0.0), (202, "mysql", 0.0), (37, "sqlite", 0.02),
             (210, "sqlite", 0.02)]


def _scenarios():
    replay = os.environ.get("KD_RANDOM_SEED", "").strip()
    if replay:
        cases = [(int(replay), "mysql", 0.0), (int(replay), "sqlite", 0.02)]
    else:
        cases = SCENARIOS
    return [pytest.param(seed, target, dirty, id=f"{target}{'-dirty' if dirty else ''}-seed{seed}")
            for seed, target, dirty in cases]


class Trail:
    """The scenario's events, for failure messages that say how to replay and what just happened."""

    def __init__(self, seed: int, target: str, dirty: float):
        self.events: list[str] = []
        self.header = (f"seed={seed} target={target} dirty_share={dirty} — replay: KD_RANDOM_SEED={seed} "
                       f"pytest kd_assets_tests/defs/test_randomized_sync.py -k {target}")

    def note(self, event: str) -> None:
        self.events.append(event)

    def check(self, problems: list[str], what: str) -> None:
        if not problems:
            return
        if os.environ.get("KD_RANDOM_TRAIL"):
            with open(os.environ["KD_RANDOM_TRAIL"], "w", encoding="utf-8") as f:
                f.write("\n".join(self.events) + "\n")
        recent = "\n".join(f"  {e}" for e in self.events[-25:])
        pytest.fail(f"{self.header}\n{what}\n" + "\n".join(problems) + f"\nlast events:\n{recent}", pytrace=False)


class Scenario:
    """One seed's rounds of source changes and Dagster activity, with the checks between them."""

    def __init__(self, seed: int, sim, url: str, instance: dg.DagsterInstance, trail: Trail):
        self.rng = random.Random(seed)
        self.trail = trail
        self.target = Target(url)
        self.deploy = Deployment(sim, url, instance)
        self.work = SourceWorkload(sim, self.rng, int(CUSTOMERS * DELETE_SHARE))
        self.synced: set[str] = set()     # partitions run successfully
        self.reconciles = 0

    def close(self) -> None:
        self.work.close()
        self.target.dispose()

    def exempt(self, source: dict) -> set[int]:
        """Quarantined keys whose source row is dirty: legitimately absent or stale in the target."""
        return {k for k in self.target.quarantined_keys() if k in source and is_dirty(source[k])}

    # -- steps, each checked on its own
    def run(self, partition: str, why: str, broken: bool = False, last: str | None = None) -> None:
        before = self.target.rows()
        record = self.deploy.run(partition, why, broken, last)
        label = f"run {record.partition} ({why}{', wrong app secret' if broken else ''})"
        self.trail.note(f"{label}: {'ok' if record.success else 'FAILED'}")
        if broken:
            self.trail.check(["the run succeeded"] if record.success else [], f"{label} must fail")
            return
        self.trail.check([] if record.success else ["the run failed"], label)
        self.trail.check([f"failed ERROR checks: {record.failed_checks}"] if record.failed_checks else [], label)
        after, source = self.target.rows(), self.work.source()
        self.trail.check(compare(source, after, self.exempt(source), keys=changed_keys(before, after)),
                         f"{label} wrote rows that disagree with the source")
        if last is None:
            self.synced.add(partition)

    def tick_and_run(self, fail_one: bool = False) -> None:
        requested = self.deploy.tick()
        self.trail.note(f"tick → {requested or 'nothing'}")
        victim = self.rng.choice(requested) if fail_one and requested else None
        for partition in self.rng.sample(requested, len(requested)):
            self.run(partition, "change_sensor", broken=partition == victim)
        if victim is not None:
            again = self.deploy.tick()
            self.trail.note(f"tick after the failure → {again}")
            self.trail.check([] if victim in again else [f"requested {again}"],
                             f"the tick after the failed run of {victim} must request it again")
            for partition in self.rng.sample(again, len(again)):
                self.run(partition, "change_sensor")

    def reconcile(self, why: str, expect_in_sync: bool = False, full_content: bool = False) -> None:
        ok, meta = self.deploy.reconcile(full_content)
        self.trail.note(f"reconcile ({why}): {meta.get('status')} — {meta.get('description', '')[:200]}")
        self.trail.check([] if ok and meta else [f"run succeeded={ok}, check={meta}"], f"reconciliation ({why})")
        self.trail.check([] if meta["severity"] != "ERROR" or meta["passed"] else [meta["description"]],
                         f"reconciliation ({why}) failed its check")
        if expect_in_sync:
            self.trail.check([] if meta["status"] == "in_sync" and meta["passed"] else [meta["description"]],
                             "a second reconciliation must find nothing to heal")
        source = self.work.source()
        unverified = set() if full_content else self.work.unstamped
        self.trail.check(compare(source, self.target.rows(), self.exempt(source) | unverified),
                         f"after reconciliation ({why}) the target must equal the source")
        if full_content:
            self.work.unstamped.clear()

    # -- the scenario
    def play(self) -> None:
        first = (dt.date.fromisoformat(CLOCK[:10]) - dt.timedelta(days=HISTORY_DAYS + 1)).isoformat()
        self.run(first, "initial load", last=CLOCK[:10])
        fail_round, rerun_round = self.rng.randrange(2, 8), self.rng.randrange(9, 15)
        backfill_round = self.rng.choice([r for r in range(4, ROUNDS) if r not in (fail_round, rerun_round)])
        for r in range(ROUNDS):
            for _ in range(self.rng.randint(10, 20)):
                self.trail.note(f"r{r} {self.work.now:%m-%d %H:%M:%S} " + self.work.random_operation())
            before = self.work.now
            after = self.work.advance(self.work.random_advance())
            self.nightly(before, after)
            if r not in (fail_round, rerun_round) and self.rng.random() < 0.25:
                self.trail.note("lost tick")
            else:
                self.tick_and_run(fail_one=r == fail_round)
            if r == rerun_round:
                self.rerun_older_partition()
            if r == backfill_round:
                self.backfill()
        self.finish()

    def nightly(self, before: dt.datetime, after: dt.datetime) -> None:
        """What the schedules would have done while the source clock moved from ``before`` to ``after``."""
        if after.date() > before.date() and self.rng.random() < 0.5:
            self.run(self.deploy.resync_partition(after), "daily_resync")
        half_past_two = dt.datetime.combine(after.date(), dt.time(2, 30))
        if before < half_past_two <= after and self.reconciles < MAX_RECONCILES and self.rng.random() < 0.5:
            self.reconciles += 1
            self.reconcile("daily schedule")

    def rerun_older_partition(self) -> None:
        """Edit rows changed in an older synced partition, sync the edits, then re-run that partition."""
        newest = max(self.synced)
        partition = self.rng.choice(sorted(p for p in self.synced if p < newest) or [newest])
        in_it = sorted(k for k, row in self.work.source().items()
                       if any(v is not None and v.strftime("%Y-%m-%d") == partition
                              for v in (expected_row(row)[c] for c in ("modified_at", "forbidden_at", "approved_at"))))
        for key in self.rng.sample(in_it, min(3, len(in_it))):
            self.trail.note(f"newer edit of a row of {partition}: " + self.work.edit(key))
        self.work.advance(self.rng.uniform(1, 3600))
        self.tick_and_run()
        self.run(partition, "out-of-order re-run")

    def backfill(self) -> None:
        days = sorted(self.synced)
        start = self.rng.randrange(len(days))
        self.run(days[start], "backfill", last=days[min(len(days) - 1, start + self.rng.randint(1, 3))])

    def finish(self) -> None:
        for _ in range(6):
            requested = self.deploy.tick()
            self.trail.note(f"final tick → {requested or 'nothing'}")
            if not requested:
                break
            for partition in self.rng.sample(requested, len(requested)):
                self.run(partition, "change_sensor")
        else:
            self.trail.check(["still requesting after 6 ticks"], "the sensor must run out of requests")
        self.check_sensor_absorbed_every_visible_change()
        self.reconcile("final", full_content=True)
        self.reconcile("second", expect_in_sync=True, full_content=True)

    def check_sensor_absorbed_every_visible_change(self) -> None:
        source, target = self.work.source(), self.target.rows()
        exempt, start = self.exempt(source), dt.datetime.fromisoformat(sync_start())
        problems = []
        for key, row in sorted(source.items()):
            want = expected_row(row)
            # Allocated copies carry their master's old stamps: only the reconciliation brings them.
            if (key in exempt or key in self.work.allocated or want["change_time"] is None
                    or want["change_time"] < start):
                continue
            got = target.get(key)
            if got is None or got.deleted or got.values["change_time"] < want["change_time"]:
                state = ("absent" if got is None else "soft-deleted" if got.deleted else
                         f"change_time {got.values['change_time']}")
                problems.append(f"  {key}: source change_time {want['change_time']}, target {state}")
        self.trail.check(problems[:8] + ([f"  … {len(problems) - 8} more"] if len(problems) > 8 else []),
                         f"{len(problems)} source change(s) the sensor never brought (before reconciliation)")


@pytest.mark.slow
@pytest.mark.parametrize("seed, target, dirty_share", _scenarios())
def test_random_changes_and_syncs_end_with_the_target_equal_to_the_source(seed, target, dirty_share,
                                                                          simulator_factory, request):
    url = request.getfixturevalue(f"{target}_url")
    sim = simulator_factory(customers=CUSTOMERS, seed=seed, clock_start=CLOCK, dirty_share=dirty_share,
                            history_days=HISTORY_DAYS)
    with dg.DagsterInstance.ephemeral() as instance:
        scenario = Scenario(seed, sim, url, instance, Trail(seed, target, dirty_share))
        try:
            scenario.play()
        finally:
            scenario.close()


# ---- the minimal reproductions of what the randomized test found --------------------------------

@pytest.fixture
def small(simulator_factory, sqlite_url):
    """A loaded target on 60 customers, the source clock frozen at CLOCK, an ephemeral instance."""
    sim = simulator_factory(customers=60, seed=5, clock_start=CLOCK, dirty_share=0.0, history_days=3)
    with dg.DagsterInstance.ephemeral() as instance:
        work = SourceWorkload(sim, random.Random(5), delete_budget=5)
        deploy, target = Deployment(sim, sqlite_url, instance), Target(sqlite_url)
        assert deploy.run("2024-02-26", "initial load", last="2024-03-01").success
        yield work, deploy, target
        work.close()
        target.dispose()


def test_a_partition_run_after_reconciliation_keeps_source_deletes_deleted(small):
    # Seed 11: reconciliation soft-deleted rows whose landed and clean versions stayed staged; the
    # next run of a partition holding their change times published them again, live.
    work, deploy, target = small
    doomed = next(k for k, m in sorted(work.rows.items()) if m.document != "B")
    work.edit(doomed)
    assert deploy.run("2024-03-01", "change_sensor").success
    work.advance(60)
    work.delete(doomed)
    assert deploy.reconcile()[1]["soft_deleted"] == 1
    work.advance(60)
    work.edit()  # another customer, the same day: the sensor asks for 2024-03-01 again

    assert deploy.tick() == ["2024-03-01"]
    assert deploy.run("2024-03-01", "change_sensor").success

    assert target.rows()[doomed].deleted
