"""Partitioned asset checks that read the target database after a run."""


import dagster as dg
import sqlalchemy as sa

from kd_assets.defs.assets import CLEAN, SPEC, TARGET
from kd_assets.defs.partitions import customer_change_partitions
from kd_assets.defs.runs import source_window
from kd_assets.defs.target_db import MySQLResource

# A customer number is unique within one use-org (FCUSTID is unique by construction).
BUSINESS_KEY = ("customer_number", "using_org")


@dg.asset_check(asset=TARGET, partitions_def=customer_change_partitions, blocking=False,
                description="Every clean row of the window is in the target with the same change time.")
def target_matches_clean(context: dg.AssetCheckExecutionContext, target_db: MySQLResource) -> dg.AssetCheckResult:
    store = target_db.store(SPEC)
    start, end = source_window(context)
    missing, sample = store.clean_target_diff(start, end)
    return dg.AssetCheckResult(
        passed=missing == 0, severity=dg.AssetCheckSeverity.ERROR,
        metadata={"mismatched_rows": missing, "samples": dg.MetadataValue.md(sample.to_markdown(index=False))
                  if missing else "none"},
    )


@dg.asset_check(asset=CLEAN, partitions_def=customer_change_partitions, blocking=False,
                description=f"No two clean rows of the window share {' + '.join(BUSINESS_KEY)}.")
def unique_keys(context: dg.AssetCheckExecutionContext, target_db: MySQLResource) -> dg.AssetCheckResult:
    store = target_db.store(SPEC)
    start, end = source_window(context)
    t = store.tables.clean
    cols = [t.c[name] for name in BUSINESS_KEY]
    in_window = sa.or_(*[sa.and_(t.c[c.name] >= start, t.c[c.name] < end) for c in SPEC.change_columns])
    dupes = (sa.select(*cols, sa.func.count().label("rows"))
             .where(in_window, *[c.is_not(None) for c in cols])
             .group_by(*cols).having(sa.func.count() > 1))
    with store.engine.connect() as conn:
        groups = conn.execute(dupes.order_by(*cols).limit(20)).all()
        n = conn.execute(sa.select(sa.func.count()).select_from(dupes.subquery())).scalar_one()
    samples = [dict(zip([*BUSINESS_KEY, "rows"], g)) for g in groups]
    return dg.AssetCheckResult(passed=n == 0, severity=dg.AssetCheckSeverity.WARN,
                               metadata={"duplicate_groups": n, "samples": dg.MetadataValue.json(samples)})
