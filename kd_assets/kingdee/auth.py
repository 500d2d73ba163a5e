"""The three ways a client proves who it is (PROTOCOL.md §1.2, §2).

- signed headers: every request carries X-Api-*/X-Kd-* signatures, as the official SDK does;
  the server answers with a session cookie we reuse, and there is no login call;
- LoginByAppSecret and ValidateUser: one login call, then the session cookie and the
  ``kdservice-sessionid`` header.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable

from . import protocol
from .config import AuthMode, ClientConfig
from .signing import signature_headers

# Kingdee's languages (PROTOCOL.md §1.2); a data center has the ones its admin installed.
KNOWN_LCIDS = {2052: "zh-CN", 1033: "en-US", 3076: "zh-TW"}


class Authenticator:
    """Per-request auth headers and, for login modes, the login request."""

    login_service: str | None = None

    def request_headers(self, url: str) -> dict[str, str]:
        return {}

    def login_body(self) -> dict:
        raise NotImplementedError


class SignedHeaders(Authenticator):
    def __init__(self, config: ClientConfig, wall_clock: Callable[[], float] = time.time) -> None:
        self._identity = config.signing_identity()
        self._wall_clock = wall_clock

    def request_headers(self, url: str) -> dict[str, str]:
        return signature_headers(url, self._identity, int(self._wall_clock()))


class LoginCall(Authenticator):
    """LoginByAppSecret / ValidateUser with positional parameters in Kingdee's standard envelope."""

    def __init__(self, service: str, parameters: list) -> None:
        self.login_service = service
        self._parameters = parameters

    def login_body(self) -> dict:
        # The envelope Kingdee's own clients send (YIKD tests): parameters as a JSON string.
        return {"format": 1, "useragent": "ApiClient", "rid": uuid.uuid4().hex,
                "parameters": json.dumps(self._parameters, ensure_ascii=False),
                "timestamp": time.strftime("%Y-%m-%d %H:%M:%S"), "v": "1.0"}

    def __repr__(self) -> str:  # the parameters hold the secret
        return f"LoginCall({self.login_service.rsplit('.', 1)[-1]})"


def authenticator_for(config: ClientConfig, wall_clock: Callable[[], float] = time.time) -> Authenticator:
    mode = config.resolved_auth_mode
    if mode is AuthMode.SIGNED:
        return SignedHeaders(config, wall_clock)
    if mode is AuthMode.APP_SECRET:
        return LoginCall(protocol.LOGIN_BY_APP_SECRET,
                         [config.acct_id, config.username, config.app_id, config.app_secret, config.lcid])
    return LoginCall(protocol.VALIDATE_USER, [config.acct_id, config.username, config.password, config.lcid])


def settings_to_check(config: ClientConfig) -> str:
    """Which settings to check when Kingdee refuses us, by their KD_* environment names, leading
    with KD_LCID when its value is a likely cause: names depend on it, and a data center refuses
    a language it does not have (PROTOCOL.md §1.2, §2)."""
    secrets = ["KD_PASSWORD"] if config.resolved_auth_mode is AuthMode.PASSWORD else ["KD_APP_ID", "KD_APP_SECRET"]
    others = ", ".join(["KD_ACCT_ID", "KD_USERNAME", *secrets])
    lcid = f"KD_LCID={config.lcid}"
    if config.lcid not in KNOWN_LCIDS:
        known = ", ".join(f"{code} {name}" for code, name in KNOWN_LCIDS.items())
        return f"{lcid} is not a Kingdee language ({known}): the likely cause; else check {others}"
    if config.lcid != protocol.DEFAULT_LCID:
        return (f"{lcid} ({KNOWN_LCIDS[config.lcid]}) must be a language installed in the data center "
                f"({protocol.DEFAULT_LCID} {KNOWN_LCIDS[protocol.DEFAULT_LCID]} usually is): a likely cause; "
                f"else check {others}")
    return f"check {others} and {lcid}"
