"""Alert settings from the environment: where to send, in which format, how patiently."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from urllib.parse import urlsplit

from kd_assets.alerting.scrub import MASK, redact_url

FORMATS: tuple[str, ...] = ("dingtalk", "wecom", "feishu", "slack", "json")


@dataclasses.dataclass(frozen=True)
class AlertSettings:
    """Delivery settings; ``repr`` never shows the webhook's path/query or the secret.

    ``webhook`` None means "alerts go to the log". ``secret`` signs DingTalk (URL) and Feishu
    (body) messages and is ignored by the other formats, which carry no signature.
    """

    webhook: str | None = None
    format: str = "json"
    secret: str | None = dataclasses.field(default=None, repr=False)
    timeout_s: float = 10.0
    # Bounded retry: a sensor tick has about a minute, so three tries of a slow webhook is the
    # most we can afford; backoff doubles between tries.
    max_attempts: int = 3
    backoff_s: float = 0.5

    def __post_init__(self) -> None:
        if self.format not in FORMATS:
            raise ValueError(f"KD_ALERT_FORMAT must be one of {', '.join(FORMATS)}; got {self.format!r}")
        if self.webhook is not None:
            parts = urlsplit(self.webhook)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError(f"KD_ALERT_WEBHOOK must be an http(s) URL; got {redact_url(self.webhook)}")
        if self.timeout_s <= 0 or self.max_attempts < 1 or self.backoff_s < 0:
            raise ValueError("timeout_s must be > 0, max_attempts >= 1 and backoff_s >= 0")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> AlertSettings:
        """Read ``KD_ALERT_WEBHOOK``, ``KD_ALERT_FORMAT``, ``KD_ALERT_SECRET``, ``KD_ALERT_TIMEOUT_S``."""
        timeout = environ.get("KD_ALERT_TIMEOUT_S", "").strip() or "10"
        try:
            timeout_s = float(timeout)
        except ValueError:
            raise ValueError(f"KD_ALERT_TIMEOUT_S must be a number of seconds; got {timeout!r}") from None
        return cls(
            webhook=environ.get("KD_ALERT_WEBHOOK", "").strip() or None,
            format=(environ.get("KD_ALERT_FORMAT", "").strip() or "json").lower(),
            secret=environ.get("KD_ALERT_SECRET", "").strip() or None,
            timeout_s=timeout_s,
        )

    @property
    def known_secrets(self) -> tuple[str, ...]:
        """Literal values that must never appear in a log line (for ``scrub(known=...)``)."""
        values = [self.secret or ""]
        if self.webhook:
            parts = urlsplit(self.webhook)
            # Error texts may quote the path and query whole or in part. Short path segments
            # ("robot", "send") are API words, and masking them would garble log lines; tokens
            # in a path (Slack, Feishu) are long.
            values += [parts.path, parts.query, *parts.query.split("&")]
            values += [pair.partition("=")[2] for pair in parts.query.split("&")]
            values += [segment for segment in parts.path.split("/") if len(segment) >= 16]
        return tuple(v for v in values if len(v) >= 4)

    def __repr__(self) -> str:
        secret = MASK if self.secret else None
        return (
            f"AlertSettings(webhook={redact_url(self.webhook)!r}, format={self.format!r}, "
            f"secret={secret!r}, timeout_s={self.timeout_s}, max_attempts={self.max_attempts}, "
            f"backoff_s={self.backoff_s})"
        )
