"""Allocate / CancelAllocate over HTTP and through Kingdee's official SDK, on every shipped form."""

from __future__ import annotations

import json

import pytest

from .conftest import Kingdee, error_status
from .test_official_sdk import official_sdk

SERVICE = "Kingdee.BOS.WebApi.ServicesStub.DynamicFormService."
FORMS = [("BD_Customer", "FCUSTID"), ("BD_Supplier", "FSupplierId"), ("BD_MATERIAL", "FMATERIALID")]
ROW = "FMasterId,FNumber,FUseOrgId,FDocumentStatus,FCreateDate,FModifyDate,FName"
T00 = 100332  # the org "T00": no shipped row uses it


def audited_master(kd: Kingdee) -> list:
    """[key, master, number, use-org id, status, created, modified, name] of an audited, enabled master row."""
    rows = kd.query(f"{kd.key},{ROW}", Limit=50, OrderString=f"{kd.key} ASC",
                    FilterString="FDocumentStatus = 'C' and FForbidStatus = 'A'")
    return next(r for r in rows if r[0] == r[1])


def rows_of_master(kd: Kingdee, master: int) -> list[list]:
    return kd.query(f"{kd.key},{ROW}", FilterString=f"FMasterId = {master}", OrderString=f"{kd.key} ASC")


@pytest.mark.parametrize("form,key", FORMS)
def test_allocate_copies_the_master_to_a_use_org_with_its_past_stamps(kd, form, key):
    kd = kd.on(form, key)
    master = audited_master(kd)

    result = kd.operate(SERVICE + "Allocate", {"formid": form, "data": {
        "PkIds": str(master[0]), "TOrgIds": str(T00), "IsAutoSubmitAndAudit": False}})

    status = result["Result"]["ResponseStatus"]
    assert status["IsSuccess"] is True
    (copy_entity,) = status["SuccessEntitys"]
    copy_key = copy_entity["Id"]
    assert copy_key > master[0] and copy_entity["Number"] == master[2]
    copy = next(r for r in rows_of_master(kd, master[1]) if r[0] == copy_key)
    # Same master id, number and name; its own use-org; created unaudited; stamped like the master.
    assert copy[1:4] == master[1:3] + [T00] and copy[7] == master[7] and copy[4] == "A"
    assert (copy[5], copy[6]) == (master[5], master[6])
    approve = kd.query("FApproveDate", FilterString=f"{key} = {copy_key}")
    assert approve == [[None]]


def test_allocate_with_auto_audit_and_several_orgs(kd):
    master = audited_master(kd)
    have = {r[3] for r in rows_of_master(kd, master[1])}
    orgs = [o for o in (100329, 100330, 100331, T00) if o not in have][:2]

    result = kd.operate(SERVICE + "Allocate", {"formid": kd.form, "data": {
        "PkIds": str(master[0]), "TOrgIds": ",".join(map(str, orgs)), "IsAutoSubmitAndAudit": True}})

    assert len(result["Result"]["ResponseStatus"]["SuccessEntitys"]) == 2
    copies = [r for r in rows_of_master(kd, master[1]) if r[3] in orgs]
    assert [r[4] for r in copies] == ["C", "C"]


def test_allocate_refuses_unaudited_masters_unknown_orgs_and_a_second_copy(kd):
    master = audited_master(kd)
    unaudited = kd.query(f"{kd.key}", Limit=1, FilterString=f"FDocumentStatus = 'A' and {kd.key} = FMasterId")[0][0]
    allocate = lambda pk, org: kd.operate(SERVICE + "Allocate", {  # noqa: E731
        "formid": kd.form, "data": {"PkIds": str(pk), "TOrgIds": str(org)}})

    assert "未审核" in error_status(allocate(unaudited, T00))["Errors"][0]["Message"]
    assert "100999" in error_status(allocate(master[0], 100999))["Errors"][0]["Message"]
    assert allocate(master[0], T00)["Result"]["ResponseStatus"]["IsSuccess"] is True
    assert "已分配" in error_status(allocate(master[0], T00))["Errors"][0]["Message"]
    assert "已分配" in error_status(allocate(master[0], master[3]))["Errors"][0]["Message"]


def test_cancel_allocate_removes_an_unaudited_copy_only(kd):
    master = audited_master(kd)
    data = {"PkIds": str(master[0]), "TOrgIds": str(T00)}
    copy_key = kd.operate(SERVICE + "Allocate", {"formid": kd.form, "data": data})["Result"]["Id"]
    kd.operate(SERVICE + "Audit", {"formid": kd.form, "data": {"Ids": str(copy_key)}})

    refused = kd.operate(SERVICE + "CancelAllocate", {"formid": kd.form, "data": data})
    kd.operate(SERVICE + "UnAudit", {"formid": kd.form, "data": {"Ids": str(copy_key)}})
    cancelled = kd.operate(SERVICE + "CancelAllocate", {"formid": kd.form, "data": data})

    assert "反审核" in error_status(refused)["Errors"][0]["Message"]
    assert cancelled["Result"]["ResponseStatus"]["SuccessEntitys"][0]["Id"] == copy_key
    assert copy_key not in [r[0] for r in rows_of_master(kd, master[1])]
    again = kd.operate(SERVICE + "CancelAllocate", {"formid": kd.form, "data": data})
    assert "未分配" in error_status(again)["Errors"][0]["Message"]


def test_a_master_the_user_may_not_see_cannot_be_allocated(kd):
    master = audited_master(kd)
    kd.admin("permissions", {"visible_orgs": "101"})

    result = kd.operate(SERVICE + "Allocate", {"formid": kd.form, "data": {"PkIds": str(master[0]),
                                                                           "TOrgIds": str(T00)}})

    assert "不存在" in error_status(result)["Errors"][0]["Message"]


@pytest.mark.parametrize("form,key", FORMS)
def test_official_sdk_allocates_and_cancels(kd, form, key):
    kd = kd.on(form, key)
    master = audited_master(kd)
    sdk = official_sdk(kd.handle)
    data = {"PkIds": str(master[0]), "TOrgIds": str(T00), "IsAutoSubmitAndAudit": False}

    allocated = json.loads(sdk.Allocate(form, data))
    copy_key = allocated["Result"]["ResponseStatus"]["SuccessEntitys"][0]["Id"]
    seen = json.loads(sdk.ExecuteBillQuery({"FormId": form, "FieldKeys": f"{key},FUseOrgId.FNumber",
                                            "FilterString": f"{key} = {copy_key}"}))
    cancelled = json.loads(sdk.CancelAllocate(form, data))

    assert seen == [[copy_key, "T00"]]
    assert cancelled["Result"]["ResponseStatus"]["IsSuccess"] is True
    assert copy_key not in [r[0] for r in rows_of_master(kd, master[1])]
