"""Kingdee rows → typed frame: every conversion, blanks, bad values, change time, raw payload."""

from __future__ import annotations

import dataclasses
import json
from decimal import Decimal

import pandas as pd
import pytest

from kd_assets.sync.transform import (CHANGE_TIME, CONVERSION_ERRORS, RAW, coerce_frame, payload_json,
                                      row_from_payload, to_frame)
from kd_assets_tests.sync.rows import SPEC, kd_row


def one(**columns) -> pd.Series:
    return to_frame(SPEC, [kd_row(1001, **columns)]).iloc[0]


def errors_of(**columns) -> list[dict]:
    return one(**columns)[CONVERSION_ERRORS] or []


def test_frame_has_spec_columns_in_order_plus_change_time_raw_and_errors():
    frame = to_frame(SPEC, [kd_row(1), kd_row(2)])
    assert list(frame.columns) == [c.name for c in SPEC.columns] + [CHANGE_TIME, RAW, CONVERSION_ERRORS]
    assert frame[RAW].tolist() == [kd_row(1), kd_row(2)]
    assert frame[CONVERSION_ERRORS].isna().all()


def test_empty_chunk_gives_empty_typed_frame():
    frame = to_frame(SPEC, [])
    assert len(frame) == 0 and "customer_name" in frame


@pytest.mark.parametrize("value, expected", [
    ("  Acme  ", "Acme"), ("", None), (" ", None), (None, None), (123, "123"),
])
def test_text_is_trimmed_and_blank_is_null(value, expected):
    assert one(short_name=value)["short_name"] == expected


# BD_Customer reads FRegisterFund leniently (amount_text); the strict decimal conversion is
# tested on the same field declared `decimal`, as a spec for a numeric field would.
DECIMAL_SPEC = dataclasses.replace(SPEC, columns=tuple(
    dataclasses.replace(c, conversion="decimal") if c.name == "registered_capital" else c
    for c in SPEC.columns if c.name != "registered_capital_text"))


def one_decimal(value) -> pd.Series:
    return to_frame(DECIMAL_SPEC, [kd_row(1001, spec=DECIMAL_SPEC, registered_capital=value)]).iloc[0]


@pytest.mark.parametrize("spec", [DECIMAL_SPEC, SPEC], ids=["decimal", "amount_text"])
@pytest.mark.parametrize("value, expected", [
    (1000000, "1000000.00"), ("2500000.5", "2500000.50"), (" 12 ", "12.00"), (0, "0.00"), ("-0", "0.00"),
    ("", None), (None, None), (1.005, "1.01"), ("0.125", "0.13"), ("-0.125", "-0.13"), ("1e3", "1000.00"),
    ("9999999999999999.99", "9999999999999999.99"), (Decimal("9999999999999999.994"), "9999999999999999.99"),
    ("90071992547409.93", "90071992547409.93"), ("1234567890123.455", "1234567890123.46"),
])
def test_decimal_is_exact_and_rounded_half_up_to_scale_like_mysql(spec, value, expected):
    """Through float64, 9999999999999999.99 became 1e16 and 1234567890123.455 rounded down."""
    got = to_frame(spec, [kd_row(1001, spec=spec, registered_capital=value)]).iloc[0]["registered_capital"]
    if expected is None:
        assert got is None
    else:
        assert type(got) is Decimal and str(got) == expected


@pytest.mark.parametrize("value", ["12abc", "1e999", 1e17, "NaN-ish", "NaN", "Infinity", "10000000000000000.00",
                                   "9999999999999999.995", True])
def test_bad_decimal_is_a_conversion_error_naming_key_and_field(value):
    row = one_decimal(value)
    (err,) = row[CONVERSION_ERRORS]
    assert err["field"] == "FRegisterFund" and err["column"] == "registered_capital"
    assert "FCUSTID=1001" in err["message"] and "FRegisterFund" in err["message"]
    assert pd.isna(row["registered_capital"])


@pytest.mark.parametrize("text, amount", [
    ("500万元", "5000000.00"), ("5000万人民币", "50000000.00"), ("1,000.00", "1000.00"), ("壹佰万", "1000000.00"),
    ("人民币 300 万元", "3000000.00"), ("１，２００万", "12000000.00"), ("1.5亿", "150000000.00"),
    ("伍拾万元整", "500000.00"), ("一亿五千万", "150000000.00"), ("¥88,000", "88000.00"), ("十万", "100000.00"),
    ("100万美元", None), ("未知", None), ("见营业执照", None), ("12abc", None), ("NaN", None),
    ("1e999", None), ("-200万", "-2000000.00"),
])
def test_amount_text_reads_what_tenants_write_and_keeps_the_text(text, amount):
    """FRegisterFund is text in Kingdee's metadata: what cannot be read is NULL, never a reject."""
    row = one(registered_capital=text)
    assert row["registered_capital_text"] == text.strip()
    assert (row["registered_capital"] is None if amount is None else str(row["registered_capital"]) == amount)
    assert not row[CONVERSION_ERRORS]


@pytest.mark.parametrize("value, expected", [(7, 7), ("42", 42), (None, None), ("", None)])
def test_int_from_int_or_numeric_string(value, expected):
    got = one(master_id=value)["master_id"]
    assert (pd.isna(got) and expected is None) or got == expected


@pytest.mark.parametrize("big, expected", [
    (2**53 + 1, 2**53 + 1), (str(2**53 + 1), 2**53 + 1), (f"{2**53 + 1}.0", 2**53 + 1),
    (str(2**63 - 1), 2**63 - 1), (-(2**63), -(2**63)),
], ids=["json int", "text", "text with .0", "largest bigint as text", "smallest bigint"])
def test_a_bigint_beside_a_blank_and_a_bad_value_is_exact(big, expected):
    """No float64 on the way: 2**53 + 1 would become 2**53, 2**63 - 1 out of range."""
    frame = to_frame(SPEC, [kd_row(1, master_id=big), kd_row(2, master_id=" "), kd_row(3, master_id="12abc")])
    assert frame["master_id"].tolist()[:2] == [expected, pd.NA] and pd.isna(frame["master_id"].iloc[2])
    assert frame[CONVERSION_ERRORS].iloc[:2].isna().all()
    (err,) = frame[CONVERSION_ERRORS].iloc[2]
    assert err["field"] == "FMasterId" and "is not an integer within bigint" in err["message"]


@pytest.mark.parametrize("value", ["x1", 1.5, True, 2**63, str(2**63), "4.5", "1_000", "٣"])
def test_bad_int_is_a_conversion_error(value):
    (err,) = errors_of(master_id=value)
    assert err["field"] == "FMasterId" and err["check"] == "conversion"


def test_key_that_is_not_an_integer_is_named_by_its_raw_value():
    frame = to_frame(SPEC, [kd_row("abc")])
    (err,) = frame[CONVERSION_ERRORS].iloc[0]
    assert err["field"] == "FCUSTID" and "FCUSTID='abc'" in err["message"]
    assert pd.isna(frame["data_id"].iloc[0])


@pytest.mark.parametrize("value, expected", [
    ("2024-05-07T10:11:12", "2024-05-07 10:11:12"),
    ("2024-05-07T10:11:12.345", "2024-05-07 10:11:12.345"),
    ("2024-05-07T10:11:12.3456789"[:26], "2024-05-07 10:11:12.345"),  # sub-ms digits floored
    ("2024-05-07 10:11:12", "2024-05-07 10:11:12"),
])
def test_datetime_keeps_naive_source_local_time_with_milliseconds(value, expected):
    got = one(modified_at=value)["modified_at"]
    assert got == pd.Timestamp(expected) and got.tz is None


def test_datetime_column_without_fraction_drops_milliseconds():
    assert one(created_at="2024-01-02T09:00:00.999")["created_at"] == pd.Timestamp("2024-01-02 09:00:00")


@pytest.mark.parametrize("value", [None, "", " "])
def test_missing_datetime_is_null(value):
    assert pd.isna(one(forbidden_at=value)["forbidden_at"])


@pytest.mark.parametrize("value", ["2024-13-01T00:00:00", "yesterday", "2024-05-07T10:11:12+08:00", 20240507])
def test_bad_datetime_is_a_conversion_error(value):
    (err,) = errors_of(forbidden_at=value)
    assert err["field"] == "FForbidDate" and "source-local datetime" in err["message"]


@pytest.mark.parametrize("column", ["created_at", "forbidden_at"])  # datetime and datetime(3)
@pytest.mark.parametrize("value", ["0001-01-01T00:00:00", "1000-01-01T00:00:00", "1752-12-31T23:59:59.999",
                                   "2262-04-11T00:00:00", "9999-12-31T23:59:59"])
def test_out_of_range_datetime_is_a_conversion_reject_not_a_wrapped_value(column, value):
    """0001-01-01 used to wrap silently to 1754 in the cast to datetime64[ns]."""
    row = one(**{column: value})
    assert pd.isna(row[column])
    (err,) = row[CONVERSION_ERRORS]
    field = {"created_at": "FCreateDate", "forbidden_at": "FForbidDate"}[column]
    assert err["field"] == field and err["value"] == value
    assert f"FCUSTID=1001: {field}" in err["message"] and "1753-01-01" in err["message"]


@pytest.mark.parametrize("value", ["1753-01-01T00:00:00", "2262-04-10T23:59:59"])
def test_datetimes_at_the_range_ends_convert(value):
    assert one(created_at=value)["created_at"] == pd.Timestamp(value)


@pytest.mark.parametrize("value, expected", [(True, True), (False, False), ("1", True), ("0", False),
                                             ("true", True), ("False", False), (1, True), (None, None)])
def test_bool_from_kingdee_flags(value, expected):
    got = one(is_group=value)["is_group"]
    assert (pd.isna(got) and expected is None) or got == expected


def test_bad_bool_is_a_conversion_error():
    (err,) = errors_of(is_group="maybe")
    assert err["field"] == "FIsGroup"


def test_code_is_trimmed_text():
    assert one(document_status=" C ")["document_status"] == "C"


def test_change_time_is_greatest_non_null_change_field():
    row = one(modified_at="2024-05-07T10:00:00", forbidden_at="2024-05-08T08:00:00.250", approved_at=None)
    assert row[CHANGE_TIME] == pd.Timestamp("2024-05-08 08:00:00.250")
    assert one(modified_at=None, forbidden_at=None, approved_at="2024-05-01T00:00:00")[CHANGE_TIME] == \
        pd.Timestamp("2024-05-01")
    assert pd.isna(one(modified_at=None, forbidden_at=None, approved_at=None)[CHANGE_TIME])


def test_several_bad_values_in_one_row_are_all_reported():
    errs = errors_of(master_id="12abc", modified_at="bad", is_group="?")
    assert [e["field"] for e in errs] == ["FMasterId", "FIsGroup", "FModifyDate"]


def test_row_of_wrong_width_fails_loudly():
    with pytest.raises(ValueError, match="FieldKeys has 25"):
        to_frame(SPEC, [kd_row(1)[:-1]])


def test_payload_round_trips_by_field_name():
    row = kd_row(1001, customer_name="Ünïcode '\" \\ name")
    payload = payload_json(SPEC, row)
    assert json.loads(payload)["FName"] == "Ünïcode '\" \\ name"
    assert row_from_payload(SPEC, payload) == row


def test_coerce_frame_restores_transform_dtypes():
    frame = to_frame(SPEC, [kd_row(1), kd_row(2, registered_capital=None, is_group=None)])
    typed = frame.drop(columns=[RAW, CONVERSION_ERRORS])
    as_read = typed.astype(object).where(typed.notna(), None)
    back = coerce_frame(SPEC, as_read)
    assert (back.dtypes == typed.dtypes).all()
    pd.testing.assert_frame_equal(back, typed)
