"""Client configuration: where Kingdee is, who we are, how we page and retry."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from enum import Enum

from . import protocol
from .filters import DEFAULT_SOURCE_TIMEZONE
from .retry import RetryPolicy
from .signing import SigningIdentity

_SECRET_FIELDS = frozenset({"app_secret", "password"})


class AuthMode(str, Enum):
    """How the client proves who it is (PROTOCOL.md §1.2, §2)."""

    SIGNED = "signed"                 # X-Api-*/X-Kd-* signed headers, what the official SDK does
    APP_SECRET = "app_secret"         # LoginByAppSecret, then the session cookie
    PASSWORD = "password"             # ValidateUser, then the session cookie


@dataclass(frozen=True)
class ClientConfig:
    """Everything a :class:`K3CloudClient` needs. ``repr`` masks the app secret and password."""

    server_url: str
    acct_id: str
    username: str
    app_id: str = ""
    app_secret: str = ""
    password: str = ""
    lcid: int = protocol.DEFAULT_LCID
    org_num: int = 0
    auth_mode: AuthMode | str | None = None  # None: signed if app id + secret are set, else password
    connect_timeout_s: float = 10.0
    read_timeout_s: float = 120.0        # the SDK's default; big pages on slow servers take a while
    page_size: int = 2000
    server_max_limit: int = 2000         # Limit cap of older servers; 10000 from the 23.11 patch
    keys_per_request: int = 500          # `in (...)` chunk for fetch_by_keys
    max_rps: float | None = None         # client-side rate limit; None = off
    verify_tls: bool = True
    source_timezone: str = DEFAULT_SOURCE_TIMEZONE
    retry: RetryPolicy = field(default_factory=RetryPolicy)

    def __post_init__(self) -> None:
        if not self.server_url.startswith(("http://", "https://")):
            raise ValueError(f"server_url must start with http:// or https://, got {self.server_url!r}")
        if not 1 <= self.page_size:
            raise ValueError("page_size must be positive")
        if self.auth_mode is not None:
            object.__setattr__(self, "auth_mode", AuthMode(self.auth_mode))
        mode = self.resolved_auth_mode
        if mode in (AuthMode.SIGNED, AuthMode.APP_SECRET) and not (self.app_id and self.app_secret):
            raise ValueError(f"auth mode {mode.value!r} needs app_id and app_secret")
        if mode is AuthMode.PASSWORD and not self.password:
            raise ValueError("auth mode 'password' needs a password")

    @property
    def resolved_auth_mode(self) -> AuthMode:
        if self.auth_mode is not None:
            return AuthMode(self.auth_mode)
        return AuthMode.SIGNED if self.app_id and self.app_secret else AuthMode.PASSWORD

    @property
    def effective_page_size(self) -> int:
        """Page size never above the server cap: a clamped page would look short and end paging early."""
        return min(self.page_size, self.server_max_limit)

    @property
    def base_url(self) -> str:
        return self.server_url if self.server_url.endswith("/") else self.server_url + "/"

    @property
    def secrets(self) -> tuple[str, ...]:
        return tuple(s for s in (self.app_secret, self.password) if s)

    def signing_identity(self) -> SigningIdentity:
        return SigningIdentity(self.acct_id, self.username, self.app_id, self.app_secret, self.lcid, self.org_num)

    def __repr__(self) -> str:
        shown = ", ".join(
            f"{f.name}={'***' if f.name in _SECRET_FIELDS and getattr(self, f.name) else repr(getattr(self, f.name))}"
            for f in fields(self))
        return f"ClientConfig({shown})"
