"""Alerts for kd-assets: formatting, webhook delivery and per-incident de-duplication.

Pure Python (no Dagster imports); the Dagster sensors in ``kd_assets.defs`` build ``Alert``s
from scrubbed event text.
"""

from kd_assets.alerting.alert import KINDS, SEVERITIES, Alert
from kd_assets.alerting.formats import plain_text, render
from kd_assets.alerting.scrub import redact_url, scrub
from kd_assets.alerting.settings import FORMATS, AlertSettings

__all__ = [
    "FORMATS",
    "KINDS",
    "SEVERITIES",
    "Alert",
    "AlertSettings",
    "plain_text",
    "redact_url",
    "render",
    "scrub",
]
