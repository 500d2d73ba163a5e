"""Content-verification test helpers: changes at the source that stamp nothing.

``silent_update`` is what a Kingdee plug-in or a DBA script does (``update T_BD_CUSTOMER set …
where FCUSTID=…``): the simulator's row changes and no change-time field moves.
``save_in_one_second`` makes two Saves share one whole-second FModifyDate through the simulator's
clock, as two edits within a second do on a server whose stamps carry no milliseconds.
"""

from __future__ import annotations

import requests

from kd_assets.kingdee import K3CloudClient
from kd_assets_tests.sync.reconcile_scenario import FORM, SPEC


def silent_update(sim, key: int, **fields: object) -> None:
    """Change ``fields`` (Kingdee field keys, stored values) of one row, stamping nothing."""
    assignments = ", ".join(f"{name} = ?" for name in fields)
    with sim.app.store.transaction() as conn:
        changed = conn.execute(f"UPDATE customer SET {assignments} WHERE FCUSTID = ?", (*fields.values(), key))
        assert changed.rowcount == 1, f"no customer {key} at the source"


def freeze_clock(sim, at: str) -> None:
    response = requests.post(sim.admin_url + "clock", json={"now": at, "frozen": True}, timeout=10)
    response.raise_for_status()


def source_row(client: K3CloudClient, key: int, *fields: str) -> dict:
    (row,) = [r for page in client.fetch_by_keys(FORM, list(fields), [key], key_field=SPEC.key_field) for r in page]
    return dict(zip(fields, row))


def plain_customers(client: K3CloudClient, n: int) -> list[int]:
    """``n`` keys of unremarkable customers (saved, not forbidden): safe to edit."""
    rows = [r for page in client.iter_keys(FORM, key_field=SPEC.key_field,
                                           extra_fields=["FDocumentStatus", "FForbidStatus"]) for r in page]
    return [int(k) for k, status, forbid in rows if status in ("A", "C") and forbid == "A"][:n]
