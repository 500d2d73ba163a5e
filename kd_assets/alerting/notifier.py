"""Sends each incident's alert once, and one recovery message when it clears."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime, timezone

from kd_assets.alerting.alert import Alert, DetailValue
from kd_assets.alerting.delivery import LOGGER_NAME, deliver
from kd_assets.alerting.formats import plain_text, render
from kd_assets.alerting.incidents import IncidentStore, OpenIncident
from kd_assets.alerting.settings import AlertSettings


class AlertNotifier:
    """De-duplicating front door for sensors: ``notify`` on trouble, ``resolve`` on success.

    Without a webhook every message is logged at WARNING on ``kd_assets.alerts`` instead, with
    the same de-duplication. Delivery problems are logged and reported as False/0, never
    raised; errors of the incident store do propagate, because carrying on without state
    would either repeat alerts on every tick or silently drop them.
    """

    def __init__(
        self, settings: AlertSettings, state: IncidentStore, logger: logging.Logger | None = None
    ) -> None:
        self.settings = settings
        self.state = state
        self.log = logger or logging.getLogger(LOGGER_NAME)

    def notify(self, alert: Alert) -> bool:
        """Send ``alert`` unless its incident is already open; True if a message went out.

        The incident is opened before sending (a claim, so concurrent sensors send once) and
        closed again if delivery fails, so a later occurrence of the incident tries again.
        """
        if alert.kind == "recovery":
            raise ValueError("recovery alerts are sent by resolve(), which also closes the incident")
        if not self.state.open(alert.incident_key, alert):
            self.log.debug("alert for open incident %s suppressed", alert.incident_key)
            return False
        if self._send(alert):
            return True
        self.state.close(alert.incident_key)
        return False

    def resolve(
        self,
        incident_prefix_or_key: str,
        summary: str,
        details: Mapping[str, DetailValue] | None = None,
        *,
        links: Mapping[str, str] | None = None,
        occurred_at: datetime | None = None,
    ) -> int:
        """Close every open incident whose key starts with the argument, one recovery each.

        Returns the number of recovery messages sent. A recovery that cannot be delivered is
        logged and its incident stays closed: a fresh failure must alert again, not be
        swallowed by an incident nobody can hear about.
        """
        sent = 0
        for key in self.state.open_keys(incident_prefix_or_key):
            incident = self.state.get(key)
            if incident is None or not self.state.close(key):
                continue  # resolved meanwhile by another tick or process
            recovery = self._recovery(incident, summary, details or {}, links or {}, occurred_at)
            sent += int(self._send(recovery))
        return sent

    @staticmethod
    def _recovery(
        incident: OpenIncident,
        summary: str,
        details: Mapping[str, DetailValue],
        links: Mapping[str, str],
        occurred_at: datetime | None,
    ) -> Alert:
        return Alert(
            kind="recovery",
            incident_key=incident.key,
            title=f"已恢复 Recovered: {incident.title}",
            summary=summary,
            severity="info",
            details={**details, "since": incident.opened_at.isoformat(timespec="seconds")},
            links=links,
            occurred_at=occurred_at or datetime.now(timezone.utc),
        )

    def _send(self, alert: Alert) -> bool:
        if not self.settings.webhook:
            # Logged in full at WARNING so it shows with default log levels; the text is
            # scrubbed already (Alert scrubs on construction).
            self.log.warning("%s", plain_text(alert))
            return True
        return deliver(self.settings, render(alert, self.settings.format), self.log)
