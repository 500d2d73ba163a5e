"""Another bill form (purchase orders) is served from a field table alone; mistakes are named."""

from __future__ import annotations

import textwrap

import pytest

from kd_assets.kingdee import protocol as p
from kd_assets.simulator.formfile import FormFileError, load_catalog

from .conftest import Kingdee

PURCHASE_ORDER = textwrap.dedent("""\
    form: PUR_PurchaseOrder
    name: 采购订单
    table: purchase_order
    key: FID
    number: {field: FBillNo, prefix: CGDD, digits: 6}
    default_rows: 25
    statuses: {document: FDocumentStatus, close: FCloseStatus}
    stamps:
      create: {date: FCreateDate, user: FCreatorId}
      modify: {date: FModifyDate, user: FModifierId}
      audit: {date: FApproveDate, user: FApproverId}
      close: {date: FCloseDate, user: FCloserId}
    fields:
      - {key: FID, kind: int, label: 内码, editable: false}
      - {key: FBillNo, kind: text, label: 单据编号}
      - {key: FDate, kind: date, label: 采购日期}
      - {key: FSupplierId, kind: ref, label: 供应商, ref: BD_Supplier}
      - {key: FPurchaseOrgId, kind: ref, label: 采购组织, ref: org, default: 1}
      - {key: FDocumentStatus, kind: status, label: 单据状态, editable: false}
      - {key: FCloseStatus, kind: status, label: 关闭状态, editable: false}
      - {key: FCreatorId, kind: ref, label: 创建人, ref: user, editable: false}
      - {key: FModifierId, kind: ref, label: 修改人, ref: user, editable: false}
      - {key: FApproverId, kind: ref, label: 审核人, ref: user, editable: false}
      - {key: FCloserId, kind: ref, label: 关闭人, ref: user, editable: false}
      - {key: FCreateDate, kind: date, label: 创建日期, editable: false}
      - {key: FModifyDate, kind: date, label: 修改日期, editable: false}
      - {key: FApproveDate, kind: date, label: 审核日期, editable: false}
      - {key: FCloseDate, kind: date, label: 关闭日期, editable: false}
    entities:
      - key: FPOOrderEntry
        entry_key: FPOOrderEntry_FEntryID
        table: purchase_order_entry
        lines: {min: 1, max: 6, mean: 3}
        writeback: {field: FReceiveQty, of: FQty}
        fields:
          - {key: FMaterialId, kind: ref, label: 物料编码, ref: BD_MATERIAL}
          - {key: FQty, kind: decimal, label: 采购数量}
          - {key: FPrice, kind: decimal, label: 单价}
          - {key: FAllAmount, kind: decimal, label: 价税合计}
          - {key: FReceiveQty, kind: decimal, label: 累计收料数量, editable: false}
        generate:
          - {field: FMaterialId, gen: ref}
          - {field: FQty, gen: choice, values: [10.0, 100.0]}
          - {field: FPrice, gen: decimal, spread: [1.0, 50.0]}
          - {field: FAllAmount, gen: product, of: FQty, times: FPrice}
    generate:
      row:
        - {field: FDate, gen: date_of, of: FCreateDate}
        - {field: FSupplierId, gen: ref}
        - {field: FPurchaseOrgId, gen: ref, numbers: ["100", "101"]}
""")


def test_a_purchase_order_form_is_served_line_by_line_from_yaml(tmp_path, simulator_factory):
    (tmp_path / "pur_purchaseorder.yaml").write_text(PURCHASE_ORDER, encoding="utf-8")
    handle = simulator_factory(form_dirs=(str(tmp_path),), customers=10, suppliers=20, materials=15,
                               orders=3, clock_start="2025-06-16 09:30:00")
    kd = Kingdee(handle, "PUR_PurchaseOrder", "FID")
    kd.login()
    rows = kd.rows("FBillNo,FSupplierId.FNumber,FPurchaseOrgId.FNumber,FPOOrderEntry_FEntryID,"
                   "FMaterialId.FNumber,FQty,FPrice,FAllAmount")
    assert len({r[0] for r in rows}) == 25 and len(rows) > 25
    assert all(r[1].startswith("VEN") and r[4].startswith("MAT") and r[2] in ("100", "101") for r in rows)
    assert all(r[7] == round(r[5] * r[6], 2) for r in rows)
    saved = kd.operate(p.SAVE, {"formid": "PUR_PurchaseOrder", "data": {"Model": {
        "FSupplierId": {"FNumber": "VEN000001"},
        "FPOOrderEntry": [{"FMaterialId": {"FNumber": "MAT000001"}, "FQty": 4, "FPrice": 2.5}]}}})
    assert saved["Result"]["Number"].startswith("CGDD")
    assert kd.admin("forms/PUR_PurchaseOrder/writeback", {"ids": [saved["Result"]["Id"]]})["lines"] == 1


@pytest.mark.parametrize("old,new,fragment", [
    ("entry_key: FPOOrderEntry_FEntryID", "entry_key: FPOEntryID", "Kingdee names an entry key FPOOrderEntry_FEntryID"),
    ("writeback: {field: FReceiveQty, of: FQty}", "writeback: {field: FMaterialId, of: FQty}",
     "writeback.field: field FMaterialId has kind ref"),
    ("- {field: FMaterialId, gen: ref}", "- {field: FDate, gen: date_of, of: FCreateDate}",
     "a line step may only set the entity's own fields"),
    ("table: purchase_order_entry", "table: purchase_order", "need tables of their own"),
    ("table: purchase_order_entry", "table: sale_order_entry", "is already served from"),
    ("{key: FQty, kind: decimal", "{key: FDate, kind: decimal", "field FDate: defined twice"),
    ("ref: BD_Supplier}", "ref: BD_Vendor}", "reference table 'BD_Vendor'"),
    ("lines: {min: 1, max: 6, mean: 3}", "lines: {min: 7, max: 6}", "expected 0 <= min <= max"),
], ids=["entry-key-name", "writeback-kind", "line-sets-header", "own-table", "table-clash",
        "duplicate-field", "unknown-ref-form", "lines"])
def test_a_bad_bill_table_names_the_file_and_the_field(tmp_path, old, new, fragment):
    assert old in PURCHASE_ORDER
    path = tmp_path / "pur_purchaseorder.yaml"
    path.write_text(PURCHASE_ORDER.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(FormFileError) as caught:
        load_catalog([tmp_path])
    assert str(path) in str(caught.value) and fragment in str(caught.value)
