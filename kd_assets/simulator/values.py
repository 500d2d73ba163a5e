"""Values from requests → stored column values (Save models, defaults, silent updates).

References are accepted as {"FNumber": ..}, {"FName": ..}, {"FID"/"Id": ..} or a bare id, as
Kingdee's Save does; a reference that does not exist names the field.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from kd_assets.simulator.envelopes import KingdeeError
from kd_assets.simulator.fields import BOOL, DECIMAL, INT, REF, Field

MSG_GENERAL = 0  # wrong parameter types: Kingdee's generic failure code


def lower_keys(data: Any) -> dict:
    return {str(k).lower(): v for k, v in data.items()} if isinstance(data, dict) else {}


def convert(conn: sqlite3.Connection, field: Field, raw: Any) -> Any:
    """The stored value of `raw` for `field`; KingdeeError naming the field if invalid."""
    try:
        if field.kind == REF:
            return reference_id(conn, field, raw)
        if field.kind == DECIMAL:
            return float(raw)
        if field.kind == INT:
            return int(raw)
        if field.kind == BOOL:
            return 1 if str(raw).strip().lower() in ("true", "1") else 0
    except (TypeError, ValueError):
        raise KingdeeError(MSG_GENERAL, f"字段 {field.key} 的值 {raw!r} 无效", field.key) from None
    return "" if raw is None else str(raw)


def reference_id(conn: sqlite3.Connection, field: Field, raw: Any) -> int:
    if isinstance(raw, dict):
        keyed = lower_keys(raw)
        column, value = next(((c, keyed[k]) for k, c in (("fnumber", "number"), ("fname", "name"),
                                                         ("fid", "id"), ("id", "id")) if k in keyed),
                             ("id", None))
    else:
        column, value = "id", raw
    if value in (None, "", 0, "0"):
        return 0
    target = field.target
    column = {"id": target.id, "number": target.number, "name": target.name}[column]  # type: ignore[union-attr]
    # A base-data number names one row per use-org: the reference takes the first (create org).
    found = conn.execute(f"SELECT {target.id} FROM {target.table} WHERE {column} = ? "  # type: ignore[union-attr]
                         f"ORDER BY {target.id} LIMIT 1", (value,)).fetchone()
    if found is None:
        raise KingdeeError(MSG_GENERAL, f"字段 {field.key} 引用的 {value} 不存在", field.key)
    return int(found[0])
