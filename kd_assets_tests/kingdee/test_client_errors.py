"""Every malformed response and every Kingdee error envelope becomes its typed error."""

import pytest

from kd_assets.kingdee import FilterError, MalformedResponseError, QueryError, RetriesExhaustedError

from .conftest import FORM


@pytest.mark.parametrize("fault", ["html", "truncated_json", "wrong_width"])
def test_malformed_responses_raise_typed_errors_without_retrying(simulator, client, admin, fault):
    admin.script(fault)
    with pytest.raises(MalformedResponseError) as caught:
        client.execute_bill_query(FORM, ["FCUSTID", "FNumber", "FName"], limit=10)
    assert caught.value.kind == fault
    assert caught.value.form_id == FORM and FORM in str(caught.value)
    assert client.stats.retries == 0
    # the fault was one-shot: the next call is fine
    assert len(client.execute_bill_query(FORM, ["FCUSTID"], limit=1)) == 1


def test_response_error_text_is_retried_like_a_500_then_reported(simulator, client, admin):
    admin.script("response_error")
    assert len(client.execute_bill_query(FORM, ["FCUSTID"], limit=1)) == 1
    assert client.stats.retries == 1
    admin.script(*["response_error"] * client.config.retry.max_attempts)
    with pytest.raises(RetriesExhaustedError) as caught:
        client.execute_bill_query(FORM, ["FCUSTID"], limit=1)
    last = caught.value.last_error
    assert isinstance(last, MalformedResponseError) and last.kind == "response_error"
    assert "response_error" not in str(last) and FORM in str(last)


def test_unknown_field_is_a_query_error_naming_the_field(client):
    with pytest.raises(QueryError) as caught:
        client.execute_bill_query(FORM, ["FCUSTID", "FNoSuchField"], limit=1)
    assert caught.value.msg_code == 9
    assert "FNoSuchField" in str(caught.value) and FORM in str(caught.value)
    assert client.stats.retries == 0


def test_unknown_form_is_a_query_error(client):
    with pytest.raises(QueryError) as caught:
        client.execute_bill_query("NO_SUCH_FORM", ["FCUSTID"], limit=1)
    assert caught.value.msg_code == 4 and caught.value.form_id == "NO_SUCH_FORM"


def test_bad_filter_is_a_query_error(client):
    with pytest.raises(QueryError) as caught:
        client.execute_bill_query(FORM, ["FCUSTID"], filter_string="FNumber = = 'x'", limit=1)
    assert caught.value.msg_code == 4


def test_invalid_field_keys_are_refused_before_any_request(client):
    with pytest.raises(FilterError):
        client.execute_bill_query(FORM, ["FCUSTID", "FName) or (1=1"], limit=1)
    assert client.stats.calls == 0


def test_bill_query_returns_objects_keyed_by_field(client):
    rows = client.bill_query(FORM, ["FCUSTID", "FNumber"], order_string="FCUSTID ASC", limit=2)
    assert len(rows) == 2 and set(rows[0]) == {"FCUSTID", "FNumber"}
