"""The sync spec: the shipped BD_Customer spec, YAML-only extension, and every kind of mistake."""

from __future__ import annotations

import textwrap

import pytest
import yaml

from kd_assets.sync.spec import SPECS_DIR, SpecError, load_spec

ISSUE_COLUMNS = {
    "FCUSTID": "data_id", "FMasterId": "master_id", "FNumber": "customer_number", "FName": "customer_name",
    "FShortName": "short_name", "FCreateOrgId.FNumber": "creating_org", "FUseOrgId.FNumber": "using_org",
    "FDocumentStatus": "document_status", "FForbidStatus": "forbid_status",
    "FRegisterFund": "registered_capital", "FLegalPerson": "legal_person",
    "FSOCIALCRECODE": "social_credit_code", "FTAXREGISTERCODE": "tax_register_code", "FTEL": "phone",
    "FADDRESS": "address", "FGroup.FNumber": "customer_group", "FCustTypeId.FNumber": "customer_type",
    "FTRADINGCURRID.FNumber": "trading_currency", "FSELLER.FNumber": "seller",
    "FSALDEPTID.FNumber": "sales_dept", "FCreateDate": "created_at", "FModifyDate": "modified_at",
    "FForbidDate": "forbidden_at", "FApproveDate": "approved_at",
}

SUPPLIER = """
form_id: BD_Supplier
key: {field: FSupplierId, column: data_id}
change_time_fields: [FModifyDate, FForbidDate]
extra_filter: "FUseOrgId.FNumber = '{org}'"
tables: {target: wk_supplier, sync_log: wk_sync_log}
columns:
  - {field: FSupplierId, name: data_id, type: bigint, conversion: int, required: true}
  - {field: FName, name: supplier_name, type: varchar(255), conversion: text, required: true}
  - {field: FModifyDate, name: modified_at, type: datetime(3), conversion: datetime}
  - {field: FForbidDate, name: forbidden_at, type: datetime(3), conversion: datetime}
"""


def write_spec(tmp_path, text: str, name: str = "spec.yaml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def supplier_doc() -> dict:
    return yaml.safe_load(SUPPLIER)


def write_doc(tmp_path, doc: dict):
    return write_spec(tmp_path, yaml.safe_dump(doc, sort_keys=False))


def test_bd_customer_spec_maps_every_issue_column_in_field_key_order():
    spec = load_spec("bd_customer")
    mapping = {c.field: c.name for c in reversed(spec.columns)}  # a field's first column
    assert {f: mapping[f] for f in ISSUE_COLUMNS} == ISSUE_COLUMNS
    assert spec.field_keys == list(dict.fromkeys(c.field for c in spec.columns))
    assert (spec.form_id, spec.key_field, spec.key_column) == ("BD_Customer", "FCUSTID", "data_id")
    assert spec.change_time_fields == ("FModifyDate", "FForbidDate", "FApproveDate")
    assert spec.tables.target == "wk_wodtop_customer"
    assert spec.column_for_field("FDocumentStatus").allowed == ("Z", "A", "B", "C", "D")
    assert spec.column_for_field("FRegisterFund").min == 0
    # FRegisterFund is text in Kingdee's metadata: a lenient amount beside the raw text.
    assert [(c.name, c.conversion) for c in spec.columns if c.field == "FRegisterFund"] == [
        ("registered_capital", "amount_text"), ("registered_capital_text", "text")]
    assert spec.column_for_field("FName").required


def test_spec_by_path_equals_spec_by_name():
    assert load_spec(SPECS_DIR / "bd_customer.yaml") == load_spec("bd_customer")


def test_second_form_is_yaml_only_with_derived_table_names(tmp_path):
    spec = load_spec(write_spec(tmp_path, SUPPLIER, "bd_supplier.yaml"))
    assert spec.name == "bd_supplier"
    assert spec.field_keys == ["FSupplierId", "FName", "FModifyDate", "FForbidDate"]
    assert spec.extra_filter == "FUseOrgId.FNumber = '{org}'"
    assert (spec.tables.landing, spec.tables.clean, spec.tables.quarantine, spec.tables.sync_log) == (
        "wk_supplier_landing", "wk_supplier_clean", "wk_supplier_quarantine", "wk_sync_log")


def test_missing_spec_file_names_the_path(tmp_path):
    with pytest.raises(SpecError, match="nope.yaml: sync spec not found"):
        load_spec(tmp_path / "nope.yaml")


def test_invalid_yaml_names_the_file(tmp_path):
    with pytest.raises(SpecError, match="spec.yaml: not valid YAML"):
        load_spec(write_spec(tmp_path, "form_id: [unclosed"))


def mutate(doc: dict, path: str, value):
    """Set doc[a][b]... where path is dotted; integers index lists; value None deletes."""
    *parents, last = [int(p) if p.isdigit() else p for p in path.split(".")]
    target = doc
    for p in parents:
        target = target[p]
    if value is None:
        del target[last]
    else:
        target[last] = value
    return doc


@pytest.mark.parametrize("path, value, message", [
    ("colour", "red", r"top level: unknown key 'colour'"),
    ("columns.1.nullable", True, r"columns\[1\] \(supplier_name\): unknown key 'nullable'"),
    ("key.name", "x", r"key: unknown key 'name'"),
    ("tables.archive", "x", r"tables: unknown key 'archive'"),
    ("form_id", None, r"top level: missing key 'form_id'"),
    ("columns.1.type", None, r"columns\[1\] \(supplier_name\): missing key 'type'"),
    ("columns.1.required", "yes", r"columns\[1\] \(supplier_name\)\.required: expected bool, got str"),
    ("columns", {"a": 1}, r"columns: expected list, got dict"),
    ("columns", [], r"columns: at least one column is required"),
    ("extra_filter", 5, r"extra_filter: expected str, got int"),
    ("change_time_fields", "FModifyDate", r"change_time_fields: expected list"),
    ("change_time_fields", [], r"change_time_fields: at least one"),
    ("change_time_fields", ["FApproveDate"], r"change_time_fields\[0\]: 'FApproveDate' is not a column"),
    ("change_time_fields", ["FName"], r"change_time_fields\[0\]: 'FName' must use the 'datetime'"),
    ("change_time_fields", ["FModifyDate", "FModifyDate"], r"change_time_fields: duplicate field"),
    ("key.field", "FMissing", r"key.field: missing key column: no column maps Kingdee field 'FMissing'"),
    ("key.column", "supplier_id", r"key.column: key field 'FSupplierId' maps to 'data_id', not 'supplier_id'"),
    ("columns.0.conversion", "text", r"columns\[0\] \(data_id\): conversion 'text' cannot fill SQL type 'bigint'"),
    ("columns.1.name", "data_id", r"columns\[1\] \(data_id\): duplicate target column 'data_id'"),
    ("columns.1.field", "FSupplierId", r"columns\[1\] \(supplier_name\): duplicate Kingdee field 'FSupplierId'"),
    ("tables.target", "wk-supplier", r"tables.target: unsafe SQL identifier 'wk-supplier'"),
    ("tables.landing", "x; DROP TABLE t", r"tables.landing: unsafe SQL identifier"),
    ("tables.clean", "wk_supplier", r"tables: table names must differ"),
    ("columns.1.name", "Supplier Name", r"columns\[1\] \(Supplier Name\)\.name: unsafe SQL identifier"),
    ("columns.1.field", "FName'--", r"columns\[1\] \(supplier_name\)\.field: unsafe Kingdee field key"),
    ("form_id", "BD Supplier", r"form_id: unsafe Kingdee field key"),
    ("columns.1.conversion", "upper", r"columns\[1\] \(supplier_name\)\.conversion: unknown conversion 'upper'"),
    ("columns.1.type", "nvarchar(20)", r"columns\[1\] \(supplier_name\)\.type: SQL type 'nvarchar\(20\)' not allowed"),
    ("columns.1.type", "float", r"columns\[1\] \(supplier_name\)\.type: SQL type 'float' not allowed"),
    ("columns.1.conversion", "code", r"columns\[1\] \(supplier_name\): a 'code' conversion needs 'allowed' values"),
    ("columns.1.allowed", ["A"], r"columns\[1\] \(supplier_name\)\.allowed: only a 'code' conversion takes allowed values"),
    ("columns.1.pattern", "([", r"columns\[1\] \(supplier_name\)\.pattern: invalid regex"),
    ("columns.2.pattern", "^x$", r"columns\[2\] \(modified_at\)\.pattern: only text and code columns take a pattern"),
    ("columns.1.min", 0, r"columns\[1\] \(supplier_name\)\.min: only int, decimal and amount_text columns take a minimum"),
    ("columns.0.min", "zero", r"columns\[0\] \(data_id\)\.min: expected int or float, got str"),    ("columns.1.future", True, r"columns\[1\] \(supplier_name\)\.future: only datetime columns take 'future'"),
])
def test_every_spec_mistake_names_file_and_location(tmp_path, path, value, message):
    path_ = write_doc(tmp_path, mutate(supplier_doc(), path, value))
    with pytest.raises(SpecError, match=rf"{tmp_path}/spec\.yaml: {message}"):
        load_spec(path_)


def test_code_column_needs_a_non_empty_list_of_strings(tmp_path):
    doc = supplier_doc()
    doc["columns"].append({"field": "FDocumentStatus", "name": "document_status", "type": "char(1)",
                           "conversion": "code", "allowed": []})
    with pytest.raises(SpecError, match=r"columns\[4\] \(document_status\)\.allowed: expected a non-empty list"):
        load_spec(write_doc(tmp_path, doc))


def test_column_entry_must_be_a_mapping(tmp_path):
    doc = supplier_doc()
    doc["columns"].append("FTel")
    with pytest.raises(SpecError, match=r"columns\[4\] \(\?\): expected a mapping, got str"):
        load_spec(write_doc(tmp_path, doc))


def test_key_must_use_int_conversion(tmp_path):
    doc = supplier_doc()
    doc["columns"][0].update(type="varchar(20)", conversion="text")
    with pytest.raises(SpecError, match=r"key.field: key column 'data_id' must use the 'int' conversion"):
        load_spec(write_doc(tmp_path, doc))


def test_a_field_feeds_two_columns_only_as_text_and_amount_parsed_from_it(tmp_path):
    fund_text = {"field": "FRegisterFund", "name": "registered_fund", "type": "varchar(100)", "conversion": "text"}
    fund = {"field": "FRegisterFund", "name": "registered_amount", "type": "decimal(18,2)", "conversion": "amount_text"}
    doc = supplier_doc()
    doc["columns"] += [fund_text, fund]
    spec = load_spec(write_doc(tmp_path, doc))
    assert spec.field_keys.count("FRegisterFund") == 1 and len(spec.columns) == 6
    for third in ({**fund_text, "name": "fund_again"}, {**fund, "name": "amount_again"}):
        doc["columns"].append(third)
        with pytest.raises(SpecError, match=r"columns\[6\] .*duplicate Kingdee field 'FRegisterFund'"):
            load_spec(write_doc(tmp_path, doc))
        doc["columns"].pop()
