"""Kingdee's official Python SDK works against the simulator unchanged (signed headers)."""

from __future__ import annotations

import json

import pytest
from k3cloud_webapi_sdk.main import K3CloudApiSdk

from .conftest import FORM

QUERY = {"FormId": FORM, "FieldKeys": "FCUSTID,FNumber,FName,FUseOrgId.FNumber,FModifyDate",
         "FilterString": "FDocumentStatus = 'C'", "OrderString": "FCUSTID ASC", "Limit": 50}


def official_sdk(handle) -> K3CloudApiSdk:
    cfg = handle.config
    sdk = K3CloudApiSdk(handle.base_url)
    sdk.InitConfig(acct_id=cfg.acct_id, user_name=cfg.username, app_id=cfg.app_id,
                   app_secret=cfg.app_secret, server_url=handle.base_url, lcid=cfg.lcid)
    return sdk


def test_sdk_query_returns_the_same_rows_as_a_direct_request(kd):
    sdk = official_sdk(kd.handle)
    rows = json.loads(sdk.ExecuteBillQuery(QUERY))
    assert len(rows) == 50
    direct = kd.post("Kingdee.BOS.WebApi.ServicesStub.DynamicFormService.ExecuteBillQuery", {"data": QUERY}).json()
    assert rows == direct
    assert sdk.cookiesStore.SID  # the signed call handed the SDK a session id
    assert json.loads(sdk.ExecuteBillQuery(QUERY)) == direct  # and the session works on reuse


def test_sdk_bill_query_and_writes(kd):
    sdk = official_sdk(kd.handle)
    objects = json.loads(sdk.BillQuery(QUERY))
    assert objects[0]["FNumber"].startswith("CUST")
    saved = json.loads(sdk.Save(FORM, {"Model": {"FName": "官方SDK测试有限公司"}}))
    custid = saved["Result"]["Id"]
    forbid = json.loads(sdk.ExcuteOperation(FORM, "Forbid", {"Ids": str(custid)}))
    assert forbid["Result"]["ResponseStatus"]["IsSuccess"] is True
    deleted = json.loads(sdk.Delete(FORM, {"Ids": str(custid)}))
    assert deleted["Result"]["ResponseStatus"]["SuccessEntitys"][0]["Id"] == custid


def test_sdk_with_a_wrong_secret_gets_session_lost(simulator):
    sdk = official_sdk(simulator)
    sdk.identify.AppSecret = "not-the-secret"
    envelope = json.loads(sdk.ExecuteBillQuery(QUERY))
    assert envelope[0][0]["Result"]["ResponseStatus"]["MsgCode"] == 1


def test_sdk_raises_on_response_error_bodies(kd):
    kd.admin("faults", {"script": [{"kind": "response_error"}]})
    with pytest.raises(RuntimeError):
        official_sdk(kd.handle).ExecuteBillQuery(QUERY)


@pytest.mark.parametrize("form,key,fields,prefix", [
    ("BD_Customer", "FCUSTID", "FCUSTID,FNumber,FName,FUseOrgId.FNumber,FModifyDate,FApproveDate", "CUST"),
    ("BD_Supplier", "FSupplierId", "FSupplierId,FNumber,FName,FGroup.FNumber,FModifyDate,FAuditDate", "VEN"),
    ("BD_MATERIAL", "FMATERIALID", "FMATERIALID,FNumber,FName,FBaseUnitId.FNumber,FModifyDate,FApproveDate", "MAT"),
])
def test_sdk_queries_and_writes_each_shipped_form(kd, form, key, fields, prefix):
    sdk = official_sdk(kd.handle)
    query = {"FormId": form, "FieldKeys": fields, "FilterString": f"{key} > 0 and FDocumentStatus = 'C'",
             "OrderString": f"{key} ASC", "Limit": 40}
    rows = json.loads(sdk.ExecuteBillQuery(query))
    assert len(rows) == 40 and all(r[1].startswith(prefix) for r in rows) and all(r[5] for r in rows)
    assert rows == kd.post("Kingdee.BOS.WebApi.ServicesStub.DynamicFormService.ExecuteBillQuery",
                           {"data": query}).json()
    assert json.loads(sdk.BillQuery(query))[0][key] == rows[0][0]
    info = json.loads(sdk.QueryBusinessInfo({"FormId": form}))
    assert info["Result"]["NeedReturnData"]["PkFieldName"] == key
    saved = json.loads(sdk.Save(form, {"Model": {key: 0, "FName": "官方SDK测试"}}))
    row_id = saved["Result"]["Id"]
    assert saved["Result"]["Number"].startswith(prefix)
    for op in ("Forbid", "Enable"):
        assert json.loads(sdk.ExcuteOperation(form, op, {"Ids": str(row_id)}))["Result"]["ResponseStatus"]["IsSuccess"]
    assert json.loads(sdk.Audit(form, {"Ids": str(row_id)}))["Result"]["ResponseStatus"]["IsSuccess"]
    assert json.loads(sdk.UnAudit(form, {"Ids": str(row_id)}))["Result"]["ResponseStatus"]["IsSuccess"]
    deleted = json.loads(sdk.Delete(form, {"Ids": str(row_id)}))
    assert deleted["Result"]["ResponseStatus"]["SuccessEntitys"][0]["Id"] == row_id


def test_sdk_queries_saves_audits_and_deletes_sales_orders(kd):
    sdk = official_sdk(kd.handle)
    query = {"FormId": "SAL_SaleOrder", "OrderString": "FID ASC, FSaleOrderEntry_FEntryID ASC",
             "FieldKeys": "FID,FBillNo,FCustId.FNumber,FSaleOrderEntry_FEntryID,FMaterialId.FNumber,FQty",
             "FilterString": "FID > 0", "Limit": 60}
    rows = json.loads(sdk.ExecuteBillQuery(query))
    assert len(rows) == 60 and len({r[0] for r in rows}) < 60  # lines, several per order
    saved = json.loads(sdk.Save("SAL_SaleOrder", {"Model": {
        "FID": 0, "FCustId": {"FNumber": "CUST000003"}, "FDate": "2025-06-16",
        "FSaleOrderEntry": [{"FMaterialId": {"FNumber": "MAT000001"}, "FQty": 2, "FPrice": 3.5},
                            {"FMaterialId": {"FNumber": "MAT000002"}, "FQty": 1, "FPrice": 9}]}}))
    bill_id = saved["Result"]["Id"]
    assert saved["Result"]["Number"].startswith("XSDD")
    mine = json.loads(sdk.ExecuteBillQuery({**query, "FilterString": f"FID = {bill_id}"}))
    assert [(r[4], r[5]) for r in mine] == [("MAT000001", 2.0), ("MAT000002", 1.0)]
    assert json.loads(sdk.Audit("SAL_SaleOrder", {"Ids": str(bill_id)}))["Result"]["ResponseStatus"]["IsSuccess"]
    refused = json.loads(sdk.Delete("SAL_SaleOrder", {"Ids": str(bill_id)}))
    assert refused["Result"]["ResponseStatus"]["IsSuccess"] is False  # audited bills stay
    assert json.loads(sdk.UnAudit("SAL_SaleOrder", {"Ids": str(bill_id)}))["Result"]["ResponseStatus"]["IsSuccess"]
    deleted = json.loads(sdk.Delete("SAL_SaleOrder", {"Ids": str(bill_id)}))
    assert deleted["Result"]["ResponseStatus"]["SuccessEntitys"][0]["Id"] == bill_id
    assert json.loads(sdk.ExecuteBillQuery({**query, "FilterString": f"FID = {bill_id}"})) == []
