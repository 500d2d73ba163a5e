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


SILENT_KEYS = "FCUSTID,FName,FTEL,FGroup.FNumber,FModifyDate,FModifierId,FForbidDate,FApproveDate,FDocumentStatus"


def test_silent_update_changes_content_and_stamps_nothing(kd):
    before = kd.query(SILENT_KEYS, OrderString="FCUSTID", Limit=3)
    ids = [r[0] for r in before[:2]]
    reply = kd.admin("forms/bd_customer/silent_update", {
        "ids": ids, "values": {"FName": "悄悄改名有限公司", "ftel": "021-0000", "FGroup": {"FNumber": "KH03"}}})
    assert reply == {"form": "BD_Customer", "updated": 2, "fields": ["FGroup", "FName", "FTEL"]}
    after = kd.query(SILENT_KEYS, OrderString="FCUSTID", Limit=3)
    for old, new in zip(before[:2], after):
        assert new[1:4] == ["悄悄改名有限公司", "021-0000", "KH03"]
        assert new[4:] == old[4:]  # no modify date, modifier or other stamp moved
    assert after[2] == before[2]


def test_silent_update_works_on_every_form_and_may_set_system_fields(kd):
    supplier = kd.on("BD_Supplier", "FSupplierId")
    first = supplier.query("FSupplierId,FModifyDate", OrderString="FSupplierId", Limit=1)[0]
    kd.admin("forms/BD_Supplier/silent_update", {"ids": [first[0]], "values": {"FDocumentStatus": "B"}})
    assert supplier.query("FDocumentStatus,FModifyDate", FilterString=f"FSupplierId = {first[0]}") == [["B", first[1]]]


@pytest.mark.parametrize("route,body,fragment", [
    ("forms/BD_Nope/silent_update", {"ids": [1], "values": {"FName": "x"}}, "BD_Nope"),
    ("forms/BD_Customer/silent_update", {"ids": [100001], "values": {"FNoSuch": "x"}}, "FNoSuch"),
    ("forms/BD_Customer/silent_update", {"ids": [100001], "values": {"FGroup": {"FNumber": "NOPE"}}}, "FGroup"),
    ("forms/BD_Customer/silent_update", {"ids": [100001], "values": {"FCUSTID": 5}}, "FCUSTID"),
    ("forms/BD_Customer/silent_update", {"ids": "100001", "values": {"FName": "x"}}, "ids"),
    ("forms/BD_Customer/silent_update", {"ids": [100001], "values": {}}, "values"),
], ids=["unknown-form", "unknown-field", "unknown-reference", "key", "ids-not-list", "no-values"])
def test_bad_silent_updates_are_400_and_name_the_problem(simulator, route, body, fragment):
    response = requests.post(simulator.admin_url + route, json=body, timeout=10)
    assert response.status_code == 400 and fragment in response.json()["error"]
