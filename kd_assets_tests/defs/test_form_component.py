"""KingdeeFormSync: forms from defs.yaml files, their names, settings and loading errors."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import dagster as dg
import pytest
import yaml

from kd_assets.definitions import FORMS_DIR, build_definitions, form_definitions

PROJECT = Path(__file__).resolve().parents[2]
SHIPPED = {"customers": ("BD_Customer", "wk_wodtop_customer"), "suppliers": ("BD_Supplier", "wk_wodtop_supplier"),
           "materials": ("BD_MATERIAL", "wk_wodtop_material"),
           "sale_orders": ("SAL_SaleOrder", "wk_wodtop_sale_order_line")}


def _repository(dirs) -> dg.RepositoryDefinition:
    return build_definitions(dirs).get_repository_def()


def _write_form(root: Path, folder: str, attributes: str) -> Path:
    path = root / folder / "defs.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("type: kd_assets.KingdeeFormSync\nattributes:\n" + textwrap.indent(textwrap.dedent(attributes),
                                                                                     "  "), encoding="utf-8")
    return path


def _load_error(root: Path) -> str:
    """The whole message chain of a failed load, as a user reads it in the traceback."""
    with pytest.raises(Exception) as info:
        form_definitions([root])
    texts, exc = [], info.value
    while exc is not None:
        texts.append(str(exc))
        exc = exc.__cause__ or exc.__context__
    return "\n".join(texts)


def test_the_code_location_holds_every_shipped_form_with_all_its_definitions():
    repo = _repository([FORMS_DIR])

    assets = {k.to_user_string() for k in repo.asset_graph.get_all_asset_keys()}
    checks = {(k.asset_key.to_user_string(), k.name) for k in repo.asset_graph.asset_check_keys}
    jobs = {j.name for j in repo.get_all_jobs()}
    sensors = {s.name for s in repo.sensor_defs}
    schedules = {s.name for s in repo.schedule_defs}
    for name, (form_id, target) in SHIPPED.items():
        prefix = f"kingdee_{name}"
        assert {f"{prefix}_raw", f"{prefix}_clean", target, f"{target}_reconciliation"} <= assets
        assert {(f"{prefix}_clean", "clean_schema"), (f"{prefix}_clean", "reject_rate"),
                (f"{prefix}_clean", "unique_keys"), (target, "target_matches_clean"),
                (f"{target}_reconciliation", "source_reconciliation")} <= checks
        assert {f"{prefix}_sync", f"{prefix}_reconcile"} <= jobs
        assert {f"{prefix}_change_sensor", f"{prefix}_alert_on_checks_and_freshness"} <= sensors
        assert {f"{prefix}_daily_resync", f"{prefix}_reconcile_daily"} <= schedules
        assert form_definitions()[name].settings.spec.form_id == form_id
    # A bill form adds lines_have_headers to its target.
    assert ("wk_wodtop_sale_order_line", "lines_have_headers") in checks
    assert len(assets) == 16 and len(checks) == 21
    # Run failures and recoveries: one sensor each for the code location, not one per form.
    assert {"kd_alert_on_run_failure", "kd_alert_recovery"} <= sensors and len(sensors) == 10


def test_customers_keep_todays_names():
    customers = form_definitions()["customers"]

    names = customers.settings.names
    assert [a.key.to_user_string() for a in customers.sync_assets] == [
        "kingdee_customers_raw", "kingdee_customers_clean", "wk_wodtop_customer"]
    assert (names.group, names.reconciliation, customers.sync_job.name, customers.reconcile_job.name) == (
        "kingdee_customers", "wk_wodtop_customer_reconciliation", "kingdee_customers_sync",
        "kingdee_customers_reconcile")
    assert (customers.change_sensor.name, customers.resync_schedule.name, customers.reconcile_schedule.name) == (
        "kingdee_customers_change_sensor", "kingdee_customers_daily_resync", "kingdee_customers_reconcile_daily")
    assert customers.settings.spec.tables.target == "wk_wodtop_customer"
    assert customers.settings.spec.business_key == ("customer_number", "using_org")


def test_each_form_has_its_own_partitions_and_knobs_from_yaml(tmp_path, monkeypatch):
    monkeypatch.setenv("KD_SYNC_START", "2024-01-01")
    monkeypatch.setenv("KD_MAX_REJECT_SHARE", "0.3")
    _write_form(tmp_path, "early", """\
        spec: bd_supplier
        name: early_suppliers
        sync_start: 2023-06-01
        sensor: {interval_s: 7, lag_s: 60, max_probe_rows: 5}
        thresholds: {max_reject_share: 0.2, max_delete_share: 0.5, delete_guard_min_rows: 3, verify_days: 0}
        resync_schedule: {cron: "5 1 * * *", running: false}
        alerts: {webhook_env: KD_SUPPLIER_WEBHOOK, format: wecom}
        names: {sync_job: supplier_sync}
    """)
    _write_form(tmp_path, "late", "spec: bd_material\nname: late_materials\n")

    forms = form_definitions([tmp_path])

    early, late = forms["early_suppliers"], forms["late_materials"]
    assert early.settings.partitions.get_first_partition_key() == "2023-06-01"
    assert late.settings.partitions.get_first_partition_key() == "2024-01-01"  # KD_SYNC_START
    assert early.change_sensor.minimum_interval_seconds == 7
    assert early.settings.sensor.lag() == dt.timedelta(seconds=60) and early.settings.sensor.max_rows() == 5
    assert early.settings.thresholds.reject_gate().max_share == 0.2
    assert late.settings.thresholds.reject_gate().max_share == 0.3
    assert (early.resync_schedule.cron_schedule, early.resync_schedule.default_status) == (
        "5 1 * * *", dg.DefaultScheduleStatus.STOPPED)
    assert early.sync_job.name == "supplier_sync"
    assert (early.settings.thresholds.content_verify_days(), late.settings.thresholds.content_verify_days()) == (0, 7)
    assert early.settings.alerts.webhook_env == "KD_SUPPLIER_WEBHOOK"


def test_use_org_numbers_stay_text_even_when_yaml_makes_them_ints(tmp_path):
    # Templating turns 100 (Kingdee's default org number), quoted or not, into an int.
    _write_form(tmp_path, "orgs", """\
        spec: bd_customer
        name: org_customers
        use_orgs: [100, "100", "0100", T00]
    """)

    spec = form_definitions([tmp_path])["org_customers"].settings.spec

    assert spec.extra_filter == "FUseOrgId.FNumber in ('100','100','0100','T00')"


def test_use_orgs_on_a_bill_is_refused_naming_its_own_org_field_instead(tmp_path):
    # Bills carry no FUseOrgId (README, "Add a bill form"): the filter would fail at Kingdee's first page.
    path = _write_form(tmp_path, "orders", """\
        spec: sal_saleorder
        name: org_orders
        use_orgs: ["100"]
    """)

    error = _load_error(tmp_path)

    assert f"{path}: attributes.use_orgs: SAL_SaleOrder is a bill and has no use-org (FUseOrgId)" in error
    assert "extra_filter" in error


def test_an_unknown_attribute_fails_naming_the_file_line_and_key(tmp_path):
    path = _write_form(tmp_path, "typo", """\
        spec: bd_customer
        name: typo_customers
        thresholds: {max_reject_shar: 0.1}
    """)

    error = _load_error(tmp_path)

    # Dagster names the nested model in the path: attributes.thresholds.ThresholdAttributesModel.…
    assert "attributes.thresholds." in error and f".max_reject_shar at {path}:5" in error
    assert "Extra inputs are not permitted" in error


@pytest.mark.parametrize("mistake, expected", [
    ({"type": "datetim"}, "columns[1] (modified_at).type: SQL type 'datetim' not allowed"),
    ({"name": "data_id"}, "columns[1] (data_id): duplicate target column 'data_id'"),
    ({"nmae": "modified"}, "columns[1] (modified_at): unknown key 'nmae'"),
])
def test_a_mistake_in_an_inline_spec_fails_naming_the_file_and_yaml_path(tmp_path, mistake, expected):
    spec = {"form_id": "BD_Department", "key": {"field": "FDEPTID", "column": "data_id"},
            "change_time_fields": ["FModifyDate"], "tables": {"target": "wk_dept"},
            "columns": [{"field": "FDEPTID", "name": "data_id", "type": "bigint", "conversion": "int"},
                        {"field": "FModifyDate", "name": "modified_at", "type": "datetime", "conversion": "datetime",
                         **mistake}]}
    path = _write_form(tmp_path, "dept", yaml.safe_dump({"name": "departments", "spec": spec}))

    error = _load_error(tmp_path)

    assert f"{path}: attributes.spec.{expected}" in error


def test_a_spec_file_without_its_key_column_fails_naming_both_files(tmp_path):
    spec_file = tmp_path / "specs" / "bd_dept.yaml"
    spec_file.parent.mkdir()
    spec_file.write_text(textwrap.dedent("""\
        form_id: BD_Department
        key: {field: FDEPTID, column: data_id}
        change_time_fields: [FModifyDate]
        tables: {target: wk_dept}
        columns:
          - {field: FModifyDate, name: modified_at, type: datetime, conversion: datetime}
    """), encoding="utf-8")
    forms = tmp_path / "forms"
    path = _write_form(forms, "dept", f"spec: ../../specs/bd_dept.yaml\nname: departments\n")

    error = _load_error(forms)

    assert f"{path}: attributes.spec (../../specs/bd_dept.yaml): " in error
    assert "bd_dept.yaml: key.field: missing key column: no column maps Kingdee field 'FDEPTID'" in error


def test_the_package_ships_every_form_and_spec_yaml():
    import tomllib

    package_data = tomllib.loads((PROJECT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    shipped = {p.relative_to(PROJECT / "kd_assets") for p in (PROJECT / "kd_assets").rglob("*.yaml")
               if "simulator" not in p.parts}
    covered = {p for p in shipped if any(p.match(pattern) for pattern in package_data["kd_assets"])}
    assert covered == shipped and {Path("forms/customers/defs.yaml"), Path("specs/bd_supplier.yaml")} <= shipped


def _dg(*args: str, cwd: Path = PROJECT) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KD_")}
    return subprocess.run([str(Path(sys.executable).parent / "dg"), *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def test_dg_lists_the_component_and_every_forms_definitions():
    components = _dg("list", "components", "--json")
    listed = _dg("list", "defs", "--json")

    assert components.returncode == 0, components.stderr[-2000:]
    assert "kd_assets.KingdeeFormSync" in {c["key"] for c in json.loads(components.stdout)["items"]}
    assert listed.returncode == 0, listed.stderr[-2000:]
    defs = json.loads(listed.stdout)
    assets = {a["asset_key"] for a in defs["assets"]}
    assert {f"kingdee_{form}_raw" for form in SHIPPED} | {target for _, target in SHIPPED.values()} <= assets
    assert {s["name"] for s in defs["sensors"]} >= {f"kingdee_{form}_change_sensor" for form in SHIPPED}
    assert len(defs["schedules"]) == 8 and len(defs["asset_checks"]) == 21


def _dg_project(root: Path) -> Path:
    """A bare dg project whose defs folder holds only form defs.yaml files."""
    (root / "pyproject.toml").write_text(textwrap.dedent("""\
        [project]
        name = "my-forms"
        version = "0"
        [tool.dg]
        directory_type = "project"
        [tool.dg.project]
        root_module = "my_forms"
        defs_module = "my_forms"
    """), encoding="utf-8")
    (root / "my_forms").mkdir()
    return root / "my_forms"


def test_dg_scaffolds_a_form_that_loads(tmp_path):
    forms = _dg_project(tmp_path)

    scaffolded = _dg("scaffold", "defs", "kd_assets.KingdeeFormSync", "org-suppliers", "--spec", "bd_supplier",
                     cwd=tmp_path)

    assert scaffolded.returncode == 0, scaffolded.stdout[-2000:] + scaffolded.stderr[-2000:]
    assert _dg("check", "yaml", cwd=tmp_path).returncode == 0
    suppliers = form_definitions([forms])["org_suppliers"]
    assert (suppliers.sync_job.name, suppliers.settings.spec.form_id) == ("kingdee_org_suppliers_sync", "BD_Supplier")


def test_dg_check_yaml_passes_the_shipped_forms_and_names_the_line_of_a_mistake(tmp_path):
    shipped = _dg("check", "yaml")
    _dg_project(tmp_path)
    path = _write_form(tmp_path / "my_forms", "typo", "spec: bd_customer\nsensr: {interval_s: 5}\n")

    mistaken = _dg("check", "yaml", cwd=tmp_path)

    assert shipped.returncode == 0, shipped.stdout[-2000:] + shipped.stderr[-2000:]
    assert mistaken.returncode != 0
    assert f"{path}:4" in mistaken.stdout + mistaken.stderr
    assert "'sensr' was unexpected" in mistaken.stdout + mistaken.stderr


def test_kd_forms_dirs_adds_a_deployments_own_forms_to_the_shipped_ones(tmp_path, monkeypatch):
    spec = {"form_id": "BD_Department", "key": {"field": "FDEPTID", "column": "data_id"},
            "change_time_fields": ["FModifyDate"], "tables": {"target": "wk_dept"},
            "columns": [{"field": "FDEPTID", "name": "data_id", "type": "bigint", "conversion": "int"},
                        {"field": "FModifyDate", "name": "modified_at", "type": "datetime", "conversion": "datetime"}]}
    _write_form(tmp_path / "more", "departments", yaml.safe_dump({"name": "departments", "spec": spec}))
    monkeypatch.setenv("KD_FORMS_DIRS", str(tmp_path / "more"))

    jobs = {j.name for j in build_definitions().get_repository_def().get_all_jobs()}

    assert {"kingdee_customers_sync", "kingdee_departments_sync"} <= jobs
    monkeypatch.setenv("KD_FORMS_DIRS", str(tmp_path / "missing"))
    with pytest.raises(FileNotFoundError, match="KD_FORMS_DIRS: .*missing is not a folder"):
        build_definitions()
