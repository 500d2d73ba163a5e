"""Data permissions of the integration user: rows of other use-orgs are silently absent."""

from __future__ import annotations

from collections import Counter

import pytest
import requests

from kd_assets.kingdee import protocol as p
from kd_assets.simulator.config import parse_args
from kd_assets.simulator.permissions import UnknownOrg

from .conftest import Kingdee, error_status

KEYS = "FMasterId,FUseOrgId.FNumber"


def orgs_of(rows: list[list]) -> Counter:
    return Counter(row[1] for row in rows)


def test_every_use_org_is_visible_by_default(kd):
    assert set(orgs_of(kd.rows(KEYS))) == {"100", "101", "102", "103"}
    assert kd.admin("state")["permissions"] == {"user": "demo", "visible_orgs": None}


def test_visible_orgs_leave_other_use_orgs_out_of_queries_without_an_error(simulator_factory):
    everything = Kingdee(simulator_factory(customers=300, seed=42))
    everything.login()
    limited = Kingdee(simulator_factory(customers=300, seed=42, visible_orgs="100,101"))
    limited.login()

    all_orgs, seen = orgs_of(everything.rows(KEYS)), orgs_of(limited.rows(KEYS))

    assert seen == {org: n for org, n in all_orgs.items() if org in ("100", "101")}
    objects = limited.query("FCUSTID,FUseOrgId.FNumber", service=p.BILL_QUERY, Limit=2000)
    assert {o["FUseOrgId.FNumber"] for o in objects} == {"100", "101"}
    assert len(objects) == sum(seen.values())


def test_permissions_change_at_run_time_by_org_number_or_id(kd):
    before = orgs_of(kd.rows(KEYS))

    answer = kd.admin("permissions", {"visible_orgs": ["102", 100331]})

    assert answer == {"user": "demo", "visible_orgs": ["102", "103"]}
    assert orgs_of(kd.rows(KEYS)) == {"102": before["102"], "103": before["103"]}
    assert kd.admin("permissions", {"visible_orgs": None})["visible_orgs"] is None
    assert orgs_of(kd.rows(KEYS)) == before


def test_a_filter_on_a_hidden_use_org_returns_nothing(kd):
    kd.admin("permissions", {"visible_orgs": "100"})

    assert kd.query("FCUSTID", FilterString="FUseOrgId.FNumber = '101'") == []


def test_keyed_operations_do_not_find_a_hidden_row(kd):
    (key, status), = kd.query("FCUSTID,FDocumentStatus", Limit=1,
                              FilterString="FUseOrgId.FNumber = '101' and FDocumentStatus = 'C'")
    kd.admin("permissions", {"visible_orgs": "100"})
    service = "Kingdee.BOS.WebApi.ServicesStub.DynamicFormService."

    unaudit = kd.operate(service + "UnAudit", {"formid": kd.form, "data": {"Ids": str(key)}})
    save = kd.operate(service + "Save", {"formid": kd.form, "data": {"Model": {"FCUSTID": key, "FName": "x"}}})

    assert "不存在" in error_status(unaudit)["Errors"][0]["Message"]
    assert "不存在" in error_status(save)["Errors"][0]["Message"]
    kd.admin("permissions", {"visible_orgs": None})
    assert kd.query("FDocumentStatus,FName", FilterString=f"FCUSTID = {key}")[0][0] == status == "C"


def test_cli_option_and_bad_orgs(simulator):
    assert parse_args(["--visible-orgs", "100,101"]).visible_orgs == "100,101"
    response = requests.post(simulator.admin_url + "permissions", json={"visible_orgs": ["999"]}, timeout=10)
    assert response.status_code == 400 and "no org '999'" in response.json()["error"]
    response = requests.post(simulator.admin_url + "permissions", json={"user": "other", "visible_orgs": None},
                             timeout=10)
    assert response.status_code == 400 and "one integration user" in response.json()["error"]


def test_an_unknown_org_in_the_config_fails_at_start(simulator_factory):
    with pytest.raises(UnknownOrg, match="visible_orgs: no org 'HQ'"):
        simulator_factory(customers=10, visible_orgs="100,HQ")
