"""Sales orders, a bill form shipped as YAML, synced line by line end to end into MariaDB with the
form's checks; a line removed at the source is soft-deleted by the next sync (issue 11)."""

from __future__ import annotations

import dagster as dg
import sqlalchemy as sa

from kd_assets.definitions import form_definitions
from kd_assets.sync.billspec import line_keys
from kd_assets_tests.defs.form_harness import SYNC_CHECKS, check_outcomes, run_sync_range, target_keys
from kd_assets_tests.defs.sync_harness import client, resources

CLOCK = "2024-03-01 12:00:00"
TODAY = CLOCK[:10]
CHECKS = SYNC_CHECKS | {"lines_have_headers"}


def _defs(res: dict) -> dg.Definitions:
    shipped = form_definitions()["sale_orders"]
    return dg.Definitions(assets=[*shipped.sync_assets, shipped.reconciliation], asset_checks=shipped.checks,
                          jobs=[shipped.sync_job, shipped.reconcile_job], sensors=[shipped.change_sensor],
                          resources=res,
                          executor=dg.in_process_executor)


def source_lines(sim, spec) -> dict[int, list]:
    """Line key → [bill id, entry id, document status] of every source line."""
    with client(sim) as c:
        rows = [r for page in c.iter_keys(spec.form_id, key_field=spec.page_key, extra_fields=["FDocumentStatus"])
                for r in page]
    keys, bad = line_keys([r[0] for r in rows], [r[1] for r in rows])
    assert not bad.any()
    return dict(zip(keys.tolist(), rows))


def deleted_flags(url: str, spec, keys: list[int]) -> dict[int, bool]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.text(f"SELECT {spec.key_column}, is_deleted FROM {spec.tables.target} "
                                        f"WHERE {spec.key_column} IN ({','.join(map(str, keys))})")).all()
    finally:
        engine.dispose()
    return {int(k): bool(d) for k, d in rows}


def test_sale_orders_sync_line_by_line_with_checks_and_a_removed_line_is_soft_deleted(
        simulator_factory, mysql_url, instance):
    sim = simulator_factory(customers=30, materials=40, suppliers=5, orders=150, seed=13, clock_start=CLOCK,
                            dirty_share=0.02, history_days=400)
    shipped = form_definitions()["sale_orders"]
    spec, names = shipped.settings.spec, shipped.settings.names
    defs = _defs(resources(sim, mysql_url))

    synced = run_sync_range(defs, names.sync_job, "2024-01-01", TODAY)
    assert synced.success
    outcomes = check_outcomes(synced)
    assert {c: outcomes[c] for c in CHECKS} == {c: True for c in CHECKS}
    assert len(target_keys(mysql_url, spec)) > 100

    reconciled = defs.resolve_job_def(names.reconcile_job).execute_in_process(raise_on_error=False)
    assert reconciled.success
    source = source_lines(sim, spec)
    quarantined = target_keys(mysql_url, spec, spec.tables.quarantine)
    assert target_keys(mysql_url, spec, live_only=True) | quarantined == set(source)

    # The change sensor matches probed lines to target lines: nothing pending now, the edit after.
    def sensor_requests():
        with dg.build_sensor_context(instance=instance, resources=resources(sim, mysql_url), definitions=defs) as ctx:
            return shipped.change_sensor(ctx).run_requests or []
    assert sensor_requests() == []

    by_bill: dict[int, list[int]] = {}
    for key, (bill, _, status) in source.items():
        if status in ("A", "Z") and key not in quarantined:
            by_bill.setdefault(bill, []).append(key)
    bill, keys = next((b, sorted(k)) for b, k in by_bill.items() if len(k) >= 3)
    with client(sim) as c:
        kept = source[keys[0]][1]
        saved = c.save(spec.form_id, {"FID": bill, "FSaleOrderEntry": [{"FEntryID": kept}]})
        assert saved["ResponseStatus"]["IsSuccess"], saved
    assert [r.partition_key for r in sensor_requests()] == [TODAY]

    resynced = run_sync_range(defs, names.sync_job, TODAY, TODAY)
    assert resynced.success
    outcomes = check_outcomes(resynced)
    assert {c: outcomes[c] for c in CHECKS} == {c: True for c in CHECKS}
    assert deleted_flags(mysql_url, spec, keys) == {keys[0]: False, **{k: True for k in keys[1:]}}
