"""A form's three sync assets: land Kingdee rows → clean and validate them → publish to the target.

Each asset writes to the target database itself and reports metadata; nothing is pickled between
them (write-audit-publish, DESIGN §1). All three share the form's daily partitioning on change
time and a single-run backfill policy, so an initial load over years is one run with one code path.
"""

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import dagster as dg
import sqlalchemy as sa

from kd_assets.alerting.scrub import error_text
from kd_assets.defs.partitions import history_note, source_timezone
from kd_assets.defs.progress import Progress, rows_of_upstream
from kd_assets.defs.resources import KingdeeResource
from kd_assets.defs.runs import preview_table, sync_run
from kd_assets.defs.settings import FormSettings
from kd_assets.defs.target_db import MySQLResource, target_kind
from kd_assets.kingdee import KingdeeError, TransientError, Window
from kd_assets.kingdee.errors import RetriesExhaustedError
from kd_assets.sync import SyncSpec, TargetStore, source_now
from kd_assets.sync.cleaning import CleanJob, Tally
from kd_assets.sync.landing import LandCounts, land_behind
from kd_assets.sync.parclean import clean_window
from kd_assets.sync.prefetch import prefetched
from kd_assets.sync.writebehind import write_behind

# A failed step is retried later only for faults that may pass (the client already retried
# each call with backoff); auth, unknown fields and malformed responses fail at once.
TRANSIENT_RETRY = dg.RetryPolicy(max_retries=3, delay=30, backoff=dg.Backoff.EXPONENTIAL,
                                 jitter=dg.Jitter.PLUS_MINUS)


@contextmanager
def kingdee_failures_classified(spec: SyncSpec) -> Iterator[None]:
    """Turn permanent Kingdee errors into a Failure that Dagster does not retry."""
    try:
        yield
    except (TransientError, RetriesExhaustedError):
        raise
    except KingdeeError as exc:
        raise dg.Failure(description=f"{spec.form_id}: {exc}", allow_retries=False) from exc


def _shared(form: FormSettings) -> dict:
    return dict(partitions_def=form.partitions, backfill_policy=dg.BackfillPolicy.single_run(),
                group_name=form.names.group, tags={"kd/form": form.name})


def build_sync_assets(form: FormSettings) -> list[dg.AssetsDefinition]:
    """``<prefix>_raw → <prefix>_clean → <target table>`` for one form."""
    return [build_raw_asset(form), build_clean_asset(form), build_target_asset(form)]


def build_raw_asset(form: FormSettings) -> dg.AssetsDefinition:
    spec = form.spec

    @dg.asset(name=form.names.raw, **_shared(form), pool=form.pool, retry_policy=TRANSIENT_RETRY,
              kinds={"kingdee", "sql"}, code_version="1",
              description=f"{spec.form_id} rows changed in the partition window, landed as fetched "
                          f"(keyset pages by {', '.join(spec.key_fields)}) in {spec.tables.landing}."
                          + history_note(form.sync_start))
    def raw_asset(context: dg.AssetExecutionContext, kingdee: KingdeeResource,
                  target_db: MySQLResource) -> dg.MaterializeResult:
        store = target_db.store(spec)
        with sync_run(context, store, form.partitions) as run, kingdee.get_client() as client:
            try:
                with kingdee_failures_classified(spec):
                    pages = client.iter_window(spec.form_id, spec.field_keys, Window(*run.window),
                                               change_fields=spec.change_time_fields, key_field=spec.page_key,
                                               extra_filter=spec.extra_filter)
                    land_pages(store, pages, run, Progress(context.log, f"fetched and landed ({run.partition})"))
            finally:
                run.api = client.stats.as_metadata()
        context.log.info(f"landed {run.counts.get('landed', 0)} rows for {run.partition} "
                         f"in {run.api.get('kingdee_calls', 0)} calls")
        return dg.MaterializeResult(metadata={**run.metadata(), "dagster/row_count": run.counts.get("landed", 0)})

    return raw_asset


def land_pages(store, pages: Iterator[list[list]], run, progress: Progress) -> None:
    """Land fetched pages as they come, counted in ``run`` once written; then prune the pages whose
    rows all landed again. The next page's HTTP (prefetched) and writing the previous page
    (land_behind) overlap preparing this one."""

    def written(rows: int, landed: LandCounts) -> None:
        run.add(rows_in=rows, landed=landed.landed, rejected=landed.quarantined)
        progress.add(rows)

    with prefetched(pages) as ahead, write_behind(depth=0, name="kd-land") as submit:
        for page in ahead:
            land_behind(store, page, run.run_id, run.partition, submit, written)
    run.add(pages_pruned=store.prune_landed_pages())


def _reject_summary(reasons: Counter, samples: list[dict]) -> dict:
    top = ", ".join(f"{name} ×{n}" for name, n in reasons.most_common(8)) or "none"
    return {"failed_checks": top, "reject_samples": dg.MetadataValue.json(samples)}


def _reject_checks(limits, tally: Tally) -> Iterator[dg.AssetCheckResult]:
    share = tally.rejected / tally.rows_in if tally.rows_in else 0.0
    check_meta = {"rows": tally.rows_in, "rejected": tally.rejected, "reject_share": share,
                  **_reject_summary(tally.reasons, tally.samples)}
    gate, warn_share = limits.reject_gate(), limits.warn_reject()
    blocked = gate.blocks(tally.rejected, tally.rows_in)
    yield dg.AssetCheckResult(check_name="clean_schema", passed=blocked is None, description=blocked,
                              severity=dg.AssetCheckSeverity.ERROR,
                              metadata={**check_meta, "max_reject_share": gate.max_share,
                                        "reject_gate_min_rows": gate.min_rejects})
    yield dg.AssetCheckResult(check_name="reject_rate", passed=share <= warn_share,
                              severity=dg.AssetCheckSeverity.WARN,
                              metadata={**check_meta, "warn_reject_share": warn_share})


def build_clean_asset(form: FormSettings) -> dg.AssetsDefinition:
    spec, name, limits = form.spec, form.names.clean, form.thresholds

    @dg.asset(name=name, **_shared(form), deps=[form.names.raw], kinds={"pandera", "sql"}, code_version="1",
              check_specs=[
                  dg.AssetCheckSpec("clean_schema", asset=name, blocking=True, partitions_def=form.partitions,
                                    description="pandera schema; blocks publishing when rejected rows exceed both "
                                                "max_reject_share and reject_gate_min_rows (KD_MAX_REJECT_SHARE, "
                                                "KD_REJECT_GATE_MIN_ROWS)"),
                  dg.AssetCheckSpec("reject_rate", asset=name, partitions_def=form.partitions,
                                    description="warns when rejects exceed warn_reject_share (KD_WARN_REJECT_SHARE)"),
              ],
              description=f"Landed rows mapped and converted by the sync spec and validated with pandera "
                          f"into {spec.tables.clean}; rejects go to {spec.tables.quarantine} with reasons."
                          + history_note(form.sync_start))
    def clean_asset(context: dg.AssetExecutionContext, target_db: MySQLResource):
        store = target_db.store(spec)
        with sync_run(context, store, form.partitions) as run:
            upstream = rows_of_upstream(context, form.names.raw)
            progress = Progress(context.log, f"cleaned ({run.partition})", upstream)

            def on_chunk(tally: Tally) -> None:
                run.add(rows_in=tally.rows_in, clean=tally.clean, rejected=tally.rejected)
                progress.add(tally.rows_in)

            job = CleanJob(run.window, run.partition, run.run_id, source_now(source_timezone()), target_db.chunk_size)
            # A large window is split by key range over KD_CLEAN_WORKERS processes (parclean.py).
            tally = clean_window(store, job, on_chunk, rows=upstream)
        share = tally.rejected / tally.rows_in if tally.rows_in else 0.0
        yield dg.MaterializeResult(metadata={**run.metadata(), "reject_share": share,
                                             "dagster/row_count": run.counts.get("clean", 0)})
        yield from _reject_checks(limits, tally)

    return clean_asset


def _target_description(spec: SyncSpec) -> str:
    if spec.tables.headers:
        return (f"The tables other systems read: one row per bill in {spec.tables.headers} (by "
                f"{spec.bill.header_key_column}) and its lines in {spec.tables.target} (by {spec.key_column}), "
                f"upserted together only where the incoming change time is at least the stored one; lines a "
                f"newer version lacks are soft-deleted.")
    return (f"The table other systems read: clean rows upserted into {spec.tables.target} by "
            f"{spec.key_column}, only where the incoming change time is at least the stored one.")


def build_target_asset(form: FormSettings) -> dg.AssetsDefinition:
    spec, target = form.spec, form.names.target

    @dg.asset(name=target, **_shared(form), deps=[form.names.clean], kinds={target_kind()}, code_version="1",
              freshness_policy=dg.FreshnessPolicy.time_window(fail_window=timedelta(hours=26),
                                                              warn_window=timedelta(hours=6)),
              description=_target_description(spec) + history_note(form.sync_start))
    def target_asset(context: dg.AssetExecutionContext, target_db: MySQLResource) -> dg.MaterializeResult:
        store = target_db.store(spec)
        with sync_run(context, store, form.partitions) as run:
            # Published inside the database, chunk by key range: no row travels through Python.
            progress = Progress(context.log, f"published ({run.partition})",
                                rows_of_upstream(context, form.names.clean))
            counts = store.publish_clean(*run.window, run.run_id, chunk_size=target_db.chunk_size,
                                         on_chunk=progress.add)
            run.add(rows_in=counts.total, inserted=counts.inserted, updated=counts.updated,
                    unchanged=counts.unchanged, skipped_older=counts.skipped_older,
                    copied_fresh=counts.fresh)  # target_matches_clean need not compare these again
        preview = next(store.iter_clean(*run.window, chunk_size=5), None)
        metadata = {**run.metadata(), "target": target_db.display_name, "dagster/row_count": counts.total,
                    "target_live_rows": target_db.live_rows(store)}
        if store.tables.headers is not None:  # a bill published as a header table plus a lines table
            metadata.update({"lines_table": spec.tables.target, "header_table": spec.tables.headers,
                             "header_live_rows": target_db.live_rows(store, store.tables.headers),
                             "lines_removed": counts.lines_removed})
        if preview is not None:
            metadata["preview"] = preview_table(preview)
        metadata.update(_memory_fit(context, target_db, store))
        return dg.MaterializeResult(metadata=metadata)

    return target_asset


def _memory_fit(context: dg.AssetExecutionContext, target_db: MySQLResource, store: TargetStore) -> dict[str, float]:
    """The tables', the database's and the buffer pool's sizes as metadata, with a warning when the
    database outgrows the pool. Read after publishing and only informative: a failed read is
    logged (scrubbed of secrets), never raised."""
    try:
        fit = target_db.memory_fit(store)
    except sa.exc.SQLAlchemyError as e:
        context.log.warning(f"could not read the table sizes: {error_text(e)}")
        return {}
    return fit.report(context.log) if fit is not None else {}
