"""Helpers for client tests against the simulator over real HTTP: clients and the admin API."""

from __future__ import annotations

import time

import pytest
import requests

from kd_assets.kingdee import ClientConfig, K3CloudClient, RetryPolicy

ACCT, USER, PASSWORD = "kd-demo", "demo", "demo-pass"
APP_ID, APP_SECRET = "300001_S0RBU1NFVFMtREVNTy1BUFAtU0VDUkVU", "kdassets-demo-app-secret"
FORM = "BD_Customer"

# Real waiting kept tiny: the policy's shape (tries, backoff, caps, budget) is what is tested.
FAST_RETRY = RetryPolicy(network_attempts=3, network_interval_s=0.01, max_attempts=4, base_delay_s=0.01,
                         max_delay_s=0.05, max_total_wait_s=2.0)

CREDENTIALS = {
    "signed": {"app_id": APP_ID, "app_secret": APP_SECRET},
    "app_secret": {"app_id": APP_ID, "app_secret": APP_SECRET},
    "password": {"password": PASSWORD},
}


class SimAdmin:
    """The simulator's /_sim/ admin API (faults, clock, state): not Kingdee's protocol."""

    def __init__(self, handle) -> None:
        self.url = handle.admin_url

    def _post(self, path: str, body: dict) -> dict:
        response = requests.post(self.url + path, json=body, timeout=10)
        response.raise_for_status()
        return response.json() if response.content else {}

    def faults(self, **settings) -> dict:
        return self._post("faults", settings)

    def script(self, *faults) -> dict:
        """Queue one-shot faults: kinds as strings, or dicts with extra keys (e.g. ms)."""
        return self.faults(script=[{"kind": f} if isinstance(f, str) else f for f in faults])

    def clock(self, **body) -> dict:
        return self._post("clock", body)

    def state(self) -> dict:
        response = requests.get(self.url + "state", timeout=10)
        response.raise_for_status()
        return response.json()


@pytest.fixture
def admin(simulator) -> SimAdmin:
    return SimAdmin(simulator)


@pytest.fixture
def make_client():
    """``make_client(handle, mode="signed", sleep=time.sleep, **config_overrides)``; closed afterwards."""
    clients: list[K3CloudClient] = []

    def make(handle, mode: str = "signed", *, sleep=time.sleep, **overrides) -> K3CloudClient:
        settings = {**CREDENTIALS[mode], "auth_mode": mode, "read_timeout_s": 5.0, "retry": FAST_RETRY, **overrides}
        client = K3CloudClient(ClientConfig(handle.base_url, settings.pop("acct_id", ACCT),
                                            settings.pop("username", USER), **settings), sleep=sleep)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def client(simulator, make_client) -> K3CloudClient:
    return make_client(simulator)
