"""Alerts for kd-assets: formatting, webhook delivery and per-incident de-duplication.

Pure Python (no Dagster imports); the Dagster sensors in ``kd_assets.defs`` build ``Alert``s
from scrubbed event text and hand them to an ``AlertNotifier``::

    notifier = AlertNotifier(AlertSettings.from_env(), target_incident_store(engine))
    notifier.notify(alert)                                # once per incident_key
    notifier.resolve("run_failure:kingdee_sync_job:", "Run succeeded", {"run_id": run_id})
"""

from kd_assets.alerting.alert import KINDS, SEVERITIES, Alert
from kd_assets.alerting.delivery import LOGGER_NAME, deliver
from kd_assets.alerting.failover import FailoverIncidentStore, target_incident_store
from kd_assets.alerting.formats import plain_text, render
from kd_assets.alerting.incidents import (
    TABLE_NAME,
    IncidentStore,
    MemoryIncidentStore,
    OpenIncident,
    SqlIncidentStore,
)
from kd_assets.alerting.notifier import AlertNotifier
from kd_assets.alerting.scrub import redact_url, scrub
from kd_assets.alerting.settings import FORMATS, AlertSettings

__all__ = [
    "FORMATS",
    "KINDS",
    "LOGGER_NAME",
    "SEVERITIES",
    "TABLE_NAME",
    "Alert",
    "AlertNotifier",
    "AlertSettings",
    "FailoverIncidentStore",
    "IncidentStore",
    "MemoryIncidentStore",
    "OpenIncident",
    "SqlIncidentStore",
    "deliver",
    "plain_text",
    "redact_url",
    "render",
    "scrub",
    "target_incident_store",
]
