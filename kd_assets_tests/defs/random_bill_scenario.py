"""The sale-order scenario of the randomized end-to-end test (test_randomized_bill_sync.py, whose
docstring says what it does and checks): the bill workload, the Dagster activity between its
changes, and the checks after each step, all on target lines keyed by (bill id, entry id)."""

from __future__ import annotations

import datetime as dt
import random

import dagster as dg
import pandas as pd
import requests

from kd_assets.sync.store import TargetStore, create_target_engine
from kd_assets_tests.bills.line_compare import line_differences
from kd_assets_tests.defs.random_bill_workload import BillWorkload
from kd_assets_tests.defs.random_clock import SourceClock
from kd_assets_tests.defs.random_deployment import Deployment
from kd_assets_tests.defs.random_forms import SALE_ORDERS
from kd_assets_tests.defs.random_scenario import Trail

CLOCK = "2024-03-01 12:00:00"
ORDERS, HISTORY_DAYS = 40, 7
ROUNDS = 12
LINE_BUDGET = 0.04     # lines removed at the source, of the initial lines: under the 5% delete guard
MAX_RECONCILES = 2     # daily reconciliations during the rounds (the final two come on top)
Line = tuple[int, int]


class BillScenario:
    """One seed's rounds of sale-order changes and Dagster activity, with the checks between them."""

    def __init__(self, seed: int, sim, url: str, instance: dg.DagsterInstance, trail: Trail):
        self.rng, self.trail, self.sim = random.Random(seed), trail, sim
        self.view, self.spec = SALE_ORDERS, SALE_ORDERS.spec
        self.clock = SourceClock(sim)
        self.work = BillWorkload(sim, self.rng, self.clock, line_budget=0)
        self.work.line_budget = int(sum(max(1, len(b.entries)) for b in self.work.bills.values()) * LINE_BUDGET)
        self.deploy = Deployment(sim, url, instance, [SALE_ORDERS])
        self.engine = create_target_engine(url)
        self.store = TargetStore(self.engine, self.spec)
        self.store.ensure_tables()
        self.synced: set[str] = set()
        self.landed: list[str] = []  # partitions whose raw step ran and whose clean and publish wait
        self.reconciles = 0
        self.faults_left = 0

    def close(self) -> None:
        self.work.close()
        self.engine.dispose()

    # -- both sides
    def target(self) -> pd.DataFrame:
        frame = self.store.read_target()
        frame.index = list(zip(frame["bill_id"].astype(int), frame["entry_id"].astype(int)))
        return frame

    def live(self, frame: pd.DataFrame | None = None) -> dict[Line, object]:
        frame = self.target() if frame is None else frame
        live = frame[~frame["is_deleted"].astype(bool)]
        return dict(zip(live.index, live.itertuples()))

    def differences(self, exempt=frozenset(), bills=None) -> list[str]:
        """The target's live lines against the source's (of ``bills``, else all), ``exempt`` bills left out."""
        def keep(key: Line) -> bool:
            return key[0] not in exempt and (bills is None or key[0] in bills)
        source = {k: v for k, v in self.work.source_lines().items() if keep(k)}
        return line_differences(self.spec, source, {k: v for k, v in self.live().items() if keep(k)})

    def versions(self, source: dict[Line, list]) -> dict[int, pd.Timestamp]:
        """Bill id → its change time at the source (the greatest header change field)."""
        at = [self.spec.field_keys.index(f) for f in self.spec.change_time_fields]
        return {k[0]: max(pd.Timestamp(row[i]) for i in at if row[i]) for k, row in source.items()}

    # -- steps, each checked on its own
    def run(self, partition: str, why: str, broken: bool = False, last: str | None = None,
            steps: list | None = None, expect_success: bool | None = True, faults: list | None = None) -> bool:
        """One run, checked; ``faults`` are the simulator's scripted answers to the run's first calls
        (any the run did not reach are dropped before anything else calls the simulator)."""
        before = self.target()
        if faults:
            self._faults({"script": faults})
        record = self.deploy.run(self.view, partition, why, broken, last, steps)
        if faults:
            self.faults_left = len(self._faults({})["script"])
            self._faults({"clear_script": True})
        label = f"sale_orders run {record.partition} ({why})"
        self.trail.note(f"{label}: {'ok' if record.success else 'FAILED'}")
        if expect_success is not None:
            self.trail.check([] if record.success == expect_success else [f"success={record.success}"],
                             f"{label} must {'succeed' if expect_success else 'fail'}")
        if record.success:
            self.trail.check([f"failed ERROR checks: {record.failed_checks}"] if record.failed_checks else [], label)
            self.check_changed_lines_tell_the_truth(before, label)
            if last is None and steps is None:
                self.synced.add(partition)
        return record.success

    def check_changed_lines_tell_the_truth(self, before: pd.DataFrame, label: str) -> None:
        """A line the run published at the version its bill has at the source now holds exactly the
        source's line; a line it retired that the source still has is newer at the source (so the
        sensor asks for it again). Older versions (a stale run) and bills changed without a stamp
        since are left to later runs and reconciliation."""
        after, source = self.target(), self.work.source_lines()
        versions = self.versions(source)
        columns = [c for c in after.columns if c not in ("synced_at", "run_id")]
        old = dict(zip(before.index, map(str, before[columns].itertuples(index=False))))
        problems = []
        for key, row, values in zip(after.index, after.itertuples(), map(str, after[columns].itertuples(index=False))):
            if old.get(key) == values or key[0] in self.work.unstamped or key[0] not in versions:
                continue
            if row.is_deleted:
                if key in source and versions[key[0]] <= pd.Timestamp(row.change_time):
                    problems.append(f"{key} retired at {row.change_time}, but the source has it at that version")
            elif versions[key[0]] == pd.Timestamp(row.change_time):
                problems += line_differences(self.spec, {key: source[key]} if key in source else {}, {key: row})
        self.trail.check(problems[:12], f"{label} wrote lines that disagree with the source at the same version")

    def tick(self) -> list[str]:
        requested = [r.partition_key for r in self.deploy.tick(self.view)]
        cut = " (probe cut: the next tick reads on)" if self.deploy.probe_cut(self.view) else ""
        self.trail.note(f"tick → {requested or 'nothing'}{cut}")
        return requested

    def tick_and_run(self, fail_one: bool = False) -> None:
        requested = self.tick()
        victim = self.rng.choice(requested) if fail_one and requested else None
        for partition in self.rng.sample(requested, len(requested)):
            if partition == victim:
                self.run(partition, "change_sensor, wrong app secret", broken=True, expect_success=False)
            else:
                self.run(partition, "change_sensor")
        if victim is not None:
            self.check_asked_again(victim, "the failed run")

    def check_asked_again(self, partition: str, what: str) -> None:
        again = self.tick()
        self.trail.check([] if partition in again else [f"requested {again}"],
                         f"the tick after {what} of {partition} must request it again")
        for p in self.rng.sample(again, len(again)):
            self.run(p, "change_sensor")

    def partial_raw_failure(self) -> None:
        """A run of a changed day (else today) whose fetch breaks after a page or two (a malformed
        answer): part of the window is landed, nothing is published; the next tick asks for the day
        again. A day a stale run has landed is preferred: its publish then meets the partial landing."""
        requested = self.tick()
        stale = [p for p in requested if p in self.landed]
        partition = self.rng.choice(stale or requested or [self.clock.now.date().isoformat()])
        pages = self.rng.randint(1, 2)
        script = [{"kind": "delay", "ms": 0}] * pages + [{"kind": "wrong_width"}]  # a delay of 0: a normal answer
        self.trail.note(f"the fetch of {partition} breaks after {pages} page(s) (if it has more)")
        ran = self.run(partition, "change_sensor, fetch breaks midway", expect_success=None, faults=script)
        if not ran and partition in requested:
            self.check_asked_again(partition, "a fetch that broke midway")
        for p in requested:
            if p != partition:
                self.run(p, "change_sensor")

    def _faults(self, body: dict) -> dict:
        reply = requests.post(self.sim.admin_url + "faults", json=body, timeout=10)
        reply.raise_for_status()
        return reply.json()

    def land_now_publish_later(self) -> None:
        """A run's raw step lands a changed day now; its clean and publish steps run rounds later,
        after more changes (a stale run)."""
        requested = self.tick()
        if requested:
            partition = self.rng.choice(requested)
            raw = self.view.defs.sync_assets[0]
            self.run(partition, "change_sensor: land only (publishes later)", steps=[raw])
            self.landed.append(partition)

    def publish_landed(self) -> None:
        while self.landed:
            partition = self.landed.pop(0)
            self.run(partition, "stale run: clean and publish", steps=list(self.view.defs.sync_assets[1:]))

    def reconcile(self, why: str, full_content: bool = False, expect_in_sync: bool = False) -> None:
        ok, meta = self.deploy.reconcile(self.view, full_content)
        self.trail.note(f"reconcile ({why}): {meta.get('status')} — {meta.get('description', '')[:200]}")
        what = f"sale_orders reconciliation ({why})"
        self.trail.check([] if ok and meta and (meta["passed"] or meta["severity"] != "ERROR")
                         else [f"run succeeded={ok}, check={meta}"], what)
        if expect_in_sync:
            self.trail.check([] if meta["status"] == "in_sync" else [meta["description"]],
                             "a second reconciliation must find nothing to heal")
        exempt = set() if full_content else set(self.work.unstamped)
        self.trail.check(self.differences(exempt), f"after {what} the target's lines must equal the source's")
        if full_content:
            self.work.unstamped.clear()

    # -- the scenario
    def play(self) -> None:
        first = (dt.date.fromisoformat(CLOCK[:10]) - dt.timedelta(days=HISTORY_DAYS + 1)).isoformat()
        self.run(first, "initial load", last=CLOCK[:10])
        fail, rerun, stale = self.rng.sample(range(1, ROUNDS - 3), 3)
        partial = stale + self.rng.choice([1, 2])  # the stale run publishes after it
        for r in range(ROUNDS):
            for _ in range(self.rng.randint(5, 10)):
                self.trail.note(f"r{r} {self.clock.now:%m-%d %H:%M:%S} " + self.work.random_operation())
            before = self.clock.now
            self.nightly(before, self.clock.advance(self.rng.choice([60, 1800, 4 * 3600, 20 * 3600])))
            if r == partial:
                self.partial_raw_failure()
            elif r == stale:
                self.land_now_publish_later()
            elif r not in (fail, rerun) and self.rng.random() < 0.2:
                self.trail.note("lost tick")
            else:
                self.tick_and_run(fail_one=r == fail)
            if r == rerun and self.synced:
                self.run(self.rng.choice(sorted(self.synced)), "out-of-order re-run")
            if self.landed and r >= partial:
                self.publish_landed()
        self.publish_landed()
        self.finish()

    def nightly(self, before: dt.datetime, after: dt.datetime) -> None:
        if after.date() > before.date() and self.rng.random() < 0.5:
            self.run(self.deploy.resync_partition(self.view, after), "daily_resync")
        half_past_two = dt.datetime.combine(after.date(), dt.time(2, 30))
        if before < half_past_two <= after and self.reconciles < MAX_RECONCILES and self.rng.random() < 0.5:
            self.reconciles += 1
            self.reconcile("daily schedule")

    def finish(self) -> None:
        """Tick (and run what is asked for) until one whole pass of the sliced probe, from the lowest
        key to an uncut tick, asks for nothing."""
        quiet_pass, from_start = False, not self.deploy.probe_cut(self.view)
        for _ in range(30):
            requested = self.tick()
            for partition in self.rng.sample(requested, len(requested)):
                self.run(partition, "change_sensor")
            quiet_pass = (quiet_pass or from_start) and not requested
            from_start = not self.deploy.probe_cut(self.view)
            if from_start and quiet_pass:
                break
        else:
            self.trail.check(["still requesting after 30 ticks"], "the sensor must run out of requests")
        # Before reconciliation: every bill still at the source and changed with a stamp has exactly
        # its lines (deleted bills and unstamped changes are reconciliation's to find).
        source_bills = {b for b, _ in self.work.source_lines()}
        self.trail.check(self.differences(self.work.unstamped, source_bills),
                         "the sensor's runs must leave every stamped bill's lines equal to the source's")
        self.reconcile("final", full_content=True)
        self.reconcile("second", full_content=True, expect_in_sync=True)
