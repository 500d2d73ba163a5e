"""Allocate / CancelAllocate (分配 / 取消分配) of base data to other use-orgs, on any form.

As in Kingdee's WebAPI (official SDK ``Allocate(formid, data)``), ``data`` is
``{"PkIds": "100001,100002", "TOrgIds": "100329", "IsAutoSubmitAndAudit": false}``: for each
master and target org, a copy of the master's row is made for that use-org, with a new key and the
same master id and number. The hazard it models (DESIGN.md §4b): the copy carries the master's
create and modify stamps, so it is born with change times in the past and no probe of recent
changes finds it. Without IsAutoSubmitAndAudit the copy is created unaudited (status A, no audit
stamp); with it, it is audited and keeps the master's audit stamp. Only an audited, enabled master
can be allocated, once per org; CancelAllocate removes an unaudited copy. The answer is Kingdee's
operation result: one SuccessEntity (the copy's key and number) per copy, one Error per refusal.
Key, master, number, use-org, status and stamp fields come from the form's field table.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from kd_assets.simulator.envelopes import KingdeeError, entity, error_item, operation_result
from kd_assets.simulator.fields import Form
from kd_assets.simulator.query import check_form
from kd_assets.simulator.values import MSG_GENERAL, lower_keys
from kd_assets.simulator.writes import MSG_OPERATION_REFUSED, WriteService, split_list


class AllocationService:
    """Allocate and CancelAllocate, sharing the write service's store, lookups and permissions."""

    def __init__(self, writes: WriteService) -> None:
        self.writes = writes

    def allocate(self, form_id: Any, data: dict) -> dict:
        return self._each(form_id, data, self._allocate_one)

    def cancel(self, form_id: Any, data: dict) -> dict:
        return self._each(form_id, data, self._cancel_one)

    def _each(self, form_id: Any, data: dict, action) -> dict:
        """Run ``action(conn, form, master row, org id, auto_audit)`` per PkId and TOrgId."""
        form = check_form(self.writes.catalog, form_id)
        if not form.master or not form.use_org:  # bills are not allocated; base data is
            raise KingdeeError(MSG_GENERAL, f"{form.name}({form.form_id}) 不是基础资料，不支持分配", "FormId")
        data = lower_keys(data)
        auto_audit = str(data.get("isautosubmitandaudit")).lower() == "true"
        successes, errors = [], []
        with self.writes.store.transaction() as conn:
            conn.row_factory = sqlite3.Row
            try:
                orgs = self._target_orgs(conn, data)
                for index, (label, rows) in enumerate(self.writes.targets(conn, form, data, "pkids")):
                    if not rows:
                        errors.append(error_item(f"{label} 的{form.name}不存在或已被删除", None, index))
                        continue
                    master = self._master_row(conn, form, rows[0])
                    for org in orgs:
                        try:
                            row_id = action(conn, form, master, org, auto_audit)
                            successes.append(entity(row_id, master[form.number], index))
                        except KingdeeError as err:
                            errors.append(error_item(err.message, err.field_name, index))
            finally:
                conn.row_factory = None
        return operation_result(successes, errors, MSG_OPERATION_REFUSED)

    @staticmethod
    def _target_orgs(conn: sqlite3.Connection, data: dict) -> list[int]:
        raw = split_list(data.get("torgids"))
        if not raw:
            raise KingdeeError(8, "data 数据包中的参数 TOrgIds 的值不能为空", "TOrgIds")
        orgs = []
        for text in raw:
            if not text.isdigit() or not conn.execute("SELECT 1 FROM ref_org WHERE id = ?", (int(text),)).fetchone():
                raise KingdeeError(MSG_GENERAL, f"TOrgIds 中的组织内码 {text!r} 不存在", "TOrgIds")
            orgs.append(int(text))
        return orgs

    @staticmethod
    def _master_row(conn: sqlite3.Connection, form: Form, row: sqlite3.Row) -> sqlite3.Row:
        """The row of the creating org that copies are made from (the row whose key is the master id)."""
        own = conn.execute(f"SELECT * FROM {form.table} WHERE {form.key} = ?", (row[form.master],)).fetchone()
        return own or row

    @staticmethod
    def _copy_in(conn: sqlite3.Connection, form: Form, master: sqlite3.Row, org: int) -> sqlite3.Row | None:
        return conn.execute(f"SELECT * FROM {form.table} WHERE {form.master} = ? AND {form.use_org} = ?",
                            (master[form.master], org)).fetchone()

    def _allocate_one(self, conn: sqlite3.Connection, form: Form, master: sqlite3.Row, org: int,
                      auto_audit: bool) -> int:
        label = form.label(master)
        _require(master[form.document_status] == "C", f"{label} 未审核，不能分配")
        _require(master[form.forbid_status] == "A", f"{label} 已禁用，不能分配")
        _require(self._copy_in(conn, form, master, org) is None, f"{label} 已分配到组织 {org}")
        row = dict(master)
        row_id = (conn.execute(f"SELECT max({form.key}) FROM {form.table}").fetchone()[0] or 0) + 1
        row.update({form.key: row_id, form.use_org: org})
        if not auto_audit:  # created, not audited: no audit stamp; every other stamp is the master's
            audit = form.stamps["audit"]
            row.update({form.document_status: "A", audit.date: None, audit.user: 0})
        columns = list(row)
        conn.execute(f"INSERT INTO {form.table} ({', '.join(columns)}) VALUES "
                     f"({', '.join('?' * len(columns))})", [row[c] for c in columns])
        return row_id

    @staticmethod
    def _cancel_one(conn: sqlite3.Connection, form: Form, master: sqlite3.Row, org: int,
                    auto_audit: bool) -> int:
        copy = AllocationService._copy_in(conn, form, master, org)
        label = form.label(master)
        _require(copy is not None and copy[form.key] != master[form.key], f"{label} 未分配到组织 {org}")
        _require(copy[form.document_status] not in ("B", "C"),
                 f"{form.label(copy)} 已审核或审核中，不能取消分配（请先反审核）")
        conn.execute(f"DELETE FROM {form.table} WHERE {form.key} = ?", (copy[form.key],))
        return int(copy[form.key])


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise KingdeeError(MSG_OPERATION_REFUSED, message)
