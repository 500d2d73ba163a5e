"""Kingdee's response envelopes: `{"Result":{"ResponseStatus":{...}}}` for success and errors.

ExecuteBillQuery wraps an error envelope in `[[...]]`; the other services return it bare.
"""

from __future__ import annotations

from typing import Any

from kd_assets.kingdee.protocol import MSG_SESSION_LOST, SESSION_LOST_MESSAGE


class KingdeeError(Exception):
    """A business error answered with IsSuccess false; the message names the field or record."""

    def __init__(self, msg_code: int, message: str, field_name: str | None = None) -> None:
        super().__init__(message)
        self.msg_code = msg_code
        self.message = message
        self.field_name = field_name


def response_status(*, errors: list[dict] | None = None, successes: list[dict] | None = None,
                    msg_code: int = 0) -> dict[str, Any]:
    errors = errors or []
    status: dict[str, Any] = {"IsSuccess": not errors, "Errors": errors,
                              "SuccessEntitys": successes or [], "SuccessMessages": [],
                              "MsgCode": msg_code}
    if errors:
        status = {"ErrorCode": 500, **status}
    return status


def error_item(message: str, field_name: str | None = None, index: int = 0) -> dict[str, Any]:
    return {"FieldName": field_name, "Message": message, "DIndex": index}


def error_envelope(error: KingdeeError) -> dict[str, Any]:
    item = error_item(error.message, error.field_name)
    return {"Result": {"ResponseStatus": response_status(errors=[item], msg_code=error.msg_code)}}


def session_lost_error() -> KingdeeError:
    return KingdeeError(MSG_SESSION_LOST, SESSION_LOST_MESSAGE)


# The shapes public clients written against real servers recognise as "session lost" (issue 10.3).
SESSION_LOST_SHAPES = ("session_lost", "session_lost_no_msgcode", "session_lost_bare_list", "session_lost_padded",
                       "session_lost_string_false")


def session_lost_answer(shape: str, service_wraps_rows: bool, params: dict | None = None) -> Any:
    """The session-lost answer in one of :data:`SESSION_LOST_SHAPES`.

    ``service_wraps_rows``: ExecuteBillQuery, which puts an error envelope in a row (``[[...]]``).
    ``session_lost_padded`` pads that row with nulls (``width`` cells, the envelope at ``at``);
    other services get the envelope first in a null-padded list.
    """
    params = params or {}
    item = error_item(SESSION_LOST_MESSAGE)
    if shape == "session_lost_bare_list":
        return [item]
    status = response_status(errors=[item], msg_code=MSG_SESSION_LOST)
    if shape == "session_lost_no_msgcode":
        del status["MsgCode"]
    elif shape == "session_lost_string_false":
        status.update(IsSuccess="false", MsgCode=str(MSG_SESSION_LOST))
    envelope = {"Result": {"ResponseStatus": status}}
    if shape == "session_lost_padded":
        width = int(params.get("width", 3))
        row: list[Any] = [None] * max(width, 1)
        row[int(params.get("at", 0)) % len(row)] = envelope
        return [row] if service_wraps_rows else row
    return [[envelope]] if service_wraps_rows else envelope


def entity(custid: int, number: str, index: int = 0) -> dict[str, Any]:
    return {"Id": custid, "Number": number, "DIndex": index}


def operation_result(successes: list[dict], errors: list[dict],
                     msg_code: int = 0) -> dict[str, Any]:
    """Result of a write: one SuccessEntity per record done, one Error per record refused."""
    result: dict[str, Any] = {"ResponseStatus": response_status(
        errors=errors, successes=successes, msg_code=msg_code if errors else 0)}
    if len(successes) == 1:
        result.update(Id=successes[0]["Id"], Number=successes[0]["Number"])
    return {"Result": result}
