"""A bill form added by YAML with ``layout: header_and_lines``: the simulator's sales orders synced
through Dagster into a header table and a lines table on MariaDB, with the form's checks; a line
removed and a bill deleted at the source end, after a sync and a reconciliation, with both
tables equal to the source (issue 11, point 1)."""

from __future__ import annotations

import textwrap

import pandas as pd
import sqlalchemy as sa
import yaml

from kd_assets.definitions import build_definitions, form_definitions
from kd_assets.sync.spec import SPECS_DIR
from kd_assets_tests.defs.form_harness import SYNC_CHECKS, check_outcomes, point_environment_at, run_sync_range
from kd_assets_tests.defs.sync_harness import client

CLOCK = "2024-03-01 12:00:00"
TODAY = CLOCK[:10]
CHECKS = SYNC_CHECKS | {"lines_have_headers"}
FORM_DEFS = """\
    type: kd_assets.KingdeeFormSync
    attributes: {spec: ../../specs/so_split.yaml, name: split_orders, sync_start: 2024-01-01}
"""


def write_form(root) -> None:
    """The shipped sales-order spec, published as ``so_header`` + ``so_line``: a YAML edit only."""
    doc = yaml.safe_load((SPECS_DIR / "sal_saleorder.yaml").read_text(encoding="utf-8"))
    doc["bill"]["layout"] = "header_and_lines"
    doc["tables"] = {"target": "so_line", "headers": "so_header"}
    (root / "specs").mkdir()
    (root / "forms" / "split_orders").mkdir(parents=True)
    (root / "specs" / "so_split.yaml").write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    (root / "forms" / "split_orders" / "defs.yaml").write_text(textwrap.dedent(FORM_DEFS), encoding="utf-8")


def source_rows(sim, spec) -> list[list]:
    with client(sim) as c:
        return [r for page in c.iter_keys(spec.form_id, key_field=spec.page_key,
                                           extra_fields=["FBillNo", "FDocumentStatus", "FQty"])
                for r in page]


def live_table(url: str, sql: str) -> pd.DataFrame:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return pd.DataFrame(conn.execute(sa.text(sql)).mappings().all())
    finally:
        engine.dispose()


def assert_tables_equal_the_source(sim, spec, url: str, quarantined: set[int]) -> None:
    rows = [r for r in source_rows(sim, spec) if ((r[0] << 31) + (r[1] or 0)) not in quarantined]
    heads = live_table(url, "SELECT bill_id, bill_no, document_status FROM so_header WHERE is_deleted = 0")
    lines = live_table(url, "SELECT bill_id, entry_id, qty FROM so_line WHERE is_deleted = 0")
    expected_heads = {(r[0], r[2], r[3]) for r in rows}
    assert set(zip(heads["bill_id"], heads["bill_no"], heads["document_status"])) == expected_heads
    assert len(heads) == len(expected_heads)
    assert {(b, e, float(q)) for b, e, q in zip(lines["bill_id"], lines["entry_id"], lines["qty"])} == \
        {(r[0], r[1], float(r[4])) for r in rows if r[1]}


def quarantined_keys(url: str) -> set[int]:
    frame = live_table(url, "SELECT record_key FROM so_line_quarantine")
    return set() if frame.empty else {int(k) for k in frame["record_key"]}


def test_a_header_and_lines_bill_form_added_by_yaml_syncs_and_reconciles_into_both_tables(
        simulator_factory, mysql_url, tmp_path, monkeypatch):
    write_form(tmp_path)
    sim = simulator_factory(customers=30, materials=40, suppliers=5, orders=120, seed=17, clock_start=CLOCK,
                            dirty_share=0.0, history_days=300)
    point_environment_at(monkeypatch, sim, mysql_url)
    defs = build_definitions([tmp_path / "forms"])
    form = form_definitions([tmp_path / "forms"])["split_orders"]
    spec, names = form.settings.spec, form.settings.names
    assert names.target == "so_line" and spec.tables.headers == "so_header"

    synced = run_sync_range(defs, names.sync_job, "2024-01-01", TODAY)
    assert synced.success
    outcomes = check_outcomes(synced)
    assert {c: outcomes[c] for c in CHECKS} == {c: True for c in CHECKS}
    meta = synced.asset_materializations_for_node(names.target)[-1].metadata
    assert meta["header_table"].value == "so_header" and meta["lines_table"].value == "so_line"
    assert meta["header_live_rows"].value == len({r[0] for r in source_rows(sim, spec)}) > 50
    assert_tables_equal_the_source(sim, spec, mysql_url, quarantined_keys(mysql_url))

    # At the source: one bill loses a line (a Save, which moves its stamp), another is deleted.
    rows = source_rows(sim, spec)
    by_bill: dict[int, list[list]] = {}
    for r in rows:
        by_bill.setdefault(r[0], []).append(r)
    edited = next(b for b, rs in by_bill.items() if len(rs) >= 2 and rs[0][3] in ("A", "Z"))
    doomed = next(b for b, rs in by_bill.items() if b != edited and rs[0][3] in ("A", "Z"))
    with client(sim) as c:
        keep = [{"FEntryID": r[1]} for r in by_bill[edited][1:]]
        assert c.save(spec.form_id, {"FID": edited, "FSaleOrderEntry": keep})["ResponseStatus"]["IsSuccess"]
        assert c.delete(spec.form_id, [doomed])["ResponseStatus"]["IsSuccess"]

    resynced = run_sync_range(defs, names.sync_job, TODAY, TODAY)
    assert resynced.success
    assert {c: v for c, v in check_outcomes(resynced).items() if c in CHECKS} == {c: True for c in CHECKS}
    removed = live_table(mysql_url, f"SELECT is_deleted FROM so_line WHERE bill_id = {edited} "
                                    f"AND entry_id = {by_bill[edited][0][1]}")
    assert removed["is_deleted"].astype(bool).tolist() == [True]

    reconciled = defs.resolve_job_def(names.reconcile_job).execute_in_process(raise_on_error=False)
    assert reconciled.success
    (evaluation,) = reconciled.get_asset_check_evaluations()
    assert evaluation.check_name == "source_reconciliation"
    gone = live_table(mysql_url, f"SELECT is_deleted FROM so_header WHERE bill_id = {doomed}")
    assert gone["is_deleted"].astype(bool).tolist() == [True]
    assert_tables_equal_the_source(sim, spec, mysql_url, quarantined_keys(mysql_url))
