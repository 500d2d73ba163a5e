"""What Save, Delete and the close operations do to a bill's entry lines (单据体).

Save follows Kingdee's WebAPI: a model's entity array (`"FSaleOrderEntry": [...]`) edits the
lines that carry their entry id (`FEntryID` or `<EntityKey>_FEntryID`), adds those without one
and, with `IsDeleteEntry` true (the default), removes the bill's lines not sent; an empty object
adds nothing, so `[{}]` clears the entity. Entities not in the model are left alone. Derived
fields (`gen: product`, e.g. an amount) are recomputed from the line, as Kingdee's rules do.
Closing a bill (BillClose/UnBillClose) stamps its close date and user, not its modify date;
neither does a write-back of delivered quantities (writeback()), as later documents do.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from kd_assets.kingdee.protocol import MSG_UNKNOWN_FIELD
from kd_assets.simulator.data import kind_default
from kd_assets.simulator.envelopes import KingdeeError
from kd_assets.simulator.fields import Entity, Form, UnknownField
from kd_assets.simulator.generators import GENERATORS
from kd_assets.simulator.values import MSG_GENERAL, convert, lower_keys

MSG_OPERATION_REFUSED = 11  # a record-level refusal (status does not allow the operation)
LOCKED = {"B": "审核中", "C": "已审核"}  # document statuses whose bill cannot be edited or deleted


def entity_rows(form: Form, model: dict) -> list[tuple[Entity, list]]:
    """The entity arrays a Save model carries, with their entity (keys are case-insensitive)."""
    keyed = lower_keys(model)
    found = []
    for entity in form.entities:
        rows = keyed.get(entity.key.lower())
        if rows is None:
            continue
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise KingdeeError(MSG_GENERAL, f"{entity.key} 必须是分录对象的数组", entity.key)
        found.append((entity, rows))
    return found


def header_model(form: Form, model: dict) -> dict:
    """The model without its entity arrays."""
    entities = {e.key.lower() for e in form.entities}
    return {k: v for k, v in model.items() if str(k).lower() not in entities}


def require_editable(form: Form, row: Any) -> None:
    """Kingdee refuses to edit a bill that is submitted or audited: unaudit it first."""
    state = LOCKED.get(row[form.document_status])
    if form.entities and state:
        raise KingdeeError(MSG_OPERATION_REFUSED, f"{form.label(row)} {state}，不允许修改")


def save_lines(conn: sqlite3.Connection, form: Form, bill_id: int, model: dict,
               delete_missing: bool) -> int:
    """Apply a Save model's entity arrays to one bill; the number of lines changed."""
    changed = 0
    for entity, rows in entity_rows(form, model):
        existing = {r[0] for r in conn.execute(
            f"SELECT {entity.entry_key} FROM {entity.table} WHERE {form.key} = ?", (bill_id,))}
        kept = set()
        for index, raw in enumerate(rows):
            entry_id, values = line_values(conn, entity, raw)
            if entry_id and entry_id not in existing:
                raise KingdeeError(MSG_GENERAL, f"{entity.key}[{index}]: 分录内码 {entry_id} 不属于"
                                                f"{form.key}={bill_id}", entity.key)
            if entry_id:
                kept.add(entry_id)
                changed += update_line(conn, form, entity, entry_id, values)
            elif raw:
                changed += insert_line(conn, form, entity, bill_id, values)
        gone = existing - kept if delete_missing else set()
        for entry_id in gone:
            conn.execute(f"DELETE FROM {entity.table} WHERE {entity.entry_key} = ?", (entry_id,))
        changed += len(gone)
    return changed


def line_values(conn: sqlite3.Connection, entity: Entity, raw: dict) -> tuple[int, dict]:
    """(entry id or 0, column values) of one line of a Save model."""
    by_lower = {f.key.lower(): f for f in entity.fields}
    entry_id, values = 0, {}
    for key, value in raw.items():
        name = str(key).lower()
        if name in ("fentryid", entity.entry_key.lower()):
            entry_id = int(value or 0)
            continue
        field = by_lower.get(name)
        if field is None:
            raise KingdeeError(MSG_UNKNOWN_FIELD, str(UnknownField(f"{entity.key}.{key}")), str(key))
        if field.editable:
            values[field.key] = convert(conn, field, value)
    return entry_id, values


def derive(entity: Entity, line: dict) -> dict:
    """Recompute the entity's derived fields (`gen: product`) from the line's values."""
    for step in entity.recipe:
        if step["gen"] == "product":
            line[step["field"]] = GENERATORS["product"][1](None, step, line)  # type: ignore[arg-type]
    return line


def update_line(conn: sqlite3.Connection, form: Form, entity: Entity, entry_id: int,
                values: dict) -> int:
    if not values:
        return 0
    columns = entity.columns
    current = conn.execute(f"SELECT {', '.join(columns)} FROM {entity.table} "
                           f"WHERE {entity.entry_key} = ?", (entry_id,)).fetchone()
    line = derive(entity, {**dict(zip(columns, current)), **values})
    changes = {c: line[c] for c in columns[1:] if line[c] != current[columns.index(c)]}
    if changes:
        conn.execute(f"UPDATE {entity.table} SET {', '.join(f'{c} = ?' for c in changes)} "
                     f"WHERE {entity.entry_key} = ?", [*changes.values(), entry_id])
    return 1


def insert_line(conn: sqlite3.Connection, form: Form, entity: Entity, bill_id: int,
                values: dict) -> int:
    last = conn.execute(f"SELECT max({entity.entry_key}) FROM {entity.table}").fetchone()[0]
    line = {f.key: kind_default(f.kind) if f.default is None else convert(conn, f, f.default)
            for f in entity.fields}
    line = derive(entity, {**line, **values, entity.entry_key: (last or entity.first_id - 1) + 1})
    columns = [form.key, *entity.columns]
    conn.execute(f"INSERT INTO {entity.table} ({', '.join(columns)}) VALUES "
                 f"({', '.join('?' * len(columns))})", [bill_id, *(line[c] for c in entity.columns)])
    return 1


def delete_lines(conn: sqlite3.Connection, form: Form, bill_id: int) -> None:
    for entity in form.entities:
        conn.execute(f"DELETE FROM {entity.table} WHERE {form.key} = ?", (bill_id,))


def writeback(conn: sqlite3.Connection, form: Form, bill_ids: list[int], share: float) -> int:
    """Set each line's write-back quantity to `share` of its ordered quantity; nothing stamped."""
    changed = 0
    marks = ", ".join("?" * len(bill_ids))
    for entity in (e for e in form.entities if e.writeback):
        field, of = entity.writeback  # type: ignore[misc]
        changed += conn.execute(f"UPDATE {entity.table} SET {field} = round({of} * ?, 2) "
                                f"WHERE {form.key} IN ({marks})", [share, *bill_ids]).rowcount
    return changed
