"""Save, Delete and the status operations (Forbid/Enable/Audit/UnAudit/Submit) on any form.

These model the hazards of DESIGN.md §4b on purpose: Forbid, Enable, Audit and UnAudit change a
row without touching its modify date; Enable clears the forbid date (configurable); Delete
refuses audited rows and leaves no trace for queries to find. Which status, date and user fields
an operation sets comes from the form's field table (`statuses:`, `stamps:`).
"""

from __future__ import annotations

import random
import sqlite3
from typing import Any, Callable

from kd_assets.kingdee.protocol import MSG_UNKNOWN_FIELD
from kd_assets.simulator.billwrites import (  # noqa: F401  (MSG_OPERATION_REFUSED is used here too)
    MSG_OPERATION_REFUSED, delete_lines, header_model, require_editable, save_lines,
)
from kd_assets.simulator.clock import stamp_text
from kd_assets.simulator.data import LOGIN_USER_ID, kind_default
from kd_assets.simulator.envelopes import KingdeeError, entity, error_item, operation_result
from kd_assets.simulator.fields import Form, UnknownField
from kd_assets.simulator.formfile import Catalog
from kd_assets.simulator.permissions import DataPermissions
from kd_assets.simulator.query import check_form
from kd_assets.simulator.store import Store
from kd_assets.simulator.values import MSG_GENERAL, convert, lower_keys



class WriteService:
    """Applies write requests to the store, stamping times from the simulator clock."""

    def __init__(self, catalog: Catalog, store: Store, now: Callable, millis_share: float,
                 seed: int, enable_clears_forbid_date: bool,
                 permissions: DataPermissions | None = None) -> None:
        self.catalog = catalog
        self.permissions = permissions or DataPermissions([])
        self.store = store
        self.now = now
        self.millis_share = millis_share
        self.rng = random.Random(seed + 1)
        self.enable_clears_forbid_date = enable_clears_forbid_date

    def stamp(self) -> str:
        return stamp_text(self.now(), self.rng.random() < self.millis_share)

    def stamped(self, form: Form, name: str) -> dict[str, Any]:
        """{date field: now, user field: the login user} for one of the form's stamps."""
        stamp = form.stamps[name]
        return {stamp.date: self.stamp(), stamp.user: LOGIN_USER_ID}

    # -- Save
    def save(self, form_id: Any, data: dict) -> dict:
        """Create (key 0 or missing) or update one row from data['Model']."""
        form = check_form(self.catalog, form_id)
        model = lower_keys(data).get("model")
        if not isinstance(model, dict):
            raise KingdeeError(MSG_GENERAL, "data 数据包中的参数 Model 必须是对象", "Model")
        only = {str(k).lower() for k in lower_keys(data).get("needupdatefields") or []}
        delete_missing = str(lower_keys(data).get("isdeleteentry", True)).lower() != "false"
        with self.store.transaction() as conn:
            conn.row_factory = sqlite3.Row
            try:
                values = self.model_values(conn, form, header_model(form, model), only)
                row_id = int(lower_keys(model).get(form.key.lower()) or 0)
                if row_id:
                    self.require_visible(conn, form, row_id)
                row = (self.update(conn, form, row_id, values) if row_id
                       else self.create(conn, form, values))
                save_lines(conn, form, row[form.key], model, delete_missing or not row_id)
                if lower_keys(data).get("isautosubmitandaudit") in (True, "true", "True"):
                    self.set_values(conn, form, row[form.key], **{form.document_status: "C"},
                                    **self.stamped(form, "audit"))
            finally:
                conn.row_factory = None
        return operation_result([entity(row[form.key], row[form.number])], [])

    @staticmethod
    def model_values(conn: sqlite3.Connection, form: Form, model: dict, only: set[str]) -> dict:
        """Column values from a Save model; system fields are ignored as Kingdee does."""
        values = {}
        for key, raw in model.items():
            try:
                field = form.lookup(str(key))
            except UnknownField as err:
                raise KingdeeError(MSG_UNKNOWN_FIELD, str(err), str(key)) from None
            if field.entity is not None:  # entry fields belong in their entity's array
                raise KingdeeError(MSG_UNKNOWN_FIELD, str(UnknownField(str(key))), str(key))
            if field.editable and (not only or key.lower() in only):
                values[field.key] = convert(conn, field, raw)
        return values

    def create(self, conn: sqlite3.Connection, form: Form, values: dict) -> sqlite3.Row:
        named = any(f.key == "FName" for f in form.fields)
        if named and not str(values.get("FName") or "").strip():
            raise KingdeeError(MSG_GENERAL, f"字段“名称”(FName)是必填项，新增{form.name}必须填写",
                               "FName")
        last_id = conn.execute(f"SELECT max({form.key}) FROM {form.table}").fetchone()[0]
        row_id = (last_id or form.first_id - 1) + 1
        if not str(values.get(form.number) or "").strip():
            prefix = form.number_prefix
            last = conn.execute(
                f"SELECT max(CAST(substr({form.number}, {len(prefix) + 1}) AS INTEGER)) "
                f"FROM {form.table} WHERE {form.number} LIKE ?", (prefix + "%",)).fetchone()[0] or 0
            values[form.number] = f"{prefix}{last + 1:0{form.number_digits}d}"
        self.check_number_free(conn, form, values[form.number], row_id)
        row = {f.key: kind_default(f.kind) if f.default is None else convert(conn, f, f.default)
               for f in form.fields}
        created, modified = self.stamped(form, "create"), form.stamps["modify"]
        row.update(values, **created, **{form.key: row_id,
                                         modified.date: created[form.stamps["create"].date],
                                         modified.user: LOGIN_USER_ID})
        if form.master:
            row[form.master] = row_id
        if form.use_org and form.create_org and not values.get(form.use_org):
            row[form.use_org] = row[form.create_org]
        columns = list(row)
        conn.execute(f"INSERT INTO {form.table} ({', '.join(columns)}) VALUES "
                     f"({', '.join('?' * len(columns))})", [row[c] for c in columns])
        return self.fetch_row(conn, form, row_id)

    def update(self, conn: sqlite3.Connection, form: Form, row_id: int, values: dict) -> sqlite3.Row:
        row = self.fetch_row(conn, form, row_id)
        require_editable(form, row)
        stamps = self.stamped(form, "modify")
        number = values.pop(form.number, None)
        if number is not None and str(number) != row[form.number] and not form.master:
            self.check_number_free(conn, form, str(number), row_id)
            values[form.number] = number  # a bill's number is its own
        elif number is not None and str(number) != row[form.number]:
            # The number belongs to the master: every use-org row of it changes (and is stamped).
            self.check_number_free(conn, form, str(number), row[form.master])
            assignments = ", ".join(f"{c} = ?" for c in (form.number, *stamps))
            conn.execute(f"UPDATE {form.table} SET {assignments} WHERE {form.master} = ?",
                         (number, *stamps.values(), row[form.master]))
        self.set_values(conn, form, row_id, **values, **stamps)
        return self.fetch_row(conn, form, row_id)

    @staticmethod
    def check_number_free(conn: sqlite3.Connection, form: Form, number: str, owner: int) -> None:
        """Refuse a number used by another master (base data) or another bill."""
        if conn.execute(f"SELECT 1 FROM {form.table} WHERE {form.number} = ? "
                        f"AND {form.master or form.key} <> ?", (number, owner)).fetchone():
            raise KingdeeError(MSG_GENERAL, f"编码 {number} 已被其他{form.name}使用，编码必须唯一",
                               form.number)

    # -- record operations
    def delete(self, form_id: Any, data: dict) -> dict:
        """Delete records that are not audited (or being audited), one result per record."""
        def delete_row(conn: sqlite3.Connection, form: Form, row: sqlite3.Row) -> None:
            status = row[form.document_status]
            if status in ("B", "C"):
                state = "已审核" if status == "C" else "审核中"
                raise KingdeeError(MSG_OPERATION_REFUSED, f"{form.label(row)} {state}，不允许删除")
            conn.execute(f"DELETE FROM {form.table} WHERE {form.key} = ?", (row[form.key],))
            delete_lines(conn, form, row[form.key])
        return self.for_each_record(form_id, data, delete_row)

    def operate(self, form_id: Any, op_number: Any, data: dict) -> dict:
        """ExcuteOperation: Forbid, Enable, Audit, UnAudit or Submit (case-insensitive)."""
        operation = {"forbid": self.forbid, "enable": self.enable, "audit": self.audit,
                     "unaudit": self.unaudit, "submit": self.submit, "billclose": self.close,
                     "unbillclose": self.unclose}.get(str(op_number).lower())
        needs = {self.forbid: "forbid_status", self.enable: "forbid_status",
                 self.close: "close_status", self.unclose: "close_status"}.get(operation)
        if needs and not getattr(check_form(self.catalog, form_id), needs):
            operation = None  # the form has no such status: Kingdee has no such operation on it
        if operation is None:
            raise KingdeeError(MSG_GENERAL, f"操作 {op_number!r} 不存在或不支持", "opNumber")
        return self.for_each_record(form_id, data, operation)

    def forbid(self, conn: sqlite3.Connection, form: Form, row: sqlite3.Row) -> None:
        _require(row[form.forbid_status] == "A", f"{form.label(row)} 已经是禁用状态")
        self.set_values(conn, form, row[form.key], **{form.forbid_status: "B"},
                        **self.stamped(form, "forbid"))

    def enable(self, conn: sqlite3.Connection, form: Form, row: sqlite3.Row) -> None:
        _require(row[form.forbid_status] == "B", f"{form.label(row)} 未被禁用，无需反禁用")
        stamp = form.stamps["forbid"]
        cleared = {stamp.date: None, stamp.user: 0} if self.enable_clears_forbid_date else {}
        self.set_values(conn, form, row[form.key], **{form.forbid_status: "A"}, **cleared)

    def audit(self, conn: sqlite3.Connection, form: Form, row: sqlite3.Row) -> None:
        status = row[form.document_status]
        _require(status != "C", f"{form.label(row)} 已经审核")
        _require(status != "Z", f"{form.label(row)} 是暂存数据，不能审核")
        self.set_values(conn, form, row[form.key], **{form.document_status: "C"},
                        **self.stamped(form, "audit"))

    def unaudit(self, conn: sqlite3.Connection, form: Form, row: sqlite3.Row) -> None:
        _require(row[form.document_status] == "C", f"{form.label(row)} 未审核，不能反审核")
        _require(not form.close_status or row[form.close_status] == "A",
                 f"{form.label(row)} 已关闭，不能反审核")
        stamp = form.stamps["audit"]
        self.set_values(conn, form, row[form.key], **{form.document_status: "D", stamp.date: None,
                                                       stamp.user: 0})

    def close(self, conn: sqlite3.Connection, form: Form, row: sqlite3.Row) -> None:
        """BillClose (整单关闭): audited, open bills only; the modify date stays."""
        _require(row[form.document_status] == "C", f"{form.label(row)} 未审核，不能关闭")
        _require(row[form.close_status] == "A", f"{form.label(row)} 已经关闭")
        self.set_values(conn, form, row[form.key], **{form.close_status: "B"},  # type: ignore[arg-type]
                        **self.stamped(form, "close"))

    def unclose(self, conn: sqlite3.Connection, form: Form, row: sqlite3.Row) -> None:
        _require(row[form.close_status] == "B", f"{form.label(row)} 未关闭，无需反关闭")
        stamp = form.stamps["close"]
        self.set_values(conn, form, row[form.key], **{form.close_status: "A",  # type: ignore[arg-type]
                                                       stamp.date: None, stamp.user: 0})

    def submit(self, conn: sqlite3.Connection, form: Form, row: sqlite3.Row) -> None:
        _require(row[form.document_status] in ("A", "D"), f"{form.label(row)} 当前状态不能提交")
        self.set_values(conn, form, row[form.key], **{form.document_status: "B"})

    def for_each_record(self, form_id: Any, data: dict, action: Callable) -> dict:
        """Run `action` on every record named by Ids/Numbers; refusals become Errors."""
        form = check_form(self.catalog, form_id)
        successes, errors = [], []
        with self.store.transaction() as conn:
            conn.row_factory = sqlite3.Row
            try:
                for index, (label, rows) in enumerate(self.targets(conn, form, lower_keys(data))):
                    if not rows:
                        errors.append(error_item(f"{label} 的{form.name}不存在或已被删除", None, index))
                    for row in rows:
                        try:
                            action(conn, form, row)
                            successes.append(entity(row[form.key], row[form.number], index))
                        except KingdeeError as err:
                            errors.append(error_item(err.message, err.field_name, index))
            finally:
                conn.row_factory = None
        return operation_result(successes, errors, MSG_OPERATION_REFUSED)

    def targets(self, conn: sqlite3.Connection, form: Form, data: dict,
                ids_key: str = "ids") -> list[tuple[str, list]]:
        """(label, rows) per requested Id or Number; a Number names all its use-org rows.
        Rows of use-orgs the user may not see are not found, as if they did not exist."""
        ids, numbers = split_list(data.get(ids_key)), split_list(data.get("numbers"))
        if not ids and not numbers:
            name = "PkIds" if ids_key == "pkids" else "Ids 或 Numbers"
            raise KingdeeError(8, f"data 数据包中的参数 {name} 的值不能为空", name.split()[0])
        visible, params = self.permissions.sql(form)
        visible = f" AND {visible}" if visible else ""
        found = []
        for raw in ids:
            if not raw.lstrip("-").isdigit():
                raise KingdeeError(MSG_GENERAL, f"Ids 中的值 {raw!r} 不是有效的内码", "Ids")
            found.append((f"{form.key}={raw}", conn.execute(
                f"SELECT * FROM {form.table} WHERE {form.key} = ?{visible}", (int(raw), *params)).fetchall()))
        for number in numbers:
            found.append((f"编码 {number}", conn.execute(
                f"SELECT * FROM {form.table} WHERE {form.number} = ?{visible} ORDER BY {form.key}",
                (number, *params)).fetchall()))
        return found

    def require_visible(self, conn: sqlite3.Connection, form: Form, row_id: int) -> None:
        """A row of a use-org the user may not see answers like a missing one."""
        visible, params = self.permissions.sql(form)
        if visible and not conn.execute(f"SELECT 1 FROM {form.table} WHERE {form.key} = ? AND {visible}",
                                        (row_id, *params)).fetchone():
            raise KingdeeError(MSG_GENERAL, f"{form.key}={row_id} 的{form.name}不存在或已被删除", form.key)

    # -- helpers
    @staticmethod
    def fetch_row(conn: sqlite3.Connection, form: Form, row_id: int) -> sqlite3.Row:
        row = conn.execute(f"SELECT * FROM {form.table} WHERE {form.key} = ?", (row_id,)).fetchone()
        if row is None:
            raise KingdeeError(MSG_GENERAL, f"{form.key}={row_id} 的{form.name}不存在或已被删除",
                               form.key)
        return row

    @staticmethod
    def set_values(conn: sqlite3.Connection, form: Form, row_id: int, **values: Any) -> int:
        """UPDATE one row's columns (keys are field keys of the form); rows changed."""
        if not values:
            return 0
        assignments = ", ".join(f"{column} = ?" for column in values)
        return conn.execute(f"UPDATE {form.table} SET {assignments} WHERE {form.key} = ?",
                            [*values.values(), row_id]).rowcount


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise KingdeeError(MSG_OPERATION_REFUSED, message)


def split_list(value: Any) -> list[str]:
    if value is None:
        return []
    items = value if isinstance(value, list) else str(value).split(",")
    return [str(item).strip() for item in items if str(item).strip()]
