"""Keeps secrets and session ids out of log lines, exception messages and metadata."""

from __future__ import annotations

import re
from collections.abc import Iterable

MASK = "***"

# Session ids Kingdee hands out: kdservice-sessionid UUIDs and 24-char ASP.NET ids, whether they
# appear as cookie/header text or as JSON fields in an echoed body.
_SESSION_PATTERNS = (
    re.compile(r"(?i)(kdservice-sessionid|ASP\.NET_SessionId|KDSVCSessionId|SessionId|UserToken)"
               r"(\"?\s*[:=]\s*\"?)([^\";,\s]+)"),
)


class Redactor:
    """Replaces known secret values and anything shaped like a session id with ``***``."""

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        # Very short values would mask ordinary text; they are not credible secrets anyway.
        self._secrets = sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True)
        self._session_ids: set[str] = set()

    def add_session_id(self, session_id: str | None) -> None:
        if session_id and len(session_id) >= 4:
            self._session_ids.add(session_id)

    def __call__(self, text: object) -> str:
        result = str(text)
        for value in (*self._secrets, *self._session_ids):
            result = result.replace(value, MASK)
        for pattern in _SESSION_PATTERNS:
            result = pattern.sub(lambda m: m.group(1) + m.group(2) + MASK, result)
        return result
