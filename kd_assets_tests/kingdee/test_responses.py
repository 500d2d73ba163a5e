"""Response classification for bodies the simulator cannot easily produce (odd shapes, 503s).

The simulator-driven versions of every malformed response are in test_client_errors.py.
"""

import pytest

from kd_assets.kingdee.config import ClientConfig
from kd_assets.kingdee.errors import (
    AuthError, MalformedResponseError, QueryError, ServerError, SessionLostError, ThrottledError,
)
from kd_assets.kingdee.redaction import Redactor
from kd_assets.kingdee.responses import check_status, decode_json, query_rows

KW = {"service": "X.ExecuteBillQuery", "form_id": "BD_Customer", "redact": Redactor(["s3cr3t-value"])}


def _envelope(msg_code, message, field=None):
    return [[{"Result": {"ResponseStatus": {"ErrorCode": 500, "IsSuccess": False, "MsgCode": msg_code,
                                            "Errors": [{"FieldName": field, "Message": message, "DIndex": 0}]}}}]]


def test_status_503_with_retry_after_is_throttling_without_is_server_error():
    with pytest.raises(ThrottledError) as caught:
        check_status(503, {"Retry-After": "2"}, lambda: "", **KW)
    assert caught.value.retry_after_s == 2.0
    with pytest.raises(ServerError):
        check_status(503, {}, lambda: "busy", **KW)


def test_unknown_data_center_is_an_auth_error_not_a_retryable_500():
    with pytest.raises(AuthError):
        check_status(500, {}, lambda: "Fail to verify thirty passport", **KW)


def test_error_envelope_becomes_query_error_with_code_field_and_form():
    with pytest.raises(QueryError) as caught:
        query_rows(_envelope(9, "元数据中标识为 FNope 的字段不存在", "FNope"), 2, **KW)
    error = caught.value
    assert (error.msg_code, error.field_name, error.form_id) == (9, "FNope", "BD_Customer")
    assert "FNope" in str(error) and "BD_Customer" in str(error)


def test_msg_code_1_is_session_lost():
    with pytest.raises(SessionLostError):
        query_rows(_envelope(1, "会话信息已丢失，请重新登录"), 2, **KW)


def test_row_width_must_match_field_keys():
    assert query_rows([[1, "a"], [2, "b"]], 2, **KW) == [[1, "a"], [2, "b"]]
    with pytest.raises(MalformedResponseError) as caught:
        query_rows([[1, "a"], [2]], 2, **KW)
    assert caught.value.kind == "wrong_width"


def test_response_error_text_is_redacted():
    with pytest.raises(MalformedResponseError) as caught:
        decode_json(b"response_error: boom with s3cr3t-value and kdservice-sessionid=abc123", **KW)
    assert caught.value.kind == "response_error"
    assert "s3cr3t-value" not in str(caught.value) and "abc123" not in str(caught.value)


def test_config_repr_masks_secrets():
    config = ClientConfig("http://k/k3cloud/", "acct", "user", app_id="1_x", app_secret="app-secret-1",
                          password="pass-word-2")
    assert "app-secret-1" not in repr(config) and "pass-word-2" not in repr(config)
    assert "app_secret=***" in repr(config)


def test_page_size_never_exceeds_the_server_cap():
    config = ClientConfig("http://k/", "a", "u", password="p", page_size=5000, server_max_limit=2000)
    assert config.effective_page_size == 2000
