"""Builders for alerts and settings used across the alerting tests."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from kd_assets.alerting import Alert, AlertSettings

# Stand-ins for real credentials; each test asserts these never show up where they must not.
TOKEN = "tok3nS3cretValue0123456789abcdef"
SIGNING_SECRET = "SECsigningSecretValue9876543210"
OCCURRED_AT = datetime(2025, 1, 2, 9, 30, tzinfo=timezone(timedelta(hours=8)))


def run_failure(key: str = "run_failure:kingdee_sync_job:2025-01-02", **overrides) -> Alert:
    fields = dict(
        kind="run_failure",
        incident_key=key,
        title="运行失败 Run failed: kingdee_sync_job",
        summary="Kingdee login failed for user apiuser: 会话信息已丢失，请重新登录",
        severity="error",
        details={"job": "kingdee_sync_job", "asset": "kingdee_customers_raw", "partition": "2025-01-02", "rows": 0},
        links={"Dagster run": "http://localhost:3000/runs/4f1c2a"},
        occurred_at=OCCURRED_AT,
    )
    return Alert(**{**fields, **overrides})


def settings_for(url: str | None, fmt: str = "json", secret: str | None = None, **overrides) -> AlertSettings:
    """Settings with no backoff, so retry tests do not wait."""
    return AlertSettings(webhook=url, format=fmt, secret=secret, timeout_s=2.0, backoff_s=0.0, **overrides)
