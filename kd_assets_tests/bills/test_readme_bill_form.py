"""README "Add a bill form (purchase orders)": its spec and defs.yaml, copied as written, sync a
purchase-order form the package does not ship, line by line, and its org filter holds."""

from __future__ import annotations

import re
from pathlib import Path

import sqlalchemy as sa

from kd_assets.definitions import build_definitions, form_definitions
from kd_assets.sync.billspec import line_keys
from kd_assets_tests.defs.form_harness import SYNC_CHECKS, check_outcomes, run_sync_range
from kd_assets_tests.defs.sync_harness import SIM_CREDENTIALS, client
from kd_assets_tests.simulator.test_bill_forms import PURCHASE_ORDER

README = Path(__file__).resolve().parents[2] / "README.md"
CLOCK = "2024-03-01 12:00:00"


def readme_yaml_blocks() -> list[str]:
    """The ```yaml blocks of the README's bill-form section, in order."""
    text = README.read_text(encoding="utf-8")
    section = text[text.index("### Add a bill form (purchase orders)"):]
    return re.findall(r"```yaml\n(.*?)```", section[:section.index("\n## ")], re.S)


def source_lines_by_org(sim, form_id: str, page_key: tuple[str, str]) -> dict[str, set[int]]:
    """Packed line keys of every source line (bill id, entry id), by purchase org."""
    with client(sim) as c:
        rows = [r for page in c.iter_keys(form_id, key_field=page_key, extra_fields=["FPurchaseOrgId.FNumber"])
                for r in page]
    keys, _ = line_keys([r[0] for r in rows], [r[1] for r in rows])
    by_org: dict[str, set[int]] = {}
    for key, row in zip(keys, rows):
        by_org.setdefault(row[2], set()).add(int(key))
    return by_org


def test_the_readme_purchase_order_form_syncs_the_lines_of_its_org(simulator_factory, mysql_url, tmp_path,
                                                                     monkeypatch):
    spec_yaml, defs_yaml = readme_yaml_blocks()
    for folder in ("sim", "specs", "forms/purchase_orders"):
        (tmp_path / folder).mkdir(parents=True)
    (tmp_path / "sim" / "pur_purchaseorder.yaml").write_text(PURCHASE_ORDER, encoding="utf-8")
    (tmp_path / "specs" / "pur_purchaseorder.yaml").write_text(spec_yaml, encoding="utf-8")
    # The README's instance names the spec as shipped (kd_assets/specs); here it lives beside the form.
    assert "spec: pur_purchaseorder," in defs_yaml
    (tmp_path / "forms" / "purchase_orders" / "defs.yaml").write_text(
        defs_yaml.replace("spec: pur_purchaseorder,", "spec: ../../specs/pur_purchaseorder.yaml,"), encoding="utf-8")
    sim = simulator_factory(customers=10, suppliers=20, materials=15, orders=3, form_dirs=(str(tmp_path / "sim"),),
                            rows={"PUR_PurchaseOrder": 60}, seed=5, clock_start=CLOCK, history_days=50,
                            dirty_share=0.0)
    for var, value in {"KD_SERVER_URL": sim.base_url, "KD_ACCT_ID": SIM_CREDENTIALS["acct_id"],
                       "KD_USERNAME": SIM_CREDENTIALS["username"], "KD_APP_ID": SIM_CREDENTIALS["app_id"],
                       "KD_APP_SECRET": SIM_CREDENTIALS["app_secret"], "KD_MYSQL_URL": mysql_url,
                       "KD_SYNC_START": "2024-02-20"}.items():
        monkeypatch.setenv(var, value)
    form = form_definitions([tmp_path / "forms"])["purchase_orders"].settings
    by_org = source_lines_by_org(sim, form.spec.form_id, form.spec.page_key)
    assert set(by_org) == {"100", "101"} and len(by_org["100"]) > 60  # several lines per bill, two orgs

    synced = run_sync_range(build_definitions([tmp_path / "forms"]), form.names.sync_job, "2024-02-20",
                            CLOCK[:10])

    assert synced.success
    outcomes = check_outcomes(synced)
    assert {c: outcomes[c] for c in (*SYNC_CHECKS, "lines_have_headers")} == dict.fromkeys(
        (*SYNC_CHECKS, "lines_have_headers"), True)
    engine = sa.create_engine(mysql_url)
    with engine.connect() as conn:
        target = conn.execute(sa.text(f"SELECT {form.spec.key_column}, purchase_org, entry_id, qty "
                                      f"FROM {form.spec.tables.target} WHERE NOT is_deleted")).all()
    engine.dispose()
    assert {int(r[0]) for r in target} == by_org["100"]  # every line of org 100, none of org 101
    assert {r[1] for r in target} == {"100"} and all(r[2] > 0 and r[3] > 0 for r in target)
