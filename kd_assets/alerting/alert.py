"""The alert a sensor raises: what happened, to what, and where to look."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import datetime
from typing import Literal

from kd_assets.alerting.scrub import scrub

AlertKind = Literal["run_failure", "check_failure", "freshness", "recovery"]
Severity = Literal["error", "warning", "info"]
DetailValue = str | int | float

KINDS: tuple[str, ...] = ("run_failure", "check_failure", "freshness", "recovery")
SEVERITIES: tuple[str, ...] = ("error", "warning", "info")
# incident keys are the primary key of kd_alert_incidents (VARCHAR(255) on MySQL).
MAX_INCIDENT_KEY = 255


@dataclasses.dataclass(frozen=True)
class Alert:
    """One message about one incident; text fields are scrubbed on construction.

    Scrubbing here rather than at each call site means an alert cannot carry a secret even
    when a sensor copies a raw Dagster failure message into it.
    """

    kind: AlertKind
    incident_key: str
    title: str
    summary: str
    severity: Severity
    occurred_at: datetime
    details: Mapping[str, DetailValue] = dataclasses.field(default_factory=dict)
    links: Mapping[str, str] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"alert kind must be one of {KINDS}, got {self.kind!r}")
        if self.severity not in SEVERITIES:
            raise ValueError(f"alert severity must be one of {SEVERITIES}, got {self.severity!r}")
        if not self.incident_key or len(self.incident_key) > MAX_INCIDENT_KEY:
            raise ValueError(f"incident_key must be 1..{MAX_INCIDENT_KEY} characters")
        if self.occurred_at.tzinfo is None or self.occurred_at.utcoffset() is None:
            raise ValueError("occurred_at must be timezone-aware")
        set_field = object.__setattr__  # frozen dataclass: normalise once, here
        set_field(self, "title", scrub(self.title))
        set_field(self, "summary", scrub(self.summary))
        set_field(self, "details", {scrub(k): _scrub_value(v) for k, v in self.details.items()})
        set_field(self, "links", {scrub(k): scrub(v) for k, v in (self.links or {}).items()})

    def to_dict(self) -> dict[str, object]:
        """Plain JSON-ready form (ISO-8601 time), used by the ``json`` format and the store."""
        return {
            "kind": self.kind,
            "incident_key": self.incident_key,
            "title": self.title,
            "summary": self.summary,
            "severity": self.severity,
            "occurred_at": self.occurred_at.isoformat(),
            "details": dict(self.details),
            "links": dict(self.links),
        }


def _scrub_value(value: DetailValue) -> DetailValue:
    # Numbers stay numbers (JSON consumers plot them); bool is an int subclass but reads
    # better as text in a chat message.
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value
    return scrub(value)
