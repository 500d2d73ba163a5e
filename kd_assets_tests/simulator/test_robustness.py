"""Bad requests get Kingdee-style answers, never a crash or a hung connection."""

from __future__ import annotations

import socket

import requests

from kd_assets.kingdee import protocol as p

from .conftest import Kingdee


def test_malformed_json_gets_a_response_error_text(kd):
    response = kd.post(p.EXECUTE_BILL_QUERY, data=b'{"data": {"FormId": ', headers={"Content-Type": "application/json"})
    assert response.status_code == 200 and response.text.startswith(p.RESPONSE_ERROR_PREFIX)
    assert "JSON" in response.text


def test_non_object_data_is_an_error_envelope(kd):
    body = kd.post(p.EXECUTE_BILL_QUERY, {"data": 42}).json()
    assert body[0][0]["Result"]["ResponseStatus"]["Errors"][0]["FieldName"] == "data"
    body = kd.post(p.EXECUTE_BILL_QUERY, {"data": "{not json"}).json()
    assert body[0][0]["Result"]["ResponseStatus"]["IsSuccess"] is False


def test_unknown_service_is_404_with_response_error(kd):
    response = kd.post("Kingdee.BOS.WebApi.ServicesStub.DynamicFormService.Explode", {})
    assert response.status_code == 404 and response.text.startswith(p.RESPONSE_ERROR_PREFIX)
    assert requests.get(kd.handle.base_url, timeout=10).status_code == 404


def test_huge_body_is_refused_and_the_server_keeps_serving(simulator_factory):
    kd = Kingdee(simulator_factory(customers=10, max_body_bytes=1024))
    kd.login()
    response = kd.post(p.EXECUTE_BILL_QUERY, data=b"x" * 200_000)
    assert response.status_code == 413 and response.text.startswith(p.RESPONSE_ERROR_PREFIX)
    assert len(kd.query("FCUSTID")) == 10


def test_service_names_are_case_insensitive(kd):
    url = kd.handle.base_url + p.EXECUTE_BILL_QUERY.lower() + p.SERVICE_SUFFIX
    rows = kd.http.post(url, json={"data": {"FormId": "BD_Customer", "FieldKeys": "FCUSTID", "Limit": 2}}, timeout=10)
    assert len(rows.json()) == 2


def test_a_stalled_half_request_does_not_block_others(kd):
    host, port = kd.handle.base_url.split("/")[2].split(":")
    with socket.create_connection((host, int(port)), timeout=5) as stalled:
        stalled.sendall(b"POST /k3cloud/x.common.kdsvc HTTP/1.1\r\nContent-Length: 100\r\n\r\n{")
        assert len(kd.query("FCUSTID", Limit=3)) == 3
