"""FilterString grammar (string and list form), checked against the rows computed in Python."""

from __future__ import annotations

import pytest

from kd_assets.kingdee import protocol as p

from .conftest import Kingdee, error_status

KEYS = "FName,FNumber,FDocumentStatus,FForbidStatus,FModifyDate,FApproveDate,FUseOrgId.FNumber,FRegisterFund,FIsGroup"


@pytest.fixture
def table(kd: Kingdee) -> list[dict]:
    """Every row of the small simulator as dicts, fetched without a filter."""
    names = ["FCUSTID"] + KEYS.split(",")
    return [dict(zip(names, row)) for row in kd.query("FCUSTID," + KEYS, OrderString="FCUSTID")]


def matching(kd: Kingdee, filter_string) -> list[int]:
    rows = kd.query("FCUSTID", FilterString=filter_string, OrderString="FCUSTID")
    assert isinstance(rows, list) and all(isinstance(r, list) for r in rows), rows
    return [r[0] for r in rows]


def expect(table: list[dict], predicate) -> list[int]:
    found = [r["FCUSTID"] for r in table if predicate(r)]
    assert found, "the filter under test should match something"
    return found


def at(value: str | None) -> str:
    return (value or "").replace("T", " ")


@pytest.mark.parametrize("filter_string,predicate", [
    ("FDocumentStatus = 'C'", lambda r: r["FDocumentStatus"] == "C"),
    ("fdocumentstatus <> 'C' AND FForbidStatus != 'A'",
     lambda r: r["FDocumentStatus"] != "C" and r["FForbidStatus"] == "B"),
    ("FDocumentStatus in ('A', 'B','D') or FForbidStatus = 'B'",
     lambda r: r["FDocumentStatus"] in "ABD" or r["FForbidStatus"] == "B"),
    ("NOT (FDocumentStatus = 'C' or FDocumentStatus = 'A') and not FIsGroup = 1",
     lambda r: r["FDocumentStatus"] not in "CA" and not r["FIsGroup"]),
    ("FDocumentStatus NOT IN ('C')", lambda r: r["FDocumentStatus"] != "C"),
    ("FCUSTID >= 100100 AND FCUSTID < 100150", lambda r: 100100 <= r["FCUSTID"] < 100150),
    ("FCUSTID between 100010 and 100020", lambda r: 100010 <= r["FCUSTID"] <= 100020),
    ("FName like '%科技%'", lambda r: "科技" in r["FName"]),
    ("FName NOT LIKE '上海%'", lambda r: not r["FName"].startswith("上海")),
    ("FNumber LIKE 'CUST00001_'", lambda r: r["FNumber"].startswith("CUST00001") and len(r["FNumber"]) == 10),
    ("FApproveDate is null", lambda r: r["FApproveDate"] is None),
    ("FApproveDate IS NOT NULL and FDocumentStatus = 'C'",
     lambda r: r["FApproveDate"] is not None and r["FDocumentStatus"] == "C"),
    ("FModifyDate >= '2024-01-01' and FModifyDate < '2024-07-01 00:00:00'",
     lambda r: "2024-01-01" <= at(r["FModifyDate"]) < "2024-07-01"),
    ("FModifyDate >= '2023-03-01T12:00:00'", lambda r: at(r["FModifyDate"]) >= "2023-03-01 12:00:00"),
    ("FUseOrgId.FNumber = '101'", lambda r: r["FUseOrgId.FNumber"] == "101"),
    ("FRegisterFund > 5000000", lambda r: float(r["FRegisterFund"]) > 5_000_000),
    ("1=1 and (FForbidStatus = 'B')", lambda r: r["FForbidStatus"] == "B"),
    ("fnumber = 'cust000001'", lambda r: r["FNumber"] == "CUST000001"),  # case-insensitive text
    ("FModifyDate > FApproveDate", lambda r: r["FApproveDate"] and at(r["FModifyDate"]) > at(r["FApproveDate"])),
    ("  ", lambda r: True),
])
def test_string_form(kd, table, filter_string, predicate):
    assert matching(kd, filter_string) == expect(table, predicate)


def test_datetime_literals_with_milliseconds_compare_as_times(kd, table):
    with_millis = next(r for r in table if r["FModifyDate"] and "." in r["FModifyDate"])
    stamp = with_millis["FModifyDate"]
    assert with_millis["FCUSTID"] in matching(kd, f"FModifyDate >= '{stamp}'")
    assert with_millis["FCUSTID"] not in matching(kd, f"FModifyDate > '{stamp}'")
    whole = stamp.split(".")[0]
    assert with_millis["FCUSTID"] in matching(kd, f"FModifyDate > '{whole}.000'")


@pytest.mark.parametrize("items,predicate", [
    ([{"Left": "", "FieldName": "FDocumentStatus", "Compare": "105", "Value": "C", "Right": "", "Logic": 0},
      {"Left": "", "FieldName": "FForbidStatus", "Compare": "105", "Value": "A", "Right": "", "Logic": 0},
      {"Left": "", "FieldName": "FUseOrgId.FNumber", "Compare": "67", "Value": "100", "Right": "", "Logic": 0}],
     lambda r: r["FDocumentStatus"] == "C" and r["FForbidStatus"] == "A" and r["FUseOrgId.FNumber"] == "100"),
    ([{"Left": "(", "FieldName": "FDocumentStatus", "Compare": "StatusEqualto", "Value": "A", "Logic": "1"},
      {"FieldName": "FDocumentStatus", "Compare": "=", "Value": "B", "Right": ")", "Logic": "AND"},
      {"FieldName": "FCUSTID", "Compare": ">", "Value": "100050"}],
     lambda r: r["FDocumentStatus"] in "AB" and r["FCUSTID"] > 100050),
    ([{"FieldName": "FNumber", "Compare": "60", "Value": "CUST00002"}],
     lambda r: r["FNumber"].startswith("CUST00002")),
    ([{"FieldName": "FName", "Compare": "17", "Value": "科技"}], lambda r: "科技" in r["FName"]),
], ids=["codes-67-105", "parens-and-or", "starts-with-60", "contains-17"])
def test_list_form(kd, table, items, predicate):
    assert matching(kd, items) == expect(table, predicate)


def test_list_form_values_are_literal_not_patterns(kd):
    assert matching(kd, [{"FieldName": "FName", "Compare": "17", "Value": "100%_"}]) == []
    kd.operate(p.SAVE, {"formid": "BD_Customer", "data": {"Model": {"FName": "100%_折扣有限公司"}}})
    assert len(matching(kd, [{"FieldName": "FName", "Compare": "17", "Value": "100%_"}])) == 1


def test_empty_list_form_is_no_filter(kd, table):
    assert matching(kd, []) == [r["FCUSTID"] for r in table]


def test_doubled_quote_injection_is_matched_literally(kd):
    assert matching(kd, "FName = 'x'' or ''1''=''1'") == []


def test_quote_escaped_value_matches_the_stored_text(kd):
    kd.operate(p.SAVE, {"formid": "BD_Customer", "data": {"Model": {"FName": "O'Brien 贸易有限公司"}}})
    assert len(matching(kd, "FName = 'O''Brien 贸易有限公司'")) == 1


@pytest.mark.parametrize("filter_string", [
    "FName = 'x'; DROP TABLE customer",
    "FName = 'x' -- comment",
    "FName = 'x' /* c */",
    "FName = 'x' UNION SELECT 1",
    "FName = (SELECT FName FROM customer)",
    "FName = 'unterminated",
    "FName",
    "FName = ",
    "(FName = 'a'",
    "FName = 'a')",
    "FName LIKE 5",
    "FNoSuchField = 1",
    "FUseOrgId.FColour = '1'",
    "FCUSTID = 'abc'",
    "FModifyDate >= 'yesterday'",
    "FName LIKE '[a-z]%'",
    "GETDATE() > FModifyDate",
])
def test_bad_or_hostile_filters_get_msgcode_4_and_change_nothing(kd, table, filter_string):
    status = error_status(kd.query("FCUSTID", FilterString=filter_string))
    assert status["MsgCode"] == p.MSG_BAD_FORM_OR_FILTER
    assert status["Errors"][0]["Message"].startswith("GetRealExpress error")
    assert len(kd.query("FCUSTID")) == len(table)  # the table is still there, unchanged


@pytest.mark.parametrize("items", [
    [{"FieldName": "FName", "Compare": "999", "Value": "x"}],
    [{"FieldName": "", "Compare": "67", "Value": "x"}],
    [{"FieldName": "FName", "Compare": "67", "Value": "x", "Logic": "XOR"}, {"FieldName": "FName", "Compare": "67", "Value": "y"}],
    ["FName = 'x'"],
])
def test_bad_list_form_items_get_msgcode_4(kd, items):
    assert error_status(kd.query("FCUSTID", FilterString=items))["MsgCode"] == 4
