"""AlertNotifier: one message per incident, one recovery when it clears, never a raise."""

from __future__ import annotations

import logging
import socket

import pytest
import sqlalchemy as sa

from kd_assets.alerting import FORMATS, AlertNotifier, MemoryIncidentStore, SqlIncidentStore

from .factories import SIGNING_SECRET, TOKEN, run_failure, settings_for

KEY = "run_failure:kingdee_sync_job:2025-01-02"


def notifier_for(receiver, fmt: str = "json", store=None) -> AlertNotifier:
    url = f"{receiver.url}/hook?access_token={TOKEN}"
    return AlertNotifier(settings_for(url, fmt, SIGNING_SECRET), store or MemoryIncidentStore())


@pytest.mark.parametrize("fmt", FORMATS)
def test_one_incident_notified_three_times_sends_one_message(webhook_receiver, fmt):
    notifier = notifier_for(webhook_receiver, fmt)
    assert [notifier.notify(run_failure()) for _ in range(3)] == [True, False, False]
    assert len(webhook_receiver.requests) == 1


def test_recovery_is_sent_once_and_a_new_failure_alerts_again(webhook_receiver):
    notifier = notifier_for(webhook_receiver)
    notifier.notify(run_failure())
    assert notifier.resolve(KEY, "Run 7b2 succeeded", {"run_id": "7b2"}) == 1
    assert notifier.resolve(KEY, "Run 7b3 succeeded") == 0
    assert notifier.notify(run_failure()) is True
    kinds = [r.json["kind"] for r in webhook_receiver.wait_for(3)]
    assert kinds == ["run_failure", "recovery", "run_failure"]
    recovery = webhook_receiver.requests[1].json
    assert recovery["incident_key"] == KEY and recovery["severity"] == "info"
    assert recovery["details"]["run_id"] == "7b2" and "Run failed" in recovery["title"]


def test_resolve_with_nothing_open_sends_nothing(webhook_receiver):
    assert notifier_for(webhook_receiver).resolve("run_failure:", "all good") == 0
    assert webhook_receiver.requests == []


def test_resolve_by_prefix_sends_one_recovery_per_matching_incident(webhook_receiver):
    notifier = notifier_for(webhook_receiver)
    keys = ["run_failure:kingdee_sync_job:2025-01-01", "run_failure:kingdee_sync_job:2025-01-02", "freshness:target"]
    for key in keys:
        notifier.notify(run_failure(key))
    assert notifier.resolve("run_failure:kingdee_sync_job:", "job succeeded") == 2
    recoveries = webhook_receiver.wait_for(2, lambda r: r.json["kind"] == "recovery")
    assert sorted(r.json["incident_key"] for r in recoveries) == keys[:2]
    assert notifier.state.open_keys() == ["freshness:target"]


def test_without_webhook_alerts_go_to_the_log_still_deduplicated(caplog):
    notifier = AlertNotifier(settings_for(None), MemoryIncidentStore())
    caplog.set_level(logging.WARNING, logger="kd_assets.alerts")
    assert [notifier.notify(run_failure()) for _ in range(3)] == [True, False, False]
    assert notifier.resolve(KEY, "Run 7b2 succeeded") == 1
    logged = [r.getMessage() for r in caplog.records if r.name == "kd_assets.alerts" and r.levelno == logging.WARNING]
    assert len(logged) == 2
    assert "kingdee_sync_job" in logged[0] and "2025-01-02" in logged[0] and "runs/4f1c2a" in logged[0]
    assert "已恢复 Recovered" in logged[1]


def test_undelivered_alert_leaves_the_incident_closed_so_the_next_one_retries(webhook_receiver, caplog):
    notifier = notifier_for(webhook_receiver)
    webhook_receiver.respond(500)
    assert notifier.notify(run_failure()) is False
    assert not notifier.state.is_open(KEY)
    webhook_receiver.respond(200)
    assert notifier.notify(run_failure()) is True
    assert len(webhook_receiver.wait_for(4)) == 4  # three failed tries, then the delivery


def test_dead_webhook_returns_false_without_raising_or_leaking(caplog):
    caplog.set_level(logging.DEBUG)
    with socket.socket() as sock:  # bound, never listening: connections are refused
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}/robot/send?access_token={TOKEN}"
        notifier = AlertNotifier(settings_for(url, "dingtalk", SIGNING_SECRET), MemoryIncidentStore())
        assert notifier.notify(run_failure()) is False
    assert any(r.levelno == logging.WARNING and r.name == "kd_assets.alerts" for r in caplog.records)
    assert TOKEN not in caplog.text and SIGNING_SECRET not in caplog.text


def test_two_sensor_processes_sharing_the_database_send_one_message(webhook_receiver, target_url):
    engines = [sa.create_engine(target_url) for _ in range(2)]
    try:
        notifiers = [notifier_for(webhook_receiver, store=SqlIncidentStore(e)) for e in engines]
        assert [n.notify(run_failure()) for n in notifiers * 2] == [True, False, False, False]
        assert [n.resolve(KEY, "ok") for n in notifiers] == [1, 0]
        assert [r.json["kind"] for r in webhook_receiver.wait_for(2)] == ["run_failure", "recovery"]
    finally:
        for engine in engines:
            engine.dispose()


def test_recovery_alerts_are_only_sent_by_resolve(webhook_receiver):
    with pytest.raises(ValueError, match="resolve"):
        notifier_for(webhook_receiver).notify(run_failure(kind="recovery", severity="info"))
