"""The one Definitions object of the code location (workspace.yaml points here)."""

from __future__ import annotations

import os

import dagster as dg

from kd_assets.defs.alerts import ALERT_SENSORS
from kd_assets.defs.assets import kingdee_customers_clean, kingdee_customers_raw, wk_wodtop_customer
from kd_assets.defs.checks import target_matches_clean, unique_keys
from kd_assets.defs.jobs import customers_sync_job, daily_resync_schedule
from kd_assets.defs.reconciliation import RECONCILIATION_DEFS
from kd_assets.defs.resources import KingdeeResource
from kd_assets.defs.sensors import kingdee_customers_change_sensor
from kd_assets.defs.target_db import MySQLResource

# Required Kingdee settings are bound to their variables even when unset, so the code location
# loads anywhere and a run without them fails naming the missing variable.
REQUIRED_KINGDEE_ENV = {"server_url": "KD_SERVER_URL", "acct_id": "KD_ACCT_ID", "username": "KD_USERNAME"}

sync_assets = [kingdee_customers_raw, kingdee_customers_clean, wk_wodtop_customer]


def build_resources() -> dict[str, dg.ConfigurableResource]:
    """Resources bound to the KD_* environment variables (read at run time)."""
    required = {field: dg.EnvVar(var) for field, var in REQUIRED_KINGDEE_ENV.items()}
    kingdee = KingdeeResource.from_env(**{k: v for k, v in required.items()
                                          if not _is_set(REQUIRED_KINGDEE_ENV[k])})
    return {"kingdee": kingdee, "target_db": MySQLResource.from_env()}


def _is_set(var: str) -> bool:
    return bool(os.environ.get(var))


defs = dg.Definitions(
    assets=[*sync_assets, *RECONCILIATION_DEFS["assets"]],
    asset_checks=[target_matches_clean, unique_keys],
    jobs=[customers_sync_job, *RECONCILIATION_DEFS["jobs"]],
    schedules=[daily_resync_schedule, *RECONCILIATION_DEFS["schedules"]],
    sensors=[kingdee_customers_change_sensor, *ALERT_SENSORS],
    resources=build_resources(),
    # The steps of a sync run are sequential (land → clean → publish), so one process per run is
    # enough; a process per step would pay ~3 s of imports each on these small machines.
    executor=dg.in_process_executor,
)
