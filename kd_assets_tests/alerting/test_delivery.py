"""deliver() posts real HTTP to a local receiver, signs where robots want it, never raises."""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import socket
import time
from collections.abc import Iterator
from urllib.parse import quote_plus

import pytest

from kd_assets.alerting import FORMATS, deliver, render

from .factories import SIGNING_SECRET, TOKEN, run_failure, settings_for

SHAPES = {
    "dingtalk": lambda p: p["msgtype"] == "markdown" and {"title", "text"} <= p["markdown"].keys(),
    "wecom": lambda p: p["msgtype"] == "markdown" and "content" in p["markdown"],
    "feishu": lambda p: p["msg_type"] == "interactive" and {"header", "elements"} <= p["card"].keys(),
    "slack": lambda p: isinstance(p["text"], str) and p["blocks"][0]["type"] == "header",
    "json": lambda p: p["kind"] == "run_failure" and p["incident_key"].startswith("run_failure:"),
}


def hook_url(receiver, fmt: str = "json") -> str:
    return f"{receiver.url}/robot/{fmt}?access_token={TOKEN}"


@pytest.mark.parametrize("fmt", FORMATS)
def test_each_format_arrives_as_utf8_json_of_its_shape(webhook_receiver, fmt):
    assert deliver(settings_for(hook_url(webhook_receiver, fmt), fmt), render(run_failure(), fmt))
    [request] = webhook_receiver.wait_for(1)
    assert request.headers["Content-Type"].startswith("application/json")
    assert request.path.startswith(f"/robot/{fmt}?")
    assert SHAPES[fmt](request.json)
    assert "kingdee_sync_job" in request.body.decode("utf-8")


def test_dingtalk_signature_verifies_with_the_secret(webhook_receiver):
    before_ms = int(time.time() * 1000)
    settings = settings_for(hook_url(webhook_receiver, "dingtalk"), "dingtalk", SIGNING_SECRET)
    assert deliver(settings, render(run_failure(), "dingtalk"))
    [request] = webhook_receiver.wait_for(1)
    query = request.query
    assert query["access_token"] == TOKEN
    timestamp = int(query["timestamp"])
    assert before_ms <= timestamp <= int(time.time() * 1000)
    expected = hmac.new(SIGNING_SECRET.encode(), f"{timestamp}\n{SIGNING_SECRET}".encode(), hashlib.sha256)
    assert query["sign"] == base64.b64encode(expected.digest()).decode()


def test_feishu_signature_is_in_the_body_and_verifies(webhook_receiver):
    settings = settings_for(hook_url(webhook_receiver, "feishu"), "feishu", SIGNING_SECRET)
    assert deliver(settings, render(run_failure(), "feishu"))
    body = webhook_receiver.wait_for(1)[0].json
    key = f"{body['timestamp']}\n{SIGNING_SECRET}".encode()
    assert body["sign"] == base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode()
    assert body["msg_type"] == "interactive"


@pytest.fixture
def dead_port() -> Iterator[int]:
    """A port that refuses connections: bound but never listening, so no one else takes it."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


def assert_no_secrets(caplog) -> None:
    logged = caplog.text + " ".join(str(r.msg) + str(r.args) for r in caplog.records)
    assert TOKEN not in logged and SIGNING_SECRET not in logged


def test_dead_receiver_is_logged_without_secrets_and_not_raised(dead_port, caplog):
    caplog.set_level(logging.DEBUG)
    settings = settings_for(f"http://127.0.0.1:{dead_port}/robot/send?access_token={TOKEN}", "dingtalk", SIGNING_SECRET)
    assert deliver(settings, render(run_failure(), "dingtalk")) is False
    warnings = [r for r in caplog.records if r.name == "kd_assets.alerts" and r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "after 3 attempt(s)" in warnings[0].getMessage()
    assert "ConnectionError" in warnings[0].getMessage()
    assert_no_secrets(caplog)


def test_server_error_is_retried_then_logged_without_secrets(webhook_receiver, caplog):
    caplog.set_level(logging.DEBUG)  # urllib3 logs request lines, query included, at DEBUG
    webhook_receiver.respond(500, {"error": "down"})
    settings = settings_for(hook_url(webhook_receiver, "dingtalk"), "dingtalk", SIGNING_SECRET)
    assert deliver(settings, render(run_failure(), "dingtalk")) is False
    requests = webhook_receiver.wait_for(3)
    assert len(requests) == 3
    assert any(r.name.startswith("urllib3") for r in caplog.records), "urllib3 debug lines were checked"
    assert any("HTTP 500" in r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)
    assert_no_secrets(caplog)
    signatures = {r.query["sign"] for r in requests}
    assert not any(sig in caplog.text or quote_plus(sig) in caplog.text for sig in signatures)


def test_robot_error_in_a_200_answer_fails_without_retry(webhook_receiver, caplog):
    webhook_receiver.respond(200, {"errcode": 310000, "errmsg": "sign not match"})
    assert deliver(settings_for(hook_url(webhook_receiver, "dingtalk"), "dingtalk"), {"msgtype": "text"}) is False
    assert len(webhook_receiver.requests) == 1
    assert "310000" in caplog.text and "sign not match" in caplog.text


def test_client_error_is_not_retried(webhook_receiver, caplog):
    webhook_receiver.respond(400, {"message": "bad payload"})
    assert deliver(settings_for(hook_url(webhook_receiver)), {"x": 1}) is False
    assert len(webhook_receiver.requests) == 1
    assert "HTTP 400" in caplog.text


def test_slack_plain_ok_answer_counts_as_delivered(webhook_receiver):
    webhook_receiver.respond(200, "ok")
    assert deliver(settings_for(hook_url(webhook_receiver, "slack"), "slack"), render(run_failure(), "slack"))
