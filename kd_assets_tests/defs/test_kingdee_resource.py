"""KingdeeResource: configuration from KD_* variables, secrets kept out of repr, a working client."""

import datetime as dt
import logging

import dagster as dg
import pytest
import requests

from kd_assets.defs.resources import KingdeeResource
from kd_assets.kingdee import AuthMode, K3CloudClient, Window
from kd_assets.sync.spec import load_spec

SECRET, PASSWORD = "resource-app-secret-9", "resource-password-7"
ENV = {"KD_SERVER_URL": "https://erp.example.test/k3cloud/", "KD_ACCT_ID": "acct-1", "KD_USERNAME": "api",
       "KD_APP_ID": "300001_S0RBU1NFVFMtREVNTy1BUFAtU0VDUkVU", "KD_APP_SECRET": SECRET,
       "KD_PASSWORD": PASSWORD, "KD_LCID": "1033", "KD_ORG_NUM": "100", "KD_PAGE_SIZE": "500",
       "KD_MAX_RPS": "2.5", "KD_VERIFY_TLS": "false", "KD_SOURCE_TIMEZONE": "UTC"}

SPEC = load_spec("bd_customer")
SCAN = {"key_field": SPEC.key_field, "change_fields": SPEC.change_time_fields}


@pytest.fixture
def kd_env(monkeypatch):
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)


def test_from_env_binds_every_kd_variable(kd_env):
    resource = KingdeeResource.from_env()
    config = resource.client_config()  # also resolves the EnvVars, as a run would
    assert (config.server_url, config.acct_id, config.username) == ("https://erp.example.test/k3cloud/", "acct-1", "api")
    assert (config.lcid, config.org_num, config.page_size, config.max_rps) == (1033, 100, 500, 2.5)
    assert config.verify_tls is False and config.source_timezone == "UTC"
    assert config.resolved_auth_mode is AuthMode.SIGNED


def test_from_env_leaves_unset_variables_at_their_defaults(monkeypatch):
    for name in ENV:
        monkeypatch.delenv(name, raising=False)
    resource = KingdeeResource.from_env(server_url="http://k/k3cloud/", acct_id="a", username="u", password="p")
    config = resource.client_config()
    assert config.verify_tls is True and config.max_rps is None and config.lcid == 2052
    assert config.resolved_auth_mode is AuthMode.PASSWORD and config.source_timezone == "Asia/Shanghai"


def test_secrets_stay_out_of_repr(kd_env):
    resource = KingdeeResource.from_env()
    for text in (repr(resource), str(resource), repr(resource.client_config())):
        assert SECRET not in text and PASSWORD not in text


def test_get_client_yields_a_configured_client_inside_an_asset(kd_env):
    seen = {}

    @dg.asset
    def probe(kingdee: KingdeeResource) -> None:
        with kingdee.get_client() as client:
            seen["client"] = client
            seen["config"] = client.config

    result = dg.materialize([probe], resources={"kingdee": KingdeeResource.from_env()})
    assert result.success
    assert isinstance(seen["client"], K3CloudClient)
    assert seen["config"].app_secret == SECRET  # EnvVar resolved at run time


def test_a_run_through_the_resource_leaks_no_secret(simulator, caplog, monkeypatch):
    """A full asset run against the simulator, with a lost session and throttling on the way."""
    caplog.set_level(logging.DEBUG)
    secret = "kdassets-demo-app-secret"
    monkeypatch.setenv("KD_APP_SECRET", secret)
    resource = KingdeeResource.from_env(
        server_url=simulator.base_url, acct_id="kd-demo", username="demo",
        app_id="300001_S0RBU1NFVFMtREVNTy1BUFAtU0VDUkVU", auth_mode="app_secret",
        backoff_base_s=0.01, backoff_cap_s=0.05)
    requests.post(simulator.admin_url + "faults", json={"script": [{"kind": "session_lost"}, {"kind": "http_429"}]},
                  timeout=10).raise_for_status()

    @dg.asset
    def customers(kingdee: KingdeeResource) -> dg.MaterializeResult:
        with kingdee.get_client() as client:
            window = Window(dt.datetime(1990, 1, 1), dt.datetime(2100, 1, 1))
            rows = sum(len(page) for page in client.iter_window("BD_Customer", ["FCUSTID"], window, page_size=100,
                                                                **SCAN))
            return dg.MaterializeResult(metadata={"rows": rows, **client.stats.as_metadata()})

    result = dg.materialize([customers], resources={"kingdee": resource})
    assert result.success
    metadata = result.asset_materializations_for_node("customers")[0].metadata
    assert metadata["rows"].value == 300 and metadata["kingdee_relogins"].value == 1
    assert metadata["kingdee_throttled"].value == 1
    texts = [r.getMessage() for r in caplog.records] + [str(e) for e in result.all_events] + [repr(resource)]
    assert not [t for t in texts if secret in t]
