"""FilterString building: safe literals, windows, keysets, templates (no server needed)."""

import datetime as dt
import decimal

import pytest

from kd_assets.kingdee.filters import (
    FilterError, Window, combine, compare, field_key, in_predicate, keyset_predicate, literal,
    render_template, window_predicate, window_template_values,
)

UTC = dt.timezone.utc


def test_string_literal_doubles_quotes_so_injection_stays_a_value():
    assert literal("x' or '1'='1") == "'x'' or ''1''=''1'"


@pytest.mark.parametrize("value, rendered", [
    (42, "42"), (True, "1"), (False, "0"), (1.5, "1.5"), (decimal.Decimal("2.50"), "2.50"),
    (dt.date(2024, 2, 29), "'2024-02-29'"),
    (dt.datetime(2024, 1, 2, 3, 4, 5, 678000), "'2024-01-02 03:04:05'"),
])
def test_literals(value, rendered):
    assert literal(value) == rendered


def test_aware_datetime_is_rendered_in_the_source_time_zone():
    assert literal(dt.datetime(2024, 1, 1, 16, 0, tzinfo=UTC)) == "'2024-01-02 00:00:00'"
    assert literal(dt.datetime(2024, 1, 1, 16, 0, tzinfo=UTC), "UTC") == "'2024-01-01 16:00:00'"


@pytest.mark.parametrize("bad", [None, float("nan"), object(), "a\x00b"])
def test_values_without_a_safe_literal_are_refused(bad):
    with pytest.raises(FilterError):
        literal(bad)


@pytest.mark.parametrize("good", ["FCUSTID", "FUseOrgId.FNumber", "_x1"])
def test_field_keys_accepted(good):
    assert field_key(good) == good


@pytest.mark.parametrize("bad", ["", "1F", "F.a.b", "FName;drop", "FName or 1=1", "F-x", None])
def test_field_keys_rejected(bad):
    with pytest.raises(FilterError):
        field_key(bad)


def test_window_predicate_is_half_open_over_every_change_field():
    window = Window(dt.datetime(2024, 1, 1), dt.datetime(2024, 1, 2))
    assert window_predicate(("FModifyDate", "FForbidDate"), window) == (
        "((FModifyDate >= '2024-01-01 00:00:00' and FModifyDate < '2024-01-02 00:00:00') or "
        "(FForbidDate >= '2024-01-01 00:00:00' and FForbidDate < '2024-01-02 00:00:00'))")


def test_window_must_be_non_empty_and_consistently_aware():
    with pytest.raises(FilterError):
        Window(dt.datetime(2024, 1, 2), dt.datetime(2024, 1, 1))
    with pytest.raises(FilterError):
        Window(dt.datetime(2024, 1, 1), dt.datetime(2024, 1, 2, tzinfo=UTC))


def test_keyset_and_in_predicates():
    assert keyset_predicate("FCUSTID", 100) == "FCUSTID > 100"
    assert in_predicate("FCUSTID", [1, 2, 3]) == "FCUSTID in (1,2,3)"
    with pytest.raises(FilterError):
        in_predicate("FCUSTID", [])


def test_compare_rejects_unknown_operators():
    assert compare("FName", "=", "a'b") == "FName = 'a''b'"
    with pytest.raises(FilterError):
        compare("FName", "= 1 or", "x")


def test_combine_parenthesises_each_part_so_user_or_stays_inside():
    assert combine("a = 1 or b = 2", "", "c > 3") == "(a = 1 or b = 2) and (c > 3)"
    assert combine("a = 1") == "a = 1"
    assert combine("", "  ") == ""


def test_template_renders_seed_placeholders_as_literals():
    window = Window(dt.datetime(2024, 1, 1), dt.datetime(2024, 1, 2))
    values = window_template_values(window, last_sync_time=dt.datetime(2023, 12, 31, 23, 0))
    text = "FModifyDate >= '{{LAST_SYNC_TIME|datetime}}' and FDate < {{WINDOW_END|datetime}}"
    assert render_template(text, values) == (
        "FModifyDate >= '2023-12-31 23:00:00' and FDate < '2024-01-02 00:00:00'")


def test_template_value_cannot_escape_its_literal():
    assert render_template("FName = {{NAME|str}}", {"NAME": "x' or '1'='1"}) == "FName = 'x'' or ''1''=''1'"


@pytest.mark.parametrize("template, values", [
    ("FDate >= {{NOPE|datetime}}", {}),
    ("FDate >= {{X|datetime}}", {"X": "2024-01-01' or '1'='1"}),
    ("FDate >= {{X|weird}}", {"X": 1}),
    ("FName like '{{X}}%'", {"X": "a"}),
])
def test_template_errors_instead_of_guessing(template, values):
    with pytest.raises(FilterError):
        render_template(template, values)
