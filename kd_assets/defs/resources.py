"""Dagster resources: thin configuration wrappers around kd_assets' own clients.

Resources own connections, retries and paging settings so assets stay short (DESIGN.md §5).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Optional

import dagster as dg
from pydantic import Field

from kd_assets.kingdee import ClientConfig, K3CloudClient, RetryPolicy

# ---------------------------------------------------------------------------------------------
# Kingdee
# ---------------------------------------------------------------------------------------------

# Environment variable -> field; all optional except the first three. Strings and ints are bound
# with dg.EnvVar (resolved at run time, shown by name in the UI); Dagster has no EnvVar for floats
# and booleans, so KD_MAX_RPS and KD_VERIFY_TLS are read when the definitions load.
KINGDEE_ENV_STR = {
    "server_url": "KD_SERVER_URL", "acct_id": "KD_ACCT_ID", "username": "KD_USERNAME",
    "app_id": "KD_APP_ID", "app_secret": "KD_APP_SECRET", "password": "KD_PASSWORD",
    "source_timezone": "KD_SOURCE_TIMEZONE", "auth_mode": "KD_AUTH_MODE",
}
KINGDEE_ENV_INT = {"lcid": "KD_LCID", "org_num": "KD_ORG_NUM", "page_size": "KD_PAGE_SIZE",
                   "server_max_limit": "KD_SERVER_MAX_LIMIT"}
KINGDEE_ENV_FLOAT = {"max_rps": "KD_MAX_RPS", "timeout_s": "KD_TIMEOUT_S"}
KINGDEE_ENV_BOOL = {"verify_tls": "KD_VERIFY_TLS"}


class KingdeeResource(dg.ConfigurableResource):
    """Kingdee K3Cloud WebAPI access for assets: ``with kingdee.get_client() as client: ...``.

    Environment variables (see :meth:`from_env`): ``KD_SERVER_URL`` (e.g.
    ``https://erp.example.com/k3cloud/``), ``KD_ACCT_ID`` (data-center id), ``KD_USERNAME``,
    ``KD_APP_ID`` + ``KD_APP_SECRET`` (signed headers, the default when both are set) or
    ``KD_PASSWORD`` (ValidateUser), ``KD_AUTH_MODE`` (signed | app_secret | password),
    ``KD_LCID`` (2052), ``KD_ORG_NUM`` (0), ``KD_PAGE_SIZE`` (2000), ``KD_SERVER_MAX_LIMIT`` (2000),
    ``KD_MAX_RPS`` (off), ``KD_TIMEOUT_S`` (120), ``KD_VERIFY_TLS`` (true),
    ``KD_SOURCE_TIMEZONE`` (Asia/Shanghai). The app secret and password never appear in repr,
    logs, metadata or error messages.
    """

    server_url: str = Field(description="K3Cloud base URL, e.g. https://erp.example.com/k3cloud/")
    acct_id: str = Field(description="Data-center id (acctId)")
    username: str = Field(description="Kingdee integration user")
    app_id: str = Field(default="", description="Third-party app id (<clientId>_<code>)")
    app_secret: str = Field(default="", repr=False, description="Third-party app secret")
    password: str = Field(default="", repr=False, description="Password, for ValidateUser login")
    auth_mode: Optional[str] = Field(default=None, description="signed | app_secret | password; default: "
                                                               "signed when app id and secret are set")
    lcid: int = 2052
    org_num: int = 0
    timeout_s: float = Field(default=120.0, description="Read timeout per request, seconds")
    connect_timeout_s: float = 10.0
    page_size: int = Field(default=2000, description="Rows per keyset page (clamped to server_max_limit)")
    server_max_limit: int = Field(default=2000, description="The server's Limit cap (2000; 10000 from 23.11)")
    max_rps: Optional[float] = Field(default=None, description="Client-side requests per second; None = off")
    verify_tls: bool = True
    source_timezone: str = Field(default="Asia/Shanghai", description="Time zone of Kingdee's naive datetimes")
    network_attempts: int = Field(default=3, description="Tries on timeouts and connection errors")
    network_interval_s: float = 5.0
    max_attempts: int = Field(default=6, description="Tries on throttling and 5xx")
    backoff_base_s: float = 1.0
    backoff_cap_s: float = Field(default=60.0, description="Longest single wait, also caps Retry-After")
    max_total_wait_s: float = Field(default=300.0, description="Longest total wait for one call")

    def client_config(self) -> ClientConfig:
        """The client's configuration; EnvVars are resolved here too when called outside a run."""
        v = self._resolved
        return ClientConfig(
            server_url=v("server_url"), acct_id=v("acct_id"), username=v("username"), app_id=v("app_id"),
            app_secret=v("app_secret"), password=v("password"), auth_mode=v("auth_mode") or None,
            lcid=int(v("lcid")), org_num=int(v("org_num")), connect_timeout_s=self.connect_timeout_s,
            read_timeout_s=self.timeout_s, page_size=int(v("page_size")),
            server_max_limit=int(v("server_max_limit")), max_rps=self.max_rps, verify_tls=self.verify_tls,
            source_timezone=v("source_timezone"),
            retry=RetryPolicy(network_attempts=self.network_attempts, network_interval_s=self.network_interval_s,
                              max_attempts=self.max_attempts, base_delay_s=self.backoff_base_s,
                              max_delay_s=self.backoff_cap_s, max_total_wait_s=self.max_total_wait_s),
        )

    def _resolved(self, name: str) -> Any:
        value = getattr(self, name)
        # dg.EnvVar and dg.EnvVar.int (IntEnvVar, not an EnvVar subclass) both offer get_value().
        return value.get_value() if hasattr(value, "get_value") else value

    @contextmanager
    def get_client(self) -> Iterator[K3CloudClient]:
        """A fresh client (own HTTP session and stats) for one asset run; closed afterwards."""
        client = K3CloudClient(self.client_config())
        try:
            yield client
        finally:
            client.close()

    @classmethod
    def from_env(cls, environ: Optional[dict[str, str]] = None, **overrides: Any) -> KingdeeResource:
        """A resource bound to the ``KD_*`` variables that are set; ``overrides`` win."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        values.update({f: dg.EnvVar(v) for f, v in KINGDEE_ENV_STR.items() if env.get(v)})
        values.update({f: dg.EnvVar.int(v) for f, v in KINGDEE_ENV_INT.items() if env.get(v)})
        values.update({f: float(env[v]) for f, v in KINGDEE_ENV_FLOAT.items() if env.get(v)})
        values.update({f: env[v].strip().lower() not in {"0", "false", "no", "off"}
                       for f, v in KINGDEE_ENV_BOOL.items() if env.get(v)})
        values.update(overrides)
        return cls(**values)
