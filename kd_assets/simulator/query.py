"""ExecuteBillQuery / BillQuery over any served form, and a minimal QueryBusinessInfo.

Rows are rendered to JSON inside SQLite (json_array / json_object), so serving a page costs one
query and one string join in Python: that is what keeps 100,000 rows within a few seconds.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from typing import Any

from kd_assets.kingdee.protocol import MSG_BAD_FORM_OR_FILTER, MSG_EMPTY_PARAMETER, MSG_UNKNOWN_FIELD
from kd_assets.simulator.envelopes import KingdeeError, response_status
from kd_assets.simulator.fields import DECIMAL, Field, Form, JoinSet, UnknownField
from kd_assets.simulator.filters import BadFilter, compile_filter
from kd_assets.simulator.formfile import Catalog
from kd_assets.simulator.permissions import DataPermissions
from kd_assets.simulator.store import Store
from kd_assets.simulator.values import MSG_GENERAL

_ORDER_ITEM = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_.]*)\s*(?:\s(ASC|DESC))?\s*$", re.IGNORECASE)


def check_form(catalog: Catalog, form_id: Any) -> Form:
    """The served form; MsgCode 8 for a missing FormId, 4 for one that is not served."""
    if form_id is None or not str(form_id).strip():
        raise KingdeeError(MSG_EMPTY_PARAMETER, "data 数据包中的参数 FormId 的值不能为空", "FormId")
    form = catalog.get(str(form_id))
    if form is None:
        raise KingdeeError(MSG_BAD_FORM_OR_FILTER, f'标识为"{form_id}"的业务对象不存在，或者被删除')
    return form


def int_parameter(data: dict, name: str) -> int:
    value = data.get(name.lower())
    if value in (None, ""):
        return 0
    try:
        return int(str(value).strip())
    except ValueError:
        raise KingdeeError(MSG_GENERAL, f"参数 {name} 的值 {value!r} 不是有效的整数", name) from None


@dataclass(frozen=True)
class BillQuery:
    """A validated query: the form, field keys as sent, plus paging."""

    form: Form
    field_keys: list[str]
    filter: Any
    order: str
    start_row: int
    limit: int
    top_row_count: int

    @classmethod
    def from_data(cls, catalog: Catalog, data: dict) -> "BillQuery":
        """`data` has lower-cased keys. Raises KingdeeError with Kingdee's MsgCodes."""
        form = check_form(catalog, data.get("formid"))
        keys = data.get("fieldkeys")
        if isinstance(keys, list):
            keys = ",".join(map(str, keys))
        if not isinstance(keys, str) or not keys.strip():
            raise KingdeeError(MSG_EMPTY_PARAMETER, "data 数据包中的参数 FieldKeys 的值不能为空",
                               "FieldKeys")
        order = data.get("orderstring") or ""
        if not isinstance(order, str):
            raise KingdeeError(MSG_GENERAL, "参数 OrderString 应为字符串", "OrderString")
        return cls(form, [k.strip() for k in keys.split(",")], data.get("filterstring"), order,
                   max(0, int_parameter(data, "StartRow")), int_parameter(data, "Limit"),
                   int_parameter(data, "TopRowCount"))

    def window(self, max_limit: int) -> tuple[int, int]:
        """(offset, row count): Limit clamped to the cap; TopRowCount is an absolute end row."""
        count = self.limit if 0 < self.limit <= max_limit else max_limit
        if self.top_row_count > 0:
            count = min(count, self.top_row_count - self.start_row)
        return self.start_row, max(0, count)


def order_sql(order: str, joins: JoinSet) -> str:
    """OrderString → ORDER BY terms; only known fields and ASC/DESC are accepted."""
    terms = []
    for part in order.split(","):
        match = _ORDER_ITEM.match(part)
        if not match:
            raise KingdeeError(MSG_BAD_FORM_OR_FILTER, f"OrderString 无法解析: {part.strip()!r}",
                               "OrderString")
        try:
            path = joins.form.resolve(match.group(1))
        except UnknownField as err:
            raise KingdeeError(MSG_UNKNOWN_FIELD, str(err), err.path) from None
        column = joins.column(path)
        column = f"CAST({column} AS REAL)" if path.kind == DECIMAL else column
        terms.append(f"{column} {(match.group(2) or 'ASC').upper()}")
    return ", ".join(terms)


class QueryService:
    """Answers bill queries from the store, as JSON text."""

    def __init__(self, catalog: Catalog, store: Store, max_limit: int, shuffle_unordered: bool,
                 rng: random.Random, permissions: DataPermissions | None = None) -> None:
        self.catalog = catalog
        self.permissions = permissions
        self.store = store
        self.max_limit = max_limit
        self.shuffle_unordered = shuffle_unordered
        self.rng = rng
        self.rows_served = 0

    def execute(self, data: dict, as_objects: bool = False) -> str:
        """ExecuteBillQuery (rows as arrays) or BillQuery (rows as objects keyed by FieldKeys)."""
        query = BillQuery.from_data(self.catalog, data)
        form = query.form
        offset, count = query.window(self.max_limit)
        joins = JoinSet(form)
        try:
            paths = [form.resolve(key) for key in query.field_keys]
        except UnknownField as err:
            raise KingdeeError(MSG_UNKNOWN_FIELD, str(err), err.path) from None
        outputs = [joins.output(p) for p in paths]
        try:
            where, where_params = compile_filter(query.filter, joins)
        except BadFilter as err:
            raise KingdeeError(MSG_BAD_FORM_OR_FILTER, str(err), "FilterString") from None
        if self.permissions is not None:  # rows the user may not see are left out, silently
            visible, visible_params = self.permissions.sql(form, "c")
            if visible:
                where = f"({where}) AND {visible}" if where else visible
                where_params = [*where_params, *visible_params]
        order, order_params = self.ordering(query.order, joins)
        if as_objects:
            select = "json_object(" + ", ".join(f"?, {o}" for o in outputs) + ")"
            params: list[Any] = list(query.field_keys)
        else:
            select, params = "json_array(" + ", ".join(outputs) + ")", []
        sql = f"SELECT {select} FROM {form.table} c{joins.sql()}"
        sql += f" WHERE {where}" if where else ""
        sql += f" ORDER BY {order} LIMIT ? OFFSET ?"
        if count == 0:
            return "[]"
        rows = self.store.fetch(sql, params + where_params + order_params + [count, offset])
        self.rows_served += len(rows)
        return "[" + ",".join(r[0] for r in rows) + "]"

    def ordering(self, order: str, joins: JoinSet) -> tuple[str, list[int]]:
        if order.strip():
            return order_sql(order, joins), []
        key = joins.form.key
        if self.shuffle_unordered:
            # A fresh permutation per request: paging without OrderString then loses rows.
            return f"(c.{key} * ?) % 1000003", [self.rng.randrange(1, 1000003)]
        return ", ".join([f"c.{key} ASC", *(f"{column} ASC" for column in joins.entry_keys())]), []


def _lookup_form(catalog: Catalog, field: Field) -> str | None:
    if not field.ref:
        return None
    served = catalog.get(field.ref)
    if served is not None:
        return served.form_id
    return {"org": "ORG_Organizations", "user": "SEC_User"}.get(field.ref, f"BD_{field.ref}")


def business_info(catalog: Catalog, data: dict) -> dict[str, Any]:
    """A minimal QueryBusinessInfo answer: the form's name, key fields, header and entities."""
    form = check_form(catalog, data.get("formid"))

    def described(fields: tuple[Field, ...]) -> list[dict]:
        return [{"Key": f.key, "Name": [{"Key": 2052, "Value": f.label}], "ElementType": f.kind,
                 "LookUpObjectFormId": _lookup_form(catalog, f)} for f in fields]
    entrys = [{"Key": "FBillHead", "EntityType": "HeadEntity", "Fields": described(form.fields)}]
    entrys += [{"Key": e.key, "EntityType": "EntryEntity", "SeqFieldKey": "FSeq",
                "EntryPkFieldName": e.entry_key, "Fields": described(e.fields[1:])}
               for e in form.entities]
    return {"Result": {"ResponseStatus": response_status(),
                       "NeedReturnData": {"Id": form.form_id,
                                          "Name": [{"Key": 2052, "Value": form.name}],
                                          "PkFieldName": form.key, "MasterPKFieldName": form.master,
                                          "NumberFieldName": form.number, "Entrys": entrys}}}
