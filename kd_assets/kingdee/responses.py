"""Turns Kingdee's HTTP answers into rows, results or typed errors (PROTOCOL.md §1.4, §4).

Kingdee reports most failures inside HTTP 200 bodies: an error envelope, a ``response_error:``
text, or (through proxies) an HTML page. Everything that is not what the protocol promises
becomes a :class:`MalformedResponseError` that names the service and form.
"""

from __future__ import annotations

import json
import operator
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any

from . import protocol
from .errors import (
    ApiError, AuthError, MalformedResponseError, QueryError, ServerError,
    SessionLostError, ThrottledError,
)

Redact = Callable[[object], str]
_EXCERPT = 200


def _where(service: str, form_id: str) -> str:
    short = service.rsplit(".", 1)[-1]
    return f"{short} on {form_id}" if form_id else short


def retry_after_seconds(value: str | None) -> float | None:
    """Retry-After in seconds (the HTTP-date form is rare for APIs and treated as absent)."""
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


def check_status(status: int, headers: Mapping[str, str], text: Callable[[], str], *,
                 service: str, form_id: str, redact: Redact) -> None:
    """Raise the typed error for a non-success HTTP status; 200 and 206 pass (as in the SDK)."""
    if status in (200, 206):
        return
    where = _where(service, form_id)
    body = redact(text()[:_EXCERPT])
    retry_after = retry_after_seconds(headers.get("Retry-After"))
    if status == 429 or (status == 503 and retry_after is not None):
        raise ThrottledError(f"{where}: throttled by the server (HTTP {status})", service=service,
                             form_id=form_id, status=status, retry_after_s=retry_after)
    if protocol.UNKNOWN_ACCT_TEXT in body:
        raise AuthError(f"{where}: data center (acct id) not recognised: {body}", service=service, form_id=form_id)
    if status >= 500:
        raise ServerError(f"{where}: HTTP {status}: {body}", service=service, form_id=form_id,
                          status=status, retry_after_s=retry_after)
    if status in (401, 403):
        raise AuthError(f"{where}: HTTP {status}: {body}", service=service, form_id=form_id)
    raise MalformedResponseError(f"{where}: unexpected HTTP {status}: {body}", service=service,
                                 form_id=form_id, kind="http_status")


def decode_json(content: bytes, *, service: str, form_id: str, redact: Redact) -> Any:
    """The JSON body, or a MalformedResponseError saying which kind of garbage it was."""
    where = _where(service, form_id)
    head = content[:64].lstrip()
    if head.startswith(protocol.RESPONSE_ERROR_PREFIX.encode()):
        message = content.decode("utf-8", "replace")[len(protocol.RESPONSE_ERROR_PREFIX):].strip()
        raise MalformedResponseError(f"{where}: server error text: {redact(message[:_EXCERPT])}",
                                     service=service, form_id=form_id, kind="response_error")
    if head.startswith(b"<"):
        raise MalformedResponseError(f"{where}: got an HTML page instead of JSON (a proxy or login page?)",
                                     service=service, form_id=form_id, kind="html")
    try:
        text = content.decode("utf-8")
        # Decimals exactly as sent: a float64 keeps ~15.9 digits, a decimal(18,2) amount has 18.
        return json.loads(text, parse_float=Decimal)
    except UnicodeDecodeError as error:
        raise MalformedResponseError(f"{where}: body is not UTF-8 ({error.reason})", service=service,
                                     form_id=form_id, kind="invalid_json") from None
    except json.JSONDecodeError as error:
        # Running out of input (mid-string or at the very end) means the body was cut off.
        cut_off = error.msg.startswith("Unterminated") or error.pos >= len(text.rstrip())
        kind = "truncated_json" if cut_off else "invalid_json"
        raise MalformedResponseError(f"{where}: body of {len(content)} bytes is not valid JSON "
                                     f"({kind} at char {error.pos})", service=service, form_id=form_id,
                                     kind=kind) from None


_ERROR_ITEM_KEYS = frozenset({"FieldName", "Message", "DIndex"})


def _status_of(value: Any) -> dict | None:
    result = value.get("Result") if isinstance(value, dict) else None
    status = result.get("ResponseStatus") if isinstance(result, dict) else None
    return status if isinstance(status, dict) else None


def _is_error_item(value: Any) -> bool:
    return isinstance(value, dict) and "Message" in value and value.keys() <= _ERROR_ITEM_KEYS


def error_status(payload: Any) -> dict | None:
    """The ResponseStatus of a failed call in any shape real servers and proxies send, else None.

    Shapes: a bare envelope ``{"Result":{"ResponseStatus":…}}``; an envelope among the cells of
    the first row, alone or padded with nulls (``[[envelope]]``, ``[[null, envelope, null]]``,
    ``[envelope, null]``); a bare list of error items ``[{"FieldName","Message","DIndex"}]``.
    ``IsSuccess`` may be a bool or the string "false"; a missing one counts as a failure.
    """
    status = _status_of(payload)
    if status is None and isinstance(payload, list) and payload:
        # Rows are lists of scalars: only a handful of cells are looked at, whatever the page size.
        cells = payload[0] if isinstance(payload[0], list) else payload[:8]
        status = next((found for found in map(_status_of, cells) if found is not None), None)
        if status is None and all(map(_is_error_item, payload)):
            status = {"IsSuccess": False, "Errors": payload}
    if status is None or str(status.get("IsSuccess")).lower() == "true":
        return None
    return status


def raise_for_status_envelope(result: Any, *, service: str, form_id: str, redact: Redact,
                              error_type: type[ApiError] = QueryError) -> None:
    """Raise the typed error if ``result`` is an error answer (any shape of :func:`error_status`).

    Session lost is MsgCode 1, or Kingdee's session-lost message without a MsgCode (some servers
    and proxies drop it): both mean nothing ran, so the client logs in again and replays.
    """
    status = error_status(result)
    if status is None:
        return
    errors = status.get("Errors") or []
    messages = tuple(redact(e.get("Message") or "") for e in errors if isinstance(e, dict))
    fields = [e.get("FieldName") for e in errors if isinstance(e, dict) and e.get("FieldName")]
    try:
        msg_code = int(status.get("MsgCode"))
    except (TypeError, ValueError):
        msg_code = None
    where = _where(service, form_id)
    text = "; ".join(m for m in messages if m) or "no message"
    if msg_code == protocol.MSG_SESSION_LOST or any(protocol.SESSION_LOST_MESSAGE in m for m in messages):
        raise SessionLostError(f"{where}: session lost (MsgCode {msg_code}): {text}", service=service,
                               form_id=form_id)
    field_note = f" field {', '.join(fields)}" if fields else ""
    raise error_type(f"{where}{field_note}: Kingdee error MsgCode {msg_code}: {text}", service=service,
                     form_id=form_id, msg_code=msg_code, field_name=fields[0] if fields else None, errors=messages)


class QueryPage(list):
    """ExecuteBillQuery rows with the response body they were parsed from (``body``, the UTF-8 JSON
    as sent) and their ``field_keys``, so landing can keep the body instead of encoding the rows
    again. The parsed rows are also kept as a tuple: :meth:`sent_body` gives the body only while the
    list holds those very rows in that order, whatever was done to it. A slice or a copy is a plain
    list. Fetched rows are only read (a row changed in place would not be seen)."""

    __slots__ = ("body", "field_keys", "_parsed")

    def __init__(self, rows: list, body: bytes, field_keys: Sequence[str]) -> None:
        super().__init__(rows)
        self.body, self.field_keys, self._parsed = body, tuple(field_keys), tuple(rows)

    def sent_body(self, field_keys: Sequence[str]) -> bytes | None:
        """``body`` if the page still is exactly it, in ``field_keys`` order; else None."""
        parsed = self._parsed
        same = len(self) == len(parsed) and all(map(operator.is_, self, parsed))  # identity, in C
        return self.body if same and self.field_keys == tuple(field_keys) else None


def query_rows(payload: Any, width: int, *, service: str, form_id: str, redact: Redact) -> list[list]:
    """ExecuteBillQuery rows, each exactly ``width`` wide; an error envelope is raised as typed."""
    where = _where(service, form_id)
    # The error envelope comes in [[...]], unwrapped, padded with nulls or as bare error items.
    raise_for_status_envelope(payload, service=service, form_id=form_id, redact=redact)
    if not isinstance(payload, list):
        raise MalformedResponseError(f"{where}: expected a list of rows, got {type(payload).__name__}",
                                     service=service, form_id=form_id, kind="shape")
    # Fast path in C (map over 2000-row pages); the loop below only runs to name the bad row.
    if set(map(type, payload)) <= {list} and set(map(len, payload)) <= {width}:
        return payload
    for index, row in enumerate(payload):
        if not isinstance(row, list) or len(row) != width:
            got = len(row) if isinstance(row, list) else type(row).__name__
            raise MalformedResponseError(f"{where}: row {index} has width {got}, FieldKeys has {width}",
                                         service=service, form_id=form_id, kind="wrong_width")
    return payload


def object_rows(payload: Any, field_keys: list[str], *, service: str, form_id: str, redact: Redact) -> list[dict]:
    """BillQuery rows (objects keyed by field key); errors come back as a bare envelope."""
    raise_for_status_envelope(payload, service=service, form_id=form_id, redact=redact)
    if not isinstance(payload, list) or not all(isinstance(r, dict) for r in payload):
        raise MalformedResponseError(f"{_where(service, form_id)}: expected a list of objects",
                                     service=service, form_id=form_id, kind="shape")
    missing = [k for k in field_keys if payload and k not in payload[0]]
    if missing:
        raise MalformedResponseError(f"{_where(service, form_id)}: rows lack fields {missing}",
                                     service=service, form_id=form_id, kind="wrong_width")
    return payload


def login_session(payload: Any, *, service: str, redact: Redact, hint: str = "") -> str:
    """The KDSVCSessionId of a successful login response, else AuthError with Kingdee's message
    and ``hint`` (which settings to check)."""
    if not isinstance(payload, dict):
        raise MalformedResponseError(f"{_where(service, '')}: login answer is not an object", service=service,
                                     kind="shape")
    result_type = payload.get("LoginResultType")
    if result_type in (protocol.LOGIN_SUCCESS, protocol.LOGIN_DEAL_WITH_FORM):
        return str(payload.get("KDSVCSessionId") or "")
    message = redact(payload.get("Message") or payload.get("MessageCode") or "no message")
    raise AuthError(f"{_where(service, '')}: authentication failed, login refused (LoginResultType "
                    f"{result_type}): {message}" + (f"; {hint}" if hint else ""), service=service)
