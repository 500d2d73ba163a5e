"""Content-verification test helpers: changes at the source that stamp nothing.

``silent_update`` is what a Kingdee plug-in or a DBA script does (``update T_BD_CUSTOMER set …
where FCUSTID=…``), through the simulator's admin action: the row changes, no change time moves.
``save_in_one_second`` makes two Saves share one whole-second FModifyDate through the simulator's
clock, as two edits within a second do on a server whose stamps carry no milliseconds.
"""

from __future__ import annotations

import requests

from kd_assets.kingdee import K3CloudClient
from kd_assets_tests.sync.reconcile_scenario import FORM, SPEC


def silent_update(sim, key: int, **fields: object) -> None:
    """Change ``fields`` (Kingdee field keys) of one row through the simulator's admin action,
    which stamps nothing: no date or user field moves."""
    response = requests.post(sim.admin_url + f"forms/{FORM}/silent_update",
                             json={"ids": [key], "values": fields}, timeout=10)
    assert response.status_code == 200, response.text
    assert response.json()["updated"] == 1, f"no customer {key} at the source"


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
