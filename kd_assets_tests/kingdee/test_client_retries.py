"""Retries over real HTTP: transient faults pass, persistent ones give a clear, bounded error,
writes are never blindly replayed, and the client-side rate limit avoids throttling."""

import time

import pytest

from kd_assets.kingdee import (
    QueryError, RetriesExhaustedError, RetryPolicy, ServerError, ThrottledError, TransientError,
)

from .conftest import FORM

NEW_ORG = {"FCreateOrgId": {"FNumber": "100"}, "FUseOrgId": {"FNumber": "100"}}
QUERY = dict(form_id=FORM, field_keys=["FCUSTID", "FNumber"], order_string="FCUSTID ASC", limit=3)


@pytest.mark.parametrize("faults", [["http_500"], ["http_502", "http_429"], ["http_429"] * 3])
def test_transient_server_faults_are_retried_until_success(simulator, client, admin, faults):
    admin.script(*faults)
    assert len(client.execute_bill_query(**QUERY)) == 3
    assert client.stats.retries == len(faults)
    assert client.stats.throttled == faults.count("http_429")


def test_persistent_failure_gives_up_with_attempts_and_cause(simulator, client, admin):
    admin.faults(fail_rate=1.0)
    started = time.monotonic()
    with pytest.raises(RetriesExhaustedError) as caught:
        client.execute_bill_query(**QUERY)
    error = caught.value
    assert error.attempts == client.config.retry.max_attempts
    assert "gave up after 4 attempts" in str(error) and "ExecuteBillQuery on BD_Customer" in str(error)
    assert error.waited_s <= client.config.retry.max_total_wait_s
    assert time.monotonic() - started < 5


def test_total_wait_budget_stops_retrying_before_attempts_run_out(simulator, make_client, admin):
    policy = RetryPolicy(max_attempts=50, base_delay_s=0.05, max_delay_s=0.05, max_total_wait_s=0.2)
    client = make_client(simulator, retry=policy)
    admin.faults(throttle_rps=0.001, retry_after=1)  # practically every request is throttled
    with pytest.raises(RetriesExhaustedError) as caught:
        client.execute_bill_query(**QUERY)
    assert isinstance(caught.value.last_error, ThrottledError)
    assert caught.value.attempts < 50 and caught.value.waited_s <= 0.2


def test_retry_after_is_honoured_up_to_the_cap(simulator, make_client, admin):
    waits = []

    def recording_sleep(seconds):  # still really waits; only observes how long
        waits.append(seconds)
        time.sleep(seconds)

    policy = RetryPolicy(max_attempts=3, base_delay_s=0.001, max_delay_s=0.3, max_total_wait_s=5)
    client = make_client(simulator, retry=policy, sleep=recording_sleep)
    admin.faults(retry_after=7)
    admin.script("http_429")
    client.execute_bill_query(**QUERY)
    assert waits == [0.3]  # the server asked for 7 s; the cap says 0.3 s


def test_read_timeouts_are_retried_then_reported(simulator, make_client, admin):
    client = make_client(simulator, read_timeout_s=0.2)
    admin.script({"kind": "delay", "ms": 600})
    assert len(client.execute_bill_query(**QUERY)) == 3
    assert client.stats.retries == 1
    admin.faults(latency_ms=600)
    with pytest.raises(RetriesExhaustedError, match="read timeout") as caught:
        client.execute_bill_query(**QUERY)
    assert caught.value.attempts == 3 and isinstance(caught.value.last_error, TransientError)


def test_latency_below_the_timeout_is_just_slow(simulator, client, admin):
    admin.faults(latency_ms=50)
    assert len(client.execute_bill_query(**QUERY)) == 3
    assert client.stats.retries == 0
    assert client.stats.as_metadata()["kingdee_latency_max_ms"] >= 50


def test_non_transient_errors_are_not_retried(client):
    with pytest.raises(QueryError):
        client.execute_bill_query(FORM, ["FNoSuchField"])
    assert client.stats.retries == 0 and client.stats.calls == 1


def test_writes_are_not_replayed_after_a_server_error(simulator, client, admin):
    admin.script("http_500")
    with pytest.raises(ServerError):
        client.save(FORM, {"FNumber": "RETRY-W1", "FName": "not replayed"})
    assert client.stats.retries == 0 and client.stats.calls == 1


def test_a_read_that_times_out_after_the_server_ran_it_is_simply_retried(simulator, make_client, admin):
    client = make_client(simulator, read_timeout_s=0.2)
    admin.script({"kind": "timeout", "ms": 600})
    assert len(client.execute_bill_query(**QUERY)) == 3
    assert client.stats.retries == 1


def test_a_write_that_times_out_after_the_server_ran_it_is_not_replayed(simulator, make_client, admin):
    """The save happened; replaying it would create a second customer. The caller gets the error."""
    client = make_client(simulator, read_timeout_s=0.2)
    admin.script({"kind": "timeout", "ms": 600})
    with pytest.raises(TransientError, match="read timeout"):
        client.save(FORM, {"FNumber": "RETRY-W3", "FName": "saved once", **NEW_ORG})
    assert client.stats.retries == 0
    assert len(client.execute_bill_query(FORM, ["FCUSTID"], filter_string="FNumber = 'RETRY-W3'")) == 1


def test_writes_are_resent_after_throttling_because_nothing_ran(simulator, client, admin):
    admin.script("http_429")
    result = client.save(FORM, {"FNumber": "RETRY-W2", "FName": "sent twice, saved once"})
    assert client.stats.throttled == 1
    rows = client.execute_bill_query(FORM, ["FCUSTID"], filter_string="FNumber = 'RETRY-W2'")
    assert len(rows) == 1 and result


def test_client_rate_limit_keeps_under_the_server_throttle(simulator, make_client, admin):
    admin.faults(throttle_rps=10, retry_after=1)
    client = make_client(simulator, max_rps=5)
    for _ in range(8):
        client.execute_bill_query(FORM, ["FCUSTID"], limit=1)
    assert client.stats.throttled == 0
    assert client.stats.rate_limited_wait_s > 1.0
