"""A server's LOAD DATA LOCAL file request is answered only for the name our own running load gave,
with the bytes it handed over (no file is opened): a request for any other file (a malicious
server's; here a statement naming it) is refused before a byte of it is read, and the connection
stays usable."""

from __future__ import annotations

import pytest
from kd_assets.defs.target_db import MySQLResource
from kd_assets.sync.engine import create_target_engine
from kd_assets.sync.fileguard import FileRequestRefused, GuardedConnection, file_request_allowed, serve
from kd_assets_tests.sync.rows import SPEC


@pytest.fixture
def guarded(mysql_url, tmp_path):
    """A raw guarded connection, a table ``t`` to load into, and two files the server could ask for:
    the one our load names (on disk too, to show its bytes are not what is sent) and a secret."""
    engine = create_target_engine(mysql_url)
    conn = engine.raw_connection()
    dbapi = conn.dbapi_connection
    assert isinstance(dbapi, GuardedConnection)
    cur = dbapi.cursor()
    cur.execute("CREATE TABLE t (v VARCHAR(100))")
    ours, secret = tmp_path / "ours.tsv", tmp_path / "secret.env"
    ours.write_text("the file on disk\n")
    secret.write_text("KD_APP_SECRET=do-not-send\n")
    yield dbapi, cur, str(ours), str(secret)
    cur.close()
    conn.close()
    engine.dispose()


def _load(cur, path: str) -> None:
    cur.execute(f"LOAD DATA LOCAL INFILE '{path}' INTO TABLE t (v)")


def _loaded(cur) -> list[str]:
    cur.execute("SELECT v FROM t")
    return [r[0] for r in cur.fetchall()]


def test_the_hook_allows_only_the_name_being_served(guarded):
    dbapi, _cur, ours, secret = guarded
    assert not file_request_allowed(dbapi, ours.encode())  # no load of ours is running
    with serve(dbapi, ours, b"ours\n"):
        assert file_request_allowed(dbapi, ours.encode())
        for forged in (secret.encode(), b"/etc/passwd", ours.encode() + b"\0", ours.encode()[:-1], b""):
            assert not file_request_allowed(dbapi, forged)
    assert not file_request_allowed(dbapi, ours.encode()) and dbapi._local_infile is False


def test_the_served_bytes_are_sent_not_the_file(guarded):
    dbapi, cur, ours, _secret = guarded
    with serve(dbapi, ours, b"ours\nsecond\n"):
        _load(cur, ours)
    assert cur.rowcount == 2 and _loaded(cur) == ["ours", "second"]


def test_a_request_for_another_file_during_our_load_is_refused(guarded):
    dbapi, cur, ours, secret = guarded
    with serve(dbapi, ours, b"ours\n"), pytest.raises(FileRequestRefused, match="secret.env"):
        _load(cur, secret)
    assert _loaded(cur) == []  # nothing of the file reached the server; the connection still answers


def test_a_request_outside_our_loads_is_refused_even_for_our_name(guarded):
    _dbapi, cur, ours, secret = guarded
    for path in (secret, ours):
        with pytest.raises(FileRequestRefused):
            _load(cur, path)
    assert _loaded(cur) == []


def test_the_setting_turns_the_load_path_off(mysql_url):
    on = MySQLResource.from_env({}, url=mysql_url)
    off = MySQLResource.from_env({"KD_MYSQL_LOAD_FILE": "0"}, url=mysql_url)
    assert on.load_file is True and off.load_file is False
    for resource in (on, off):
        assert resource.store(SPEC).load_file is resource.load_file
        with resource.engine().connect() as conn:
            assert isinstance(conn.connection.dbapi_connection, GuardedConnection) is resource.load_file
        resource.teardown_after_execution(None)
