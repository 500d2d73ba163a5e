"""Removes secrets from free text and URLs before they reach an alert or a log line.

Failure messages copied from Dagster events can carry anything the failing code printed:
database URLs, Kingdee login payloads, session cookies, signed headers, webhook tokens.
Pattern-based scrubbing cannot know every secret, so callers that hold the literal values
(the webhook, its signing secret) pass them as ``known`` as well.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import urlsplit, urlunsplit

MASK = "***"

# Names whose value is a secret wherever it appears: "name=value", "name: value",
# '"name": "value"' (JSON) or "'name': 'value'" (Python repr). Kingdee's own names come from
# PROTOCOL.md (app secret, session cookies, signed headers); the rest are the usual suspects.
_SECRET_NAMES = (
    r"password|passwd|pwd|app_?secret|secret|client_?secret|access_?token|token|sign|signature"
    r"|kdservice-sessionid|KDSVCSessionId|ASP\.NET_SessionId|SessionId|UserToken"
    r"|X-Kd-Signature|X-Api-Signature|x-kdapi-secpwd"
)
_NAMED_VALUE = re.compile(
    rf"""(?ix)
    (?<![\w.-])(?P<name>{_SECRET_NAMES})   # the name, not the tail of a longer word
    (?P<sep>["']?\s*[:=]\s*)               # = or :, possibly after a closing quote
    (?:(?P<quote>["'])(?P<quoted>.*?)(?P=quote)   # a quoted value ...
       |(?P<bare>[^\s"'&;,)\]}}]+))                # ... or a bare one
    """
)
# user:password@ in any URL (mysql+pymysql://user:pass@host, https://user:pass@proxy).
_URL_PASSWORD = re.compile(r"(?P<head>\b[a-z][a-z0-9+.-]*://[^:/@\s]*:)[^@\s]+(?=@)", re.I)
# Query parameters that hold webhook credentials, e.g. WeCom's ?key=...; "key=" alone is too
# common in ordinary messages to mask outside a query string.
_QUERY_SECRET = re.compile(r"(?P<head>[?&](?:key|sig|timestamp_sign)=)[^&\s#]+", re.I)
# Webhooks whose credential is the path itself (Slack, Feishu/Lark).
_PATH_TOKEN = re.compile(
    r"(?P<head>https?://(?:hooks\.slack\.com/(?:services|workflows|triggers)"
    r"|open\.(?:feishu\.cn|larksuite\.com)/open-apis/bot/v2/hook))/[^\s\"'<>]+",
    re.I,
)
_BEARER = re.compile(r"(?P<head>\b(?:Bearer|Basic)\s+)[A-Za-z0-9._~+/=-]{8,}", re.I)


def _mask_named(match: re.Match[str]) -> str:
    quote = match.group("quote") or ""
    return f"{match.group('name')}{match.group('sep')}{quote}{MASK}{quote}"


def scrub(text: object, known: Iterable[str | None] = ()) -> str:
    """Return ``text`` with every recognisable secret replaced by ``***``.

    ``known`` holds literal secret values to mask wherever they occur (values shorter than
    four characters are ignored: they would mask ordinary words and are no credible secret).
    """
    result = str(text)
    for value in sorted({v for v in known if v and len(v) >= 4}, key=len, reverse=True):
        result = result.replace(value, MASK)
    result = _URL_PASSWORD.sub(lambda m: m.group("head") + MASK, result)
    result = _PATH_TOKEN.sub(lambda m: m.group("head") + "/" + MASK, result)
    result = _QUERY_SECRET.sub(lambda m: m.group("head") + MASK, result)
    result = _BEARER.sub(lambda m: m.group("head") + MASK, result)
    return _NAMED_VALUE.sub(_mask_named, result)


def redact_url(url: str | None) -> str:
    """A webhook URL fit for logs: scheme and host only.

    Webhooks carry their credential in the query (DingTalk ``access_token``, WeCom ``key``) or
    in the path (Slack, Feishu), and custom receivers may do either, so neither is shown.
    """
    if not url:
        return "<none>"
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return MASK
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    hidden = MASK if parts.path.strip("/") or parts.query else ""
    return urlunsplit((parts.scheme, host + port, "/" + hidden, "", ""))


def error_text(exc: BaseException, limit: int = 300) -> str:
    """An exception fit for logs: the driver's own error where SQLAlchemy wraps one, its type,
    and its message scrubbed of secrets and cut to ``limit`` characters."""
    cause = getattr(exc, "orig", None) or exc
    return f"{type(cause).__name__}: {scrub(str(cause))[:limit]}"
