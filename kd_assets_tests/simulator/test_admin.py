"""The /_sim/ admin API: state, clock and fault settings."""

from __future__ import annotations

from datetime import datetime

import pytest
import requests

from kd_assets.kingdee import protocol as p


def test_state_reports_clock_rows_faults_and_counters(kd):
    kd.query("FCUSTID", Limit=5)
    state = kd.admin("state")
    assert state["rows"]["customers"] == 300 and 100 < state["rows"]["masters"] < 300
    assert state["requests"][p.EXECUTE_BILL_QUERY] == 1 and state["rows_served"] == 5
    assert state["faults"]["fail_rate"] == 0 and state["faults"]["session_ttl"] == 1200
    assert state["config"]["port"] == kd.handle.config.port != 0
    assert "password" not in state["config"] and "app_secret" not in state["config"]
    assert state["now"].startswith("2025-06-16 09:3")


def test_clock_can_be_set_frozen_advanced_and_released(kd):
    assert kd.admin("clock", {"now": "2030-01-02 03:04:05", "frozen": True}) == {
        "now": "2030-01-02 03:04:05", "frozen": True}
    assert kd.admin("clock", {"advance_seconds": 3600})["now"] == "2030-01-02 04:04:05"
    moving = kd.admin("clock", {"now": "2030-05-01 00:00:00"})
    assert moving["frozen"] is False and moving["now"].startswith("2030-05-01 00:00:0")
    real = kd.admin("clock", {"real": True})["now"]
    assert abs((datetime.fromisoformat(real) - datetime.utcnow()).total_seconds() - 8 * 3600) < 60


@pytest.mark.parametrize("route,body", [
    ("clock", {"now": "not a time"}),
    ("clock", {}),
    ("faults", {"fail_rat": 0.5}),
    ("faults", {"script": [{"kind": "meteor"}]}),
    ("faults", {"fail_rate": "lots"}),
])
def test_bad_admin_requests_are_400(simulator, route, body):
    response = requests.post(simulator.admin_url + route, json=body, timeout=10)
    assert response.status_code == 400 and response.json()["error"]


def test_unknown_admin_route_is_404(simulator):
    assert requests.get(simulator.admin_url + "nothing", timeout=10).status_code == 404


def test_fault_settings_persist_and_script_can_be_cleared(kd):
    state = kd.admin("faults", {"fail_rate": 0.25, "retry_after": 9,
                                "script": [{"kind": "http_500"}, {"kind": "delay", "ms": 5}]})
    assert state["fail_rate"] == 0.25 and state["retry_after"] == 9
    assert state["script"] == [{"kind": "http_500"}, {"kind": "delay", "ms": 5}]
    assert kd.admin("faults", {"clear_script": True, "fail_rate": 0})["script"] == []
