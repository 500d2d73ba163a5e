"""Every call is logged once, and no secret or session id reaches logs, errors or metadata."""

import datetime as dt
import logging

import pytest

from kd_assets.kingdee import KingdeeError, Window
from kd_assets.sync.spec import load_spec

from .conftest import APP_SECRET, FORM, PASSWORD

LOGGER = "kd_assets.kingdee"
ALL_TIME = Window(dt.datetime(1990, 1, 1), dt.datetime(2100, 1, 1))
SPEC = load_spec("bd_customer")
SCAN = {"key_field": SPEC.key_field, "change_fields": SPEC.change_time_fields}


def _record_session_ids(client, sink):
    """Collect every session id the server hands out (observed with a requests response hook)."""
    def hook(response, *args, **kwargs):
        sink.update(v for v in response.cookies.values() if len(v) >= 8)
        try:
            body = response.json()
        except ValueError:
            return
        if isinstance(body, dict) and body.get("KDSVCSessionId"):
            sink.add(body["KDSVCSessionId"])
    client._http.hooks["response"].append(hook)


def test_successful_calls_are_logged_once_at_info_with_their_context(simulator, client, caplog):
    caplog.set_level(logging.INFO, logger=LOGGER)
    client.execute_bill_query(FORM, ["FCUSTID"], "FNumber like 'C%'", "FCUSTID ASC", limit=2, page_key=7)
    [record] = [r for r in caplog.records if r.name == LOGGER]
    message = record.getMessage()
    assert record.levelno == logging.INFO
    for part in ("ExecuteBillQuery", f"form={FORM}", "filter=FNumber like 'C%'", "page_key=7", "rows=2",
                 "attempt=1", "ms="):
        assert part in message


def test_no_secret_or_session_id_in_logs_errors_or_metadata(simulator, make_client, admin, caplog):
    caplog.set_level(logging.DEBUG)
    session_ids, errors, metadata = set(), [], []
    for mode in ("signed", "app_secret", "password"):
        client = make_client(simulator, mode)
        _record_session_ids(client, session_ids)
        client.execute_bill_query(FORM, ["FCUSTID"], limit=1)
        admin.script("session_lost", "http_429", "http_502", "response_error")
        for _ in range(2):
            try:
                list(client.iter_window(FORM, ["FCUSTID", "FName"], ALL_TIME, page_size=100, **SCAN))
            except KingdeeError as error:
                errors.append(str(error))
        metadata.append(client.stats.as_metadata())
    for bad in ({"password": "wrong-" + PASSWORD}, {"app_secret": "wrong-" + APP_SECRET}):
        client = make_client(simulator, "password" if "password" in bad else "app_secret", **bad)
        with pytest.raises(KingdeeError) as caught:
            client.execute_bill_query(FORM, ["FCUSTID"], limit=1)
        errors.append(str(caught.value))
    assert session_ids, "the run should have produced sessions to look for"
    assert errors, "the run should have produced failures"
    texts = [r.getMessage() for r in caplog.records] + [r.exc_text or "" for r in caplog.records]
    texts += errors + [repr(m) for m in metadata]
    secrets = {PASSWORD, APP_SECRET, *session_ids}
    leaks = [(secret, text) for text in texts for secret in secrets if secret in text]
    assert not leaks
    assert all(isinstance(v, (int, float)) for m in metadata for v in m.values())

