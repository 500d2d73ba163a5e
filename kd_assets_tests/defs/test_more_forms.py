"""Suppliers and materials, shipped as YAML, synced end to end into MariaDB (checks included), and a
fourth form the package does not ship, added by YAML alone (issue 9's "done when")."""

from __future__ import annotations

import textwrap
from pathlib import Path

import dagster as dg
import pytest

from kd_assets.definitions import build_definitions, form_definitions
from kd_assets_tests.defs.form_harness import (
    SYNC_CHECKS, check_outcomes, keys_changed_between, point_environment_at, run_sync_range, source_changes,
    target_keys,
)
from kd_assets_tests.defs.sync_harness import client, resources

CLOCK = "2024-03-01 12:00:00"
TODAY = CLOCK[:10]
DATA = Path(__file__).resolve().parent / "data"


def _form_defs(form: str, res: dict) -> dg.Definitions:
    shipped = form_definitions()[form]
    return dg.Definitions(assets=[*shipped.sync_assets, shipped.reconciliation], asset_checks=shipped.checks,
                          jobs=[shipped.sync_job, shipped.reconcile_job], sensors=[shipped.change_sensor],
                          resources=res, executor=dg.in_process_executor)


@pytest.mark.parametrize("form", ["suppliers", "materials"])
def test_a_shipped_form_syncs_checks_and_reconciles_into_mariadb(simulator_factory, mysql_url, instance, form):
    sim = simulator_factory(customers=30, suppliers=400, materials=400, seed=13, clock_start=CLOCK,
                            dirty_share=0.02, history_days=400)
    shipped = form_definitions()[form]
    spec, names = shipped.settings.spec, shipped.settings.names
    defs = _form_defs(form, resources(sim, mysql_url))
    source = source_changes(sim, spec)

    synced = run_sync_range(defs, names.sync_job, "2024-01-01", TODAY)

    assert synced.success
    outcomes = check_outcomes(synced)
    assert {c: outcomes[c] for c in SYNC_CHECKS} == {c: True for c in SYNC_CHECKS}
    # From the first partition: it also holds every earlier change.
    expected = keys_changed_between(source, "1900-01-01", "2024-03-02")
    assert len(expected) > 50
    quarantined = target_keys(mysql_url, spec, spec.tables.quarantine)
    assert target_keys(mysql_url, spec) | quarantined == expected

    reconciled = defs.resolve_job_def(names.reconcile_job).execute_in_process(raise_on_error=False)

    assert reconciled.success
    everything = set(source["key"].astype(int))
    live = target_keys(mysql_url, spec, live_only=True)
    assert live | target_keys(mysql_url, spec, spec.tables.quarantine) == everything

    # An audit moves only the form's own audit date (FAuditDate for suppliers): the sensor sees it.
    with client(sim) as c:
        (key,) = c.execute_bill_query(spec.form_id, [spec.key_field], filter_string="FDocumentStatus <> 'C' and "
                                      "FForbidStatus = 'A'", order_string=f"{spec.key_field} ASC", limit=1)[0]
        c.audit(spec.form_id, [key])
    with dg.build_sensor_context(instance=instance, resources=resources(sim, mysql_url), definitions=defs) as ctx:
        (request,) = shipped.change_sensor(ctx).run_requests
    assert (request.partition_key, request.tags["kd/form_partition"]) == (TODAY, f"{form}:{TODAY}")


DEPARTMENT_SPEC = """\
    # BD_Department → wk_wodtop_department: a form kd-assets does not ship.
    form_id: BD_Department
    key: {field: FDEPTID, column: data_id}
    change_time_fields: [FModifyDate, FForbidDate, FAuditDate]
    business_key: [department_number, using_org]
    tables: {target: wk_wodtop_department}
    columns:
      - {field: FDEPTID, name: data_id, type: bigint, conversion: int, required: true}
      - {field: FMasterId, name: master_id, type: bigint, conversion: int}
      - {field: FNumber, name: department_number, type: varchar(80), conversion: text}
      - {field: FName, name: department_name, type: varchar(255), conversion: text, required: true}
      - {field: FUseOrgId.FNumber, name: using_org, type: varchar(50), conversion: text}
      - {field: FDocumentStatus, name: document_status, type: char(1), conversion: code,
         allowed: [Z, A, B, C, D], required: true}
      - {field: FForbidStatus, name: forbid_status, type: char(1), conversion: code, allowed: [A, B]}
      - {field: FModifyDate, name: modified_at, type: datetime(3), conversion: datetime}
      - {field: FForbidDate, name: forbidden_at, type: datetime(3), conversion: datetime}
      - {field: FAuditDate, name: audited_at, type: datetime(3), conversion: datetime}
"""

DEPARTMENT_DEFS = """\
    type: kd_assets.KingdeeFormSync
    attributes:
      spec: ../../specs/bd_department.yaml
      name: departments
      sync_start: 2023-12-01
      use_orgs: [100, "101", "102", "103"]
"""


def test_a_fourth_form_is_added_by_yaml_alone(simulator_factory, mysql_url, tmp_path, monkeypatch):
    (tmp_path / "sim").mkdir()
    (tmp_path / "specs").mkdir()
    (tmp_path / "forms" / "departments").mkdir(parents=True)
    (tmp_path / "sim" / "bd_department.yaml").write_text((DATA / "bd_department_sim.yaml").read_text("utf-8"),
                                                         encoding="utf-8")
    (tmp_path / "specs" / "bd_department.yaml").write_text(textwrap.dedent(DEPARTMENT_SPEC), encoding="utf-8")
    (tmp_path / "forms" / "departments" / "defs.yaml").write_text(textwrap.dedent(DEPARTMENT_DEFS), encoding="utf-8")
    sim = simulator_factory(customers=10, suppliers=10, materials=10, form_dirs=(str(tmp_path / "sim"),),
                            rows={"BD_Department": 120}, seed=21, clock_start=CLOCK, history_days=150,
                            dirty_share=0.02)
    point_environment_at(monkeypatch, sim, mysql_url)

    defs = build_definitions([tmp_path / "forms"])

    department = form_definitions([tmp_path / "forms"])["departments"]
    spec = department.settings.spec
    assert spec.extra_filter == "FUseOrgId.FNumber in ('100','101','102','103')"
    source = source_changes(sim, spec)
    synced = run_sync_range(defs, "kingdee_departments_sync", "2023-12-01", TODAY)
    assert synced.success
    outcomes = check_outcomes(synced)
    assert {c: outcomes[c] for c in SYNC_CHECKS} == {c: True for c in SYNC_CHECKS}
    # From the first partition: it also holds every earlier change.
    expected = keys_changed_between(source, "1900-01-01", "2024-03-02")
    assert len(expected) > 20
    assert target_keys(mysql_url, spec) | target_keys(mysql_url, spec, spec.tables.quarantine) == expected

    reconciled = defs.resolve_job_def("kingdee_departments_reconcile").execute_in_process(raise_on_error=False)

    assert reconciled.success
    (evaluation,) = reconciled.get_asset_check_evaluations()
    assert evaluation.check_name == "source_reconciliation" and evaluation.severity == dg.AssetCheckSeverity.WARN
    everything = set(source["key"].astype(int))
    live = target_keys(mysql_url, spec, live_only=True)
    assert live | target_keys(mysql_url, spec, spec.tables.quarantine) == everything
