"""Each auth mode against the simulator; sessions are reused, and lost sessions are recovered once."""

import pytest

from kd_assets.kingdee import AuthError

from .conftest import FORM

MODES = ["signed", "app_secret", "password"]


@pytest.mark.parametrize("mode", MODES)
def test_each_auth_mode_can_query(simulator, make_client, mode):
    client = make_client(simulator, mode)
    rows = client.execute_bill_query(FORM, ["FCUSTID", "FNumber"], order_string="FCUSTID ASC", limit=5)
    assert len(rows) == 5 and all(isinstance(r[0], int) for r in rows)


@pytest.mark.parametrize("mode", ["app_secret", "password"])
def test_login_modes_log_in_once_and_reuse_the_session(simulator, make_client, mode):
    client = make_client(simulator, mode)
    for _ in range(3):
        client.execute_bill_query(FORM, ["FCUSTID"], limit=1)
    assert client.stats.calls == 4  # one login, three queries
    assert client.stats.relogins == 0


@pytest.mark.parametrize("mode, bad", [
    ("password", {"password": "wrong-pass-123"}),
    ("app_secret", {"app_secret": "wrong-secret-123"}),
    ("signed", {"app_secret": "wrong-secret-123"}),
    ("signed", {"username": "nobody"}),
])
def test_bad_credentials_fail_at_once_with_an_auth_error(simulator, make_client, mode, bad):
    client = make_client(simulator, mode, **bad)
    with pytest.raises(AuthError) as caught:
        client.execute_bill_query(FORM, ["FCUSTID"], limit=1)
    assert client.stats.retries == 0
    for secret in bad.values():
        if "wrong" in secret:
            assert secret not in str(caught.value)


@pytest.mark.parametrize("mode", MODES)
def test_unknown_data_center_is_an_auth_error(simulator, make_client, mode):
    client = make_client(simulator, mode, acct_id="no-such-acct")
    with pytest.raises(AuthError):
        client.execute_bill_query(FORM, ["FCUSTID"], limit=1)
    assert client.stats.retries == 0


@pytest.mark.parametrize("mode", MODES)
def test_session_lost_is_recovered_by_one_relogin_and_replay(simulator, make_client, admin, mode):
    client = make_client(simulator, mode)
    client.execute_bill_query(FORM, ["FCUSTID"], limit=1)
    admin.script("session_lost")
    rows = client.execute_bill_query(FORM, ["FCUSTID"], order_string="FCUSTID ASC", limit=3)
    assert len(rows) == 3
    assert client.stats.relogins == 1


@pytest.mark.parametrize("mode", ["app_secret", "password"])
def test_session_expiry_on_the_server_clock_triggers_relogin(simulator, make_client, admin, mode):
    admin.faults(session_ttl=60)
    client = make_client(simulator, mode)
    client.execute_bill_query(FORM, ["FCUSTID"], limit=1)
    admin.clock(advance_seconds=3600)
    assert len(client.execute_bill_query(FORM, ["FCUSTID"], limit=2)) == 2
    assert client.stats.relogins == 1


def test_signed_mode_survives_expiry_without_relogin(simulator, make_client, admin):
    """Signed headers re-authenticate every request, so an expired cookie costs nothing."""
    admin.faults(session_ttl=60)
    client = make_client(simulator, "signed")
    client.execute_bill_query(FORM, ["FCUSTID"], limit=1)
    admin.clock(advance_seconds=3600)
    assert len(client.execute_bill_query(FORM, ["FCUSTID"], limit=2)) == 2


def test_session_lost_twice_in_a_row_is_an_auth_error_not_a_loop(simulator, make_client, admin):
    client = make_client(simulator, "password")
    client.execute_bill_query(FORM, ["FCUSTID"], limit=1)
    admin.script("session_lost", "session_lost")
    with pytest.raises(AuthError, match="still reports the session lost"):
        client.execute_bill_query(FORM, ["FCUSTID"], limit=1)
    assert client.stats.relogins == 1
