"""pandera schemas: each check passing and failing; rejects keep reasons and raw payload."""

from __future__ import annotations

import dataclasses
import json

import pandas as pd
import pytest

from kd_assets.sync.schemas import REJECT_COLUMNS, clean_schema, raw_schema, validate
from kd_assets.sync.transform import to_frame
from kd_assets_tests.sync.rows import SPEC, kd_row

NOW = pd.Timestamp("2024-06-01 12:00:00")


def check(**columns):
    """Validate one row; return the failed (check, field) pairs (empty when clean)."""
    result = validate(SPEC, to_frame(SPEC, [kd_row(1001, **columns)]), now=NOW)
    assert len(result.clean) + len(result.rejects) == 1
    if result.rejects.empty:
        return []
    return [(r["check"], r["field"]) for r in result.rejects["reasons"].iloc[0]]


def test_a_good_row_is_clean_with_spec_columns_and_change_time():
    result = validate(SPEC, to_frame(SPEC, [kd_row(1), kd_row(2)]), now=NOW)
    assert result.rejects.empty and list(result.rejects.columns) == REJECT_COLUMNS
    assert list(result.clean.columns) == [c.name for c in SPEC.columns] + ["change_time"]
    assert result.clean["data_id"].tolist() == [1, 2]


def test_schemas_are_built_from_the_spec():
    assert set(raw_schema(SPEC).columns) == {"data_id", "change_time"}
    assert set(clean_schema(SPEC, NOW).columns) == {c.name for c in SPEC.columns} | {"change_time"}


@pytest.mark.parametrize("columns, failed", [
    ({"customer_name": " "}, ("not_nullable", "FName")),
    ({"document_status": "Q"}, ("isin(['Z', 'A', 'B', 'C', 'D'])", "FDocumentStatus")),
    ({"forbid_status": None}, ("not_nullable", "FForbidStatus")),
    ({"forbid_status": "C"}, ("isin(['A', 'B'])", "FForbidStatus")),
    ({"registered_capital": -1}, ("greater_than_or_equal_to(0.0)", "FRegisterFund")),
    ({"social_credit_code": "91350100M000100Y4"}, (
        "str_matches('^[0-9A-HJ-NPQRTUWXY]{2}\\d{6}[0-9A-HJ-NPQRTUWXY]{10}$')", "FSOCIALCRECODE")),
    ({"social_credit_code": "91350100M000100I43"}, (
        "str_matches('^[0-9A-HJ-NPQRTUWXY]{2}\\d{6}[0-9A-HJ-NPQRTUWXY]{10}$')", "FSOCIALCRECODE")),
    ({"customer_name": "x" * 256}, ("str_length(None, 255)", "FName")),
])
def test_each_business_rule_fails_with_its_check_and_field(columns, failed):
    assert check(**columns) == [failed]


@pytest.mark.parametrize("columns", [
    {"registered_capital": 0}, {"registered_capital": None}, {"social_credit_code": None},
    {"document_status": "Z"}, {"forbid_status": "B"}, {"customer_name": "x" * 255},
    {"created_at": "1990-01-01T00:00:00"}, {"modified_at": "2024-06-02T12:00:00"},
])
def test_each_business_rule_passes_on_its_edge(columns):
    assert check(**columns) == []


@pytest.mark.parametrize("column, field, value", [
    ("created_at", "FCreateDate", "1989-12-31T23:59:59"),
    ("modified_at", "FModifyDate", "2024-06-02T12:00:01"),
    ("approved_at", "FApproveDate", "2099-01-01T00:00:00"),
])
def test_implausible_dates_fail(column, field, value):
    [(name, got_field)] = check(**{column: value})
    assert name.startswith("plausible_date(1990-01-01..2024-06-02 12:00") and got_field == field


def test_a_datetime_column_marked_future_may_lie_ahead_of_now():
    """Delivery and due dates lie ahead by nature; ``future: true`` drops only the 'not after now' bound."""
    ahead = dataclasses.replace(SPEC, columns=tuple(
        dataclasses.replace(c, future=True) if c.name == "created_at" else c for c in SPEC.columns))
    far = kd_row(1001, spec=ahead, created_at="2099-01-01T00:00:00")
    early = kd_row(1002, spec=ahead, created_at="1989-12-31T23:59:59")
    result = validate(ahead, to_frame(ahead, [far, early]), now=NOW)
    assert result.clean["data_id"].tolist() == [1001]
    [(reason)] = result.rejects["reasons"].iloc[0]
    assert reason["check"] == "plausible_date(1990-01-01..)" and reason["field"] == "FCreateDate"


def test_row_without_any_change_time_fails_the_raw_schema():
    assert check(modified_at=None, forbidden_at=None, approved_at=None) == [("not_nullable", "change_time")]


def test_duplicate_keys_in_a_chunk_are_all_rejected_the_rest_pass():
    result = validate(SPEC, to_frame(SPEC, [kd_row(1), kd_row(2), kd_row(1)]), now=NOW)
    assert result.clean["data_id"].tolist() == [2]
    assert result.rejects["key"].tolist() == ["1", "1"]
    assert all(r == [{"check": "field_uniqueness", "field": "FCUSTID", "column": "data_id", "value": "1"}]
               for r in result.rejects["reasons"])


def test_missing_key_reported_once_with_conversion_detail():
    result = validate(SPEC, to_frame(SPEC, [kd_row(None)]), now=NOW)
    assert result.rejects["key"].tolist() == ["<missing>"]
    assert [r["check"] for r in result.rejects["reasons"].iloc[0]] == ["not_nullable"]


def test_conversion_errors_and_rule_failures_are_combined_with_raw_payload():
    row = kd_row(7, master_id="12abc", document_status="Q")
    result = validate(SPEC, to_frame(SPEC, [row, kd_row(8)]), now=NOW)
    assert result.clean["data_id"].tolist() == [8]
    reject = result.rejects.iloc[0]
    assert reject["key"] == "7" and reject["change_time"] == pd.Timestamp("2024-05-07 10:00:00")
    assert [(r["check"], r["field"]) for r in reject["reasons"]] == [
        ("conversion", "FMasterId"), ("isin(['Z', 'A', 'B', 'C', 'D'])", "FDocumentStatus")]
    assert json.loads(reject["payload"])["FMasterId"] == "12abc"


def test_count_in_equals_clean_plus_rejects_on_a_mixed_chunk():
    rows = [kd_row(i, master_id=("bad" if i % 3 == 0 else i), customer_name=("" if i % 5 == 0 else "n"))
            for i in range(1, 101)]
    result = validate(SPEC, to_frame(SPEC, rows), now=NOW)
    assert len(result.clean) + len(result.rejects) == 100
    assert sorted(result.rejects["key"].astype(int).tolist() + result.clean["data_id"].tolist()) == list(range(1, 101))
    assert len(result.rejects) == 100 - len([i for i in range(1, 101) if i % 3 and i % 5])


def test_frame_with_wrong_dtypes_is_a_bug_not_a_reject():
    frame = to_frame(SPEC, [kd_row(1)])
    frame["master_id"] = frame["master_id"].astype(str)
    with pytest.raises(TypeError, match="does not have the spec's shape or dtypes"):
        validate(SPEC, frame, now=NOW)
