"""ExecuteBillQuery / BillQuery parameters, value types and error envelopes."""

from __future__ import annotations

import json
import re

import pytest

from kd_assets.kingdee import protocol as p

from .conftest import FORM, Kingdee, error_status

DATETIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{3})?$")


def ids(rows: list) -> list[int]:
    return [r[0] for r in rows]


def test_field_keys_come_back_in_order_with_reference_paths(kd):
    rows = kd.query("FName,FCUSTID,FUseOrgId,FUseOrgId.FNumber,FUseOrgId.FName,FSELLER.FNumber,"
                    "FTRADINGCURRID.FNumber,FCreatorId.FName", OrderString="FCUSTID ASC", Limit=1)
    name, custid, org_id, org_number, org_name, seller, currency, creator = rows[0]
    assert isinstance(name, str) and custid == 100001
    assert (org_id, org_number, org_name) == (1, "100", "金蝶演示集团")  # bare reference = id
    assert seller.startswith("SAL") and currency in ("PRE001", "PRE002", "PRE007")
    assert creator in ("demo", "张会计", "李主管")


def test_field_keys_are_case_insensitive_and_fauditdate_is_an_alias(kd):
    upper = kd.query("fcustid,FAUDITDATE,fuseorgid.fnumber", OrderString="FCUSTID", Limit=20)
    plain = kd.query("FCUSTID,FApproveDate,FUseOrgId.FNumber", OrderString="FCUSTID", Limit=20)
    assert upper == plain


def test_value_types_match_kingdee(simulator_factory):
    kd = Kingdee(simulator_factory(customers=3000, seed=7))
    kd.login()
    rows = kd.rows("FCreateDate,FModifyDate,FApproveDate,FForbidDate,FRegisterFund,FIsGroup,"
                   "FDocumentStatus,FForbidStatus,FFAX")
    dates = [v for r in rows for v in r[0:4] if v is not None]
    assert all(DATETIME.match(v) for v in dates)
    assert any("." in v for v in dates) and any("." not in v for v in dates)
    assert any(r[2] is None for r in rows)  # unaudited rows have no approve date
    funds = [r[4] for r in rows]
    assert all(isinstance(f, (int, float, str)) for f in funds)
    assert any(isinstance(f, str) for f in funds) and all(float(f) == float(f) for f in funds)
    assert {r[5] for r in rows} == {True, False}
    assert {r[6] for r in rows} == set("ABCDZ") and {r[7] for r in rows} == {"A", "B"}
    assert {"", " "} <= {r[8] for r in rows}


def test_start_row_and_limit_page_through_the_rows(kd):
    everything = ids(kd.query("FCUSTID", OrderString="FCUSTID ASC"))
    assert len(everything) == 300
    page = ids(kd.query("FCUSTID", OrderString="FCUSTID ASC", StartRow=10, Limit=7))
    assert page == everything[10:17]


def test_limit_is_clamped_to_max_limit(simulator_factory):
    kd = Kingdee(simulator_factory(customers=120, max_limit=50))
    kd.login()
    assert len(kd.query("FCUSTID", Limit=10_000)) == 50
    assert len(kd.query("FCUSTID", Limit=0)) == 50
    assert len(kd.query("FCUSTID", Limit=20)) == 20


def test_top_row_count_is_an_absolute_end_row(kd):
    everything = ids(kd.query("FCUSTID", OrderString="FCUSTID ASC"))
    assert ids(kd.query("FCUSTID", OrderString="FCUSTID ASC", StartRow=20, Limit=10,
                        TopRowCount=30)) == everything[20:30]
    assert ids(kd.query("FCUSTID", OrderString="FCUSTID ASC", StartRow=20, Limit=10,
                        TopRowCount=25)) == everything[20:25]
    assert kd.query("FCUSTID", StartRow=20, Limit=10, TopRowCount=10) == []
    assert ids(kd.query("FCUSTID", OrderString="FCUSTID", TopRowCount=3)) == everything[:3]


def test_order_string_sorts_by_several_known_fields(kd):
    rows = kd.query("FUseOrgId.FNumber,FCUSTID", OrderString="FUseOrgId.FNumber DESC, FCUSTID asc")
    assert rows == sorted(rows, key=lambda r: (-ord(r[0][-1]) if r[0][:2] == "10" else 0, r[1]))
    assert rows == sorted(sorted(rows, key=lambda r: r[1]), key=lambda r: r[0], reverse=True)


def test_empty_order_string_gives_stable_key_order_unless_shuffled(simulator_factory):
    kd = Kingdee(simulator_factory(customers=200))
    kd.login()
    assert ids(kd.query("FCUSTID")) == sorted(ids(kd.query("FCUSTID")))
    shuffled = Kingdee(simulator_factory(customers=200, shuffle_unordered=True))
    shuffled.login()
    first, second = ids(shuffled.query("FCUSTID")), ids(shuffled.query("FCUSTID"))
    assert first != sorted(first) and first != second and sorted(first) == sorted(second)
    assert ids(shuffled.query("FCUSTID", OrderString="FCUSTID")) == sorted(first)


def test_bill_query_returns_objects_keyed_by_field_keys(kd):
    arrays = kd.query("FCUSTID,FUseOrgId.FNumber,FIsGroup", OrderString="FCUSTID", Limit=5)
    objects = kd.query("FCUSTID,FUseOrgId.FNumber,FIsGroup", service=p.BILL_QUERY,
                       OrderString="FCUSTID", Limit=5)
    assert objects == [dict(zip(["FCUSTID", "FUseOrgId.FNumber", "FIsGroup"], r)) for r in arrays]


def test_data_may_be_a_json_string_and_keys_any_case(kd):
    body = {"DATA": json.dumps({"formid": FORM, "fieldkeys": "FCUSTID", "LIMIT": 3,
                                "orderstring": "FCUSTID"})}
    assert len(kd.post(p.EXECUTE_BILL_QUERY, body).json()) == 3


def test_positional_parameters_in_the_standard_envelope(kd):
    data = {"FormId": FORM, "FieldKeys": "FCUSTID", "Limit": 2, "OrderString": "FCUSTID"}
    body = {"format": 1, "useragent": "ApiClient", "rid": "1", "v": "1.0",
            "parameters": json.dumps([json.dumps(data)])}
    assert ids(kd.post(p.EXECUTE_BILL_QUERY, body).json()) == ids(kd.query("FCUSTID", Limit=2))


@pytest.mark.parametrize("data,code,fragment", [
    ({"FieldKeys": "FCUSTID"}, p.MSG_EMPTY_PARAMETER, "FormId"),
    ({"FormId": "NO_SUCH_FORM", "FieldKeys": "FCUSTID"}, p.MSG_BAD_FORM_OR_FILTER, "NO_SUCH_FORM"),
    ({"FormId": FORM, "FieldKeys": ""}, p.MSG_EMPTY_PARAMETER, "FieldKeys"),
    ({"FormId": FORM, "FieldKeys": "FCUSTID,FNoSuchField"}, p.MSG_UNKNOWN_FIELD, "FNoSuchField"),
    ({"FormId": FORM, "FieldKeys": "FUseOrgId.FColour"}, p.MSG_UNKNOWN_FIELD, "FUseOrgId.FColour"),
    ({"FormId": FORM, "FieldKeys": "FName.FNumber"}, p.MSG_UNKNOWN_FIELD, "FName.FNumber"),
    ({"FormId": FORM, "FieldKeys": "FCUSTID", "OrderString": "FNope DESC"}, p.MSG_UNKNOWN_FIELD, "FNope"),
    ({"FormId": FORM, "FieldKeys": "FCUSTID", "OrderString": "FCUSTID; DROP"}, 4, "OrderString"),
    ({"FormId": FORM, "FieldKeys": "FCUSTID", "FilterString": "FCUSTID >"}, 4, "GetRealExpress"),
    ({"FormId": FORM, "FieldKeys": "FCUSTID", "Limit": "lots"}, 0, "Limit"),
], ids=["no-form", "unknown-form", "empty-keys", "unknown-field", "unknown-sub-property",
        "sub-property-of-text", "unknown-order-field", "bad-order", "bad-filter", "wrong-type"])
def test_errors_use_kingdee_envelopes(kd, data, code, fragment):
    wrapped = kd.post(p.EXECUTE_BILL_QUERY, {"data": data}).json()
    status = error_status(wrapped)
    assert isinstance(wrapped, list) and status["IsSuccess"] is False
    assert status["ErrorCode"] == 500 and status["MsgCode"] == code
    assert fragment in status["Errors"][0]["Message"] + str(status["Errors"][0]["FieldName"])
    bare = kd.post(p.BILL_QUERY, {"data": data}).json()  # BillQuery errors are not wrapped
    assert bare["Result"]["ResponseStatus"] == status


def test_query_business_info_lists_the_fields(kd):
    info = kd.post(p.QUERY_BUSINESS_INFO, {"data": {"FormId": FORM}}).json()
    fields = {f["Key"] for f in info["Result"]["NeedReturnData"]["Entrys"][0]["Fields"]}
    assert {"FCUSTID", "FMasterId", "FModifyDate", "FForbidDate", "FApproveDate"} <= fields


def test_keyset_paging_sees_every_row_once(simulator_factory):
    kd = Kingdee(simulator_factory(customers=450, max_limit=100))
    kd.login()
    keys = [r[0] for r in kd.rows("FCUSTID")]
    assert len(keys) == 450 == len(set(keys))
