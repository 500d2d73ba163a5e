"""A form's partitioned asset checks that read the target database after a run."""

import dagster as dg

from kd_assets.defs.runs import source_window
from kd_assets.defs.settings import FormSettings
from kd_assets.defs.target_db import MySQLResource
from kd_assets.sync.billchecks import duplicate_lines, headerless_bills
from kd_assets.sync.targetchecks import duplicate_business_keys


def build_checks(form: FormSettings) -> list[dg.AssetChecksDefinition]:
    """``target_matches_clean`` always; ``unique_keys`` when the spec names a business key."""
    checks = [build_target_matches_clean(form)]
    if form.spec.business_key:
        checks.append(build_unique_keys(form))
    if form.spec.bill:
        checks.append(build_lines_have_headers(form))
    return checks


def build_lines_have_headers(form: FormSettings) -> dg.AssetChecksDefinition:
    """A bill spec's lines table: every live line carries its bill's one header (billchecks.py)."""
    spec = form.spec

    @dg.asset_check(asset=form.names.target, name="lines_have_headers", partitions_def=form.partitions,
                    blocking=False, description=(
                        f"Every live line of the window's bills has its bill's live header in {spec.tables.headers} "
                        "at the same version; unique (bill, entry)." if spec.tables.headers else
                        "Every live line of the window's bills carries one header version; no header-only row "
                        "beside lines; unique (bill, entry)."))
    def lines_have_headers(context: dg.AssetCheckExecutionContext, target_db: MySQLResource) -> dg.AssetCheckResult:
        store = target_db.store(spec)
        headers, dupes = headerless_bills(store, *source_window(context, form.partitions)), duplicate_lines(store)
        return dg.AssetCheckResult(
            passed=headers.passed and dupes.passed, severity=dg.AssetCheckSeverity.ERROR,
            metadata={"bills_without_one_header": headers.failures, "duplicate_lines": dupes.failures,
                      "samples": dg.MetadataValue.json(headers.samples + dupes.samples)})

    return lines_have_headers


def build_target_matches_clean(form: FormSettings) -> dg.AssetChecksDefinition:
    spec = form.spec

    @dg.asset_check(asset=form.names.target, name="target_matches_clean", partitions_def=form.partitions,
                    blocking=False, description="Every clean row of the window is in the target with the same "
                                                "change time.")
    def target_matches_clean(context: dg.AssetCheckExecutionContext, target_db: MySQLResource) -> dg.AssetCheckResult:
        copied = None if spec.bill else copied_whole_window(context, form.names.target)
        if copied is not None:
            return dg.AssetCheckResult(passed=True, severity=dg.AssetCheckSeverity.ERROR, metadata={
                "mismatched_rows": 0, "samples": "none", "copied_by_this_run": copied,
                "established_by": "this run's publish copied every clean row of the window into key ranges "
                                  "the target held no row of (plain INSERT … SELECT): not read again"})
        store = target_db.store(spec)
        start, end = source_window(context, form.partitions)
        missing, sample = store.clean_target_diff(start, end)
        return dg.AssetCheckResult(
            passed=missing == 0, severity=dg.AssetCheckSeverity.ERROR,
            metadata={"mismatched_rows": missing, "samples": dg.MetadataValue.md(sample.to_markdown(index=False))
                      if missing else "none"},
        )

    return target_matches_clean


def copied_whole_window(context: dg.AssetCheckExecutionContext, target: str) -> int | None:
    """The rows of the window when this run's target step published all of them by plain copy
    (its ``copied_fresh`` equals its ``rows_in``), else None.

    Such a copy is the clean rows themselves, change times included, taken by the statement that
    wrote them (upsert.copy_into_empty_range, copy_new_keys), so comparing the window again (4-5 s
    at 1M rows) would only re-read what the publish established. Anything else is compared in full: a
    partly guarded publish, a check run without its target step, a bill.
    """
    records = context.instance.get_records_for_run(
        context.run.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION).records
    for record in records:
        materialization = record.event_log_entry.asset_materialization
        if materialization is None or materialization.asset_key != dg.AssetKey(target):
            continue
        rows, copied = (materialization.metadata.get(k) for k in ("rows_in", "copied_fresh"))
        if rows is not None and copied is not None and 0 < copied.value == rows.value:
            return int(copied.value)
    return None


def build_unique_keys(form: FormSettings) -> dg.AssetChecksDefinition:
    spec, business_key = form.spec, form.spec.business_key

    @dg.asset_check(asset=form.names.clean, name="unique_keys", partitions_def=form.partitions, blocking=False,
                    description=f"No clean row of the window shares {' + '.join(business_key)} with another "
                                "clean row, of this window or any other.")
    def unique_keys(context: dg.AssetCheckExecutionContext, target_db: MySQLResource) -> dg.AssetCheckResult:
        found = duplicate_business_keys(target_db.store(spec), *source_window(context, form.partitions))
        return dg.AssetCheckResult(passed=found.passed, severity=dg.AssetCheckSeverity.WARN,
                                   metadata={"duplicate_groups": found.groups,
                                             "samples": dg.MetadataValue.json(found.samples)})

    return unique_keys
