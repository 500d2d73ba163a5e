"""The three sync assets: land Kingdee rows → clean and validate them → publish to the target.

Each asset writes to the target database itself and reports metadata; nothing is pickled between
them (write-audit-publish, DESIGN §1). All three share one daily partitioning on change time and
a single-run backfill policy, so an initial load over years is one run with one code path.
"""


import os
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import dagster as dg

from kd_assets.defs.partitions import customer_change_partitions, source_timezone
from kd_assets.defs.resources import KingdeeResource
from kd_assets.defs.runs import preview_table, sync_run
from kd_assets.defs.target_db import MySQLResource
from kd_assets.kingdee import KingdeeError, TransientError, Window
from kd_assets.kingdee.errors import RetriesExhaustedError
from kd_assets.sync import load_spec, source_now, to_frame, validate
from kd_assets.sync.rejectgate import RejectGate

SPEC = load_spec("bd_customer")
GROUP = "kingdee_customers"
KINGDEE_POOL = "kingdee_api"

RAW = "kingdee_customers_raw"
CLEAN = "kingdee_customers_clean"
TARGET = SPEC.tables.target  # wk_wodtop_customer

# A failed step is retried later only for faults that may pass (the client already retried
# each call with backoff); auth, unknown fields and malformed responses fail at once.
TRANSIENT_RETRY = dg.RetryPolicy(max_retries=3, delay=30, backoff=dg.Backoff.EXPONENTIAL,
                                 jitter=dg.Jitter.PLUS_MINUS)
SHARED = dict(partitions_def=customer_change_partitions, backfill_policy=dg.BackfillPolicy.single_run(),
              group_name=GROUP)


def warn_reject_share() -> float:
    """Share of rejected rows above which the reject-rate check warns (KD_WARN_REJECT_SHARE)."""
    return float(os.environ.get("KD_WARN_REJECT_SHARE", "0.01"))


@contextmanager
def _kingdee_failures_classified() -> Iterator[None]:
    """Turn permanent Kingdee errors into a Failure that Dagster does not retry."""
    try:
        yield
    except (TransientError, RetriesExhaustedError):
        raise
    except KingdeeError as exc:
        raise dg.Failure(description=f"{SPEC.form_id}: {exc}", allow_retries=False) from exc


@dg.asset(name=RAW, **SHARED, pool=KINGDEE_POOL, retry_policy=TRANSIENT_RETRY, kinds={"kingdee", "sql"},
          code_version="1",
          description=f"{SPEC.form_id} rows changed in the partition window, landed as fetched "
                      f"(keyset pages by {SPEC.key_field}) in {SPEC.tables.landing}.")
def kingdee_customers_raw(context: dg.AssetExecutionContext, kingdee: KingdeeResource,
                          target_db: MySQLResource) -> dg.MaterializeResult:
    store = target_db.store(SPEC)
    with sync_run(context, store) as run, kingdee.get_client() as client:
        try:
            with _kingdee_failures_classified():
                pages = client.iter_window(SPEC.form_id, SPEC.field_keys, Window(*run.window),
                                           change_fields=SPEC.change_time_fields, key_field=SPEC.key_field,
                                           extra_filter=SPEC.extra_filter)
                for page in pages:
                    landed = store.land_rows(page, run.run_id, run.partition)
                    run.add(rows_in=len(page), landed=landed.landed, rejected=landed.quarantined)
        finally:
            run.api = client.stats.as_metadata()
    context.log.info(f"landed {run.counts.get('landed', 0)} rows for {run.partition} "
                     f"in {run.api.get('kingdee_calls', 0)} calls")
    return dg.MaterializeResult(metadata={**run.metadata(), "dagster/row_count": run.counts.get("landed", 0)})


def _reject_summary(reasons: Counter, samples: list[dict]) -> dict:
    top = ", ".join(f"{name} ×{n}" for name, n in reasons.most_common(8)) or "none"
    return {"failed_checks": top, "reject_samples": dg.MetadataValue.json(samples)}


@dg.asset(name=CLEAN, **SHARED, deps=[RAW], kinds={"pandera", "sql"}, code_version="1",
          check_specs=[
              dg.AssetCheckSpec("clean_schema", asset=CLEAN, blocking=True,
                                partitions_def=customer_change_partitions,
                                description="pandera schema; blocks publishing when rejected rows exceed "
                                            "both KD_MAX_REJECT_SHARE and KD_REJECT_GATE_MIN_ROWS"),
              dg.AssetCheckSpec("reject_rate", asset=CLEAN, partitions_def=customer_change_partitions,
                                description="warns when rejects exceed KD_WARN_REJECT_SHARE"),
          ],
          description=f"Landed rows mapped and converted by the sync spec and validated with pandera "
                      f"into {SPEC.tables.clean}; rejects go to {SPEC.tables.quarantine} with reasons.")
def kingdee_customers_clean(context: dg.AssetExecutionContext, target_db: MySQLResource):
    store = target_db.store(SPEC)
    now = source_now(source_timezone())
    reasons: Counter = Counter()
    samples: list[dict] = []
    with sync_run(context, store) as run:
        for rows in store.iter_landed(*run.window, chunk_size=target_db.chunk_size, partition_key=run.partition):
            result = validate(SPEC, to_frame(SPEC, rows), now)
            store.write_clean(result.clean, run.run_id, run.partition)
            store.quarantine(result.rejects, run.run_id, run.partition)
            run.add(rows_in=len(rows), clean=len(result.clean), rejected=len(result.rejects))
            for reject in result.rejects.itertuples(index=False):
                reasons.update(f"{r['field']}:{r['check']}" for r in reject.reasons)
                if len(samples) < 5:
                    samples.append({"key": reject.key, "reasons": reject.reasons})
    rows_in, rejected = run.counts.get("rows_in", 0), run.counts.get("rejected", 0)
    share = rejected / rows_in if rows_in else 0.0
    yield dg.MaterializeResult(metadata={**run.metadata(), "reject_share": share,
                                         "dagster/row_count": run.counts.get("clean", 0)})
    check_meta = {"rows": rows_in, "rejected": rejected, "reject_share": share, **_reject_summary(reasons, samples)}
    gate = RejectGate.from_env()
    blocked = gate.blocks(rejected, rows_in)
    yield dg.AssetCheckResult(check_name="clean_schema", passed=blocked is None, description=blocked,
                              severity=dg.AssetCheckSeverity.ERROR,
                              metadata={**check_meta, "max_reject_share": gate.max_share,
                                        "reject_gate_min_rows": gate.min_rejects})
    yield dg.AssetCheckResult(check_name="reject_rate", passed=share <= warn_reject_share(),
                              severity=dg.AssetCheckSeverity.WARN,
                              metadata={**check_meta, "warn_reject_share": warn_reject_share()})


@dg.asset(name=TARGET, **SHARED, deps=[CLEAN], kinds={"mysql"}, code_version="1",
          freshness_policy=dg.FreshnessPolicy.time_window(fail_window=timedelta(hours=26),
                                                          warn_window=timedelta(hours=6)),
          description=f"The table other systems read: clean rows upserted into {TARGET} by {SPEC.key_column}, "
                      "only where the incoming change time is at least the stored one.")
def wk_wodtop_customer(context: dg.AssetExecutionContext, target_db: MySQLResource) -> dg.MaterializeResult:
    store = target_db.store(SPEC)
    with sync_run(context, store) as run:
        # Published inside the database, chunk by key range: no row travels through Python.
        counts = store.publish_clean(*run.window, run.run_id, chunk_size=target_db.chunk_size)
        run.add(rows_in=counts.total, inserted=counts.inserted, updated=counts.updated,
                unchanged=counts.unchanged, skipped_older=counts.skipped_older)
    preview = next(store.iter_clean(*run.window, chunk_size=5), None)
    metadata = {**run.metadata(), "target": target_db.display_name,
                "dagster/row_count": counts.total}
    if preview is not None:
        metadata["preview"] = preview_table(preview)
    return dg.MaterializeResult(metadata=metadata)
