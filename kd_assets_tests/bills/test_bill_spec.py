"""Bill specs: header key, bill number, one entry entity; sibling entities refused at load."""

from __future__ import annotations

import pytest
import yaml

from kd_assets.sync.spec import SPECS_DIR, SpecError, load_spec

SHIPPED = SPECS_DIR / "sal_saleorder.yaml"


def variant(tmp_path, edit) -> str:
    doc = yaml.safe_load(SHIPPED.read_text(encoding="utf-8"))
    edit(doc)
    path = tmp_path / "sale_orders.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    return str(path)


def test_the_shipped_sale_order_spec_keys_lines_by_bill_and_entry():
    spec = load_spec("sal_saleorder")
    assert spec.bill.entity == "FSaleOrderEntry" and spec.bill.number_column == "bill_no"
    assert spec.page_key == ("FID", "FSaleOrderEntry_FEntryID")
    assert spec.key_column == "line_key" and spec.columns[0].name == "line_key"
    assert spec.field_keys.count("FID") == 1 and "FSaleOrderEntry_FEntryID" in spec.field_keys
    assert spec.change_time_fields == ("FModifyDate", "FApproveDate", "FCloseDate")


@pytest.mark.parametrize("column", [
    {"field": "FMustDate", "name": "must_date", "type": "datetime", "conversion": "datetime",
     "entity": "FSaleOrderPlan"},
    {"field": "FSaleOrderPlan_FEntryID", "name": "plan_id", "type": "bigint", "conversion": "int"},
])
def test_a_field_of_a_sibling_entity_is_refused_naming_both_entities_and_the_file(tmp_path, column):
    path = variant(tmp_path, lambda d: d["columns"].append(column))
    with pytest.raises(SpecError) as err:
        load_spec(path)
    message = str(err.value)
    assert "FSaleOrderPlan" in message and "FSaleOrderEntry" in message and "sale_orders.yaml" in message
    assert "cartesian" in message and column["name"] in message


def test_the_header_and_lines_layout_names_a_header_table_beside_the_lines_table(tmp_path):
    spec = load_spec(variant(tmp_path, lambda d: d["bill"].update(layout="header_and_lines")))
    assert spec.bill.split and spec.tables.target == "wk_wodtop_sale_order_line"
    assert spec.tables.headers == "wk_wodtop_sale_order_line_headers"
    named = load_spec(variant(tmp_path, lambda d: (d["bill"].update(layout="header_and_lines"),
                                                   d["tables"].update(headers="sale_orders"))))
    assert named.tables.headers == "sale_orders"
    assert load_spec("sal_saleorder").tables.headers is None


@pytest.mark.parametrize("edit, message", [
    (lambda d: d["bill"].update(layout="headers"), r"bill.layout: unknown layout 'headers'"),
    (lambda d: d["tables"].update(headers="sale_orders"), r"tables.headers: a header table needs "
                                                          r"'layout: header_and_lines' \(bill.layout is 'lines'\)"),
    (lambda d: (d["bill"].update(layout="header_and_lines"), d["tables"].update(headers="kd_sync_log")),
     r"tables.headers: 'kd_sync_log' is already the name of another table"),
])
def test_a_wrong_layout_or_header_table_is_refused_naming_the_key(tmp_path, edit, message):
    with pytest.raises(SpecError, match=message):
        load_spec(variant(tmp_path, edit))


def test_a_change_time_field_of_the_entry_is_refused(tmp_path):
    def edit(d):
        d["columns"][-1]["conversion"], d["columns"][-1]["type"] = "datetime", "datetime"
        d["change_time_fields"].append("FStockOutQty")
    with pytest.raises(SpecError, match=r"change_time_fields \(FStockOutQty\): 'FStockOutQty' must be a header field"):
        load_spec(variant(tmp_path, edit))


def test_an_entry_key_missing_from_the_columns_is_refused(tmp_path):
    path = variant(tmp_path, lambda d: d["columns"].pop(10))
    with pytest.raises(SpecError, match=r"bill.entry.key: 'FSaleOrderEntry_FEntryID' is not a column"):
        load_spec(path)


def test_an_entity_outside_a_bill_spec_is_refused(tmp_path):
    def edit(d):
        del d["bill"]
    with pytest.raises(SpecError, match=r"entity is only allowed in a spec with a 'bill:' section"):
        load_spec(variant(tmp_path, edit))
