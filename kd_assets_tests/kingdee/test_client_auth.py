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
    with pytest.raises(AuthError, match="authentication failed: Kingdee reports the session lost again"):
        client.execute_bill_query(FORM, ["FCUSTID"], limit=1)
    assert client.stats.relogins == 1


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("lcid", [9999, 1033])  # not a Kingdee language; not installed in this data center
def test_wrong_lcid_fails_at_the_first_call_naming_kd_lcid(simulator, make_client, admin, mode, lcid):
    """Names depend on the login's language: a wrong KD_LCID must stop the run, not empty every name."""
    client = make_client(simulator, mode, lcid=lcid)
    with pytest.raises(AuthError, match=f"KD_LCID={lcid} .*language.* (a|the) likely cause") as caught:
        client.execute_bill_query(FORM, ["FCUSTID", "FName"], limit=1)
    assert "authentication failed" in str(caught.value)
    assert client.stats.retries == 0 and client.stats.calls <= 2
    assert admin.state()["rows_served"] == 0


@pytest.mark.parametrize("mode", ["signed", "app_secret"])
def test_wrong_app_secret_reads_as_an_authentication_failure(simulator, make_client, mode):
    client = make_client(simulator, mode, app_secret="wrong-secret-123")
    with pytest.raises(AuthError) as caught:
        client.execute_bill_query(FORM, ["FCUSTID"], limit=1)
    message = str(caught.value)
    assert "authentication failed" in message and "KD_APP_SECRET" in message
    assert "after logging in again" not in message and "wrong-secret-123" not in message


def test_lcid_installed_in_the_data_center_logs_in(simulator_factory, make_client):
    sim = simulator_factory(customers=5, languages="2052,1033")
    for mode in MODES:
        assert len(make_client(sim, mode, lcid=1033).execute_bill_query(FORM, ["FCUSTID"], limit=2)) == 2
