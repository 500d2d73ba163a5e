"""SAL_SaleOrder: ExecuteBillQuery over a bill's header and entry rows, as K3Cloud answers it."""

from __future__ import annotations

from collections import Counter

import pytest

from kd_assets.kingdee import protocol as p

from .conftest import Kingdee, error_status

FORM, KEY, ENTRY = "SAL_SaleOrder", "FID", "FSaleOrderEntry_FEntryID"
LINES = f"FID,FBillNo,FCustId.FNumber,FSaleOrgId.FNumber,{ENTRY},FMaterialId.FNumber,FQty,FPrice,FAllAmount"
KEYSET_ORDER = f"FID ASC, {ENTRY} ASC"


@pytest.fixture
def bills(simulator_factory) -> Kingdee:
    handle = simulator_factory(customers=60, materials=40, suppliers=5, orders=40, seed=7,
                               max_limit=97, clock_start="2025-06-16 09:30:00")
    caller = Kingdee(handle, FORM, KEY)
    caller.login()
    return caller


def all_lines(kd: Kingdee, field_keys: str = LINES, extra: str = "") -> list[list]:
    """Every row, by keyset pages over (bill id, entry id): FID and the entry id lead the keys."""
    found, last = [], (0, 0)
    while True:
        where = f"(FID > {last[0]} or (FID = {last[0]} and {ENTRY} > {last[1]}))"
        page = kd.query(f"FID,{ENTRY}," + field_keys, FilterString=where + extra,
                        OrderString=KEYSET_ORDER)
        found += [row[2:] for row in page]
        if len(page) < kd.handle.config.max_limit:
            return found
        last = (page[-1][0], page[-1][1])


def state(kd: Kingdee) -> dict:
    return kd.admin("state")["rows"]["forms"][FORM]


def test_header_and_entry_fields_give_one_row_per_line_with_the_header_repeated(bills):
    rows = all_lines(bills)
    lines = state(bills)["lines"]["FSaleOrderEntry"]
    assert len(rows) == lines > state(bills)["rows"]  # many lines per bill
    by_bill = {}
    for row in rows:
        header = tuple(row[:4])
        assert by_bill.setdefault(row[0], header) == header  # header values repeated on each line
        assert row[2].startswith("CUST") and row[5].startswith("MAT")
    entry_ids = [row[4] for row in rows]
    assert len(set(entry_ids)) == len(entry_ids)
    assert all(row[8] == round(row[6] * row[7], 2) for row in rows if row[6] > 0 and row[7] > 0)
    assert any(row[6] < 0 or row[7] < 0 for row in rows)  # dirty lines exist


def test_a_header_only_query_returns_one_row_per_bill(bills):
    rows = bills.rows("FBillNo,FDocumentStatus,FCloseStatus,FModifyDate")
    assert len(rows) == state(bills)["rows"] == 40
    assert len({r[0] for r in rows}) == 40 and all(r[0].startswith("XSDD") for r in rows)
    assert {r[2] for r in rows} <= {"A", "B"}


def test_keyset_pages_split_bills_across_pages_without_loss_or_repeat(bills):
    rows = all_lines(bills, f"FID,{ENTRY},FQty")
    unpaged = bills.query(f"FID,{ENTRY},FQty", OrderString=KEYSET_ORDER, Limit=10_000)
    assert len(unpaged) == 97  # the cap
    assert [r[:2] for r in rows[:97]] == [r[:2] for r in unpaged]
    counts = Counter(r[0] for r in rows)
    assert max(counts.values()) > 1 and sum(counts.values()) == len(rows)


def test_a_bill_without_lines_comes_back_once_with_entry_id_zero(bills):
    saved = bills.operate(p.SAVE, {"formid": FORM, "data": {"Model": {
        "FCustId": {"FNumber": "CUST000001"}, "FDate": "2025-06-16", "FSaleOrderEntry": []}}})
    bill_id = saved["Result"]["Id"]
    rows = bills.query(f"FID,FBillNo,{ENTRY},FMaterialId.FNumber,FQty", FilterString=f"FID = {bill_id}")
    assert rows == [[bill_id, saved["Result"]["Number"], 0, None, None]]
    assert bills.query(f"FID,{ENTRY}", FilterString=f"FID = {bill_id} and {ENTRY} = 0") == [[bill_id, 0]]
    assert bills.query("FID,FBillNo", FilterString=f"FID = {bill_id}") == [[bill_id, saved["Result"]["Number"]]]


def test_fields_of_two_sibling_entities_multiply_rows_per_bill(bills):
    plans = Counter(r[0] for r in bills.query("FID,FSaleOrderPlan_FEntryID"))
    bill = next(b for b, n in sorted(plans.items()) if n > 1)  # a real product, not a coincidence
    lines = len(bills.query(f"FID,{ENTRY}", FilterString=f"FID = {bill}"))
    both = bills.query(f"FID,{ENTRY},FSaleOrderPlan_FEntryID,FQty,FRecAdvanceRate",
                       FilterString=f"FID = {bill}", OrderString=f"{ENTRY}, FSaleOrderPlan_FEntryID")
    assert len(both) == lines * plans[bill] and len({tuple(r[1:3]) for r in both}) == len(both)


def test_filters_reach_header_and_entry_fields(bills):
    negative = bills.query(f"FID,{ENTRY},FQty", FilterString="FQty < 0")
    assert negative and all(r[2] < 0 for r in negative)
    customer = all_lines(bills, "FCustId.FNumber")[0][0]
    mixed = bills.query(f"FID,FCustId.FNumber,FMaterialId.FNumber",
                        FilterString=f"FCustId.FNumber = '{customer}' and FMaterialId.FNumber like 'MAT%'")
    assert mixed and {r[1] for r in mixed} == {customer}


def test_an_unknown_entry_field_is_msgcode_9(bills):
    assert error_status(bills.query("FID,FSaleOrderEntry_FNope"))["MsgCode"] == 9


def test_business_info_lists_the_entities_with_their_entry_keys(bills):
    info = bills.operate(p.QUERY_BUSINESS_INFO, {"data": {"FormId": FORM}})["Result"]["NeedReturnData"]
    assert info["PkFieldName"] == "FID" and info["NumberFieldName"] == "FBillNo"
    entities = {e["Key"]: e for e in info["Entrys"]}
    assert entities["FSaleOrderEntry"]["EntryPkFieldName"] == ENTRY
    assert "FQty" in {f["Key"] for f in entities["FSaleOrderEntry"]["Fields"]}
    customer = next(f for f in entities["FBillHead"]["Fields"] if f["Key"] == "FCustId")
    assert customer["LookUpObjectFormId"] == "BD_Customer"


def test_orders_are_the_same_for_a_seed(simulator_factory):
    def dump(handle) -> list:
        kd = Kingdee(handle, FORM, KEY)
        kd.login()
        return all_lines(kd)
    config = {"customers": 30, "materials": 20, "orders": 15, "seed": 3, "clock_start": "2025-06-16 09:30:00"}
    assert dump(simulator_factory(**config)) == dump(simulator_factory(**config))


def test_bill_lines_option_sets_the_lines_of_every_generated_bill(simulator_factory):
    handle = simulator_factory(customers=10, materials=10, suppliers=2, orders=6, seed=7,
                               bill_lines={"fsaleorderentry": (250, 250)})
    kd = Kingdee(handle, FORM, KEY)
    kd.login()
    counts = Counter(row[0] for row in all_lines(kd, f"FID,{ENTRY}") if row[1])
    assert state(kd)["rows"] == 6
    assert set(counts.values()) == {250} and state(kd)["lines"]["FSaleOrderEntry"] == 250 * len(counts)


def test_bill_lines_option_naming_no_entry_entity_is_refused(simulator_factory):
    with pytest.raises(ValueError, match=r"bill_lines: no entry entity \['FOrderLines'\].*FSaleOrderEntry"):
        simulator_factory(orders=2, bill_lines={"FOrderLines": (3, 3)})
