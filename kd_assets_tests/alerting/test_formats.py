"""render() builds each robot's payload shape with the same bilingual facts."""

from __future__ import annotations

import json

import pytest

from kd_assets.alerting import FORMATS, render

from .factories import run_failure

FACTS = ("运行失败 Run failure", "kingdee_sync_job", "2025-01-02", "会话信息已丢失", "http://localhost:3000/runs/4f1c2a")


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_mentions_kind_job_partition_message_and_link(fmt):
    text = json.dumps(render(run_failure(), fmt), ensure_ascii=False)
    for fact in FACTS if fmt != "json" else FACTS[1:]:
        assert fact in text, f"{fmt} payload lacks {fact!r}"


def test_json_is_the_alert_with_iso_time():
    payload = render(run_failure(), "json")
    assert payload["kind"] == "run_failure"
    assert payload["occurred_at"] == "2025-01-02T09:30:00+08:00"
    assert payload["details"]["rows"] == 0
    json.dumps(payload)  # plain, serialisable values only


def test_feishu_card_header_is_colored_by_severity_and_green_on_recovery():
    colors = [render(run_failure(severity=s), "feishu")["card"]["header"]["template"] for s in ("error", "warning", "info")]
    recovered = render(run_failure(kind="recovery", severity="info"), "feishu")["card"]["header"]["template"]
    assert (colors, recovered) == (["red", "orange", "blue"], "green")


def test_slack_escapes_control_characters_and_keeps_a_fallback_text():
    payload = render(run_failure(summary="rows <5> & counting"), "slack")
    section = payload["blocks"][1]["text"]["text"]
    assert section == "rows &lt;5&gt; &amp; counting"
    assert "rows <5> & counting" in payload["text"]


def test_slack_sections_hold_at_most_ten_fields():
    details = {f"field_{i}": i for i in range(15)}
    sections = [b for b in render(run_failure(details=details), "slack")["blocks"] if "fields" in b]
    assert all(len(b["fields"]) <= 10 for b in sections)
    assert sum(len(b["fields"]) for b in sections) == 15 + 3  # kind, severity, time


def test_wecom_content_fits_its_4096_byte_limit():
    payload = render(run_failure(summary="数据" * 3000), "wecom")
    assert len(payload["markdown"]["content"].encode()) <= 4096


def test_secrets_in_alert_text_are_scrubbed_before_rendering():
    alert = run_failure(
        summary="connect mysql+pymysql://sync:S3cr3t@db/erp failed",
        details={"cookie": "kdservice-sessionid=2c6dfa6c-039b"},
        links={"run": "http://dagster/runs/1?access_token=abcdef123456"},
    )
    for fmt in FORMATS:
        text = json.dumps(render(alert, fmt), ensure_ascii=False)
        assert "S3cr3t" not in text and "2c6dfa6c" not in text and "abcdef123456" not in text


def test_unknown_format_is_rejected():
    with pytest.raises(ValueError, match="teams"):
        render(run_failure(), "teams")
