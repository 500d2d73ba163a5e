"""AlertSettings reads the environment and never shows its credentials."""

from __future__ import annotations

import pytest

from kd_assets.alerting import AlertSettings

from .factories import SIGNING_SECRET, TOKEN

WEBHOOK = f"https://oapi.dingtalk.com/robot/send?access_token={TOKEN}"


def test_defaults_send_json_to_the_log():
    settings = AlertSettings.from_env({})
    assert (settings.webhook, settings.format, settings.secret, settings.timeout_s) == (None, "json", None, 10.0)


def test_reads_every_variable():
    settings = AlertSettings.from_env({
        "KD_ALERT_WEBHOOK": WEBHOOK,
        "KD_ALERT_FORMAT": "DingTalk",
        "KD_ALERT_SECRET": SIGNING_SECRET,
        "KD_ALERT_TIMEOUT_S": "3.5",
    })
    assert (settings.webhook, settings.format, settings.secret, settings.timeout_s) == (
        WEBHOOK, "dingtalk", SIGNING_SECRET, 3.5,
    )


def test_repr_and_str_mask_webhook_query_and_secret():
    settings = AlertSettings.from_env({"KD_ALERT_WEBHOOK": WEBHOOK, "KD_ALERT_SECRET": SIGNING_SECRET})
    for shown in (repr(settings), str(settings), f"{settings}"):
        assert TOKEN not in shown and SIGNING_SECRET not in shown
        assert "oapi.dingtalk.com" in shown


@pytest.mark.parametrize("env, message", [
    ({"KD_ALERT_FORMAT": "teams"}, "KD_ALERT_FORMAT"),
    ({"KD_ALERT_TIMEOUT_S": "soon"}, "KD_ALERT_TIMEOUT_S"),
    ({"KD_ALERT_WEBHOOK": f"ftp://files.example/?access_token={TOKEN}"}, "KD_ALERT_WEBHOOK"),
])
def test_bad_values_name_the_variable_without_leaking_it(env, message):
    with pytest.raises(ValueError, match=message) as raised:
        AlertSettings.from_env(env)
    assert TOKEN not in str(raised.value)
