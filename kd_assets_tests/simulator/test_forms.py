"""Every shipped form (customers, suppliers, materials) is served like customers always were."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from kd_assets.kingdee import protocol as p

from .conftest import Kingdee, error_status

NOW = "2025-07-01 08:00:00"
NOW_TEXT = "2025-07-01T08:00:00"


@dataclass(frozen=True)
class Shipped:
    form: str
    key: str
    prefix: str
    audit_date: str  # the field Audit stamps
    audit_alias: str  # another key Kingdee clients use for it
    forbidder: str
    refs: str  # reference paths to read

    @property
    def fields(self) -> list[str]:
        return [self.key, "FMasterId", "FNumber", "FName", "FUseOrgId.FNumber", "FDocumentStatus",
                "FForbidStatus", "FCreateDate", "FModifyDate", "FForbidDate", self.audit_date,
                self.forbidder]


CUSTOMER = Shipped("BD_Customer", "FCUSTID", "CUST", "FApproveDate", "FAuditDate", "FForbidderId",
                   "FGroup.FNumber,FTRADINGCURRID.FName,FPROVINCIAL.FNumber")
SUPPLIER = Shipped("BD_Supplier", "FSupplierId", "VEN", "FAuditDate", "FApproveDate", "FForbiderId",
                   "FGroup.FNumber,FPayCurrencyId.FName,FProvincial.FNumber,FCountry.FName")
MATERIAL = Shipped("BD_MATERIAL", "FMATERIALID", "MAT", "FApproveDate", "FAuditDate", "FForbidderId",
                   "FMaterialGroup.FNumber,FBaseUnitId.FNumber,FBaseUnitId.FName")
SHIPPED = [CUSTOMER, SUPPLIER, MATERIAL]


@pytest.fixture(params=SHIPPED, ids=lambda s: s.form)
def shipped(request) -> Shipped:
    return request.param


@pytest.fixture
def on_form(kd: Kingdee, shipped: Shipped) -> Kingdee:
    return kd.on(shipped.form, shipped.key)


def record(kd: Kingdee, shipped: Shipped, row_id: int) -> dict:
    rows = kd.query(",".join(shipped.fields), FilterString=f"{shipped.key} = {row_id}")
    return dict(zip(shipped.fields, rows[0])) if rows else {}


def first(kd: Kingdee, shipped: Shipped, filter_string: str) -> dict:
    rows = kd.query(shipped.key, FilterString=filter_string, OrderString=shipped.key, Limit=1)
    return record(kd, shipped, rows[0][0])


def operation(kd: Kingdee, op: str, **data) -> dict:
    return kd.operate(p.EXCUTE_OPERATION, {"formid": kd.form, "opNumber": op, "data": data})["Result"]["ResponseStatus"]


def test_each_form_has_masters_in_several_use_orgs_and_resolves_references(on_form, shipped):
    rows = on_form.rows(f"FMasterId,FNumber,FUseOrgId.FNumber,{shipped.refs}")
    assert len(rows) == 300 and all(r[1].startswith(shipped.prefix) for r in rows)
    by_master: dict[int, set] = {}
    for master, number, org, *refs in rows:
        by_master.setdefault((master, number), set()).add(org)
        assert all(isinstance(ref, str) and ref.strip() for ref in refs), refs
    assert sum(len(orgs) > 1 for orgs in by_master.values()) > 20
    assert len({m for m, _ in by_master}) == len(by_master)  # one number per master


def test_keys_are_case_insensitive_and_the_audit_date_has_its_alias(on_form, shipped):
    upper = on_form.query(f"{shipped.key.upper()},{shipped.audit_alias.upper()}",
                          OrderString=shipped.key.lower(), Limit=30)
    plain = on_form.query(f"{shipped.key},{shipped.audit_date}", OrderString=shipped.key, Limit=30)
    assert upper == plain and any(r[1] for r in plain)


def test_query_business_info_names_each_form_s_key_fields(on_form, shipped):
    info = on_form.post(p.QUERY_BUSINESS_INFO, {"data": {"FormId": shipped.form.lower()}}).json()
    data = info["Result"]["NeedReturnData"]
    assert (data["Id"], data["PkFieldName"], data["MasterPKFieldName"]) == (shipped.form, shipped.key, "FMasterId")
    assert {f["Key"] for f in data["Entrys"][0]["Fields"]} >= set(shipped.fields) - {"FUseOrgId.FNumber"}


def test_filters_order_and_start_row_work_on_every_form(on_form, shipped):
    where = "FUseOrgId.FNumber = '101' and FForbidStatus = 'A'"
    keys = [r[0] for r in on_form.query(shipped.key, OrderString=f"{shipped.key} DESC", FilterString=where)]
    assert keys == sorted(keys, reverse=True) and len(keys) > 10
    listed = on_form.query(shipped.key, FilterString=[{"FieldName": "FUseOrgId.FNumber", "Compare": "67",
                                                       "Value": "101", "Logic": "0"},
                                                      {"FieldName": "FForbidStatus", "Compare": "=", "Value": "A"}],
                           OrderString=f"{shipped.key} DESC")
    assert [r[0] for r in listed] == keys
    page = on_form.query(shipped.key, FilterString=where, OrderString=f"{shipped.key} DESC", StartRow=3, Limit=4)
    assert page == [[k] for k in keys[3:7]]


def test_dirty_rows_exist_in_every_form(simulator_factory, shipped):
    kd = Kingdee(simulator_factory(customers=500, suppliers=500, materials=500, dirty_share=0.2),
                 shipped.form, shipped.key)
    kd.login()
    rows = kd.rows("FName,FCreateDate,FModifyDate")
    dirty = [r for r in rows if not r[0].strip() or r[2] < r[1]]
    assert 30 < len(dirty) < 150


def test_save_forbid_enable_audit_unaudit_delete_on_every_form(on_form, shipped):
    on_form.admin("clock", {"now": NOW, "frozen": True})
    on_form.login()
    saved = on_form.operate(p.SAVE, {"formid": shipped.form, "data": {"Model": {
        shipped.key: 0, "FName": "表单测试", "FUseOrgId": {"FNumber": "101"}}}})["Result"]
    row_id = saved["Id"]
    created = record(on_form, shipped, row_id)
    assert created["FNumber"] == saved["Number"] and created["FNumber"].startswith(shipped.prefix)
    assert created["FCreateDate"] == created["FModifyDate"] == NOW_TEXT and created["FMasterId"] == row_id
    assert (created["FUseOrgId.FNumber"], created["FDocumentStatus"], created["FForbidStatus"]) == ("101", "A", "A")
    on_form.admin("clock", {"advance_seconds": 60})
    assert operation(on_form, "Forbid", Ids=str(row_id))["IsSuccess"]
    forbidden = record(on_form, shipped, row_id)
    assert (forbidden["FForbidStatus"], forbidden["FForbidDate"], forbidden[shipped.forbidder]) == (
        "B", "2025-07-01T08:01:00", 100100)
    assert forbidden["FModifyDate"] == NOW_TEXT
    assert operation(on_form, "Enable", Ids=str(row_id))["IsSuccess"]
    assert record(on_form, shipped, row_id)["FForbidDate"] is None
    assert operation(on_form, "Audit", Ids=str(row_id))["IsSuccess"]
    audited = record(on_form, shipped, row_id)
    assert (audited["FDocumentStatus"], audited[shipped.audit_date]) == ("C", "2025-07-01T08:01:00")
    assert audited["FModifyDate"] == NOW_TEXT
    refused = on_form.operate(p.DELETE, {"formid": shipped.form, "data": {"Ids": str(row_id)}})
    assert "不允许删除" in error_status(refused)["Errors"][0]["Message"]
    assert operation(on_form, "UnAudit", Ids=str(row_id))["IsSuccess"]
    assert record(on_form, shipped, row_id)[shipped.audit_date] is None
    deleted = on_form.operate(p.DELETE, {"formid": shipped.form, "data": {"Ids": str(row_id)}})
    assert error_status(deleted)["IsSuccess"] and record(on_form, shipped, row_id) == {}


def test_save_of_an_existing_row_stamps_modify_date(on_form, shipped):
    on_form.admin("clock", {"now": NOW, "frozen": True})
    on_form.login()
    target = first(on_form, shipped, "FModifyDate < '2025-01-01'")
    result = on_form.operate(p.SAVE, {"formid": shipped.form, "data": {"Model": {
        shipped.key.lower(): target[shipped.key], "FName": "改名测试"}}})
    assert result["Result"]["ResponseStatus"]["IsSuccess"]
    after = record(on_form, shipped, target[shipped.key])
    assert (after["FName"], after["FModifyDate"]) == ("改名测试", NOW_TEXT)
    assert after["FCreateDate"] == target["FCreateDate"]


def test_state_counts_rows_per_form(simulator_factory):
    sim = simulator_factory(customers=40, suppliers=30, materials=20, orders=7, rows={"bd_material": 25})
    kd = Kingdee(sim)
    state = kd.admin("state")
    forms = state["rows"]["forms"]
    assert {k: v["rows"] for k, v in forms.items()} == {"BD_Customer": 40, "BD_Supplier": 30,
                                                        "BD_MATERIAL": 25, "SAL_SaleOrder": 7}
    assert state["rows"]["customers"] == 40 and state["rows"]["suppliers"] == 30
    assert sum(forms["BD_Supplier"]["by_document_status"].values()) == 30


def test_unknown_form_in_rows_fails_at_start(simulator_factory):
    with pytest.raises(ValueError, match="BD_NOPE"):
        simulator_factory(rows={"BD_NOPE": 3})
