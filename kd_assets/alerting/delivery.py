"""Posts a rendered payload to the webhook: timeout, small bounded retry, never raises.

An alert is a side effect of a sensor tick; a broken webhook must not break the tick, so every
failure becomes a WARNING on the ``kd_assets.alerts`` logger and a False return. Log lines
and reasons are scrubbed: the webhook URL is itself a credential (DingTalk ``access_token``,
WeCom ``key``, Slack/Feishu path tokens) and so are the signing secret and signature.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time

import requests

from kd_assets.alerting.scrub import redact_url, scrub
from kd_assets.alerting.settings import AlertSettings
from kd_assets.alerting.signing import dingtalk_signed_url, feishu_signed_body

LOGGER_NAME = "kd_assets.alerts"
# Robot error codes that mean "too many messages, try again": DingTalk, WeCom, Feishu.
_RATE_LIMIT_CODES = {130101, 45009, 11232, 9499}
# urllib3 logs request lines, including the query string, at DEBUG on these loggers.
_URLLIB3_LOGGERS = ("urllib3.connectionpool", "urllib3.util.retry", "urllib3.poolmanager")


@dataclasses.dataclass(frozen=True)
class _Attempt:
    ok: bool
    retry: bool
    reason: str


class _ScrubUrllib3(logging.Filter):
    """Scrubs urllib3's own DEBUG lines, which quote the webhook's path and query."""

    def __init__(self) -> None:
        super().__init__()
        # Replaced, never mutated: another thread may be filtering a record meanwhile.
        self.known: tuple[str, ...] = ()

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = scrub(record.getMessage(), self.known), None
        return True


_URLLIB3_FILTER = _ScrubUrllib3()


def _guard_urllib3_logs(known: tuple[str, ...]) -> None:
    # A process-wide, idempotent side effect: with DEBUG logging on (a common way to
    # debug Dagster code) urllib3 would otherwise print the token of every alert sent.
    _URLLIB3_FILTER.known = tuple({*_URLLIB3_FILTER.known, *known})
    for name in _URLLIB3_LOGGERS:
        logger = logging.getLogger(name)
        if _URLLIB3_FILTER not in logger.filters:
            logger.addFilter(_URLLIB3_FILTER)


def signed_request(settings: AlertSettings, payload: dict) -> tuple[str, dict]:
    """URL and body as sent: DingTalk signs the URL, Feishu the body, others go unsigned."""
    url, body = settings.webhook or "", payload
    if settings.secret and settings.format == "dingtalk":
        url = dingtalk_signed_url(url, settings.secret)
    elif settings.secret and settings.format == "feishu":
        body = feishu_signed_body(payload, settings.secret)
    return url, body


def _robot_error(response: requests.Response) -> tuple[int, str] | None:
    """The robot's own error code, for robots that answer HTTP 200 with an error envelope."""
    try:
        answer = response.json()
    except ValueError:
        return None  # Slack answers "ok" as text; a JSON receiver may answer anything
    if not isinstance(answer, dict):
        return None
    for code_key, message_key in (("errcode", "errmsg"), ("code", "msg"), ("StatusCode", "StatusMessage")):
        code = answer.get(code_key)
        if isinstance(code, int) and code != 0:
            return code, str(answer.get(message_key, ""))
    return None


def _post_once(url: str, data: bytes, timeout_s: float) -> _Attempt:
    try:
        # No redirects: following one would re-send the credential-bearing request elsewhere.
        response = requests.post(
            url,
            data=data,
            headers={"Content-Type": "application/json; charset=utf-8"},
            timeout=timeout_s,
            allow_redirects=False,
        )
    except requests.RequestException as exc:
        return _Attempt(False, True, f"{type(exc).__name__}: {exc}")
    except Exception as exc:  # noqa: BLE001 - an alert must never fail the caller's tick
        return _Attempt(False, False, f"{type(exc).__name__}: {exc}")
    if response.status_code == 429 or response.status_code >= 500:
        return _Attempt(False, True, f"HTTP {response.status_code}")
    if not 200 <= response.status_code < 300:
        return _Attempt(False, False, f"HTTP {response.status_code}: {response.text[:200]}")
    error = _robot_error(response)
    if error is not None:
        code, message = error
        return _Attempt(False, code in _RATE_LIMIT_CODES, f"robot error {code}: {message[:200]}")
    return _Attempt(True, False, "")


def deliver(settings: AlertSettings, payload: dict, logger: logging.Logger | None = None) -> bool:
    """POST ``payload`` to ``settings.webhook``; True once the receiver accepted it.

    Retries connection errors, timeouts, HTTP 429/5xx and robot rate limits up to
    ``max_attempts`` times with doubling backoff; anything else fails at once.
    """
    log = logger or logging.getLogger(LOGGER_NAME)
    if not settings.webhook:
        log.warning("alert not delivered: no webhook configured (KD_ALERT_WEBHOOK)")
        return False
    url, body = signed_request(settings, payload)
    # The signed URL's query (timestamp, sign) is new text that must not be logged either. Only
    # the stable secrets go to the process-wide urllib3 filter (per-message signatures would
    # grow it forever); urllib3 lines with a "sign=" are caught by scrub()'s patterns.
    known = (*settings.known_secrets, *url.partition("?")[2].split("&"), url)
    _guard_urllib3_logs(settings.known_secrets)
    data = json.dumps(body, ensure_ascii=False).encode("utf-8")
    attempt = _Attempt(False, True, "not attempted")
    for number in range(1, settings.max_attempts + 1):
        attempt = _post_once(url, data, settings.timeout_s)
        if attempt.ok:
            return True
        if not attempt.retry or number == settings.max_attempts:
            break
        time.sleep(settings.backoff_s * 2 ** (number - 1))  # backoff between tries, bounded
    log.warning(
        "alert not delivered to %s (%s) after %d attempt(s): %s",
        redact_url(settings.webhook), settings.format, number, scrub(attempt.reason, known),
    )
    return False
