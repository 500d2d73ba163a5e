"""A long load logs its progress in the run's log: rows so far, rate, share done and time left."""

from __future__ import annotations

import dagster as dg
import pytest

import kd_assets.defs.progress as progress_module
from kd_assets.defs.progress import Progress
from kd_assets_tests.defs.forms import CUSTOMERS
from kd_assets_tests.defs.sync_harness import materialization, resources, sync

CLOCK = "2024-03-01 12:00:00"


class Lines:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def info(self, text: str) -> None:
        self.lines.append(text)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_progress_logs_at_most_every_interval_with_rate_share_and_time_left():
    log, clock = Lines(), Clock()
    progress = Progress(log, "cleaned (2024-01-01)", total=10_000, every_s=10, clock=clock)
    clock.now += 4
    progress.add(2_000)
    assert log.lines == []
    clock.now += 6
    progress.add(2_000)
    assert log.lines == ["cleaned (2024-01-01): 4,000 rows in 10 s, 400 rows/s, 40% of 10,000, about 15 s left"]
    clock.now += 9
    progress.add(1_000)
    assert len(log.lines) == 1


def test_progress_without_a_known_total_says_rows_and_rate_only():
    log, clock = Lines(), Clock()
    progress = Progress(log, "fetched and landed (2024-01-01)", every_s=10, clock=clock)
    clock.now += 20
    progress.add(5_000)
    assert log.lines == ["fetched and landed (2024-01-01): 5,000 rows in 20 s, 250 rows/s"]


@pytest.fixture
def sim(simulator_factory):
    return simulator_factory(customers=600, seed=3, clock_start=CLOCK)


def test_a_run_logs_progress_of_each_step_with_the_upstream_count(sim, mysql_url, monkeypatch):
    monkeypatch.setattr(progress_module, "PROGRESS_EVERY_S", 0.0)
    first = CUSTOMERS.settings.sync_start
    with dg.DagsterInstance.ephemeral() as instance:
        result = sync(resources(sim, mysql_url), first=first, last=CLOCK[:10], instance=instance)
        assert result.success
        messages = [e.user_message for e in instance.all_logs(result.run_id) if e.dagster_event is None]
    landed = materialization(result, "kingdee_customers_raw")["dagster/row_count"]
    steps = {m.split(" (")[0]: m for m in messages if " rows/s" in m}
    assert set(steps) == {"fetched and landed", "cleaned", "published"}
    assert f"of {landed:,}" in steps["cleaned"] and steps["cleaned"].startswith("cleaned (")
    assert "% of " in steps["published"]
