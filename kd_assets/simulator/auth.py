"""Logins, sessions and signed-header verification (PROTOCOL.md §1.2–§2, §8.3–§8.4).

The verifier is written from the protocol notes, not shared with the client's signer, so a
signing bug cannot hide on both sides; it is tested against signature_vectors.json.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import string
import threading
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable
from urllib.parse import quote

from kd_assets.kingdee import protocol as p

# The SDK's XOR key for the secret part of an AppId (its obfuscated '0054s397?p62...' string
# de-obfuscated: every 9th char dropped, then ROT13).
_XOR_KEY = b"0054f397c6234378b09ca7d3e5debce7"
_ASPNET_ALPHABET = string.ascii_lowercase + "012345"


def kd_hmac(message: str, key: str) -> str:
    """Kingdee's HMAC: base64 of the lower-case hex digest of HMAC-SHA256."""
    digest = hmac.new(key.encode("utf-8"), message.encode("utf-8"), hashlib.sha256).hexdigest()
    return base64.b64encode(digest.encode("ascii")).decode("ascii")


def client_secret(app_id: str) -> str:
    """The X-Api-Signature key derived from the part of the AppId after '_' ('' if none)."""
    parts = app_id.split("_")
    if len(parts) != 2 or len(parts[1]) != 32:
        return ""
    try:
        raw = base64.b64decode(parts[1], validate=True)
    except (binascii.Error, ValueError):
        return ""
    return base64.b64encode(bytes(b ^ k for b, k in zip(raw, _XOR_KEY))).decode("ascii")


def api_signature(path: str, nonce: str, timestamp: str, app_id: str) -> str:
    canonical = (f"POST\n{quote(path, encoding='utf-8').replace('/', '%2F')}\n\n"
                 f"x-api-nonce:{nonce}\nx-api-timestamp:{timestamp}\n")
    return kd_hmac(canonical, client_secret(app_id))


def sign_login(acct_id: str, username: str, app_id: str, app_secret: str, timestamp: str) -> str:
    """LoginBySign's signature: SHA-256 hex of the sorted, concatenated inputs."""
    joined = "".join(sorted([acct_id, username, app_id, app_secret, str(timestamp)]))
    return hashlib.sha256(joined.encode("utf-8")).hexdigest()


@dataclass
class Session:
    sid: str
    aspnet_id: str
    username: str
    last_seen: datetime


@dataclass
class AuthOutcome:
    """Result of authenticating a business call."""

    session: Session | None = None
    set_cookies: dict[str, str] = field(default_factory=dict)
    unknown_acct: bool = False  # answered with HTTP 500 'Fail to verify thirty passport'


class LoginFailed(Exception):
    def __init__(self, result_type: int, message: str, message_code: str | None = None) -> None:
        super().__init__(message)
        self.result_type, self.message, self.message_code = result_type, message, message_code


# Positional parameter order per login service (PROTOCOL.md §1.2).
LOGIN_PARAMETERS = {
    p.VALIDATE_USER: ("acctid", "username", "password", "lcid"),
    p.LOGIN_BY_APP_SECRET: ("acctid", "username", "appid", "appsecret", "lcid"),
    p.LOGIN_BY_SIGN: ("acctid", "username", "appid", "timestamp", "sign", "lcid"),
    p.LOGIN_BY_SIMPLE_PASSPORT: ("passport", "lcid"),
}
_NAMED_ALIASES = {"signature": "sign", "signeddata": "sign", "appsec": "appsecret",
                  "user": "username", "pwd": "password"}


def login_arguments(service: str, body: dict) -> dict[str, Any]:
    """Named login arguments from a positional `parameters` array/string or named keys."""
    parameters = body.get("parameters")
    if isinstance(parameters, str):
        try:
            parameters = json.loads(parameters)
        except ValueError:
            raise LoginFailed(p.LOGIN_FAILURE, "parameters 不是有效的 JSON 数组") from None
    if isinstance(parameters, list):
        return dict(zip(LOGIN_PARAMETERS[service], parameters))
    return {_NAMED_ALIASES.get(k, k): v for k, v in body.items()}


class Authenticator:
    """Checks credentials, issues and expires sessions (idle TTL on the simulator clock)."""

    def __init__(self, config: Any, now: Callable[[], datetime]) -> None:
        self.config = config
        self.now = now
        self.session_ttl = float(config.session_ttl)
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()
        self.logins = 0

    # -- sessions
    def new_session(self) -> Session:
        session = Session(str(uuid.uuid4()),
                          "".join(secrets.choice(_ASPNET_ALPHABET) for _ in range(24)),
                          self.config.username, self.now())
        with self._lock:
            self._sessions[session.sid] = session
        return session

    def live_session(self, sid: str) -> Session | None:
        """The session for `sid` if it exists and has not idled past the TTL; touches it."""
        with self._lock:
            session = self._sessions.get(sid)
            if session is None:
                return None
            now = self.now()
            if self.session_ttl > 0 and (now - session.last_seen).total_seconds() > self.session_ttl:
                del self._sessions[sid]
                return None
            session.last_seen = now
            return session

    def drop(self, sid: str) -> None:
        with self._lock:
            self._sessions.pop(sid, None)

    def session_count(self) -> int:
        with self._lock:
            return len(self._sessions)

    # -- logins
    def login(self, service: str, body: dict) -> Session:
        """Check a login request; returns a new session or raises LoginFailed."""
        args = login_arguments(service, body)
        cfg = self.config
        if service == p.LOGIN_BY_SIMPLE_PASSPORT:
            raise LoginFailed(p.LOGIN_FAILURE, "通行证登录未启用：请使用 ValidateUser 或第三方授权登录")
        if str(args.get("acctid", "")) != cfg.acct_id:
            raise LoginFailed(p.LOGIN_FAILURE, f"数据中心 {args.get('acctid')!r} 不存在")
        if str(args.get("username", "")) != cfg.username:
            raise LoginFailed(p.LOGIN_PW_ERROR, "用户名或密码错误！")
        if service == p.VALIDATE_USER and str(args.get("password", "")) != cfg.password:
            raise LoginFailed(p.LOGIN_PW_ERROR, "用户名或密码错误！")
        if service == p.LOGIN_BY_APP_SECRET and (str(args.get("appid", "")) != cfg.app_id
                                                 or str(args.get("appsecret", "")) != cfg.app_secret):
            raise LoginFailed(p.LOGIN_FAILURE, "第三方系统登录授权验证失败：应用ID或应用密钥错误",
                              p.BAD_SIGNATURE_MESSAGE_CODE)
        if service == p.LOGIN_BY_SIGN:
            expected = sign_login(cfg.acct_id, cfg.username, cfg.app_id, cfg.app_secret,
                                  str(args.get("timestamp", "")))
            if str(args.get("appid", "")) != cfg.app_id or not hmac.compare_digest(
                    expected, str(args.get("sign", "")).lower()):
                raise LoginFailed(p.LOGIN_FAILURE, "第三方系统登录授权验证失败：签名错误",
                                  p.BAD_SIGNATURE_MESSAGE_CODE)
        if not self.lcid_accepted(args.get("lcid", p.DEFAULT_LCID)):
            raise LoginFailed(p.LOGIN_FAILURE, f"不支持的语言 lcid={args.get('lcid')}")
        self.logins += 1
        return self.new_session()

    def lcid_accepted(self, lcid: Any) -> bool:
        try:
            return int(str(lcid)) in data_center_languages(self.config)
        except ValueError:
            return False

    # -- business calls
    def authenticate(self, headers: Any, cookies: dict[str, str], path: str) -> AuthOutcome:
        """Session id first, then signed headers, else nothing (PROTOCOL.md §8.4)."""
        for sid in (headers.get(p.SESSION_HEADER), cookies.get(p.SESSION_COOKIE)):
            session = self.live_session(sid) if sid else None
            if session is not None:
                if self.config.silent_reissue:
                    fresh = self.new_session()
                    return AuthOutcome(session, {p.SESSION_COOKIE: fresh.sid,
                                                 p.ASPNET_SESSION_COOKIE: fresh.aspnet_id})
                return AuthOutcome(session)
        if not headers.get("X-Kd-Appkey"):
            return AuthOutcome()
        verdict = self.verify_signed_headers(headers, path)
        if verdict == "unknown_acct":
            return AuthOutcome(unknown_acct=True)
        # Success or not, the server hands out a session id; on failure it is an empty shell.
        session = self.new_session() if verdict == "ok" else None
        sid = session.sid if session else str(uuid.uuid4())
        aspnet = session.aspnet_id if session else "".join(
            secrets.choice(_ASPNET_ALPHABET) for _ in range(24))
        return AuthOutcome(session, {p.SESSION_COOKIE: sid, p.ASPNET_SESSION_COOKIE: aspnet})

    def verify_signed_headers(self, headers: Any, path: str) -> str:
        """'ok', 'unknown_acct' or 'bad' for the X-Kd-* (and X-Api-*) headers of a request."""
        cfg = self.config
        app_key = headers.get("X-Kd-Appkey", "")
        try:
            app_data = base64.b64decode(headers.get("X-Kd-Appdata", ""), validate=True).decode("utf-8")
            acct, user, lcid, _org = app_data.split(",")
        except (binascii.Error, ValueError):
            return "bad"
        if acct != cfg.acct_id:
            return "unknown_acct"
        expected = kd_hmac(app_key + app_data, cfg.app_secret)
        if (app_key != cfg.app_id or user != cfg.username or not self.lcid_accepted(lcid)
                or not hmac.compare_digest(expected, headers.get("X-Kd-Signature", ""))):
            return "bad"
        sent = headers.get("X-Api-Signature")
        if sent is not None and cfg.verify_api_signature:
            wanted = api_signature(path, headers.get("x-api-nonce", ""),
                                   headers.get("x-api-timestamp", ""), app_key)
            if not hmac.compare_digest(wanted, sent):
                return "bad"
        return "ok"


def data_center_languages(config: Any) -> list[int]:
    """The data center's installed languages: the user's lcid first, then ``languages``."""
    extra = [int(part) for part in str(config.languages).split(",") if part.strip()]
    return list(dict.fromkeys([int(config.lcid), *extra]))


_ALIASES = {2052: "CN", 1033: "EN", 3076: "TW"}


def login_response(session: Session, config: Any, now: datetime) -> dict[str, Any]:
    """The full successful login object (PROTOCOL.md §1.3)."""
    zone = {"OffsetTicks": 288000000000, "StandardName": "(UTC+08:00)北京，重庆，香港特别行政区，乌鲁木齐",
            "Id": 230, "Number": "1078_SYS", "CanBeUsed": True}
    context = {
        "UserLocale": "zh-CN", "LogLocale": "zh-CN", "DBid": config.acct_id, "DatabaseType": 3,
        "SessionId": session.aspnet_id, "UseLanguages": [
            {"LocaleId": lcid, "Alias": _ALIASES.get(lcid, str(lcid))} for lcid in data_center_languages(config)],
        "UserId": 100100, "UserName": session.username, "CustomName": "kd-assets 演示",
        "DisplayVersion": "9.0.553.10", "DataCenterName": "kd-assets 演示数据中心",
        "UserToken": str(uuid.uuid4()), "CurrentOrganizationInfo": {
            "ID": 1, "AcctOrgType": "1", "Name": "金蝶演示集团", "FunctionIds": [101, 102, 103]},
        "IsCH_ZH_AutoTrans": False, "ClientType": 32, "WeiboAuthInfo": None, "UTimeZone": zone,
        "STimeZone": zone, "GDCID": config.acct_id, "Gsid": None, "TRLevel": 0, "ProductEdition": 0,
        "DataCenterNumber": config.acct_id, "ContextResultType": 0, "IsDeployAsPublicCloud": False,
        "ServerTime": now.isoformat(timespec="seconds"),
    }
    return {"Message": None, "MessageCode": "CheckPasswordPolicy", "LoginResultType": p.LOGIN_SUCCESS,
            "Context": context, "KDSVCSessionId": session.sid, "FormId": None,
            "RedirectFormParam": None, "FormInputObject": None, "ErrorStackTrace": None, "Lcid": 0,
            "AccessToken": None, "CustomParam": {}, "KdAccessResult": None, "IsSuccessByAPI": True}


def login_failure_response(error: LoginFailed) -> dict[str, Any]:
    return {"Message": error.message, "MessageCode": error.message_code,
            "LoginResultType": error.result_type, "Context": None, "KDSVCSessionId": None,
            "FormId": None, "RedirectFormParam": None, "FormInputObject": None,
            "ErrorStackTrace": None, "Lcid": 0, "AccessToken": None, "CustomParam": None,
            "KdAccessResult": None, "IsSuccessByAPI": False}
