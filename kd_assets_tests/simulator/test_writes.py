"""Save, Delete and the status operations, with the timestamp hazards of DESIGN.md §4b."""

from __future__ import annotations

import pytest

from kd_assets.kingdee import protocol as p

from .conftest import FORM, Kingdee

FIELDS = ("FCUSTID,FMasterId,FNumber,FName,FDocumentStatus,FForbidStatus,FCreateDate,FModifyDate,"
          "FForbidDate,FApproveDate,FModifierId.FName,FForbidderId,FApproverId,FUseOrgId.FNumber,"
          "FSELLER.FNumber,FRegisterFund,FIsGroup,FTEL")
NOW = "2025-07-01 08:00:00"
NOW_TEXT = "2025-07-01T08:00:00"


@pytest.fixture
def frozen(kd: Kingdee) -> Kingdee:
    kd.admin("clock", {"now": NOW, "frozen": True})
    kd.login()  # the jump forward idled the session past its TTL
    return kd


def record(kd: Kingdee, custid: int) -> dict:
    rows = kd.query(FIELDS, FilterString=f"FCUSTID = {custid}")
    return dict(zip(FIELDS.split(","), rows[0])) if rows else {}


def first(kd: Kingdee, filter_string: str) -> dict:
    rows = kd.query("FCUSTID", FilterString=filter_string, OrderString="FCUSTID", Limit=1)
    return record(kd, rows[0][0])


def operation(kd: Kingdee, op: str, **data) -> dict:
    return kd.operate(p.EXCUTE_OPERATION, {"formid": FORM, "opNumber": op, "data": data})


def status_of(result: dict) -> dict:
    return result["Result"]["ResponseStatus"]


def test_save_creates_a_customer_with_stamps_and_defaults(frozen):
    result = frozen.operate(p.SAVE, {"formid": FORM, "data": {"Model": {
        "FCUSTID": 0, "FName": "苏州新测试科技有限公司", "FSELLER": {"FNumber": "SAL003"},
        "FUseOrgId": {"FNumber": "101"}, "FRegisterFund": "1200000.50", "FIsGroup": True}}})
    status = status_of(result)
    assert status["IsSuccess"] is True and status["Errors"] == []
    created = record(frozen, result["Result"]["Id"])
    assert status["SuccessEntitys"] == [{"Id": created["FCUSTID"], "Number": created["FNumber"], "DIndex": 0}]
    assert created["FMasterId"] == created["FCUSTID"] and created["FNumber"].startswith("CUST")
    assert created["FCreateDate"] == created["FModifyDate"] == NOW_TEXT
    assert (created["FDocumentStatus"], created["FForbidStatus"]) == ("A", "A")
    assert created["FModifierId.FName"] == "demo" and created["FSELLER.FNumber"] == "SAL003"
    assert created["FUseOrgId.FNumber"] == "101" and created["FRegisterFund"] == 1200000.5
    assert created["FIsGroup"] is True and created["FTEL"] == " "  # Kingdee's blank default
    assert created["FApproveDate"] is None and created["FForbidDate"] is None


def test_save_updates_and_stamps_modify_date_and_modifier(frozen):
    target = first(frozen, "FModifyDate < '2025-01-01'")
    frozen.operate(p.SAVE, {"formid": FORM, "data": {"Model": {"FCUSTID": target["FCUSTID"],
                                                               "FTEL": "021-12345678"}}})
    after = record(frozen, target["FCUSTID"])
    assert after["FTEL"] == "021-12345678" and after["FModifyDate"] == NOW_TEXT
    assert after["FModifierId.FName"] == "demo"
    assert after["FCreateDate"] == target["FCreateDate"] and after["FName"] == target["FName"]


def test_need_update_fields_limits_what_save_changes(frozen):
    target = first(frozen, "FCUSTID > 0")
    frozen.operate(p.SAVE, {"formid": FORM, "data": {"NeedUpDateFields": ["FTEL"], "Model": {
        "FCUSTID": target["FCUSTID"], "FTEL": "010-1", "FName": "不应改变"}}})
    after = record(frozen, target["FCUSTID"])
    assert after["FTEL"] == "010-1" and after["FName"] == target["FName"]


def test_changing_fnumber_changes_every_use_org_row_of_the_master(frozen):
    shared = frozen.query("FMasterId", FilterString="FUseOrgId.FNumber = '101'", Limit=1)[0][0]
    rows = frozen.query("FCUSTID", FilterString=f"FMasterId = {shared}")
    assert len(rows) >= 2
    frozen.operate(p.SAVE, {"formid": FORM, "data": {"Model": {"FCUSTID": rows[0][0], "FNumber": "NEW-001"}}})
    after = frozen.query("FNumber,FModifyDate", FilterString=f"FMasterId = {shared}")
    assert after == [["NEW-001", NOW_TEXT]] * len(rows)


@pytest.mark.parametrize("model,field", [
    ({"FCUSTID": 0, "FName": " "}, "FName"),
    ({"FCUSTID": 0, "FName": "x", "FNoSuch": 1}, "FNoSuch"),
    ({"FCUSTID": 0, "FName": "x", "FSELLER": {"FNumber": "NOBODY"}}, "FSELLER"),
    ({"FCUSTID": 0, "FName": "x", "FRegisterFund": "lots"}, "FRegisterFund"),
    ({"FCUSTID": 0, "FName": "x", "FNumber": "CUST000001"}, "FNumber"),
    ({"FCUSTID": 999, "FName": "x"}, "FCUSTID"),
], ids=["empty-name", "unknown-field", "unknown-reference", "bad-number", "duplicate-number", "missing-row"])
def test_save_errors_name_the_field(kd, model, field):
    before = len(kd.query("FCUSTID"))
    status = status_of(kd.operate(p.SAVE, {"formid": FORM, "data": {"Model": model}}))
    assert status["IsSuccess"] is False and status["ErrorCode"] == 500
    assert status["Errors"][0]["FieldName"] == field
    assert len(kd.query("FCUSTID")) == before


def test_auto_submit_and_audit_on_save(frozen):
    result = frozen.operate(p.SAVE, {"formid": FORM, "data": {"IsAutoSubmitAndAudit": True,
                                                             "Model": {"FName": "自动审核有限公司"}}})
    created = record(frozen, result["Result"]["Id"])
    assert created["FDocumentStatus"] == "C" and created["FApproveDate"] == NOW_TEXT


def test_delete_removes_unaudited_rows_and_refuses_audited_ones(kd):
    draft = first(kd, "FDocumentStatus = 'A'")
    audited = first(kd, "FDocumentStatus = 'C'")
    result = kd.operate(p.DELETE, {"formid": FORM, "data": {"Ids": f"{draft['FCUSTID']},{audited['FCUSTID']}"}})
    status = status_of(result)
    assert status["IsSuccess"] is False and status["SuccessEntitys"] == [
        {"Id": draft["FCUSTID"], "Number": draft["FNumber"], "DIndex": 0}]
    assert audited["FNumber"] in status["Errors"][0]["Message"] and status["Errors"][0]["DIndex"] == 1
    assert record(kd, draft["FCUSTID"]) == {} and record(kd, audited["FCUSTID"]) == audited


def test_delete_of_unknown_id_names_it(kd):
    status = status_of(kd.operate(p.DELETE, {"formid": FORM, "data": {"Ids": "42"}}))
    assert "FCUSTID=42" in status["Errors"][0]["Message"]


def test_forbid_stamps_forbid_date_but_not_modify_date(frozen):
    target = first(frozen, "FForbidStatus = 'A'")
    assert status_of(operation(frozen, "Forbid", Ids=str(target["FCUSTID"])))["IsSuccess"]
    after = record(frozen, target["FCUSTID"])
    assert (after["FForbidStatus"], after["FForbidDate"]) == ("B", NOW_TEXT)
    assert after["FForbidderId"] == 100100 and after["FModifyDate"] == target["FModifyDate"]
    again = status_of(operation(frozen, "Forbid", Ids=str(target["FCUSTID"])))
    assert again["IsSuccess"] is False and target["FNumber"] in again["Errors"][0]["Message"]


def test_enable_clears_forbid_date_without_touching_modify_date(frozen):
    target = first(frozen, "FForbidStatus = 'B'")
    assert status_of(operation(frozen, "enable", Ids=[target["FCUSTID"]]))["IsSuccess"]
    after = record(frozen, target["FCUSTID"])
    assert (after["FForbidStatus"], after["FForbidDate"]) == ("A", None)
    assert after["FModifyDate"] == target["FModifyDate"]


def test_enable_can_keep_forbid_date(simulator_factory):
    kd = Kingdee(simulator_factory(customers=100, enable_clears_forbid_date=False))
    kd.login()
    target = first(kd, "FForbidStatus = 'B'")
    operation(kd, "Enable", Ids=str(target["FCUSTID"]))
    after = record(kd, target["FCUSTID"])
    assert after["FForbidStatus"] == "A" and after["FForbidDate"] == target["FForbidDate"]


def test_audit_and_unaudit_move_status_and_approve_date_only(frozen):
    target = first(frozen, "FDocumentStatus = 'A'")
    assert status_of(frozen.operate(p.AUDIT, {"formid": FORM, "data": {"Ids": str(target["FCUSTID"])}}))["IsSuccess"]
    audited = record(frozen, target["FCUSTID"])
    assert (audited["FDocumentStatus"], audited["FApproveDate"]) == ("C", NOW_TEXT)
    assert audited["FApproverId"] == 100100 and audited["FModifyDate"] == target["FModifyDate"]
    assert status_of(frozen.operate(p.UNAUDIT, {"formid": FORM, "data": {"Ids": str(target["FCUSTID"])}}))["IsSuccess"]
    unaudited = record(frozen, target["FCUSTID"])
    assert (unaudited["FDocumentStatus"], unaudited["FApproveDate"]) == ("D", None)
    assert unaudited["FModifyDate"] == target["FModifyDate"]
    assert status_of(operation(frozen, "UnAudit", Ids=str(target["FCUSTID"])))["IsSuccess"] is False


def test_audit_via_excute_operation_and_refusals(kd):
    draft = first(kd, "FDocumentStatus = 'Z'")
    refused = status_of(operation(kd, "Audit", Ids=str(draft["FCUSTID"])))
    assert refused["IsSuccess"] is False and refused["MsgCode"] == 11
    assert status_of(operation(kd, "Submit", Ids=str(first(kd, "FDocumentStatus = 'A'")["FCUSTID"])))["IsSuccess"]


def test_numbers_address_every_use_org_row(frozen):
    master = frozen.query("FMasterId,FNumber", FilterString="FUseOrgId.FNumber = '102' and FForbidStatus = 'A'", Limit=1)[0]
    states = [r[0] for r in frozen.query("FForbidStatus", FilterString=f"FMasterId = {master[0]}")]
    status = status_of(operation(frozen, "Forbid", Numbers=[master[1]]))
    assert len(states) >= 2 and len(status["SuccessEntitys"]) == states.count("A")
    assert len(status["Errors"]) == states.count("B")  # already forbidden rows are refused


def test_unknown_operation_and_missing_ids_are_errors(kd):
    assert "Explode" in status_of(operation(kd, "Explode", Ids="100001"))["Errors"][0]["Message"]
    assert status_of(operation(kd, "Forbid"))["MsgCode"] == p.MSG_EMPTY_PARAMETER


def test_writes_need_a_session(simulator):
    response = Kingdee(simulator).operate(p.SAVE, {"formid": FORM, "data": {"Model": {"FName": "x"}}})
    assert status_of(response)["MsgCode"] == p.MSG_SESSION_LOST  # bare envelope, not [[...]]


def test_background_activity_changes_data_through_the_write_services(simulator_factory):
    from kd_assets.simulator.activity import Activity

    handle = simulator_factory(customers=200, activity=3600)  # thread started, first round in an hour
    assert handle.activity is not None
    kd = Kingdee(handle)
    kd.login()
    callers = {kd.on("BD_Customer", "FCUSTID"): "FTEL", kd.on("BD_Supplier", "FSupplierId"): "FAddress",
               kd.on("BD_MATERIAL", "FMATERIALID"): "FSpecification"}

    def snapshot() -> list[dict]:
        return [{r[0]: r[1:] for r in caller.rows(f"{caller.key},{edited},FForbidStatus,FDocumentStatus")}
                for caller, edited in callers.items()]

    before = snapshot()
    Activity(handle.app).round()  # one round, run directly instead of waiting for the timer
    after = snapshot()
    for old, new in zip(before, after):  # every served form changes
        assert len(new) == len(old) + 1  # one new row
        assert sum(old[k] != new[k] for k in old) >= 3  # edits, forbids, audits
