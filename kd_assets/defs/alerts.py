"""Alert sensors: run failures, failed ERROR checks and stale data → one webhook message per incident.

Run failures and recoveries are watched by one sensor each for the whole code location (what a
Dagster user expects to find, one alert per failed run), which routes each run to its form's
webhook by the run's job; each form has its own sensor for its ERROR checks and its target's
freshness, since those belong to its assets.

Incidents are kept in the target database (``kd_alert_incidents``) so that sensor ticks in
separate processes never send the same incident twice; the next success sends one recovery
message. Message text comes from Dagster events and is scrubbed of secrets (kd_assets.alerting).
"""

import datetime as dt
import json
import os
from collections.abc import Sequence

import dagster as dg
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus

from kd_assets.alerting import Alert, AlertNotifier, scrub, target_incident_store
from kd_assets.defs.reconciliation import CHECK as RECONCILIATION_CHECK
from kd_assets.defs.settings import AlertRouting, FormSettings
from kd_assets.defs.target_db import MySQLResource

FINISHED = {AssetCheckExecutionRecordStatus.SUCCEEDED, AssetCheckExecutionRecordStatus.FAILED}


def alerting_checks(form: FormSettings) -> list[dg.AssetCheckKey]:
    """ERROR-severity checks whose failure is an incident (WARN checks only show in the UI)."""
    names = form.names
    return [dg.AssetCheckKey(dg.AssetKey(names.clean), "clean_schema"),
            dg.AssetCheckKey(dg.AssetKey(names.target), "target_matches_clean"),
            dg.AssetCheckKey(dg.AssetKey(names.reconciliation), RECONCILIATION_CHECK)]


def notifier(target_db: MySQLResource, routing: AlertRouting) -> AlertNotifier:
    return AlertNotifier(routing.settings(), target_incident_store(target_db.engine()))


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _ui_link(path: str) -> dict[str, str]:
    base = os.environ.get("KD_DAGSTER_UI_URL", "http://127.0.0.1:3000").rstrip("/")
    return {"Dagster": f"{base}/{path.lstrip('/')}"}


def run_partition(run: dg.DagsterRun) -> str:
    """The partition (or single-run range) a run covered, or ``-``."""
    tags = run.tags
    if "dagster/partition" in tags:
        return tags["dagster/partition"]
    start, end = tags.get("dagster/asset_partition_range_start"), tags.get("dagster/asset_partition_range_end")
    return f"{start}...{end}" if start and end else "-"


def run_incident_key(run: dg.DagsterRun) -> str:
    return f"run_failure:{run.job_name}:{run_partition(run)}"


def _routing_by_job(forms: Sequence[FormSettings]) -> dict[str, AlertRouting]:
    return {job: form.alerts for form in forms for job in (form.names.sync_job, form.names.reconcile_job)}


def _route(run: dg.DagsterRun, by_job: dict[str, AlertRouting], by_form: dict[str, AlertRouting]) -> AlertRouting:
    """The form's routing for one of its jobs or runs (``kd/form`` tag); KD_ALERT_* for any other run."""
    return by_job.get(run.job_name) or by_form.get(run.tags.get("kd/form", "")) or AlertRouting()


def build_run_alert_sensors(forms: Sequence[FormSettings]) -> list[dg.SensorDefinition]:
    """One run-failure and one recovery sensor for the code location, routing per form."""
    by_job, by_form = _routing_by_job(forms), {form.name: form.alerts for form in forms}

    @dg.run_failure_sensor(name="kd_alert_on_run_failure", default_status=dg.DefaultSensorStatus.RUNNING,
                           description="Sends one alert per failing job + partition until a run of it succeeds.")
    def alert_on_run_failure(context: dg.RunFailureSensorContext, target_db: MySQLResource) -> None:
        run = context.dagster_run
        partition = run_partition(run)
        message = context.failure_event.message or "the run failed"
        notifier(target_db, _route(run, by_job, by_form)).notify(Alert(
            kind="run_failure", incident_key=run_incident_key(run), severity="error", occurred_at=_now(),
            title=f"Kingdee sync failed: {run.job_name} {partition}", summary=scrub(message),
            details={"job": run.job_name, "partition": partition, "run_id": run.run_id},
            links=_ui_link(f"runs/{run.run_id}"),
        ))

    @dg.run_status_sensor(name="kd_alert_recovery", run_status=dg.DagsterRunStatus.SUCCESS,
                          default_status=dg.DefaultSensorStatus.RUNNING,
                          description="Sends one recovery message when a job + partition that alerted succeeds.")
    def alert_recovery(context: dg.RunStatusSensorContext, target_db: MySQLResource) -> None:
        run = context.dagster_run
        notifier(target_db, _route(run, by_job, by_form)).resolve(
            run_incident_key(run), f"{run.job_name} {run_partition(run)} succeeded again",
            {"run_id": run.run_id}, links=_ui_link(f"runs/{run.run_id}"))

    return [alert_on_run_failure, alert_recovery]


def _check_alert(key: dg.AssetCheckKey, record, evaluation) -> Alert:
    partition = record.partition or "-"
    numbers = {k: v.value for k, v in evaluation.metadata.items()
               if isinstance(getattr(v, "value", None), (int, float)) and not isinstance(v.value, bool)}
    return Alert(
        kind="check_failure", incident_key=f"check:{key.asset_key.to_user_string()}:{key.name}:{partition}",
        severity="error", occurred_at=_now(),
        title=f"Data check failed: {key.name} on {key.asset_key.to_user_string()} ({partition})",
        summary=scrub(evaluation.description or f"{key.name} did not pass for {partition}"),
        details={"check": key.name, "partition": partition, "run_id": record.run_id, **numbers},
        links=_ui_link(f"assets/{key.asset_key.to_user_string()}?view=checks"),
    )


def _scan_checks(form: FormSettings, instance: dg.DagsterInstance, alerts: AlertNotifier,
                 seen: dict[str, int]) -> None:
    for key in alerting_checks(form):
        last = seen.get(key.to_user_string(), 0)
        records = instance.event_log_storage.get_asset_check_execution_history(key, limit=50, status=FINISHED)
        for record in sorted((r for r in records if r.id > last), key=lambda r: r.id):
            evaluation = record.evaluation
            incident = f"check:{key.asset_key.to_user_string()}:{key.name}:{record.partition or '-'}"
            if evaluation is None:
                continue
            if evaluation.passed:
                alerts.resolve(incident, f"{key.name} passes again", {"run_id": record.run_id})
            elif evaluation.severity == dg.AssetCheckSeverity.ERROR:
                alerts.notify(_check_alert(key, record, evaluation))
            seen[key.to_user_string()] = record.id


def _scan_freshness(target: str, instance: dg.DagsterInstance, alerts: AlertNotifier) -> None:
    records = instance.event_log_storage.get_freshness_state_records([dg.AssetKey(target)])
    record = records.get(dg.AssetKey(target))
    if record is None:
        return
    state = getattr(record.freshness_state, "value", str(record.freshness_state))
    incident = f"freshness:{target}"
    if state == "FAIL":
        alerts.notify(Alert(kind="freshness", incident_key=incident, severity="error", occurred_at=_now(),
                            title=f"{target} is stale", summary=f"{target} has not been updated within its "
                            "freshness policy: the sync may be stuck or Kingdee unreachable.",
                            details={"asset": target, "state": state}, links=_ui_link(f"assets/{target}")))
    elif state == "PASS":
        alerts.resolve(incident, f"{target} is fresh again", {"asset": target})


def build_check_alert_sensor(form: FormSettings) -> dg.SensorDefinition:
    """The form's sensor for failed ERROR checks and a stale target."""

    @dg.sensor(name=form.names.alert_sensor, minimum_interval_seconds=60,
               default_status=dg.DefaultSensorStatus.RUNNING,
               description=f"Alerts on failed ERROR checks of {form.spec.form_id} and on a stale "
                           f"{form.names.target}; recovers when they pass again.")
    def alert_on_checks_and_freshness(context: dg.SensorEvaluationContext, target_db: MySQLResource) -> dg.SkipReason:
        seen = json.loads(context.cursor) if context.cursor else {}
        alerts = notifier(target_db, form.alerts)
        _scan_checks(form, context.instance, alerts, seen)
        _scan_freshness(form.names.target, context.instance, alerts)
        context.update_cursor(json.dumps(seen))
        return dg.SkipReason("alerts only; no runs")

    return alert_on_checks_and_freshness
