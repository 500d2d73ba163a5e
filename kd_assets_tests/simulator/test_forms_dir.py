"""A form the package does not ship (BD_Department) is served from a field table alone."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from kd_assets.kingdee import protocol as p
from kd_assets.simulator.formfile import FormFileError, load_catalog

from .conftest import Kingdee, error_status

DEPARTMENT = textwrap.dedent("""\
    form: BD_Department
    name: 部门
    table: department
    key: FDEPTID
    master: FMasterId
    number: {field: FNumber, prefix: DEPT, digits: 4}
    first_id: 700001
    default_rows: 60
    aliases: {FAuditDate: FApproveDate}
    statuses: {document: FDocumentStatus, forbid: FForbidStatus}
    orgs: {create: FCreateOrgId, use: FUseOrgId}
    stamps:
      create: {date: FCreateDate, user: FCreatorId}
      modify: {date: FModifyDate, user: FModifierId}
      audit: {date: FApproveDate, user: FApproverId}
      forbid: {date: FForbidDate, user: FForbidderId}
    change_fields: [FModifyDate, FForbidDate, FApproveDate]
    refs:
      dept_kind: [[710001, BMSX01, 管理部门], [710002, BMSX02, 生产部门], [710003, BMSX03, 销售部门]]
    fields:
      - {key: FDEPTID, kind: int, label: 内码, editable: false}
      - {key: FMasterId, kind: int, label: 主数据内码, editable: false, indexed: true}
      - {key: FNumber, kind: text, label: 编码, indexed: true}
      - {key: FName, kind: text, label: 名称}
      - {key: FCreateOrgId, kind: ref, label: 创建组织, ref: org, default: 1}
      - {key: FUseOrgId, kind: ref, label: 使用组织, ref: org}
      - {key: FDeptProperty, kind: ref, label: 部门属性, ref: dept_kind}
      - {key: FManager, kind: text, label: 负责人}
      - {key: FHeadCount, kind: int, label: 编制人数}
      - {key: FDocumentStatus, kind: status, label: 数据状态, editable: false}
      - {key: FForbidStatus, kind: status, label: 禁用状态, editable: false}
      - {key: FCreatorId, kind: ref, label: 创建人, ref: user, editable: false}
      - {key: FModifierId, kind: ref, label: 修改人, ref: user, editable: false}
      - {key: FApproverId, kind: ref, label: 审核人, ref: user, editable: false}
      - {key: FForbidderId, kind: ref, label: 禁用人, ref: user, editable: false}
      - {key: FCreateDate, kind: date, label: 创建日期, editable: false}
      - {key: FModifyDate, kind: date, label: 修改日期, editable: false, indexed: true}
      - {key: FApproveDate, kind: date, label: 审核日期, editable: false}
      - {key: FForbidDate, kind: date, label: 禁用日期, editable: false}
    generate:
      master:
        - {field: FName, gen: words, parts: [[华东, 华南, 总部], [财务部, 采购部, 生产一部, 销售部]]}
        - {field: FDeptProperty, gen: ref}
        - {field: FManager, gen: person_name, blank_share: 0.2}
        - {field: FHeadCount, gen: choice, values: [5, 10, 20, 50]}
      dirty: [{blank: FName}, modify_before_create]
    """)
DEPT_KEYS = "FDEPTID,FNumber,FName,FUseOrgId.FNumber,FDeptProperty.FNumber,FDeptProperty.FName,FHeadCount"


@pytest.fixture
def forms_dir(tmp_path: Path) -> Path:
    (tmp_path / "bd_department.yaml").write_text(DEPARTMENT, encoding="utf-8")
    return tmp_path


@pytest.fixture
def dept(simulator_factory, forms_dir) -> Kingdee:
    caller = Kingdee(simulator_factory(customers=20, suppliers=10, materials=10, form_dirs=(str(forms_dir),),
                                       clock_start="2025-06-16 09:30:00"), "BD_Department", "FDEPTID")
    caller.login()
    return caller


def test_a_department_form_is_served_from_yaml_alone(dept):
    rows = dept.rows(DEPT_KEYS[len("FDEPTID,"):])
    assert len(rows) == 60 and all(r[0].startswith("DEPT") for r in rows)
    assert {r[3] for r in rows} <= {"BMSX01", "BMSX02", "BMSX03"} and {r[4] for r in rows} >= {"管理部门"}
    filtered = dept.query(DEPT_KEYS, FilterString="FDeptProperty.FNumber = 'BMSX02' and FHeadCount >= 10",
                          OrderString="FDEPTID ASC")
    assert filtered and all(r[4] == "BMSX02" and r[6] >= 10 for r in filtered)
    last = filtered[0][0]
    keyset = dept.query("FDEPTID", FilterString=f"FDEPTID > {last}", OrderString="FDEPTID ASC", Limit=5)
    assert [r[0] for r in keyset] == sorted(r[0] for r in keyset) and keyset[0][0] > last
    info = dept.post(p.QUERY_BUSINESS_INFO, {"data": {"FormId": "BD_Department"}}).json()
    assert info["Result"]["NeedReturnData"]["PkFieldName"] == "FDEPTID"
    assert dept.admin("state")["rows"]["forms"]["BD_Department"]["rows"] == 60


def test_a_department_is_saved_forbidden_audited_and_deleted(dept):
    dept.admin("clock", {"now": "2025-07-01 08:00:00", "frozen": True})
    dept.login()
    newest = dept.query("FNumber", OrderString="FNumber DESC", Limit=1)[0][0]
    saved = dept.operate(p.SAVE, {"formid": "BD_Department", "data": {"Model": {
        "FName": "新部门", "FDeptProperty": {"FNumber": "BMSX03"}, "FHeadCount": 7}}})["Result"]
    row_id = saved["Id"]
    assert saved["Number"] == f"DEPT{int(newest[4:]) + 1:04d}"

    def row() -> list:
        return dept.query("FForbidStatus,FForbidDate,FDocumentStatus,FAuditDate,FModifyDate,FDeptProperty.FName",
                          FilterString=f"FDEPTID = {row_id}")

    assert row() == [["A", None, "A", None, "2025-07-01T08:00:00", "销售部门"]]
    for op in ("Forbid", "Audit"):
        status = dept.operate(p.EXCUTE_OPERATION, {"formid": "BD_Department", "opNumber": op,
                                                   "data": {"Ids": str(row_id)}})
        assert error_status(status)["IsSuccess"], status
    assert row() == [["B", "2025-07-01T08:00:00", "C", "2025-07-01T08:00:00", "2025-07-01T08:00:00", "销售部门"]]
    refused = dept.operate(p.DELETE, {"formid": "BD_Department", "data": {"Numbers": [saved["Number"]]}})
    assert f"部门 {saved['Number']}" in error_status(refused)["Errors"][0]["Message"]
    dept.operate(p.UNAUDIT, {"formid": "BD_Department", "data": {"Ids": str(row_id)}})
    deleted = dept.operate(p.DELETE, {"formid": "BD_Department", "data": {"Ids": str(row_id)}})
    assert error_status(deleted)["IsSuccess"] and row() == []


@pytest.mark.parametrize("old,new,fragment", [
    ("kind: int, label: 编制人数", "kind: integer, label: 编制人数", "field FHeadCount: kind 'integer'"),
    ("ref: dept_kind}", "ref: dept_sort}", "field FDeptProperty: reference table 'dept_sort'"),
    ("{field: FManager, gen: person_name", "{field: FManager, gen: full_name", "(field FManager): unknown generator"),
    ("{field: FHeadCount, gen: choice, values: [5, 10, 20, 50]}", "{field: FHeadCount, gen: choice}",
     "(field FHeadCount): generator choice needs"),
    ("{field: FManager,", "{field: FBoss,", "no field 'FBoss'"),
    ("{field: FHeadCount, gen: choice, values: [5, 10, 20, 50]}",
     "{field: FHeadCount, gen: scale_of, of: FBudget, spread: [1, 2]}", "`of: FBudget` names no field"),
    ("{field: FManager, gen: person_name, blank_share: 0.2}",
     "{field: FManager, gen: slice, of: FHeadCount}", "(field FManager): reads FHeadCount, which no earlier"),
    ("forbid: {date: FForbidDate,", "forbid: {date: FForbidStamp,", "stamps.forbid.date: 'FForbidStamp'"),
    ("key: FDEPTID\n", "key: FNumber\n", "key: field FNumber has kind text"),
    ("  - {key: FManager, kind: text, label: 负责人}\n",
     "  - {key: FManager, kind: text, label: 负责人}\n  - {key: fmanager, kind: text, label: x}\n",
     "field fmanager: defined twice"),
    ("{key: FHeadCount, kind: int, label: 编制人数}", "{key: FHeadCount, kind: int, label: 编制人数, colour: red}",
     "field FHeadCount: unknown settings ['colour']"),
    ("table: department", "table: customer", "is already served from"),
], ids=["bad-kind", "unknown-ref-table", "unknown-generator", "missing-parameter", "step-of-unknown-field",
        "reads-unknown-field", "reads-later-field",
        "stamp-of-unknown-field", "key-not-int", "duplicate-field", "unknown-setting", "table-clash"])
def test_a_bad_field_table_names_the_file_and_the_field(tmp_path, old, new, fragment):
    assert old in DEPARTMENT
    path = tmp_path / "bd_department.yaml"
    path.write_text(DEPARTMENT.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(FormFileError) as caught:
        load_catalog([tmp_path])
    assert str(path) in str(caught.value) and fragment in str(caught.value)


def test_a_missing_forms_dir_is_named(tmp_path):
    with pytest.raises(FormFileError, match="nowhere"):
        load_catalog([tmp_path / "nowhere"])
