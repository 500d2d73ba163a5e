"""Incident stores: open and close are claims, state is shared across store instances."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timezone

import pytest
import sqlalchemy as sa

from kd_assets.alerting import IncidentStore, MemoryIncidentStore, SqlIncidentStore

from .factories import OCCURRED_AT, run_failure

KEY = "run_failure:kingdee_sync_job:2025-01-02"


@pytest.fixture
def engine(target_url) -> Iterator[sa.Engine]:
    engine = sa.create_engine(target_url)
    yield engine
    engine.dispose()


@pytest.fixture(params=["memory", "sqlite", "mysql"])
def store(request) -> Iterator[IncidentStore]:
    if request.param == "memory":
        yield MemoryIncidentStore()
        return
    engine = sa.create_engine(request.getfixturevalue(f"{request.param}_url"))
    yield SqlIncidentStore(engine)
    engine.dispose()


def test_open_is_a_claim_and_close_releases_it(store):
    assert isinstance(store, IncidentStore)
    assert not store.is_open(KEY)
    assert store.open(KEY, run_failure()) is True
    assert store.open(KEY, run_failure()) is False
    assert store.is_open(KEY)
    assert store.close(KEY) is True
    assert store.close(KEY) is False
    assert not store.is_open(KEY)


def test_open_keys_match_a_literal_prefix(store):
    # "_" would be a LIKE wildcard: "run_failure:" must not match "runXfailure:".
    for key in ("run_failure:job_a:2025-01-02", "run_failure:job_a:2025-01-01", "runXfailure:job_a:1", "freshness:t"):
        store.open(key, run_failure(key))
    assert store.open_keys("run_failure:job_a:") == ["run_failure:job_a:2025-01-01", "run_failure:job_a:2025-01-02"]
    assert store.open_keys("run_failure:job_a:2025-01-02") == ["run_failure:job_a:2025-01-02"]
    assert len(store.open_keys()) == 4


def test_get_remembers_what_the_recovery_message_needs(store):
    store.open(KEY, run_failure())
    incident = store.get(KEY)
    assert (incident.key, incident.kind, incident.severity) == (KEY, "run_failure", "error")
    assert incident.title == run_failure().title
    assert incident.opened_at == OCCURRED_AT and incident.opened_at.tzinfo is not None
    assert store.get("run_failure:other") is None


def test_sql_state_survives_a_new_engine_as_in_another_process(target_url):
    first = sa.create_engine(target_url)
    SqlIncidentStore(first).open(KEY, run_failure())
    first.dispose()
    second = sa.create_engine(target_url)
    try:
        store = SqlIncidentStore(second)  # table exists already: created only if missing
        assert store.open_keys() == [KEY]
        assert store.get(KEY).opened_at.astimezone(timezone.utc) == OCCURRED_AT
    finally:
        second.dispose()


def test_sql_keys_are_case_sensitive_on_every_database(engine):
    store = SqlIncidentStore(engine)
    assert store.open("check:Target:x", run_failure("check:Target:x"))
    assert store.open("check:target:x", run_failure("check:target:x"))
    assert store.open_keys("check:T") == ["check:Target:x"]


def test_sql_concurrent_opens_of_one_incident_have_one_winner(engine):
    stores = [SqlIncidentStore(engine) for _ in range(6)]
    start = threading.Barrier(len(stores))
    results: list[bool] = []
    lock = threading.Lock()

    def claim(store: SqlIncidentStore) -> None:
        start.wait()
        won = store.open(KEY, run_failure())
        with lock:
            results.append(won)

    threads = [threading.Thread(target=claim, args=(s,)) for s in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [False] * 5 + [True]
