"""Logins, sessions and signed headers, over real HTTP."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
import requests

from kd_assets.kingdee import protocol as p
from kd_assets.simulator.auth import sign_login

from .conftest import FORM, Kingdee, error_status

# Known answers computed with Kingdee's official SDK (copied from ../shared/kingdee/).
VECTORS = json.loads((Path(__file__).resolve().parents[1] / "data" / "signature_vectors.json").read_text())["vectors"]
QUERY = {"data": {"FormId": FORM, "FieldKeys": "FCUSTID,FNumber", "OrderString": "FCUSTID ASC",
                  "Limit": 5}}


def assert_logged_in(kd: Kingdee, response: requests.Response) -> None:
    body = response.json()
    assert body["LoginResultType"] == p.LOGIN_SUCCESS and body["IsSuccessByAPI"] is True
    assert body["Context"]["UserName"] == "demo"
    assert body["Context"]["UTimeZone"]["OffsetTicks"] == 288000000000
    assert response.cookies[p.SESSION_COOKIE] == body["KDSVCSessionId"]
    assert len(response.cookies[p.ASPNET_SESSION_COOKIE]) == 24
    rows = kd.post(p.EXECUTE_BILL_QUERY, QUERY).json()  # the session cookie now authorises
    assert_first_five(rows)


def assert_first_five(rows: list) -> None:
    ids = [r[0] for r in rows]
    assert len(ids) == 5 and ids[0] == 100001 and ids == sorted(ids)


@pytest.mark.parametrize("body", [
    {"parameters": ["kd-demo", "demo", "demo-pass", 2052]},
    {"format": 1, "useragent": "ApiClient", "rid": "1", "timestamp": "2025-06-16", "v": "1.0",
     "parameters": json.dumps(["kd-demo", "demo", "demo-pass", 2052])},
    {"acctID": "kd-demo", "username": "demo", "password": "demo-pass", "lcid": 2052},
], ids=["positional", "envelope-string-parameters", "named-keys"])
def test_validate_user_accepts_each_body_shape(simulator, body):
    kd = Kingdee(simulator)
    assert_logged_in(kd, kd.post(p.VALIDATE_USER, body))


@pytest.mark.parametrize("body", [
    {"parameters": ["kd-demo", "demo", "300001_S0RBU1NFVFMtREVNTy1BUFAtU0VDUkVU",
                    "kdassets-demo-app-secret", 2052]},
    {"acctId": "kd-demo", "username": "demo", "appId": "300001_S0RBU1NFVFMtREVNTy1BUFAtU0VDUkVU",
     "appSecret": "kdassets-demo-app-secret", "lcid": 2052},
], ids=["positional", "named-keys"])
def test_login_by_app_secret(simulator, body):
    kd = Kingdee(simulator)
    assert_logged_in(kd, kd.post(p.LOGIN_BY_APP_SECRET, body))


def test_login_by_sign_with_sorted_sha256_signature(simulator):
    kd, cfg = Kingdee(simulator), simulator.config
    signature = sign_login(cfg.acct_id, cfg.username, cfg.app_id, cfg.app_secret, "1750000000")
    envelope = {"format": 1, "useragent": "ApiClient", "rid": "7", "v": "1.0",
                "parameters": json.dumps([cfg.acct_id, cfg.username, cfg.app_id, "1750000000",
                                          signature, 2052])}
    assert_logged_in(kd, kd.post(p.LOGIN_BY_SIGN, envelope))


def test_form_encoded_login_and_query(simulator):
    kd = Kingdee(simulator)
    login = kd.post(p.VALIDATE_USER, data={"parameters": json.dumps(["kd-demo", "demo", "demo-pass", 2052])})
    assert login.json()["LoginResultType"] == 1
    rows = kd.post(p.EXECUTE_BILL_QUERY, data={"data": json.dumps(QUERY["data"])}).json()
    assert len(rows) == 5


@pytest.mark.parametrize("service,params,result_type,code", [
    (p.VALIDATE_USER, ["kd-demo", "demo", "wrong", 2052], p.LOGIN_PW_ERROR, None),
    (p.VALIDATE_USER, ["kd-demo", "nobody", "demo-pass", 2052], p.LOGIN_PW_ERROR, None),
    (p.VALIDATE_USER, ["no-such-acct", "demo", "demo-pass", 2052], p.LOGIN_FAILURE, None),
    (p.VALIDATE_USER, ["kd-demo", "demo", "demo-pass", 9999], p.LOGIN_FAILURE, None),
    (p.LOGIN_BY_APP_SECRET, ["kd-demo", "demo", "300001_S0RBU1NFVFMtREVNTy1BUFAtU0VDUkVU",
                             "wrong-secret", 2052], p.LOGIN_FAILURE, p.BAD_SIGNATURE_MESSAGE_CODE),
    (p.LOGIN_BY_SIGN, ["kd-demo", "demo", "300001_S0RBU1NFVFMtREVNTy1BUFAtU0VDUkVU", "1750000000",
                       "0" * 64, 2052], p.LOGIN_FAILURE, p.BAD_SIGNATURE_MESSAGE_CODE),
    (p.LOGIN_BY_SIMPLE_PASSPORT, ["cGFzc3BvcnQ=", 2052], p.LOGIN_FAILURE, None),
], ids=["password", "user", "acct", "lcid", "app-secret", "sign", "simple-passport-stub"])
def test_failed_logins_say_why_and_set_no_session(simulator, service, params, result_type, code):
    response = Kingdee(simulator).post(service, {"parameters": params})
    body = response.json()
    assert response.status_code == 200
    assert body["LoginResultType"] == result_type and body["MessageCode"] == code
    assert body["Message"] and body["KDSVCSessionId"] is None
    assert p.SESSION_COOKIE not in response.cookies


def test_session_id_in_header_authorises_without_cookie(simulator):
    sid = Kingdee(simulator).login()["KDSVCSessionId"]
    rows = requests.post(Kingdee(simulator).url(p.EXECUTE_BILL_QUERY), json=QUERY,
                         headers={p.SESSION_HEADER: sid}, timeout=10).json()
    assert len(rows) == 5


def test_no_credentials_get_the_session_lost_envelope(simulator):
    envelope = Kingdee(simulator).post(p.EXECUTE_BILL_QUERY, QUERY).json()
    status = error_status(envelope)
    assert status == {"ErrorCode": 500, "IsSuccess": False, "MsgCode": 1, "SuccessEntitys": [],
                      "SuccessMessages": [], "Errors": [{"FieldName": None, "DIndex": 0,
                                                         "Message": p.SESSION_LOST_MESSAGE}]}


def test_unknown_session_id_is_ignored(simulator):
    response = requests.post(Kingdee(simulator).url(p.EXECUTE_BILL_QUERY), json=QUERY,
                             headers={p.SESSION_HEADER: "not-a-session"}, timeout=10)
    assert error_status(response.json())["MsgCode"] == p.MSG_SESSION_LOST


def test_session_expires_after_idle_ttl_on_the_simulator_clock(kd):
    kd.admin("faults", {"session_ttl": 600})
    kd.admin("clock", {"advance_seconds": 500})
    assert len(kd.post(p.EXECUTE_BILL_QUERY, QUERY).json()) == 5  # still alive; idle time resets
    kd.admin("clock", {"advance_seconds": 500})
    assert len(kd.post(p.EXECUTE_BILL_QUERY, QUERY).json()) == 5
    kd.admin("clock", {"advance_seconds": 601})
    assert error_status(kd.post(p.EXECUTE_BILL_QUERY, QUERY).json())["MsgCode"] == p.MSG_SESSION_LOST
    kd.login()
    assert len(kd.post(p.EXECUTE_BILL_QUERY, QUERY).json()) == 5


def test_logout_ends_the_session(kd):
    kd.post(p.LOGOUT, {})
    assert error_status(kd.post(p.EXECUTE_BILL_QUERY, QUERY).json())["MsgCode"] == p.MSG_SESSION_LOST


def test_silent_reissue_hands_out_a_new_session_id(simulator_factory):
    kd = Kingdee(simulator_factory(customers=20, silent_reissue=True))
    first = kd.login()["KDSVCSessionId"]
    response = kd.post(p.EXECUTE_BILL_QUERY, QUERY)
    assert len(response.json()) == 5
    assert response.cookies[p.SESSION_COOKIE] not in ("", first)


def test_data_center_list_needs_no_login(simulator):
    centers = Kingdee(simulator).post(p.GET_DATA_CENTER_LIST, {}).json()
    assert centers[0]["Id"] == "kd-demo"


# -- signed headers (the official SDK's per-request auth) -------------------------------------

def vector_simulator(factory, vector):
    inputs = vector["inputs"]
    return factory(customers=20, acct_id=inputs["acct_id"], username=inputs["user_name"],
                   app_id=inputs["app_id"], app_secret=inputs["app_secret"], lcid=inputs["lcid"])


def signed_post(handle, headers, body=QUERY):
    url = handle.base_url + p.EXECUTE_BILL_QUERY + p.SERVICE_SUFFIX
    return requests.post(url, json=body, headers=headers, timeout=10)


@pytest.mark.parametrize("vector", VECTORS, ids=[v["inputs"]["acct_id"] for v in VECTORS])
def test_known_answer_signed_headers_are_accepted(simulator_factory, vector):
    handle = vector_simulator(simulator_factory, vector)
    response = signed_post(handle, vector["expected_headers"])
    assert_first_five(response.json())
    # The server then hands out a session, so later calls need no signature.
    sid = response.cookies[p.SESSION_COOKIE]
    assert len(signed_post(handle, {p.SESSION_HEADER: sid}).json()) == 5


@pytest.mark.parametrize("header,value", [
    ("X-Kd-Signature", base64.b64encode(b"0" * 64).decode()),
    ("X-Api-Signature", base64.b64encode(b"0" * 64).decode()),
    ("X-Kd-Appkey", "298765_QUJDREVGR0hJSktMTU5PUFFSU1RVVldZ"),
    ("X-Kd-Appdata", base64.b64encode("6543a1b2c3d4e5,someone,2052,0".encode()).decode()),
    ("X-Kd-Appdata", "%%%not-base64"),
])
def test_wrong_signature_gets_session_lost_and_an_empty_shell_sid(simulator_factory, header, value):
    vector = VECTORS[0]
    handle = vector_simulator(simulator_factory, vector)
    response = signed_post(handle, {**vector["expected_headers"], header: value})
    assert response.status_code == 200
    assert error_status(response.json())["MsgCode"] == p.MSG_SESSION_LOST
    shell = response.cookies[p.SESSION_COOKIE]
    assert error_status(signed_post(handle, {p.SESSION_HEADER: shell}).json())["MsgCode"] == 1


def test_signed_headers_for_an_unknown_acct_get_http_500(simulator_factory):
    vector = VECTORS[0]
    handle = simulator_factory(customers=20, acct_id="another-acct")
    response = signed_post(handle, vector["expected_headers"])
    assert response.status_code == 500 and response.text == p.UNKNOWN_ACCT_TEXT


def test_signature_is_checked_against_the_request_path(simulator_factory):
    vector = VECTORS[0]
    handle = vector_simulator(simulator_factory, vector)
    url = handle.base_url + p.BILL_QUERY + p.SERVICE_SUFFIX  # signed for ExecuteBillQuery
    response = requests.post(url, json=QUERY, headers=vector["expected_headers"], timeout=10)
    assert response.json()["Result"]["ResponseStatus"]["MsgCode"] == p.MSG_SESSION_LOST
