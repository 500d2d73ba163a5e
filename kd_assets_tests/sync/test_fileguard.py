"""A server's LOAD DATA LOCAL file request is answered only for the temporary file our own running
load named: a request for any other file (a malicious server's, here a statement naming it) is
refused before a byte of it is read, and the connection stays usable."""

from __future__ import annotations

import os

import pytest
from kd_assets.defs.target_db import MySQLResource
from kd_assets.sync.engine import create_target_engine
from kd_assets.sync.fileguard import FileRequestRefused, GuardedConnection, expect_file, file_request_allowed
from kd_assets_tests.sync.rows import SPEC


@pytest.fixture
def guarded(mysql_url, tmp_path):
    """A raw guarded connection, a table ``t`` to load into, and two files the server could ask for."""
    engine = create_target_engine(mysql_url)
    conn = engine.raw_connection()
    dbapi = conn.dbapi_connection
    assert isinstance(dbapi, GuardedConnection)
    cur = dbapi.cursor()
    cur.execute("CREATE TABLE t (v VARCHAR(100))")
    ours, secret = tmp_path / "ours.tsv", tmp_path / "secret.env"
    ours.write_text("ours\n")
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


def test_the_hook_allows_only_the_expected_file(guarded):
    dbapi, _cur, ours, secret = guarded
    assert not file_request_allowed(dbapi, os.fsencode(ours))  # no load of ours is running
    with expect_file(dbapi, ours):
        assert file_request_allowed(dbapi, os.fsencode(ours))
        for forged in (os.fsencode(secret), b"/etc/passwd", os.fsencode(ours) + b"\0", os.fsencode(ours)[:-1], b""):
            assert not file_request_allowed(dbapi, forged)
    assert not file_request_allowed(dbapi, os.fsencode(ours)) and dbapi._local_infile is False


def test_the_expected_file_is_sent(guarded):
    dbapi, cur, ours, _secret = guarded
    with expect_file(dbapi, ours):
        _load(cur, ours)
    assert _loaded(cur) == ["ours"]


def test_a_request_for_another_file_during_our_load_is_refused(guarded):
    dbapi, cur, ours, secret = guarded
    with expect_file(dbapi, ours), pytest.raises(FileRequestRefused, match="secret.env"):
        _load(cur, secret)
    assert _loaded(cur) == []  # nothing of the file reached the server; the connection still answers


def test_a_request_outside_our_loads_is_refused_even_for_our_file(guarded):
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
