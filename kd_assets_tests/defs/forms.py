"""The shipped forms' definitions, built from their defs.yaml as the code location builds them,
and the customer form's pieces under the names the tests have always used."""

from __future__ import annotations

from kd_assets.defs.alerts import build_run_alert_sensors
from kd_assets.defs.reconciliation import CHECK
from kd_assets.definitions import form_definitions

CUSTOMERS = form_definitions()["customers"]
SPEC = CUSTOMERS.settings.spec
GROUP = CUSTOMERS.settings.names.group
RAW, CLEAN, TARGET = (a.key.to_user_string() for a in CUSTOMERS.sync_assets)
RECONCILIATION = CUSTOMERS.reconciliation.key.to_user_string()
sync_assets = CUSTOMERS.sync_assets
kingdee_customers_raw, kingdee_customers_clean, wk_wodtop_customer = sync_assets
target_matches_clean, unique_keys = CUSTOMERS.checks
customers_sync_job = CUSTOMERS.sync_job
daily_resync_schedule = CUSTOMERS.resync_schedule
kingdee_customers_change_sensor = CUSTOMERS.change_sensor
reconcile_schedule = CUSTOMERS.reconcile_schedule
RECONCILIATION_DEFS = dict(assets=[CUSTOMERS.reconciliation], jobs=[CUSTOMERS.reconcile_job],
                           schedules=[CUSTOMERS.reconcile_schedule])
alert_on_run_failure, alert_recovery = build_run_alert_sensors([CUSTOMERS.settings])
alert_on_checks_and_freshness = CUSTOMERS.alert_sensor

__all__ = ["CHECK"]
