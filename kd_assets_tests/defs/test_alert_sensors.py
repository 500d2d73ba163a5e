"""Alert sensors deliver one message per incident to a local webhook, then one recovery."""

from __future__ import annotations

import json
import socket

import dagster as dg
import pytest

from kd_assets.defs.alerts import build_run_alert_sensors
from kd_assets.definitions import form_definitions
from kd_assets_tests.defs.forms import (
    CUSTOMERS, alert_on_checks_and_freshness, alert_on_run_failure, alert_recovery, customers_sync_job, sync_assets,
)
from kd_assets_tests.defs.sync_harness import SIM_CREDENTIALS, resources, sync

CLOCK = "2024-03-01 12:00:00"
DAY = "2024-02-29"
MONTH = {"first": "2024-02-01", "last": "2024-02-29"}


@pytest.fixture
def sim(simulator_factory):
    return simulator_factory(customers=800, seed=9, clock_start=CLOCK, dirty_share=0.2)


@pytest.fixture
def webhook(webhook_receiver, monkeypatch):
    monkeypatch.setenv("KD_ALERT_WEBHOOK", webhook_receiver.url + "/robot/send?access_token=tok-123")
    monkeypatch.setenv("KD_ALERT_FORMAT", "dingtalk")
    return webhook_receiver


def _run_job(res: dict, instance) -> dg.ExecuteInProcessResult:
    defs = dg.Definitions(assets=sync_assets, jobs=[customers_sync_job], resources=res,
                          executor=dg.in_process_executor)
    job = defs.resolve_job_def(customers_sync_job.name)
    return job.execute_in_process(partition_key=DAY, instance=instance, raise_on_error=False)


def _on_run_status(sensor, result: dg.ExecuteInProcessResult, instance, res: dict, failure: bool) -> None:
    event_type = dg.DagsterEventType.RUN_FAILURE if failure else dg.DagsterEventType.RUN_SUCCESS
    event = next(e for e in result.all_events if e.event_type == event_type)
    with dg.build_run_status_sensor_context(sensor_name=sensor.name, dagster_event=event,
                                            dagster_instance=instance, dagster_run=result.dagster_run,
                                            resources={"target_db": res["target_db"]}) as context:
        sensor(context.for_run_failure() if failure else context)


def _texts(webhook) -> list[str]:
    return [json.dumps(r.json, ensure_ascii=False) for r in webhook.requests]


def test_a_failing_partition_alerts_once_and_recovers_once(sim, sqlite_url, instance, webhook):
    broken = resources(sim, sqlite_url, app_secret="wrong-secret-value")
    for _ in range(2):  # the same partition fails twice: one incident
        failed = _run_job(broken, instance)
        assert not failed.success
        _on_run_status(alert_on_run_failure, failed, instance, broken, failure=True)
    webhook.wait_for(1)

    good = resources(sim, sqlite_url)
    succeeded = _run_job(good, instance)
    assert succeeded.success
    _on_run_status(alert_recovery, succeeded, instance, good, failure=False)
    _on_run_status(alert_recovery, succeeded, instance, good, failure=False)

    texts = _texts(webhook)
    assert len(texts) == 2
    assert DAY in texts[0] and "kingdee_customers_sync" in texts[0]
    assert "succeeded again" in texts[1]
    assert not any(secret in t for t in texts for secret in ("wrong-secret-value", SIM_CREDENTIALS["app_secret"]))


def _tick_checks(res: dict, instance, cursor: str | None) -> str:
    with dg.build_sensor_context(instance=instance, resources={"target_db": res["target_db"]},
                                 cursor=cursor) as context:
        alert_on_checks_and_freshness(context)
        return context.cursor


def test_a_failed_error_check_alerts_once_and_recovers_when_it_passes(sim, sqlite_url, instance, webhook,
                                                                      monkeypatch):
    res = resources(sim, sqlite_url)
    monkeypatch.setenv("KD_MAX_REJECT_SHARE", "0")
    monkeypatch.setenv("KD_REJECT_GATE_MIN_ROWS", "0")
    assert not sync(res, **MONTH, instance=instance).success
    cursor = _tick_checks(res, instance, None)
    cursor = _tick_checks(res, instance, cursor)
    assert not sync(res, **MONTH, instance=instance).success
    cursor = _tick_checks(res, instance, cursor)
    webhook.wait_for(1)
    assert len(webhook.requests) == 1
    assert "clean_schema" in _texts(webhook)[0]

    monkeypatch.setenv("KD_MAX_REJECT_SHARE", "1")
    assert sync(res, **MONTH, instance=instance).success
    _tick_checks(res, instance, cursor)

    texts = _texts(webhook)
    assert len(texts) == 2 and "passes again" in texts[1]


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_run_failure_alerts_once_while_the_target_database_is_down(sim, sqlite_url, mysql_url, instance, webhook,
                                                                   tmp_path, monkeypatch):
    monkeypatch.setenv("KD_ALERT_INCIDENTS_FALLBACK", str(tmp_path / "incidents.sqlite"))
    broken = resources(sim, sqlite_url, app_secret="wrong-secret-value")
    down = resources(sim, f"mysql+pymysql://root@127.0.0.1:{_closed_port()}/kd_down?charset=utf8mb4")
    up = resources(sim, mysql_url)
    for sensor_target in (down, down, up):  # two failures during the outage, one after it
        failed = _run_job(broken, instance)
        assert not failed.success
        _on_run_status(alert_on_run_failure, failed, instance, sensor_target, failure=True)
    webhook.wait_for(1)

    succeeded = _run_job(up, instance)
    assert succeeded.success
    _on_run_status(alert_recovery, succeeded, instance, up, failure=False)

    texts = _texts(webhook)
    assert len(texts) == 2
    assert DAY in texts[0] and "succeeded again" in texts[1]


def test_a_form_with_its_own_webhook_alerts_there_and_only_there(sim, sqlite_url, instance, webhook_receiver,
                                                                 monkeypatch, tmp_path):
    monkeypatch.setenv("KD_ALERT_WEBHOOK", webhook_receiver.url + "/default")
    monkeypatch.setenv("KD_SUPPLIER_WEBHOOK", webhook_receiver.url + "/suppliers")
    folder = tmp_path / "suppliers"
    folder.mkdir()
    (folder / "defs.yaml").write_text("type: kd_assets.KingdeeFormSync\nattributes:\n  spec: bd_supplier\n"
                                      "  name: suppliers\n  alerts: {webhook_env: KD_SUPPLIER_WEBHOOK}\n",
                                      encoding="utf-8")
    suppliers = form_definitions([tmp_path])["suppliers"]
    on_failure, _ = build_run_alert_sensors([CUSTOMERS.settings, suppliers.settings])
    broken = resources(sim, sqlite_url, app_secret="wrong-secret-value")
    supplier_defs = dg.Definitions(assets=suppliers.sync_assets, jobs=[suppliers.sync_job], resources=broken,
                                   executor=dg.in_process_executor)

    for failed in (supplier_defs.resolve_job_def(suppliers.sync_job.name).execute_in_process(
                       partition_key=DAY, instance=instance, raise_on_error=False),
                   _run_job(broken, instance)):
        assert not failed.success
        _on_run_status(on_failure, failed, instance, broken, failure=True)

    received = {r.path: json.dumps(r.json, ensure_ascii=False) for r in webhook_receiver.wait_for(2)}
    assert set(received) == {"/default", "/suppliers"}
    assert "kingdee_suppliers_sync" in received["/suppliers"]
    assert "kingdee_customers_sync" in received["/default"]
