"""Session loss in the shapes real servers and their public clients show (issue 10.3), over HTTP.

Each shape, in each auth mode, costs exactly one re-login and one replay; a second session-lost
answer right after the re-login is an AuthError, never a loop.
"""

import pytest

from kd_assets.kingdee import AuthError

from .conftest import FORM

MODES = ["signed", "app_secret", "password"]
SHAPES = [
    {"kind": "session_lost"},
    {"kind": "session_lost_no_msgcode"},
    {"kind": "session_lost_bare_list"},
    {"kind": "session_lost_padded", "width": 3, "at": 0},
    {"kind": "session_lost_padded", "width": 4, "at": 3},
    {"kind": "session_lost_string_false"},
]
SHAPE_IDS = [f"{s['kind']}{s.get('at', '')}" for s in SHAPES]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("shape", SHAPES, ids=SHAPE_IDS)
def test_each_shape_on_a_query_costs_one_relogin_and_replay(simulator, make_client, admin, mode, shape):
    client = make_client(simulator, mode)
    client.execute_bill_query(FORM, ["FCUSTID"], limit=1)
    logins = admin.state()["logins"]
    admin.script(shape)
    rows = client.execute_bill_query(FORM, ["FCUSTID", "FName"], order_string="FCUSTID ASC", limit=3)
    assert len(rows) == 3 and all(len(r) == 2 and isinstance(r[0], int) for r in rows)
    assert client.stats.relogins == 1
    assert admin.state()["logins"] - logins == (0 if mode == "signed" else 1)  # signed mode has no login call


@pytest.mark.parametrize("mode", ["signed", "password"])
@pytest.mark.parametrize("shape", SHAPES, ids=SHAPE_IDS)
def test_each_shape_on_a_write_is_replayed_once_and_saves_once(simulator, make_client, admin, mode, shape):
    """Kingdee checks the session before it runs anything: a write answered so did not happen."""
    client = make_client(simulator, mode)
    name = f"会话丢失后重放 {shape['kind']} {mode}"
    admin.script(shape)
    client.save(FORM, {"FNumber": f"SL-{mode}-{shape['kind']}"[:30], "FName": name,
                       "FCreateOrgId": {"FNumber": "100"}, "FUseOrgId": {"FNumber": "100"}})
    assert client.stats.relogins == 1
    assert len(client.execute_bill_query(FORM, ["FCUSTID"], f"FName = '{name}'")) == 1


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("shape", SHAPES, ids=SHAPE_IDS)
def test_each_shape_twice_in_a_row_is_an_auth_error_not_a_loop(simulator, make_client, admin, mode, shape):
    client = make_client(simulator, mode)
    client.execute_bill_query(FORM, ["FCUSTID"], limit=1)
    admin.script(shape, shape, {"kind": "session_lost"})
    with pytest.raises(AuthError, match="session lost"):
        client.execute_bill_query(FORM, ["FCUSTID"], limit=1)
    assert client.stats.relogins == 1
    assert admin.state()["faults"]["script"] == [{"kind": "session_lost"}]  # two answers used, no third call
