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
