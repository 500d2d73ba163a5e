"""Where a Dagster run's time went, read from its run record and event log after it ended.

A run's *span* is its record's creation to its end. Inside it: Dagster's run creation and
launch (creation → first step start: planned events, run start, resource init), each step
(start → success), and what Dagster does between and after the steps. For an asset step "ours"
is its start to its first output (our function ran and returned its result: resource setup,
the work, the metadata); the rest of the step is Dagster's output, materialization and check
events, per partition in a range run.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import dagster as dg


@dataclass
class Step:
    key: str
    seconds: float  # STEP_START → STEP_SUCCESS / FAILURE
    ours: float  # STEP_START → the step's first STEP_OUTPUT: our function's own time
    started: float = 0.0  # epoch seconds of its STEP_START


@dataclass
class RunTimes:
    run_id: str
    created: float  # epoch seconds
    started: float  # the run process began executing (after a launch, its imports)
    ended: float
    first_step: float  # epoch seconds of the first STEP_START
    steps: list[Step] = field(default_factory=list)

    @property
    def span(self) -> float:
        return self.ended - self.created

    @property
    def before_steps(self) -> float:
        """Run creation → first step: planned events, launch, run start, resource init."""
        return self.first_step - self.created

    @property
    def ours(self) -> float:
        return sum(s.ours for s in self.steps)

    @property
    def dagster(self) -> float:
        """Everything in the span that is not our code: Dagster's bookkeeping."""
        return max(0.0, self.span - self.ours)

    def summary(self, labels: dict[str, str] | None = None) -> str:
        """One line: creation to first step, each step (and our part of it), the rest."""
        labels = labels or {}
        in_steps = sum(s.seconds for s in self.steps)
        parts = ", ".join(f"{labels.get(s.key, s.key)} {s.seconds:.2f}"
                          + (f" (ours {s.ours:.2f})" if s.ours < s.seconds - 0.005 else "") for s in self.steps)
        return (f"span {self.span:.2f} s = creation to first step {self.before_steps:.2f} + steps {in_steps:.2f} "
                f"[{parts}] + between and after steps {self.span - self.before_steps - in_steps:.2f}; "
                f"our code {self.ours:.2f} s, Dagster {self.dagster:.2f} s")


def run_times(dagster_home: str, run_id: str | None = None) -> RunTimes:
    """The run's times (the newest run when ``run_id`` is None)."""
    with dg.DagsterInstance.from_config(dagster_home) as instance:
        run_id = run_id or instance.get_runs(limit=1)[0].run_id
        record = instance.get_run_record_by_id(run_id)
        events = instance.all_logs(run_id)
    return times_from_events(run_id, record.create_timestamp.timestamp(), record.start_time, record.end_time,
                             events)


def times_from_events(run_id: str, created: float, started: float, ended: float, events) -> RunTimes:
    starts: dict[str, float] = {}
    outputs: dict[str, float] = {}
    steps: list[Step] = []
    for e in events:
        de = e.dagster_event
        if de is None:
            continue
        if de.event_type == dg.DagsterEventType.STEP_START:
            starts[de.step_key] = e.timestamp
        elif de.event_type == dg.DagsterEventType.STEP_OUTPUT:
            outputs.setdefault(de.step_key, e.timestamp)
        elif de.event_type in (dg.DagsterEventType.STEP_SUCCESS, dg.DagsterEventType.STEP_FAILURE):
            start = starts.get(de.step_key, e.timestamp)
            steps.append(Step(de.step_key, e.timestamp - start, outputs.get(de.step_key, e.timestamp) - start, start))
    first = min(starts.values(), default=ended)
    return RunTimes(run_id, created, started, ended, first, steps)
