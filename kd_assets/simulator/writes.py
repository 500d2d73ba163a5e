"""Save, Delete and the status operations (Forbid/Enable/Audit/UnAudit/Submit) on BD_Customer.

These model the hazards of DESIGN.md §4b on purpose: Forbid, Enable, Audit and UnAudit change a
row without touching FModifyDate; Enable clears FForbidDate (configurable); Delete refuses
audited rows and leaves no trace for queries to find.
"""

from __future__ import annotations

import random
import sqlite3
from typing import Any, Callable

from kd_assets.kingdee.protocol import MSG_UNKNOWN_FIELD
from kd_assets.simulator.clock import stamp_text
from kd_assets.simulator.data import FIRST_CUSTID, LOGIN_USER_ID
from kd_assets.simulator.envelopes import KingdeeError, entity, error_item, operation_result
from kd_assets.simulator.fields import BOOL, DECIMAL, FIELDS, INT, REF, Field, UnknownField, lookup
from kd_assets.simulator.query import MSG_GENERAL, check_form
from kd_assets.simulator.store import Store

MSG_OPERATION_REFUSED = 11  # a record-level refusal (status does not allow the operation)

# Defaults of a new customer: Kingdee's text columns default to ' '.
_CREATE_DEFAULTS: dict[str, Any] = {f.key: " " for f in FIELDS if f.kind == "text"}
_CREATE_DEFAULTS.update({f.key: 0 for f in FIELDS if f.kind in (REF, BOOL)})
_CREATE_DEFAULTS.update(FCreateOrgId=1, FTRADINGCURRID=1, FCOUNTRY=46, FPriority=1,
                        FRegisterFund=0.0, FDocumentStatus="A", FForbidStatus="A",
                        FForbidDate=None, FApproveDate=None)


def _label(row: sqlite3.Row | dict) -> str:
    return f"客户 {row['FNumber']}（FCUSTID={row['FCUSTID']}）"


class WriteService:
    """Applies write requests to the store, stamping times from the simulator clock."""

    def __init__(self, store: Store, now: Callable, millis_share: float, seed: int,
                 enable_clears_forbid_date: bool) -> None:
        self.store = store
        self.now = now
        self.millis_share = millis_share
        self.rng = random.Random(seed + 1)
        self.enable_clears_forbid_date = enable_clears_forbid_date

    def stamp(self) -> str:
        return stamp_text(self.now(), self.rng.random() < self.millis_share)

    # -- Save
    def save(self, form_id: Any, data: dict) -> dict:
        """Create (FCUSTID 0 or missing) or update one customer from data['Model']."""
        check_form(form_id)
        model = _lower_keys(data).get("model")
        if not isinstance(model, dict):
            raise KingdeeError(MSG_GENERAL, "data 数据包中的参数 Model 必须是对象", "Model")
        only = {str(k).lower() for k in _lower_keys(data).get("needupdatefields") or []}
        with self.store.transaction() as conn:
            conn.row_factory = sqlite3.Row
            try:
                values = self.model_values(conn, model, only)
                custid = int(_lower_keys(model).get("fcustid") or 0)
                row = self.update(conn, custid, values) if custid else self.create(conn, values)
                if _lower_keys(data).get("isautosubmitandaudit") in (True, "true", "True"):
                    self.set_status(conn, row["FCUSTID"], FDocumentStatus="C",
                                    FApproveDate=self.stamp(), FApproverId=LOGIN_USER_ID)
            finally:
                conn.row_factory = None
        return operation_result([entity(row["FCUSTID"], row["FNumber"])], [])

    def model_values(self, conn: sqlite3.Connection, model: dict, only: set[str]) -> dict:
        """Column values from a Save model; system fields are ignored as Kingdee does."""
        values = {}
        for key, raw in model.items():
            try:
                field = lookup(str(key))
            except UnknownField as err:
                raise KingdeeError(MSG_UNKNOWN_FIELD, str(err), str(key)) from None
            if field.editable and (not only or key.lower() in only):
                values[field.key] = _convert(conn, field, raw)
        return values

    def create(self, conn: sqlite3.Connection, values: dict) -> sqlite3.Row:
        if not str(values.get("FName") or "").strip():
            raise KingdeeError(MSG_GENERAL, "字段“名称”(FName)是必填项，新增客户必须填写", "FName")
        custid = (conn.execute("SELECT max(FCUSTID) FROM customer").fetchone()[0] or FIRST_CUSTID - 1) + 1
        if not str(values.get("FNumber") or "").strip():
            last = conn.execute("SELECT max(CAST(substr(FNumber, 5) AS INTEGER)) FROM customer "
                                "WHERE FNumber LIKE 'CUST%'").fetchone()[0] or 0
            values["FNumber"] = f"CUST{last + 1:06d}"
        self.check_number_free(conn, values["FNumber"], master_id=custid)
        now = self.stamp()
        row = dict(_CREATE_DEFAULTS, **values, FCUSTID=custid, FMasterId=custid, FCreateDate=now,
                   FModifyDate=now, FCreatorId=LOGIN_USER_ID, FModifierId=LOGIN_USER_ID)
        if not values.get("FUseOrgId"):
            row["FUseOrgId"] = row["FCreateOrgId"]
        columns = list(row)
        conn.execute(f"INSERT INTO customer ({', '.join(columns)}) VALUES "
                     f"({', '.join('?' * len(columns))})", [row[c] for c in columns])
        return self.fetch_row(conn, custid)

    def update(self, conn: sqlite3.Connection, custid: int, values: dict) -> sqlite3.Row:
        row = self.fetch_row(conn, custid)
        stamps = {"FModifyDate": self.stamp(), "FModifierId": LOGIN_USER_ID}
        number = values.pop("FNumber", None)
        if number is not None and str(number) != row["FNumber"]:
            # FNumber belongs to the master: every use-org row of it changes (and is stamped).
            self.check_number_free(conn, str(number), master_id=row["FMasterId"])
            conn.execute("UPDATE customer SET FNumber = ?, FModifyDate = ?, FModifierId = ? "
                         "WHERE FMasterId = ?", (number, *stamps.values(), row["FMasterId"]))
        self.set_status(conn, custid, **values, **stamps)
        return self.fetch_row(conn, custid)

    def check_number_free(self, conn: sqlite3.Connection, number: str, master_id: int) -> None:
        if conn.execute("SELECT 1 FROM customer WHERE FNumber = ? AND FMasterId <> ?",
                        (number, master_id)).fetchone():
            raise KingdeeError(MSG_GENERAL, f"编码 {number} 已被其他客户使用，编码必须唯一", "FNumber")

    # -- record operations
    def delete(self, form_id: Any, data: dict) -> dict:
        """Delete records that are not audited (or being audited), one result per record."""
        def delete_row(conn: sqlite3.Connection, row: sqlite3.Row) -> None:
            if row["FDocumentStatus"] in ("B", "C"):
                state = "已审核" if row["FDocumentStatus"] == "C" else "审核中"
                raise KingdeeError(MSG_OPERATION_REFUSED, f"{_label(row)} {state}，不允许删除")
            conn.execute("DELETE FROM customer WHERE FCUSTID = ?", (row["FCUSTID"],))
        return self.for_each_record(form_id, data, delete_row)

    def operate(self, form_id: Any, op_number: Any, data: dict) -> dict:
        """ExcuteOperation: Forbid, Enable, Audit, UnAudit or Submit (case-insensitive)."""
        operation = {"forbid": self.forbid, "enable": self.enable, "audit": self.audit,
                     "unaudit": self.unaudit, "submit": self.submit}.get(str(op_number).lower())
        if operation is None:
            raise KingdeeError(MSG_GENERAL, f"操作 {op_number!r} 不存在或不支持", "opNumber")
        return self.for_each_record(form_id, data, operation)

    def forbid(self, conn: sqlite3.Connection, row: sqlite3.Row) -> None:
        _require(row["FForbidStatus"] == "A", f"{_label(row)} 已经是禁用状态")
        self.set_status(conn, row["FCUSTID"], FForbidStatus="B", FForbidDate=self.stamp(),
                        FForbidderId=LOGIN_USER_ID)

    def enable(self, conn: sqlite3.Connection, row: sqlite3.Row) -> None:
        _require(row["FForbidStatus"] == "B", f"{_label(row)} 未被禁用，无需反禁用")
        cleared = {"FForbidDate": None, "FForbidderId": 0} if self.enable_clears_forbid_date else {}
        self.set_status(conn, row["FCUSTID"], FForbidStatus="A", **cleared)

    def audit(self, conn: sqlite3.Connection, row: sqlite3.Row) -> None:
        _require(row["FDocumentStatus"] != "C", f"{_label(row)} 已经审核")
        _require(row["FDocumentStatus"] != "Z", f"{_label(row)} 是暂存数据，不能审核")
        self.set_status(conn, row["FCUSTID"], FDocumentStatus="C", FApproveDate=self.stamp(),
                        FApproverId=LOGIN_USER_ID)

    def unaudit(self, conn: sqlite3.Connection, row: sqlite3.Row) -> None:
        _require(row["FDocumentStatus"] == "C", f"{_label(row)} 未审核，不能反审核")
        self.set_status(conn, row["FCUSTID"], FDocumentStatus="D", FApproveDate=None,
                        FApproverId=0)

    def submit(self, conn: sqlite3.Connection, row: sqlite3.Row) -> None:
        _require(row["FDocumentStatus"] in ("A", "D"), f"{_label(row)} 当前状态不能提交")
        self.set_status(conn, row["FCUSTID"], FDocumentStatus="B")

    def for_each_record(self, form_id: Any, data: dict, action: Callable) -> dict:
        """Run `action` on every record named by Ids/Numbers; refusals become Errors."""
        check_form(form_id)
        successes, errors = [], []
        with self.store.transaction() as conn:
            conn.row_factory = sqlite3.Row
            try:
                for index, (label, rows) in enumerate(self.targets(conn, _lower_keys(data))):
                    if not rows:
                        errors.append(error_item(f"{label} 的客户不存在或已被删除", None, index))
                    for row in rows:
                        try:
                            action(conn, row)
                            successes.append(entity(row["FCUSTID"], row["FNumber"], index))
                        except KingdeeError as err:
                            errors.append(error_item(err.message, err.field_name, index))
            finally:
                conn.row_factory = None
        return operation_result(successes, errors, MSG_OPERATION_REFUSED)

    def targets(self, conn: sqlite3.Connection, data: dict) -> list[tuple[str, list]]:
        """(label, rows) per requested Id or Number; a Number names all its use-org rows."""
        ids, numbers = _split_list(data.get("ids")), _split_list(data.get("numbers"))
        if not ids and not numbers:
            raise KingdeeError(8, "data 数据包中的参数 Ids 或 Numbers 的值不能为空", "Ids")
        found = []
        for raw in ids:
            if not raw.lstrip("-").isdigit():
                raise KingdeeError(MSG_GENERAL, f"Ids 中的值 {raw!r} 不是有效的内码", "Ids")
            found.append((f"FCUSTID={raw}", conn.execute(
                "SELECT * FROM customer WHERE FCUSTID = ?", (int(raw),)).fetchall()))
        for number in numbers:
            found.append((f"编码 {number}", conn.execute(
                "SELECT * FROM customer WHERE FNumber = ? ORDER BY FCUSTID", (number,)).fetchall()))
        return found

    # -- helpers
    def fetch_row(self, conn: sqlite3.Connection, custid: int) -> sqlite3.Row:
        row = conn.execute("SELECT * FROM customer WHERE FCUSTID = ?", (custid,)).fetchone()
        if row is None:
            raise KingdeeError(MSG_GENERAL, f"FCUSTID={custid} 的客户不存在或已被删除", "FCUSTID")
        return row

    def set_status(self, conn: sqlite3.Connection, custid: int, **values: Any) -> None:
        if values:
            assignments = ", ".join(f"{column} = ?" for column in values)  # keys are field keys
            conn.execute(f"UPDATE customer SET {assignments} WHERE FCUSTID = ?",
                         [*values.values(), custid])


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise KingdeeError(MSG_OPERATION_REFUSED, message)


def _lower_keys(data: Any) -> dict:
    return {str(k).lower(): v for k, v in data.items()} if isinstance(data, dict) else {}


def _split_list(value: Any) -> list[str]:
    if value is None:
        return []
    items = value if isinstance(value, list) else str(value).split(",")
    return [str(item).strip() for item in items if str(item).strip()]


def _convert(conn: sqlite3.Connection, field: Field, raw: Any) -> Any:
    """A Save value for `field`: references by {"FNumber": ..}, {"FName": ..} or id."""
    try:
        if field.kind == REF:
            return _reference_id(conn, field, raw)
        if field.kind == DECIMAL:
            return float(raw)
        if field.kind == INT:
            return int(raw)
        if field.kind == BOOL:
            return 1 if str(raw).strip().lower() in ("true", "1") else 0
    except (TypeError, ValueError):
        raise KingdeeError(MSG_GENERAL, f"字段 {field.key} 的值 {raw!r} 无效", field.key) from None
    return "" if raw is None else str(raw)


def _reference_id(conn: sqlite3.Connection, field: Field, raw: Any) -> int:
    if isinstance(raw, dict):
        keyed = _lower_keys(raw)
        column, value = next(((c, keyed[k]) for k, c in (("fnumber", "number"), ("fname", "name"),
                                                         ("fid", "id"), ("id", "id")) if k in keyed),
                             ("id", None))
    else:
        column, value = "id", raw
    if value in (None, "", 0, "0"):
        return 0
    found = conn.execute(f"SELECT id FROM ref_{field.ref} WHERE {column} = ?", (value,)).fetchone()
    if found is None:
        raise KingdeeError(MSG_GENERAL, f"字段 {field.key} 引用的 {value} 不存在", field.key)
    return int(found[0])
