"""scrub() masks every kind of secret a failure message is known to carry."""

from __future__ import annotations

import pytest

from kd_assets.alerting import redact_url, scrub

CASES = {
    "password=": ("login failed: password=hunter2!x user=bob", "hunter2!x"),
    "json password": ('{"username": "apiuser", "password": "p@ss word"}', "p@ss word"),
    "app_secret repr": ("{'app_id': '123_AB', 'app_secret': 'a1b2c3d4e5'}", "a1b2c3d4e5"),
    "AppSecret header-ish": ("AppSecret: 0123456789abcdef0123456789abcdef", "0123456789abcdef"),
    "session cookie": ("Cookie: kdservice-sessionid=2c6dfa6c-039b-4b65;ASP.NET_SessionId=n3xfizba4et0o2uu", "2c6dfa6c"),
    "aspnet cookie": ("Cookie: kdservice-sessionid=2c6dfa6c-039b-4b65;ASP.NET_SessionId=n3xfizba4et0o2uu", "n3xfizba"),
    "KDSVCSessionId json": ('"KDSVCSessionId":"2c6dfa6c-039b-4b65-b52f"', "b52f"),
    "signature header": ("X-Kd-Signature: OWVkYjhiNjI0MzhhMzc3ZjRh==", "OWVkYjhi"),
    "mysql url": ("cannot connect to mysql+pymysql://sync:S3cr3t@db:3306/erp", "S3cr3t"),
    "dingtalk token": ("POST https://oapi.dingtalk.com/robot/send?access_token=abcdef0123456789 failed", "abcdef0123"),
    "dingtalk sign": ("url: /robot/send?access_token=x&timestamp=1700000000000&sign=qx%2Bk%3D", "qx%2Bk"),
    "wecom key": ("https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=693a91f6-7xxx-4bc4", "693a91f6"),
    "slack path": ("https://hooks.slack.com/services/T000/B000/XXXXXXXXXXXXXXXXXXXXXXXX", "XXXXXXXXXXXX"),
    "feishu path": ("https://open.feishu.cn/open-apis/bot/v2/hook/7c1f1b2e-1c2d-4e5f", "7c1f1b2e"),
    "bearer": ("Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.abc", "eyJhbGci"),
}


@pytest.mark.parametrize("text, secret", CASES.values(), ids=CASES.keys())
def test_scrub_masks_each_secret_pattern(text, secret):
    scrubbed = scrub(text)
    assert secret not in scrubbed
    assert "***" in scrubbed


def test_scrub_keeps_the_user_and_host_of_a_database_url():
    assert scrub("mysql+pymysql://sync:S3cr3t@db:3306/erp") == "mysql+pymysql://sync:***@db:3306/erp"


def test_scrub_keeps_ordinary_text_unchanged():
    text = "FilterString FModifyDate >= '2025-01-02' design=ok, key=FCUSTID 会话信息已丢失，请重新登录"
    assert scrub(text) == text


def test_scrub_masks_known_literal_values_anywhere():
    assert scrub("the robot said abcd1234efgh", known=["abcd1234efgh", "ab", None]) == "the robot said ***"


def test_redact_url_shows_only_scheme_and_host():
    assert redact_url("https://oapi.dingtalk.com/robot/send?access_token=abc") == "https://oapi.dingtalk.com/***"
    assert redact_url("http://u:p@127.0.0.1:8080/hook/xyz") == "http://127.0.0.1:8080/***"
    assert redact_url(None) == "<none>"
