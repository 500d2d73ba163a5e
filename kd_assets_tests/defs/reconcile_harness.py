"""Helpers for tests of the reconciliation's Dagster layer: definitions, job runs, check results."""

from __future__ import annotations

import dagster as dg

from kd_assets_tests.defs.forms import (
    CHECK, RECONCILIATION, RECONCILIATION_DEFS, kingdee_customers_clean, kingdee_customers_raw, wk_wodtop_customer,
)
from kd_assets_tests.defs.sync_harness import resources

# Client retries with tiny delays, so a scripted fault exhausts them in milliseconds.
FAST_RETRIES = dict(network_attempts=2, network_interval_s=0.01, max_attempts=2, backoff_base_s=0.01,
                    backoff_cap_s=0.01, max_total_wait_s=1.0)
JOB = "kingdee_customers_reconcile"


def fast_resources(sim, target_url: str, **kingdee_overrides) -> dict:
    return resources(sim, target_url, **{**FAST_RETRIES, **kingdee_overrides})


def reconcile_defs(res: dict) -> dg.Definitions:
    """The sync assets plus RECONCILIATION_DEFS, as the code location will merge them."""
    return dg.Definitions(assets=[kingdee_customers_raw, kingdee_customers_clean, wk_wodtop_customer,
                                  *RECONCILIATION_DEFS["assets"]],
                          jobs=RECONCILIATION_DEFS["jobs"], schedules=RECONCILIATION_DEFS["schedules"],
                          resources=res)


def run_reconcile(res: dict, **config) -> dg.ExecuteInProcessResult:
    """One run of the reconcile job, in process; ``config`` is ReconcileConfig."""
    job = reconcile_defs(res).resolve_job_def(JOB)
    run_config = {"ops": {RECONCILIATION: {"config": config}}} if config else None
    return job.execute_in_process(run_config=run_config, raise_on_error=False)


def check_evaluation(result: dg.ExecuteInProcessResult):
    (evaluation,) = [e for e in result.get_asset_check_evaluations() if e.check_name == CHECK]
    return evaluation


def values(metadata: dict) -> dict:
    return {k: getattr(v, "value", v) for k, v in metadata.items()}
