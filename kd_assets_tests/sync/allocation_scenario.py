"""Allocations and data permissions made at the source, through Kingdee's official SDK and the
simulator's admin API, for reconciliation tests."""

from __future__ import annotations

import json

import requests
from k3cloud_webapi_sdk.main import K3CloudApiSdk

from kd_assets.kingdee import K3CloudClient
from kd_assets_tests.sync.reconcile_scenario import FORM, SPEC

T00 = 100332  # the org "T00": no generated row uses it


def official_sdk(sim) -> K3CloudApiSdk:
    cfg = sim.config
    sdk = K3CloudApiSdk(sim.base_url)
    sdk.InitConfig(acct_id=cfg.acct_id, user_name=cfg.username, app_id=cfg.app_id,
                   app_secret=cfg.app_secret, server_url=sim.base_url, lcid=cfg.lcid)
    return sdk


def allocatable_masters(client: K3CloudClient, n: int) -> list[int]:
    """Keys of ``n`` audited, enabled master rows (the creating org's rows) without a T00 copy."""
    fields = ["FMasterId", "FDocumentStatus", "FForbidStatus"]
    rows = [r for page in client.iter_keys(FORM, key_field=SPEC.key_field, extra_fields=fields) for r in page]
    masters = [r[0] for r in rows if r[0] == r[1] and r[2] == "C" and r[3] == "A"]
    assert len(masters) >= n, "the seeded data should hold enough audited masters"
    return masters[:n]


def allocate(sim, masters: list[int], org: int = T00) -> list[int]:
    """Allocate ``masters`` to ``org`` with the official SDK; the copies' keys."""
    data = {"PkIds": ",".join(map(str, masters)), "TOrgIds": str(org), "IsAutoSubmitAndAudit": False}
    status = json.loads(official_sdk(sim).Allocate(FORM, data))["Result"]["ResponseStatus"]
    assert status["IsSuccess"], status
    return [entity["Id"] for entity in status["SuccessEntitys"]]


def set_visible_orgs(sim, orgs: str | None) -> None:
    """Change the integration user's data permissions (org FNumbers, comma-separated; None: all)."""
    response = requests.post(sim.admin_url + "permissions", json={"visible_orgs": orgs}, timeout=10)
    response.raise_for_status()
