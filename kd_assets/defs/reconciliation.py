"""A form's reconciliation in Dagster: an unpartitioned asset with a check, a job and a daily schedule.

Why an asset of its own and not an unpartitioned check on the target (``wk_wodtop_customer``): Dagster puts
every check of an asset into any run that selects the asset. A check on the partitioned target
would run a full key scan, healing and soft-deletes inside every partition run (the change
sensor's, the nightly re-sync's, a backfill's, a "Materialize" click), verified on 1.13.28. As
``<target>_reconciliation`` (downstream of the target) it runs only when asked for; each
materialization records what was found and done, so the UI plots drift over time, and its
``source_reconciliation`` check turns red when deletes were withheld or differences remain.

No step retry policy: the client already retries every call with backoff, and a reconciliation
that still fails has changed nothing (it heals and deletes only after a complete scan). The run
fails loudly and the next tick, or a run from the UI, starts it over.
"""

import datetime as dt
import time
from typing import Any, Optional

import dagster as dg
from pydantic import Field

from kd_assets.defs.resources import KingdeeResource
from kd_assets.defs.settings import FormSettings
from kd_assets.defs.target_db import MySQLResource, target_kind
from kd_assets.sync import source_now
from kd_assets.sync.keydiff import Kind
from kd_assets.sync.reconcile import (
    WITHHELD_ADVICE, ReconcileReport, SourceScanError, max_delete_share_from_env, reconcile,
)
from kd_assets.sync.synclog import SyncRecord

CHECK = "source_reconciliation"


class ReconcileConfig(dg.Config):
    """Run options, for an on-demand run from the launchpad."""

    dry_run: bool = Field(default=False, description="Only report differences; heal and delete nothing")
    max_delete_share: Optional[float] = Field(
        default=None, description="Overrides the form's max_delete_share (KD_MAX_DELETE_SHARE) for this run, "
                                  "e.g. to apply a real mass delete")
    full_content_verify: bool = Field(
        default=False, description="Verify the content of every row, not only today's slice (verify_days, "
                                   "KD_VERIFY_DAYS)")


def build_reconciliation_asset(form: FormSettings) -> dg.AssetsDefinition:
    spec, name, target, limits = form.spec, form.names.reconciliation, form.names.target, form.thresholds

    @dg.asset(
        name=name, deps=[target], group_name=form.names.group, pool=form.pool, kinds={"kingdee", target_kind()},
        tags={"kd/form": form.name},
        check_specs=[dg.AssetCheckSpec(
            CHECK, asset=name, blocking=False,
            description=f"{target} equals a complete {spec.form_id} key scan after healing. Fails (ERROR) when "
                        "deletes were withheld (more than max_delete_share vanished at once) or differences "
                        "remain; warns when rows had to be healed.")],
        description=f"Compares a complete key scan of {spec.form_id} (keys, change times, statuses) with {target} "
                    "and CHANGES THE TARGET: re-fetches missing, stale and status-drifted rows by key and upserts "
                    "them; soft-deletes rows deleted at the source, unless an unusual share vanished at once. Then "
                    "re-reads the content of today's slice of rows (all rows every KD_VERIFY_DAYS) and heals what "
                    "differs, such as edits that stamped no change time.",
    )
    def reconciliation(context: dg.AssetExecutionContext, config: ReconcileConfig,
                       kingdee: KingdeeResource, target_db: MySQLResource):
        store = target_db.store(spec)
        started, started_at, run_id = time.monotonic(), _utc_now(), context.run.run_id
        api: dict[str, float] = {}

        def bookkeeping() -> dict[str, Any]:
            return dict(api_calls=int(api.get("kingdee_calls", 0)), retries=int(api.get("kingdee_retries", 0)),
                        duration_s=round(time.monotonic() - started, 3), started_at=started_at,
                        finished_at=_utc_now())

        max_share, override = delete_share_for_run(context, config, limits.max_delete_share)
        with kingdee.get_client() as client:
            try:
                report = reconcile(client, store, spec, run_id, apply=not config.dry_run, max_delete_share=max_share,
                                   delete_guard_min_rows=limits.delete_guard_min_rows, reject_gate=limits.reject_gate(),
                                   now=source_now(form.timezone),
                                   verify_days=1 if config.full_content_verify else limits.content_verify_days())
            except Exception as exc:
                api = client.stats.as_metadata()
                store.log_sync(SyncRecord(asset=name, status="failed", run_id=run_id,
                                          message=f"{type(exc).__name__}: {exc}"[:1000], **bookkeeping()))
                if isinstance(exc, SourceScanError):
                    raise dg.Failure(description=str(exc), metadata=api) from exc
                raise
            api = client.stats.as_metadata()
        store.log_sync(report.sync_record(name, run_id, **bookkeeping()))
        context.log.info(report.summary())
        metadata = {**report_metadata(report), **override, **api, "target": target_db.display_name,
                    "duration_s": dg.MetadataValue.float(round(time.monotonic() - started, 3))}
        yield dg.MaterializeResult(metadata=metadata)
        yield check_result(report, metadata)

    return reconciliation


def delete_share_for_run(context: dg.AssetExecutionContext, config: ReconcileConfig,
                         configured: Optional[float]) -> tuple[Optional[float], dict[str, Any]]:
    """The run's max_delete_share, and metadata recording a run config that raised it.

    Whoever can launch a run can raise it (to 1: soft-delete the whole table on one bad scan), so a
    raised share is logged as a warning and kept in the materialization. Open-source Dagster does
    not record who launched a run; the run id and its start time are what there is.
    """
    if config.max_delete_share is None:
        return configured, {}
    effective = configured if configured is not None else max_delete_share_from_env()
    if config.max_delete_share <= effective:
        return config.max_delete_share, {"max_delete_share_run_config": config.max_delete_share}
    context.log.warning(f"RUN CONFIG RAISED max_delete_share from {effective:.2%} to {config.max_delete_share:.2%}: "
                        f"this run may soft-delete up to that share of {context.asset_key.to_user_string()}'s "
                        f"rows at once (run {context.run.run_id}; Dagster OSS records no launching user).")
    return config.max_delete_share, {
        "max_delete_share_raised": dg.MetadataValue.json({
            "configured": effective, "run_config": config.max_delete_share, "run_id": context.run.run_id,
            "launched_by": "unknown (open-source Dagster records no user)"}),
    }


def check_result(report: ReconcileReport, metadata: dict[str, Any]) -> dg.AssetCheckResult:
    """ERROR when deletes were withheld or differences remain; WARN when rows had to be healed."""
    if report.unresolved:
        advice = f" {WITHHELD_ADVICE}" if report.deletes_withheld else ""
        return dg.AssetCheckResult(check_name=CHECK, passed=False, severity=dg.AssetCheckSeverity.ERROR,
                                   description=report.summary() + advice, metadata=metadata)
    # A use-org gone from the source (its rows soft-deleted, or none left) may be a permission change.
    healed = report.healed_rows or report.orgs_missing_at_source
    return dg.AssetCheckResult(check_name=CHECK, passed=not healed, severity=dg.AssetCheckSeverity.WARN,
                               description=report.summary(), metadata=metadata)


def report_metadata(report: ReconcileReport) -> dict[str, Any]:
    """Counts Dagster plots over time, and up to 20 sample keys of each difference."""
    heal = report.heal
    counts = {kind.value: report.counts[kind.value] for kind in Kind}
    return {
        **{name: dg.MetadataValue.int(n) for name, n in counts.items()},
        **{f"{kind.value}_samples": dg.MetadataValue.json(report.samples[kind.value]) for kind in Kind},
        "source_rows": dg.MetadataValue.int(report.source_rows),
        "target_rows": dg.MetadataValue.int(report.target_rows),
        "target_live_rows": dg.MetadataValue.int(report.target_live),
        "healed": dg.MetadataValue.int(heal.changed),
        "inserted": dg.MetadataValue.int(heal.upserted.inserted),
        "updated": dg.MetadataValue.int(heal.upserted.updated),
        "quarantined": dg.MetadataValue.int(heal.quarantined),
        "known_rejects": dg.MetadataValue.int(heal.known_rejects),
        "vanished_before_fetch": dg.MetadataValue.int(heal.vanished),
        "soft_deleted": dg.MetadataValue.int(report.soft_deleted),
        "reappeared": dg.MetadataValue.int(report.reappeared),
        "unresolved": dg.MetadataValue.int(report.unresolved),
        "delete_share": dg.MetadataValue.float(round(report.delete_share, 6)),
        "max_delete_share": dg.MetadataValue.float(report.max_delete_share),
        "deletes_applied": dg.MetadataValue.bool(report.deletes_applied),
        "deletes_withheld": report.deletes_withheld or "no",
        "dry_run": dg.MetadataValue.bool(not report.applied),
        "status": report.status,
        **(report.content.metadata() if report.content else {}),
        **use_org_metadata(report),
    }


USE_ORG_SCHEMA = dg.TableSchema(columns=[
    dg.TableColumn("use_org", "string"), dg.TableColumn("source_rows", "int"),
    dg.TableColumn("target_live_rows", "int"), dg.TableColumn("missing_in_target", "int"),
    dg.TableColumn("deleted_at_source", "int")])


def use_org_metadata(report: ReconcileReport) -> dict[str, Any]:
    """Rows per use-org (invisible rows show as a use-org with no source rows) and the missing rows
    older than the target's newest change time (allocated copies no change probe finds)."""
    return {
        "rows_by_use_org": dg.MetadataValue.table(
            records=[dg.TableRecord(row) for row in report.use_orgs.rows()], schema=USE_ORG_SCHEMA),
        "orgs_missing_at_source": dg.MetadataValue.json(report.orgs_missing_at_source),
        "missing_older_than_watermark": dg.MetadataValue.int(report.missing_older_than_watermark),
        "healed_missing_older_than_watermark": dg.MetadataValue.int(report.healed_missing_older_than_watermark),
    }


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


def build_reconcile_job(form: FormSettings):
    return dg.define_asset_job(
        form.names.reconcile_job, selection=dg.AssetSelection.assets(form.names.reconciliation),
        tags={"kd/trigger": "reconcile", **form.run_tags()},
        description=f"Full key-scan reconciliation of {form.spec.form_id} with {form.names.target}: heals and "
                    "soft-deletes.",
    )


def build_reconcile_schedule(form: FormSettings, job) -> dg.ScheduleDefinition:
    return dg.ScheduleDefinition(
        name=form.names.reconcile_schedule, job=job, cron_schedule=form.reconcile.cron,
        execution_timezone=form.timezone, default_status=form.reconcile.default_status,
        description="Reconciles the whole table (by default at 02:30 source time, after the nightly re-sync "
                    "of yesterday).",
    )
