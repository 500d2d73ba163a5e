"""Save with entry rows, Delete, Audit, BillClose and write-backs on SAL_SaleOrder."""

from __future__ import annotations

import pytest

from kd_assets.kingdee import protocol as p

from .conftest import Kingdee, error_status

FORM, ENTRY = "SAL_SaleOrder", "FSaleOrderEntry_FEntryID"
HEADER = "FID,FBillNo,FDocumentStatus,FCloseStatus,FModifyDate,FCloseDate,FCloserId,FApproveDate"
LINE = f"{ENTRY},FMaterialId.FNumber,FQty,FPrice,FAllAmount,FStockOutQty"
NOW = "2025-07-01 08:00:00"


@pytest.fixture
def kd(simulator_factory) -> Kingdee:
    handle = simulator_factory(customers=30, materials=30, suppliers=5, orders=20, seed=5,
                               clock_start=NOW)
    caller = Kingdee(handle, FORM, "FID")
    caller.admin("clock", {"now": NOW, "frozen": True})
    caller.login()
    return caller


def save(kd: Kingdee, model: dict, **data) -> dict:
    return kd.operate(p.SAVE, {"formid": FORM, "data": {"Model": model, **data}})["Result"]


def operation(kd: Kingdee, op: str, bill_id: int) -> dict:
    return kd.operate(p.EXCUTE_OPERATION, {"formid": FORM, "opNumber": op,
                                           "data": {"Ids": str(bill_id)}})["Result"]["ResponseStatus"]


def header(kd: Kingdee, bill_id: int) -> dict:
    rows = kd.query(HEADER, FilterString=f"FID = {bill_id}")
    return dict(zip(HEADER.split(","), rows[0])) if rows else {}


def lines(kd: Kingdee, bill_id: int) -> list[dict]:
    rows = kd.query(LINE, FilterString=f"FID = {bill_id}", OrderString=f"{ENTRY} ASC")
    return [dict(zip(LINE.split(","), r)) for r in rows]


def line(material: str, qty: float, price: float, **more) -> dict:
    return {"FMaterialId": {"FNumber": material}, "FQty": qty, "FPrice": price, **more}


def new_bill(kd: Kingdee, count: int = 3) -> int:
    result = save(kd, {"FCustId": {"FNumber": "CUST000002"}, "FDate": "2025-07-01",
                       "FSaleOrderEntry": [line(f"MAT00000{i + 1}", i + 1, 10.5) for i in range(count)]})
    assert result["ResponseStatus"]["IsSuccess"], result
    return result["Id"]


def advance(kd: Kingdee, seconds: int = 60) -> None:
    kd.admin("clock", {"advance_seconds": seconds})
    kd.login()  # a long jump idles the session past its TTL


def test_save_creates_a_bill_with_its_lines_and_amounts(kd):
    bill_id = new_bill(kd)
    made = header(kd, bill_id)
    assert made["FBillNo"].startswith("XSDD") and made["FDocumentStatus"] == "A"
    assert made["FCloseStatus"] == "A" and made["FModifyDate"] == "2025-07-01T08:00:00"
    assert [(r["FMaterialId.FNumber"], r["FQty"], r["FAllAmount"]) for r in lines(kd, bill_id)] == [
        ("MAT000001", 1.0, 10.5), ("MAT000002", 2.0, 21.0), ("MAT000003", 3.0, 31.5)]


def test_save_edits_lines_with_an_entry_id_adds_the_rest_and_removes_those_not_sent(kd):
    bill_id = new_bill(kd)
    first, second, third = [r[ENTRY] for r in lines(kd, bill_id)]
    advance(kd)
    result = save(kd, {"FID": bill_id, "FSaleOrderEntry": [
        {"FEntryID": first, "FQty": 4}, {ENTRY: third}, line("MAT000009", 1, 2.25)]})
    assert result["ResponseStatus"]["IsSuccess"], result
    after = lines(kd, bill_id)
    assert [r[ENTRY] for r in after][:2] == [first, third] and after[2][ENTRY] > third
    assert after[0]["FQty"] == 4.0 and after[0]["FAllAmount"] == 42.0  # the amount follows
    assert after[2]["FMaterialId.FNumber"] == "MAT000009"
    assert second not in [r[ENTRY] for r in after]
    assert header(kd, bill_id)["FModifyDate"] == "2025-07-01T08:01:00"


def test_is_delete_entry_false_keeps_the_lines_not_sent(kd):
    bill_id = new_bill(kd)
    first = lines(kd, bill_id)[0][ENTRY]
    save(kd, {"FID": bill_id, "FSaleOrderEntry": [{"FEntryID": first, "FQty": 7}]}, IsDeleteEntry="false")
    assert [r["FQty"] for r in lines(kd, bill_id)] == [7.0, 2.0, 3.0]


def test_an_empty_entry_object_clears_the_lines_and_the_bill_stays(kd):
    bill_id = new_bill(kd)
    save(kd, {"FID": bill_id, "FSaleOrderEntry": [{}]})
    assert kd.query(f"FID,{ENTRY},FQty", FilterString=f"FID = {bill_id}") == [[bill_id, 0, None]]


def test_an_entry_id_of_another_bill_is_refused(kd):
    bill_id, other = new_bill(kd), new_bill(kd)
    foreign = lines(kd, other)[0][ENTRY]
    result = save(kd, {"FID": bill_id, "FSaleOrderEntry": [{"FEntryID": foreign, "FQty": 1}]})
    assert result["ResponseStatus"]["IsSuccess"] is False
    assert len(lines(kd, bill_id)) == 3 and lines(kd, other)[0]["FQty"] == 1.0


def test_an_entry_field_outside_its_entity_is_unknown(kd):
    result = save(kd, {"FCustId": {"FNumber": "CUST000002"}, "FQty": 3})
    assert result["ResponseStatus"]["MsgCode"] == 9


def test_audited_bills_refuse_edits_and_deletes_unaudited_ones_go_with_their_lines(kd):
    bill_id = new_bill(kd)
    assert operation(kd, "Audit", bill_id)["IsSuccess"]
    assert save(kd, {"FID": bill_id, "FNote": "x"})["ResponseStatus"]["IsSuccess"] is False
    deleted = kd.operate(p.DELETE, {"formid": FORM, "data": {"Ids": str(bill_id)}})
    assert error_status(deleted)["IsSuccess"] is False and "已审核" in error_status(deleted)["Errors"][0]["Message"]
    assert operation(kd, "UnAudit", bill_id)["IsSuccess"]
    deleted = kd.operate(p.DELETE, {"formid": FORM, "data": {"Ids": str(bill_id)}})
    assert error_status(deleted)["SuccessEntitys"][0]["Id"] == bill_id
    assert header(kd, bill_id) == {} and lines(kd, bill_id) == []


def test_bill_close_stamps_the_close_date_not_the_modify_date(kd):
    bill_id = new_bill(kd)
    assert operation(kd, "BillClose", bill_id)["IsSuccess"] is False  # not audited yet
    assert operation(kd, "Submit", bill_id)["IsSuccess"] and operation(kd, "Audit", bill_id)["IsSuccess"]
    advance(kd)
    assert operation(kd, "BillClose", bill_id)["IsSuccess"]
    closed = header(kd, bill_id)
    assert closed["FCloseStatus"] == "B" and closed["FCloseDate"] == "2025-07-01T08:01:00"
    assert closed["FModifyDate"] == "2025-07-01T08:00:00" and closed["FCloserId"] == 100100
    assert operation(kd, "UnAudit", bill_id)["IsSuccess"] is False  # closed bills stay audited
    assert operation(kd, "UnBillClose", bill_id)["IsSuccess"]
    assert header(kd, bill_id)["FCloseStatus"] == "A" and header(kd, bill_id)["FCloseDate"] is None


def test_base_data_has_no_close_operation(kd):
    customers = kd.on("BD_Customer", "FCUSTID")
    result = customers.operate(p.EXCUTE_OPERATION, {"formid": "BD_Customer", "opNumber": "BillClose",
                                                    "data": {"Ids": "100001"}})
    assert error_status(result)["IsSuccess"] is False


def test_writeback_changes_delivered_quantities_without_moving_the_modify_date(kd):
    bill_id = new_bill(kd)
    operation(kd, "Audit", bill_id)
    before = header(kd, bill_id)
    advance(kd, 3600)
    answer = kd.admin(f"forms/{FORM}/writeback", {"ids": [bill_id], "share": 0.5})
    assert answer == {"form": FORM, "lines": 3}
    assert [r["FStockOutQty"] for r in lines(kd, bill_id)] == [0.5, 1.0, 1.5]
    assert header(kd, bill_id) == before


def test_writeback_rejects_bad_bodies(kd):
    response = kd.http.post(kd.handle.admin_url + f"forms/{FORM}/writeback", json={"ids": ["x"]}, timeout=10)
    assert response.status_code == 400 and "FID" in response.json()["error"]
    response = kd.http.post(kd.handle.admin_url + "forms/BD_Customer/writeback", json={"ids": [1]}, timeout=10)
    assert response.status_code == 400 and "writeback" in response.json()["error"]


def test_background_activity_creates_edits_and_closes_orders(simulator_factory):
    from kd_assets.simulator.activity import Activity

    handle = simulator_factory(customers=30, materials=30, suppliers=5, orders=30, activity=3600,
                               activity_writeback=True)
    kd = Kingdee(handle, FORM, "FID")
    kd.login()
    keys = f"FID,{ENTRY},FDocumentStatus,FCloseStatus,FQty,FStockOutQty"

    def snapshot() -> dict:
        return {(r[0], r[1]): r[2:] for r in kd.rows(keys)}

    before = snapshot()
    activity = Activity(handle.app)
    for _ in range(3):
        activity.round()
    after = snapshot()
    assert len({bill for bill, _ in after} - {bill for bill, _ in before}) == 3  # new orders
    assert set(before) - set(after)  # lines removed by edits
    assert sum(before[k] != after[k] for k in before.keys() & after.keys()) >= 3


def test_a_bill_number_is_unique(kd):
    bill_id, other = new_bill(kd), new_bill(kd)
    taken = header(kd, other)["FBillNo"]
    result = save(kd, {"FID": bill_id, "FBillNo": taken})
    assert result["ResponseStatus"]["IsSuccess"] is False and header(kd, bill_id)["FBillNo"] != taken
    assert save(kd, {"FID": bill_id, "FBillNo": "XSDD-MANUAL-1"})["ResponseStatus"]["IsSuccess"]
    assert header(kd, bill_id)["FBillNo"] == "XSDD-MANUAL-1"


def test_bills_have_no_use_org_so_permissions_hide_none_and_allocate_refuses(kd):
    bill_id = new_bill(kd)
    total = len(kd.rows("FBillNo"))
    kd.admin("permissions", {"visible_orgs": "101"})
    assert len(kd.rows("FBillNo")) == total and header(kd, bill_id)
    result = kd.operate(p.SAVE.rsplit(".", 1)[0] + ".Allocate", {"formid": FORM, "data": {
        "PkIds": str(bill_id), "TOrgIds": "100329"}})
    assert error_status(result)["IsSuccess"] is False and "不支持分配" in error_status(result)["Errors"][0]["Message"]
