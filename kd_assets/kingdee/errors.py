"""Typed errors of the Kingdee client.

Each says what failed in Kingdee's terms (service, form, field, MsgCode, Kingdee's message) and
never carries a secret or session id: messages are redacted before the exception is built.
``transient`` tells the retry policy whether trying again can help.
"""

from __future__ import annotations


class KingdeeError(Exception):
    """Base of every error raised by kd_assets.kingdee."""

    transient = False

    def __init__(self, message: str, *, service: str = "", form_id: str = "") -> None:
        super().__init__(message)
        self.service = service
        self.form_id = form_id


class AuthError(KingdeeError):
    """Kingdee rejected the credentials (login failed, bad signature, unknown data center)."""


class SessionLostError(KingdeeError):
    """MsgCode 1: the session is gone; the client logs in again once and replays."""


class ApiError(KingdeeError):
    """Kingdee answered with an error envelope (IsSuccess false)."""

    def __init__(self, message: str, *, service: str = "", form_id: str = "",
                 msg_code: int | None = None, field_name: str | None = None,
                 errors: tuple[str, ...] = ()) -> None:
        super().__init__(message, service=service, form_id=form_id)
        self.msg_code = msg_code
        self.field_name = field_name
        self.errors = errors


class QueryError(ApiError):
    """A query Kingdee refused: unknown form or field, bad filter, empty parameter."""


class OperationError(ApiError):
    """A write (Save, Delete, Audit, ExcuteOperation) Kingdee refused."""


class MalformedResponseError(KingdeeError):
    """The body is not what the protocol promises: HTML, truncated JSON, ``response_error:``
    text, or rows whose width differs from FieldKeys.

    Not retried, except ``response_error:``: that is how Kingdee reports an unhandled server
    exception with HTTP 200, i.e. its 500, and is retried like one (idempotent calls only). The
    others signal a proxy, a server bug or a protocol mismatch that retrying would only hide.
    """

    def __init__(self, message: str, *, service: str = "", form_id: str = "", kind: str = "") -> None:
        super().__init__(message, service=service, form_id=form_id)
        self.kind = kind
        self.transient = kind == "response_error"


class TransientError(KingdeeError):
    """A failure that may pass: network timeout or connection error.

    ``reached_server`` is False only when the request provably never got to Kingdee (connect
    failed, or it was turned away by throttling); only then may a write be sent again.
    """

    transient = True

    def __init__(self, message: str, *, service: str = "", form_id: str = "", reached_server: bool = True) -> None:
        super().__init__(message, service=service, form_id=form_id)
        self.reached_server = reached_server


class ServerError(TransientError):
    """HTTP 5xx from the server or a gateway in front of it."""

    def __init__(self, message: str, *, service: str = "", form_id: str = "",
                 status: int = 0, retry_after_s: float | None = None) -> None:
        super().__init__(message, service=service, form_id=form_id)
        self.status = status
        self.retry_after_s = retry_after_s


class ThrottledError(ServerError):
    """HTTP 429 (or 503 with Retry-After): the server asks us to slow down.

    Throttling turns a request away before it runs, so even a write may be sent again.
    """

    def __init__(self, message: str, **kwargs) -> None:
        super().__init__(message, **kwargs)
        self.reached_server = False


class RetriesExhaustedError(KingdeeError):
    """Transient failures persisted past the retry budget; names attempts, wait and last cause."""

    def __init__(self, message: str, *, service: str = "", form_id: str = "",
                 attempts: int = 0, waited_s: float = 0.0, last_error: KingdeeError | None = None) -> None:
        super().__init__(message, service=service, form_id=form_id)
        self.attempts = attempts
        self.waited_s = waited_s
        self.last_error = last_error
