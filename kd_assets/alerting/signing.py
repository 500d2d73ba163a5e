"""Robot signatures: DingTalk signs the URL, Feishu signs the body.

Both hash ``f"{timestamp}\\n{secret}"`` with HMAC-SHA256 and base64 the digest, but they use
the inputs differently (documented in each robot's "custom bot security settings").
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from urllib.parse import quote_plus, urlsplit, urlunsplit


def dingtalk_sign(secret: str, timestamp_ms: int) -> str:
    """DingTalk: key = secret, message = "{timestamp_ms}\\n{secret}"; base64, not yet URL-quoted."""
    string_to_sign = f"{timestamp_ms}\n{secret}".encode()
    digest = hmac.new(secret.encode(), string_to_sign, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def dingtalk_signed_url(webhook: str, secret: str, timestamp_ms: int | None = None) -> str:
    """The webhook with ``&timestamp=<ms>&sign=<url-quoted signature>`` appended."""
    ts = int(time.time() * 1000) if timestamp_ms is None else timestamp_ms
    parts = urlsplit(webhook)
    extra = f"timestamp={ts}&sign={quote_plus(dingtalk_sign(secret, ts))}"
    query = f"{parts.query}&{extra}" if parts.query else extra
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


def feishu_sign(secret: str, timestamp_s: int) -> str:
    """Feishu/Lark: key = "{timestamp_s}\\n{secret}", empty message; base64."""
    key = f"{timestamp_s}\n{secret}".encode()
    return base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode()


def feishu_signed_body(payload: dict, secret: str, timestamp_s: int | None = None) -> dict:
    """A copy of ``payload`` with Feishu's ``timestamp`` (seconds, as text) and ``sign``."""
    ts = int(time.time()) if timestamp_s is None else timestamp_s
    return {**payload, "timestamp": str(ts), "sign": feishu_sign(secret, ts)}
