"""Fault injection: each scripted kind, random failures from the seed, throttling, latency."""

from __future__ import annotations

import time

import pytest
import requests

from kd_assets.kingdee import protocol as p

from .conftest import FORM, Kingdee, error_status

QUERY = {"data": {"FormId": FORM, "FieldKeys": "FCUSTID,FNumber,FName", "OrderString": "FCUSTID",
                  "Limit": 3}}


def script(kd: Kingdee, *faults: dict) -> None:
    kd.admin("faults", {"script": list(faults)})


def query(kd: Kingdee, **kwargs) -> requests.Response:
    return kd.post(p.EXECUTE_BILL_QUERY, QUERY, **kwargs)


def test_scripted_faults_apply_in_order_to_business_requests_only(kd):
    script(kd, {"kind": "http_500"}, {"kind": "http_502"})
    kd.login()  # logins and admin calls do not consume the script
    kd.admin("state")
    assert query(kd).status_code == 500
    assert query(kd).status_code == 502
    assert len(query(kd).json()) == 3


@pytest.mark.parametrize("fault,status,check", [
    ({"kind": "http_429", "retry_after": 7}, 429, lambda r: r.headers["Retry-After"] == "7"),
    ({"kind": "response_error", "message": "数据库连接失败"}, 200,
     lambda r: r.text.startswith(p.RESPONSE_ERROR_PREFIX) and "数据库连接失败" in r.text),
    ({"kind": "html"}, 200, lambda r: r.headers["Content-Type"].startswith("text/html") and "<html>" in r.text),
    ({"kind": "truncated_json"}, 200, lambda r: r.text.startswith("[[") and not r.text.endswith("]]")),
    ({"kind": "session_lost"}, 200, lambda r: error_status(r.json())["MsgCode"] == p.MSG_SESSION_LOST),
])
def test_each_replacing_fault(kd, fault, status, check):
    script(kd, fault)
    response = query(kd)
    assert response.status_code == status and check(response)
    assert len(query(kd).json()) == 3  # one-shot


def test_truncated_json_does_not_parse(kd):
    script(kd, {"kind": "truncated_json"})
    with pytest.raises(ValueError):
        query(kd).json()


def test_wrong_width_drops_a_cell_of_the_first_row(kd):
    script(kd, {"kind": "wrong_width"})
    rows = query(kd).json()
    assert [len(r) for r in rows] == [2, 3, 3]


def test_session_lost_on_a_write_is_a_bare_envelope(kd):
    script(kd, {"kind": "session_lost"})
    body = kd.post(p.SAVE, {"formid": FORM, "data": {"Model": {"FName": "x"}}}).json()
    assert body["Result"]["ResponseStatus"]["MsgCode"] == p.MSG_SESSION_LOST


def test_delay_holds_before_answering(kd):
    script(kd, {"kind": "delay", "ms": 300})
    started = time.monotonic()
    assert len(query(kd).json()) == 3
    assert time.monotonic() - started >= 0.3


def test_timeout_applies_the_write_then_holds_the_answer(kd):
    """The hard case for clients: the request timed out, but the server did the work."""
    script(kd, {"kind": "timeout", "ms": 800})
    with pytest.raises(requests.exceptions.ReadTimeout):
        kd.http.post(kd.url(p.SAVE), json={"formid": FORM, "data": {"Model": {"FName": "超时但已保存有限公司"}}},
                     timeout=0.2)
    kd.http.close()  # drop the connection the held answer is still due on
    rows = kd.query("FCUSTID", FilterString="FName = '超时但已保存有限公司'")
    assert len(rows) == 1


def test_latency_setting_slows_every_business_call(kd):
    kd.admin("faults", {"latency_ms": 150})
    started = time.monotonic()
    query(kd)
    query(kd)
    assert time.monotonic() - started >= 0.3
    kd.admin("faults", {"latency_ms": 0})


def test_throttle_answers_429_with_retry_after(kd):
    kd.admin("faults", {"throttle_rps": 2, "retry_after": 3})
    statuses = [query(kd).status_code for _ in range(6)]
    assert statuses[:2] == [200, 200] and 429 in statuses
    limited = next(r for r in (query(kd) for _ in range(3)) if r.status_code == 429)
    assert limited.headers["Retry-After"] == "3"


def statuses(handle, count: int = 80) -> list[str]:
    kd = Kingdee(handle)
    kd.login()
    seen = []
    for _ in range(count):
        response = query(kd)
        seen.append(str(response.status_code) + ("e" if response.text.startswith(p.RESPONSE_ERROR_PREFIX) else ""))
    return seen


def test_fail_rate_is_random_but_reproducible_from_the_seed(simulator_factory):
    first = statuses(simulator_factory(customers=20, fail_rate=0.3, seed=5))
    second = statuses(simulator_factory(customers=20, fail_rate=0.3, seed=5))
    other = statuses(simulator_factory(customers=20, fail_rate=0.3, seed=6))
    assert first == second != other
    assert set(first) == {"200", "500", "502", "200e"} and 15 < first.count("200") < 60


def test_injected_faults_are_counted_in_state(kd):
    script(kd, {"kind": "http_500"}, {"kind": "html"})
    query(kd), query(kd)
    assert kd.admin("state")["faults"]["injected"] == {"http_500": 1, "html": 1}


@pytest.mark.parametrize("fault,check", [
    ({"kind": "session_lost_no_msgcode"},
     lambda b: "MsgCode" not in error_status(b) and not error_status(b)["IsSuccess"]),
    ({"kind": "session_lost_bare_list"}, lambda b: b == [{"FieldName": None, "Message": p.SESSION_LOST_MESSAGE,
                                                          "DIndex": 0}]),
    ({"kind": "session_lost_padded", "width": 3, "at": 1},
     lambda b: len(b) == 1 and b[0][0] is None and b[0][2] is None
     and b[0][1]["Result"]["ResponseStatus"]["MsgCode"] == p.MSG_SESSION_LOST),
    ({"kind": "session_lost_string_false"}, lambda b: error_status(b)["IsSuccess"] == "false"),
])
def test_each_session_lost_shape_is_one_shot(kd, fault, check):
    """The session-lost answers public clients handle besides the standard envelope (issue 10.3)."""
    script(kd, fault)
    response = query(kd)
    assert response.status_code == 200 and p.SESSION_LOST_MESSAGE in response.text and check(response.json())
    assert len(query(kd).json()) == 3
