"""The scenario of the randomized end-to-end test (test_randomized_sync.py, whose docstring says
what it does and checks): two forms' source workloads, the Dagster activity between them, the
once-per-seed steps (range run in flight, reconciliation mid-run, quiet day, future-dated row,
out-of-range date) and the checks after each step."""

from __future__ import annotations

import datetime as dt
import functools
import os
import random

import dagster as dg
import pytest

from kd_assets.defs.partitions import sync_start
from kd_assets_tests.defs.random_deployment import Deployment, project_run_queue_limits
from kd_assets_tests.defs.random_forms import CUSTOMERS, SUPPLIERS, FormView
from kd_assets_tests.defs.random_clock import SourceClock
from kd_assets_tests.defs.random_compare import Target, changed_keys, compare, expected_row, is_dirty
from kd_assets_tests.defs.random_workload import SourceWorkload

CLOCK = "2024-03-01 12:00:00"
CUSTOMER_ROWS, SUPPLIER_ROWS = 400, 150
HISTORY_DAYS = 7           # all generated changes fall in the partitions the initial load covers
ROUNDS = 20
DELETE_SHARE = 0.045       # of the initial rows; under the reconciliation's 5% delete guard
MAX_RECONCILES = 2         # daily reconciliations per form during the rounds (the final two come on top)
SUPPLIER_SHARE = 0.35      # of the random operations
FUTURE = dt.datetime(2030, 1, 1, 8, 0)


@functools.cache
def run_queue_limits() -> tuple:
    return tuple(project_run_queue_limits())


class Trail:
    """The scenario's events, for failure messages that say how to replay and what just happened."""

    def __init__(self, seed: int, target: str, dirty: float, test: str = "test_randomized_sync.py"):
        self.events: list[str] = []
        self.header = (f"seed={seed} target={target} dirty_share={dirty} — replay: KD_RANDOM_SEED={seed} "
                       f"pytest kd_assets_tests/defs/{test} -k {target}")

    def note(self, event: str) -> None:
        self.events.append(event)

    def dump(self) -> None:
        if os.environ.get("KD_RANDOM_TRAIL"):
            with open(os.environ["KD_RANDOM_TRAIL"], "w", encoding="utf-8") as f:
                f.write("\n".join(self.events) + "\n")

    def check(self, problems: list[str], what: str) -> None:
        if not problems:
            return
        self.dump()
        recent = "\n".join(f"  {e}" for e in self.events[-25:])
        pytest.fail(f"{self.header}\n{what}\n" + "\n".join(problems) + f"\nlast events:\n{recent}", pytrace=False)


def play(scenario) -> None:
    """Play a scenario to its end, then release it and write its trail (KD_RANDOM_TRAIL), pass or fail."""
    try:
        scenario.play()
    finally:
        scenario.close()
        scenario.trail.dump()


class Form:
    """One form's side of a scenario: its source workload, its target and the days it synced."""

    def __init__(self, view: FormView, sim, rng: random.Random, url: str, clock: SourceClock, rows: int):
        self.view, self.name = view, view.name
        self.work = SourceWorkload(sim, rng, int(rows * DELETE_SHARE), view, clock)
        self.target = Target(url, view)
        self.synced: set[str] = set()     # partitions run successfully
        self.reconciles = 0
        self.poisoned: int | None = None  # the key whose FCreateDate is 0001-01-01, while it is
        self.repaired: int | None = None  # that key once its date is repaired

    def close(self) -> None:
        self.work.close()
        self.target.dispose()

    def exempt(self, source: dict) -> set[int]:
        """Quarantined keys whose source row is dirty: legitimately absent or stale in the target."""
        return {k for k in self.target.quarantined_keys() if k in source and is_dirty(source[k], self.view)}

    def compare(self, exempt: set[int] = frozenset(), keys=None) -> list[str]:
        source = self.work.source()
        return compare(source, self.target.rows(), self.exempt(source) | set(exempt), keys=keys, view=self.view)


class Scenario:
    """One seed's rounds of source changes to two forms and Dagster activity, with the checks between them."""

    def __init__(self, seed: int, sim, url: str, instance: dg.DagsterInstance, trail: Trail):
        self.rng = random.Random(seed)
        self.trail = trail
        self.clock = SourceClock(sim)
        self.forms = [Form(CUSTOMERS, sim, self.rng, url, self.clock, CUSTOMER_ROWS),
                      Form(SUPPLIERS, sim, self.rng, url, self.clock, SUPPLIER_ROWS)]
        self.customers, self.suppliers = self.forms
        self.deploy = Deployment(sim, url, instance, [f.view for f in self.forms])

    def close(self) -> None:
        for form in self.forms:
            form.close()

    def pick_form(self) -> Form:
        return self.suppliers if self.rng.random() < SUPPLIER_SHARE else self.customers

    # -- steps, each checked on its own
    def run(self, form: Form, partition: str, why: str, broken: bool = False, last: str | None = None,
            steps: list | None = None) -> None:
        before = form.target.rows()
        record = self.deploy.run(form.view, partition, why, broken, last, steps)
        label = f"{form.name} run {record.partition} ({why}{', wrong app secret' if broken else ''})"
        self.trail.note(f"{label}: {'ok' if record.success else 'FAILED'}")
        if broken:
            self.trail.check(["the run succeeded"] if record.success else [], f"{label} must fail")
            return
        self.trail.check([] if record.success else ["the run failed"], label)
        self.trail.check([f"failed ERROR checks: {record.failed_checks}"] if record.failed_checks else [], label)
        self.trail.check(form.compare(keys=changed_keys(before, form.target.rows())),
                         f"{label} wrote rows that disagree with the source")
        if last is None and steps is None:
            form.synced.add(partition)

    def tick(self) -> list[tuple[Form, str]]:
        """One tick of every form's change sensor; checks that the run queue of dagster.yaml would
        start every supplier run while all the customer runs asked for are in flight (and would
        hold back a second customer run of a day)."""
        requests = {form: self.deploy.tick(form.view) for form in self.forms}
        self.trail.note("tick → " + "; ".join(f"{f.name} {[r.partition_key for r in rs] or 'nothing'}"
                                              for f, rs in requests.items()))
        limits = list(run_queue_limits())
        customer_runs = [self.deploy.queued_run(CUSTOMERS, r) for r in requests[self.customers]]
        waits = [r.partition_key for r in requests[self.suppliers]
                 if self.deploy.blocked(limits, self.deploy.queued_run(SUPPLIERS, r), customer_runs)]
        self.trail.check([f"supplier runs of {waits} wait"] if waits else [],
                         "a supplier run must never wait for a customer run")
        free = [r.partition_key for r in requests[self.customers]
                if not self.deploy.blocked(limits, self.deploy.queued_run(CUSTOMERS, r), customer_runs)]
        self.trail.check([f"second customer runs of {free} would start"] if free else [],
                         "the queue must hold back a second run of the same form and day")
        return [(form, r.partition_key) for form, rs in requests.items() for r in rs]

    def tick_and_run(self, fail_one: bool = False) -> None:
        requested = self.tick()
        victim = self.rng.choice(requested) if fail_one and requested else None
        for form, partition in self.rng.sample(requested, len(requested)):  # both forms' runs interleaved
            self.run(form, partition, "change_sensor", broken=(form, partition) == victim)
        if victim is not None:
            again = self.tick()
            self.trail.check([] if victim in again else [f"requested {again}"],
                             f"the tick after the failed run of {victim[0].name} {victim[1]} must request it again")
            for form, partition in self.rng.sample(again, len(again)):
                self.run(form, partition, "change_sensor")

    def reconcile(self, form: Form, why: str, expect_in_sync: bool = False, full_content: bool = False) -> None:
        ok, meta = self.deploy.reconcile(form.view, full_content)
        self.trail.note(f"{form.name} reconcile ({why}): {meta.get('status')} — {meta.get('description', '')[:200]}")
        what = f"{form.name} reconciliation ({why})"
        self.trail.check([] if ok and meta else [f"run succeeded={ok}, check={meta}"], what)
        self.trail.check([] if meta["severity"] != "ERROR" or meta["passed"] else [meta["description"]],
                         f"{what} failed its check")
        if expect_in_sync:
            self.trail.check([] if meta["status"] == "in_sync" and meta["passed"] else [meta["description"]],
                             f"a second {form.name} reconciliation must find nothing to heal")
        unverified = set() if full_content else form.work.unstamped
        self.trail.check(form.compare(unverified), f"after {what} the target must equal the source")
        if full_content:
            form.work.unstamped.clear()

    # -- the scenario
    def play(self) -> None:
        first = (dt.date.fromisoformat(CLOCK[:10]) - dt.timedelta(days=HISTORY_DAYS + 1)).isoformat()
        for form in self.forms:
            self.run(form, first, "initial load", last=CLOCK[:10])
        special = self.rng.sample(range(2, ROUNDS - 1), 8)
        fail, rerun, backfill, race, quiet, future, poison, heal = special
        heal = max(heal, poison + 1) if self.rng.random() < 0.5 else None  # else the row stays bad
        for r in range(ROUNDS):
            for _ in range(self.rng.randint(10, 20)):
                form = self.pick_form()
                self.trail.note(f"r{r} {self.clock.now:%m-%d %H:%M:%S} {form.name} " + form.work.random_operation())
            before = self.clock.now
            self.nightly(before, self.clock.advance(self.customers.work.random_advance()))
            if r == quiet:
                self.quiet_day_with_one_bad_row()
            elif r not in (fail, rerun, race) and self.rng.random() < 0.25:
                self.trail.note("lost tick")
            elif r == race:
                self.reconcile_between_clean_and_publish()
            else:
                self.tick_and_run(fail_one=r == fail)
            for when, step in ((rerun, self.rerun_older_partition), (backfill, self.range_run_in_flight_while_ticking),
                               (future, self.future_dated_row), (poison, self.out_of_range_date),
                               (heal, self.fix_out_of_range_date)):
                if r == when:
                    step()
        self.finish()

    def nightly(self, before: dt.datetime, after: dt.datetime) -> None:
        """What the schedules would have done while the source clock moved from ``before`` to ``after``."""
        for form in self.forms:
            if after.date() > before.date() and self.rng.random() < 0.5:
                self.run(form, self.deploy.resync_partition(form.view, after), "daily_resync")
            half_past_two = dt.datetime.combine(after.date(), dt.time(2, 30))
            if before < half_past_two <= after and form.reconciles < MAX_RECONCILES and self.rng.random() < 0.5:
                form.reconciles += 1
                self.reconcile(form, "daily schedule")

    def rerun_older_partition(self) -> None:
        """Edit rows changed in an older synced partition, sync the edits, then re-run that partition."""
        form = self.pick_form()
        newest = max(form.synced)
        partition = self.rng.choice(sorted(p for p in form.synced if p < newest) or [newest])
        in_it = sorted(k for k, row in form.work.source().items() if k not in form.work.untouchable
                       and any(v is not None and v.strftime("%Y-%m-%d") == partition
                               for v in (expected_row(row, form.view)[c] for c in form.view.change_columns)))
        for key in self.rng.sample(in_it, min(3, len(in_it))):
            self.trail.note(f"newer edit of a {form.name} row of {partition}: " + form.work.edit(key))
        self.clock.advance(self.rng.uniform(1, 3600))
        self.tick_and_run()
        self.run(form, partition, "out-of-order re-run")

    def range_run_in_flight_while_ticking(self) -> None:
        """A single-run range run (a backfill up to today) is launched and started; the source
        changes and the sensors tick while it is in flight; then its steps run, then what the
        ticks asked for."""
        form = self.pick_form()
        today = self.clock.now.date().isoformat()
        days = sorted(d for d in form.synced if d < today)[-3:] or [today]
        first = self.rng.choice(days)
        in_flight = self.deploy.start_range_run(form.view, first, today)
        for _ in range(self.rng.randint(1, 3)):
            self.trail.note(f"{form.name} during the range run: " + form.work.edit())
        self.clock.advance(self.rng.uniform(1, 60))
        requested = self.tick()
        # Issue 13.3 (branch sensor-backfill): the sensor does not yet see a range run in flight and
        # asks for days inside it; they run after the range run here, as a per-day lock would hold them.
        inside = [(f, p) for f, p in requested if f is form and first <= p <= today]
        self.trail.note(f"{form.name} range {first}..{today} in flight; tick asked for days inside it: "
                        f"{[p for _, p in inside]}")
        for f, p in self.rng.sample(requested, len(requested)):
            if (f, p) not in inside:
                self.run(f, p, "change_sensor")
        self.run(form, first, "backfill", last=today)
        self.deploy.forget_run(in_flight)
        for f, p in inside:
            self.run(f, p, "change_sensor, held back by the range run")

    def reconcile_between_clean_and_publish(self) -> None:
        """A sync run lands and cleans its day; a row it staged is deleted at the source and the
        form's reconciliation runs; then the run publishes. The deleted row must stay deleted."""
        requested = self.tick()
        if not requested:
            return
        form, partition = self.rng.choice(requested)
        raw, clean, target = form.view.defs.sync_assets
        self.run(form, partition, "change_sensor: land and clean", steps=[raw, clean])
        # The newest staged row, whether the target holds it or it was never published (created since
        # the last run): reconciliation tombstones a never-published one, so the publish cannot revive it.
        staged = [k for k in reversed(form.work.hot) if k in form.work.rows
                  and k not in form.work.untouchable and form.work.rows[k].document != "B"]
        if staged:
            self.trail.note(f"{form.name} while the run is in flight: " + str(form.work.delete(staged[0])))
        self.reconcile(form, f"while {partition}'s run is between clean and publish")
        self.run(form, partition, "change_sensor: publish", steps=[target])
        form.synced.add(partition)
        for f, p in self.rng.sample(requested, len(requested)):
            if (f, p) != (form, partition):
                self.run(f, p, "change_sensor")

    def quiet_day_with_one_bad_row(self) -> None:
        """A day with a handful of changes, one of them permanently bad: the good ones publish
        (the reject gate's floor keeps them from being blocked; KD_MAX_REJECT_SHARE keeps its default)."""
        form = self.pick_form()
        before = self.clock.now
        morning = dt.datetime.combine(before.date() + dt.timedelta(days=1), dt.time(9, 0))
        self.nightly(before, self.clock.advance((morning - before).total_seconds()))
        keys = self.rng.sample(sorted(k for k in form.work.rows if k not in form.work.untouchable), 5)
        good, bad = keys[:-1], keys[-1]
        for key in good:
            self.trail.note(f"{form.name} quiet day: " + form.work.edit(key))
        self.trail.note(f"{form.name} quiet day: " + form.work.bad_credit_code(bad))
        day = self.tick_and_run_today(form, 600, "the quiet day of {form} must be asked for")
        self.trail.check(form.compare(keys=good), f"the good rows of {form.name}'s quiet day {day} must publish")
        self.trail.check([] if bad in form.target.quarantined_keys() else [f"{bad} not quarantined"],
                         f"the bad row of {form.name}'s quiet day must be quarantined")

    def future_dated_row(self) -> None:
        """A row forbidden while the server clock read 2030; once reconciliation holds it, the
        sensor must still see today's changes."""
        form = self.pick_form()
        done = form.work.future_forbid(FUTURE)
        if done is None:
            return
        self.trail.note(f"{form.name} " + done)
        self.reconcile(form, "after a future-dated forbid")
        self.trail.note(f"{form.name} after the future-dated row: " + form.work.edit())
        self.tick_and_run_today(form, 60, "a future-dated {form} row must not blind the sensor to today's edit")

    def tick_and_run_today(self, form: Form, within_s: float, what: str) -> str:
        """Up to ``within_s`` later, a tick must ask for today's partition of ``form``; runs what it asks for."""
        self.clock.advance(self.rng.uniform(1, within_s))
        day = self.clock.now.date().isoformat()
        requested = self.tick()
        self.trail.check([] if (form, day) in requested else [f"requested {[(f.name, p) for f, p in requested]}"],
                         what.format(form=form.name) + f" ({day})")
        for f, p in self.rng.sample(requested, len(requested)):
            self.run(f, p, "change_sensor")
        return day

    def out_of_range_date(self) -> None:
        """0001-01-01 written into FCreateDate without a stamp; half the time the row is then edited
        (the sensor's run rejects it), else only reconciliation's content verification sees it."""
        form = self.pick_form()
        key = self.rng.choice(sorted(k for k in form.work.rows if k not in form.work.untouchable))
        form.poisoned = key
        self.trail.note(f"{form.name} " + form.work.poison_date(key))
        if self.rng.random() < 0.5:
            self.trail.note(f"{form.name} " + form.work.edit(key))

    def fix_out_of_range_date(self) -> None:
        """The DBA repairs the date (a valid one), sometimes followed by an edit that stamps the row."""
        for form in self.forms:
            if form.poisoned is not None and form.poisoned in form.work.rows:
                self.trail.note(f"{form.name} fixed: " + form.work.poison_date(form.poisoned, "2019-05-06T07:08:09"))
                if self.rng.random() < 0.5:
                    self.trail.note(f"{form.name} " + form.work.edit(form.poisoned))
                form.poisoned, form.repaired = None, form.poisoned

    def finish(self) -> None:
        for _ in range(6):
            requested = self.tick()
            if not requested:
                break
            for form, partition in self.rng.sample(requested, len(requested)):
                self.run(form, partition, "change_sensor")
        else:
            self.trail.check(["still requesting after 6 ticks"], "the sensors must run out of requests")
        for form in self.forms:
            self.check_sensor_absorbed_every_visible_change(form)
            self.reconcile(form, "final", full_content=True)
            self.check_out_of_range_date_quarantined(form)
            self.reconcile(form, "second", expect_in_sync=True, full_content=True)

    def check_out_of_range_date_quarantined(self, form: Form) -> None:
        """The row holding 0001-01-01 is quarantined naming the field; once repaired, it is not."""
        repaired = form.repaired
        if repaired is not None and repaired in form.work.rows:
            dirty = is_dirty(form.work.source()[repaired], form.view)
            self.trail.check([] if dirty or repaired not in form.target.quarantined_keys() else
                             [f"{repaired}: {form.target.quarantine_reasons(repaired)}"],
                             f"{form.name} row {repaired}, its FCreateDate repaired, must leave quarantine")
        key = form.poisoned
        if key is None or key not in form.work.rows:
            return
        reasons = form.target.quarantine_reasons(key)
        self.trail.check([] if any("created_at" in r or "FCreateDate" in r for r in reasons) else
                         [f"{key}: quarantine reasons {reasons}"],
                         f"{form.name} row {key} with FCreateDate 0001-01-01 must be quarantined naming the field")

    def check_sensor_absorbed_every_visible_change(self, form: Form) -> None:
        source, target = form.work.source(), form.target.rows()
        exempt, start = form.exempt(source), dt.datetime.fromisoformat(sync_start())
        problems = []
        for key, row in sorted(source.items()):
            want = expected_row(row, form.view)
            # Allocated copies carry their master's old stamps, and a same-second edit may move the
            # change time by under a second, back before the look-back: only reconciliation brings them.
            if (key in exempt or key in form.work.allocated or key in form.work.unstamped or want["change_time"] is None
                    or want["change_time"] < start):
                continue
            got = target.get(key)
            if got is None or got.deleted or got.values["change_time"] < want["change_time"]:
                state = ("absent" if got is None else "soft-deleted" if got.deleted else
                         f"change_time {got.values['change_time']}")
                problems.append(f"  {key}: source change_time {want['change_time']}, target {state}")
        self.trail.check(problems[:8] + ([f"  … {len(problems) - 8} more"] if len(problems) > 8 else []),
                         f"{len(problems)} {form.name} change(s) the sensor never brought (before reconciliation)")
