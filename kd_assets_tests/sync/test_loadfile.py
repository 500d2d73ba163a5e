"""The LOAD DATA LOCAL INFILE write path (straight into new key ranges, else through a temporary
table) and its multi-row fallback give the same tables, guards intact under a concurrent writer."""

from __future__ import annotations

import logging

import pandas as pd
import pytest
import sqlalchemy as sa

from pymysql.connections import Connection

from kd_assets.sync import loadfile
from kd_assets.sync.bulk import upsert_frame
from kd_assets.sync.fileguard import GuardedConnection
from kd_assets.sync.loadfile import LoadDataError, load_file_available, tsv_column
from kd_assets.sync.sqltext import sql_literals, sql_values_rows
from kd_assets.sync.tsv import tsv_bytes, tsv_values_sql
from kd_assets.sync.schemas import validate
from kd_assets.sync.store import TargetStore, create_target_engine
from kd_assets.sync.transform import to_frame
from kd_assets_tests.sync.rows import SPEC, kd_row
from kd_assets_tests.sync.test_target_grants import GRANTS, user_with  # noqa: F401 (a fixture)

NOW = pd.Timestamp("2030-01-01")
TRICKY = ["tab\there", "new\nline", "cr\rreturn", "back\\slash", "\\N", "NULL", "O'Hara \"q\"",
          "中文 ✓", "nul\0byte", "\x01marker", "\x02marker", "trailing\\", "  "]
PLAIN_TRICKY = [t for t in TRICKY if "\x01" not in t and "\x02" not in t]  # the joined fast path


def _store(url: str, load_file: bool) -> TargetStore:
    store = TargetStore(create_target_engine(url, load_file=load_file), SPEC, load_file=load_file)
    store.ensure_tables()
    return store


@pytest.fixture
def stores(mysql_server, mysql_url, local_infile_on):
    """The same spec in two MariaDB databases: one per write path."""
    other = mysql_url.replace("/kdt_", "/kdt_b_")
    name = sa.engine.make_url(other).database
    with mysql_server.connect() as conn:
        conn.execute(sa.text(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"))
    fast, slow = _store(mysql_url, True), _store(other, False)
    yield fast, slow
    fast.engine.dispose()
    slow.engine.dispose()
    with mysql_server.connect() as conn:
        conn.execute(sa.text(f"DROP DATABASE IF EXISTS `{name}`"))


SPEC_COLUMNS = [c.name for c in SPEC.columns]


def _table(store: TargetStore, table: sa.Table, drop=("fetched_at", "cleaned_at")) -> list[tuple]:
    cols = [c for c in table.columns if c.name not in drop]
    with store.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.select(*cols).order_by(*table.primary_key.columns))]


def _rows(n: int, modified: str = "2024-05-07T10:00:00", **columns) -> list[list]:
    return [kd_row(i, customer_name=TRICKY[i % len(TRICKY)] + f" #{i}", address=PLAIN_TRICKY[i % len(PLAIN_TRICKY)],
                   short_name=None if i % 4 == 0 else "" if i % 4 == 1 else TRICKY[i % len(TRICKY)],
                   registered_capital=[1234.5, "99.99", None][i % 3], modified_at=modified, **columns)
            for i in range(1, n + 1)]


@pytest.fixture
def local_infile_on(mysql_server):
    """The server allows LOAD DATA LOCAL for this test (MariaDB's default; MySQL 8's is OFF)."""
    with mysql_server.connect() as conn:
        was = conn.exec_driver_sql("SELECT @@GLOBAL.local_infile").scalar()
        conn.exec_driver_sql("SET GLOBAL local_infile = 1")
    yield
    with mysql_server.connect() as conn:
        conn.exec_driver_sql(f"SET GLOBAL local_infile = {int(bool(was))}")


def test_the_load_path_is_available_on_this_server_and_said_once(mysql_url, local_infile_on, caplog):
    store = _store(mysql_url, True)
    with store.engine.connect() as conn:
        with caplog.at_level(logging.INFO, logger="kd_assets.sync.loadfile"):
            assert load_file_available(conn) and load_file_available(conn)
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1 and "LOAD DATA LOCAL INFILE" in lines[0]
    store.engine.dispose()


def test_fallback_on_an_engine_without_the_capability_and_no_password_in_the_log(mysql_url, caplog):
    engine = sa.create_engine(mysql_url)  # not create_target_engine: plain PyMySQL connections
    with engine.connect() as conn, caplog.at_level(logging.INFO, logger="kd_assets.sync.loadfile"):
        assert not load_file_available(conn)
    assert "multi-row INSERT" in caplog.text and "load_file=False" in caplog.text
    store = TargetStore(engine, SPEC)
    store.ensure_tables()
    assert store.land_rows(_rows(5), "run-1", None).landed == 5
    engine.dispose()
    secret = sa.create_engine("mysql+pymysql://kd:s3cr3t-pw@db.example:3306/kd")
    assert "s3cr3t" not in loadfile._where(secret)


class _WithoutLocalFiles(GuardedConnection):
    """A guarded connection that does not advertise LOCAL_FILES: the server refuses every LOAD DATA
    LOCAL as a server with local_infile turned OFF does (the global is not ours to change)."""

    def __init__(self, *args, **kwargs):
        Connection.__init__(self, *args, **{**kwargs, "local_infile": False})


def test_a_server_refusing_the_load_after_the_probe_means_multi_row_insert(mysql_url, caplog):
    engine = sa.create_engine(mysql_url)
    sa.event.listen(engine, "do_connect", lambda _d, _r, cargs, cparams: _WithoutLocalFiles(*cargs, **cparams))
    store = TargetStore(engine, SPEC)
    store.ensure_tables()
    with caplog.at_level(logging.INFO, logger="kd_assets.sync.loadfile"):
        for run in ("r1", "r2"):  # new keys (straight in), then stored ones (guarded)
            assert store.land_rows(_rows(5, phone=run), run, None).landed == 5
        result = validate(SPEC, to_frame(SPEC, _rows(5)), now=NOW)
        assert store.write_clean(result.clean, "r1", None) == len(result.clean)
    assert caplog.text.count("the server refused LOAD DATA LOCAL") == 1
    landed = {r[0]: r for chunk in store.iter_landed(None, pd.Timestamp("2030-01-01")) for r in chunk}
    phone = SPEC.field_keys.index(next(c.field for c in SPEC.columns if c.name == "phone"))
    assert {r[phone] for r in landed.values()} == {"r2"} and len(landed) == 5
    assert len(_table(store, store.tables.clean)) == len(result.clean)
    with store.engine.connect() as conn:
        assert not load_file_available(conn)
    store.engine.dispose()


def test_both_paths_land_and_clean_identically_with_guards(stores, monkeypatch):
    monkeypatch.setattr(loadfile, "LOAD_BATCH_ROWS", 7)  # several batches per call
    fast, slow = stores
    first = _rows(40)
    newer = _rows(20, modified="2024-05-07T11:00:00", phone="new")        # keys 1..20 newer
    older = _rows(30, modified="2024-05-07T09:00:00", phone="old")        # must not overwrite
    same_time = _rows(30, phone="same-time")[20:]                         # keys 21..30, equal time: wins
    for store in stores:
        for batch, run in ((first, "r1"), (newer, "r2"), (older, "r3"), (same_time, "r4"), (first, "r5")):
            counts = store.land_rows(batch, run, "p")
            assert counts.landed == len(batch)
            result = validate(SPEC, to_frame(SPEC, batch), now=NOW)
            assert store.write_clean(result.clean, run, "p") == len(result.clean)
            store.quarantine(result.rejects, run, "p")
    for table in (fast.tables.landing, fast.tables.clean, fast.tables.quarantine):
        assert _table(fast, table, drop=("fetched_at", "cleaned_at", "quarantined_at")) == \
            _table(slow, table, drop=("fetched_at", "cleaned_at", "quarantined_at"))
    landed = {r[0]: r for chunk in fast.iter_landed(pd.Timestamp("2024-05-07"), pd.Timestamp("2024-05-08"))
              for r in chunk}
    phone = SPEC.field_keys.index(next(c.field for c in SPEC.columns if c.name == "phone"))
    assert landed[5][phone] == "new" and landed[25][phone] == "0591-1234567"
    assert landed[3] == newer[2]  # text round-trips exactly (tabs, newlines, backslashes, \N …)
    assert landed[33] == first[32]


def test_repeated_keys_in_one_call_keep_the_multi_row_semantics(stores):
    rows = [kd_row(1, phone="a", modified_at="2024-05-07T10:00:00"),
            kd_row(1, phone="b", modified_at="2024-05-07T09:00:00"),   # older: ignored
            kd_row(1, phone="c", modified_at="2024-05-07T10:00:00"),   # same time: wins
            kd_row(2)]
    for store in stores:
        store.land_rows(rows, "r1", None)
    fast, slow = stores
    assert _table(fast, fast.tables.landing) == _table(slow, slow.tables.landing)
    for store in stores:
        landed = [r for chunk in store.iter_landed(pd.Timestamp("2024-05-07"), pd.Timestamp("2024-05-08"))
                  for r in chunk]
        assert landed == [rows[2], rows[3]]


def _session_counts(conn: sa.Connection) -> dict[str, int]:
    rows = conn.exec_driver_sql("SHOW SESSION STATUS WHERE Variable_name IN "
                                "('Com_load', 'Com_insert_select', 'Com_insert')").all()
    return {name.removeprefix("Com_"): int(value) for name, value in rows}


def _clean_rows(store, rows, run="r1"):
    out = validate(SPEC, to_frame(SPEC, rows), now=NOW).clean
    out = store._spec_frame(out)
    out["row_hash"], out["run_id"], out["partition_key"], out["cleaned_at"] = 1, run, None, NOW
    return out


def test_new_key_ranges_load_straight_into_the_table_stored_ones_through_the_guard(mysql_url, local_infile_on,
                                                                                monkeypatch):
    monkeypatch.setattr(loadfile, "LOAD_BATCH_ROWS", 10)
    store, t = _store(mysql_url, True), None
    t = store.tables.clean

    def write(rows, run):
        frame = _clean_rows(store, rows, run)
        with store.engine.begin() as conn:
            before = _session_counts(conn)
            upsert_frame(conn, t, store.tables.kinds, frame, list(frame.columns), guard="change_time", load_file=True)
            after = _session_counts(conn)
        return {k: after[k] - before[k] for k in after}

    # 30 new keys: three loads straight into the table, no INSERT … SELECT.
    assert write(_rows(30), "r1") == {"load": 3, "insert_select": 0, "insert": 0}
    # Keys 21..40: the batch 21..30 meets stored keys (guarded), 31..40 is a new range (straight).
    newer = _rows(40, modified="2024-05-07T11:00:00", phone="newer")[20:]
    assert write(newer, "r2") == {"load": 2, "insert_select": 1, "insert": 0}
    older = _rows(40, modified="2024-05-07T09:00:00", phone="older")
    assert write(older, "r3") == {"load": 4, "insert_select": 4, "insert": 0}
    phones = {r[0]: r[SPEC_COLUMNS.index("phone")] for r in _table(store, t)}
    assert len(phones) == 40 and {phones[k] for k in range(21, 41)} == {"newer"}
    assert {phones[k] for k in range(1, 21)} == {"0591-1234567"}  # never older over newer
    store.engine.dispose()


@pytest.mark.parametrize("concurrent_time, winner", [("2024-05-07T12:00:00", "concurrent"),
                                                      ("2024-05-07T08:00:00", "ours")])
def test_a_concurrent_write_into_a_new_range_falls_back_to_the_guard(mysql_url, local_infile_on, monkeypatch,
                                                                     concurrent_time, winner):
    """Another connection commits key 3 after the range probe found 1..5 empty: our LOAD skips that
    duplicate with a warning, the batch is rolled back to its savepoint and the guarded path keeps
    the newer of the two versions."""
    store, other = _store(mysql_url, True), _store(mysql_url, False)
    probe = loadfile.FileLoader._range_empty

    def concurrent_run_commits_after_the_probe(self, cursor, enc):
        empty = probe(self, cursor, enc)
        if empty and not _table(other, other.tables.landing):
            other.land_rows([kd_row(3, phone="concurrent", modified_at=concurrent_time)], "run-concurrent", None)
        return empty

    monkeypatch.setattr(loadfile.FileLoader, "_range_empty", concurrent_run_commits_after_the_probe)
    assert store.land_rows(_rows(5), "run-ours", None).landed == 5
    landed = {r[0]: r for chunk in store.iter_landed(None, pd.Timestamp("2030-01-01")) for r in chunk}
    phone = SPEC.field_keys.index(next(c.field for c in SPEC.columns if c.name == "phone"))
    assert sorted(landed) == [1, 2, 3, 4, 5]
    assert landed[3][phone] == ("concurrent" if winner == "concurrent" else "0591-1234567")
    assert {landed[k][phone] for k in (1, 2, 4, 5)} == {"0591-1234567"}
    store.engine.dispose()
    other.engine.dispose()


def test_without_the_temporary_tables_grant_stored_ranges_take_the_multi_row_insert(user_with, local_infile_on,
                                                                                   caplog):
    store = _store(user_with(GRANTS), True)  # the README's grants: no CREATE TEMPORARY TABLES
    with caplog.at_level(logging.INFO, logger="kd_assets.sync.loadfile"):
        store.land_rows(_rows(5), "r1", None)                                     # straight in
        for run in ("r2", "r3"):
            store.land_rows(_rows(5, modified="2024-05-07T11:00:00", phone=run), run, None)  # guarded
    assert caplog.text.count("no CREATE TEMPORARY TABLES grant") == 1
    landed = {r[0]: r for chunk in store.iter_landed(None, pd.Timestamp("2030-01-01")) for r in chunk}
    phone = SPEC.field_keys.index(next(c.field for c in SPEC.columns if c.name == "phone"))
    assert {r[phone] for r in landed.values()} == {"r3"} and len(landed) == 5
    store.engine.dispose()


@pytest.mark.parametrize("table", ["quarantine", "clean"])
def test_a_value_the_server_would_truncate_fails_instead_of_loading_quietly(mysql_url, local_infile_on, table):
    """Through the temporary table (quarantine: text keys) and straight into a new range (clean)."""
    store = _store(mysql_url, True)
    if table == "quarantine":
        t = store.tables.quarantine
        frame = pd.DataFrame({"record_key": ["x" * 100], "partition_key": [""], "run_id": ["r"],
                              "change_time": [pd.NaT], "reasons": ["[]"], "payload": [None],
                              "quarantined_at": [NOW]})
    else:
        t = store.tables.clean
        frame = _clean_rows(store, _rows(3))
        frame["run_id"] = "r" * 200
    with pytest.raises(LoadDataError), store.engine.begin() as conn:
        assert load_file_available(conn)
        upsert_frame(conn, t, store.tables.kinds, frame, list(frame.columns), guard="change_time", load_file=True)
    assert _table(store, t) == []
    store.engine.dispose()


def test_tsv_escapes_round_trip_markers_and_nulls():
    assert tsv_column(pd.Series(["a\tb", None, "\\N", "x\ny"]), ("text", 0)) == \
        ["a\\tb", "\\N", "\\\\N", "x\\ny"]
    assert tsv_column(pd.Series(["\x01", None]), ("text", 0)) == ["\x01", "\\N"]
    assert tsv_column(pd.Series([1.25, None]), ("decimal", 2)) == ["1.25", "\\N"]
    assert tsv_column(pd.array([True, None], dtype="boolean"), ("bool", 0)) == ["1", "\\N"]
    assert tsv_column(pd.Series([pd.Timestamp("2024-05-07 10:00:00.123"), pd.NaT]), ("datetime", 0)) == \
        ["2024-05-07 10:00:00.123000", "\\N"]


def test_a_chunk_encoded_before_the_probe_said_no_is_staged_from_its_bytes(stores, mysql_url):
    """The first clean chunk is encoded while the engine's LOAD DATA is still unknown; when the probe
    then says no (here: connections made without LOCAL), the chunk goes in as multi-row INSERTs of
    its own bytes and stages exactly what the multi-row path stages."""
    fast, slow = stores
    engine = create_target_engine(mysql_url, load_file=False)  # plain connections: the probe says no
    probing = TargetStore(engine, SPEC, load_file=True)
    for store in (probing, slow):
        result = validate(SPEC, to_frame(SPEC, _rows(40)), now=NOW)
        prepared = store.prepare_clean(result.clean, "r1", "p")
        assert (prepared.encoded is not None) == (store is probing)
        assert store.write_prepared_clean(prepared) == len(result.clean)
    with engine.connect() as conn:
        assert not load_file_available(conn)
    assert _table(probing, probing.tables.clean, drop=("cleaned_at",)) == \
        _table(slow, slow.tables.clean, drop=("cleaned_at",))
    engine.dispose()


def test_the_multi_row_statement_of_a_batch_s_bytes_stores_what_its_literals_store(mysql_server, mysql_url):
    """A batch encoded for LOAD DATA and then sent as a multi-row INSERT (``tsv_values_sql``: no
    temporary-table grant, or the server refused the load) stores exactly what the statement made
    from the frame's own literals stores: extreme integers, decimals, datetimes, every escape, NULLs."""
    kinds = {"k": ("int", 0), "n": ("int", 0), "d": ("decimal", 4), "b": ("bool", 0), "t": ("datetime", 0),
             "s": ("text", 0)}
    texts = TRICKY + ["q'\\N'", "'\\N'", "\\", "'", "x\x1ay", None]
    frame = pd.DataFrame({
        "k": range(len(texts)),
        "n": pd.array([2**63 - 1, -2**63, 0, None, 2**53 + 1] + [7] * (len(texts) - 5), dtype="Int64"),
        "d": [1234.5, None, -0.0001, 99999999.9999] + [1.0] * (len(texts) - 4),
        "b": pd.array([True, False, None] + [True] * (len(texts) - 3), dtype="boolean"),
        "t": [pd.Timestamp("2024-05-07 10:00:00.123456"), pd.NaT, pd.Timestamp("1970-01-01")]
             + [pd.Timestamp("2199-12-31 23:59:59")] * (len(texts) - 3),
        "s": texts,
    })
    columns = list(kinds)
    engine = sa.create_engine(mysql_url)
    stored = []
    for name, values in (("from_bytes", tsv_values_sql(tsv_bytes(kinds, frame, columns))),
                         ("from_literals", ",".join(sql_values_rows([sql_literals(frame[c], kinds[c]) for c in columns])))):
        with engine.begin() as conn:
            conn.exec_driver_sql(f"CREATE TABLE {name} (k INT PRIMARY KEY, n BIGINT, d DECIMAL(23,4), b BOOLEAN,"
                                 f" t DATETIME(6), s TEXT) CHARACTER SET utf8mb4")
            conn.exec_driver_sql(f"INSERT INTO {name} (k, n, d, b, t, s) VALUES {values}")
            stored.append(conn.exec_driver_sql(f"SELECT n, d, b, t, s FROM {name} ORDER BY k").all())
    engine.dispose()
    assert stored[0] == stored[1]
    assert stored[0][0][0] == 2**63 - 1 and stored[0][1][0] == -2**63 and stored[0][3][0] is None
    assert [row[4] for row in stored[0]] == texts


def test_sqlite_ignores_the_flag(sqlite_url):
    store = _store(sqlite_url, True)
    assert store.land_rows(_rows(12), "r1", None).landed == 12
    result = validate(SPEC, to_frame(SPEC, _rows(12)), now=NOW)
    assert store.write_clean(result.clean, "r1", None) == len(result.clean)
    store.engine.dispose()


def test_rows_from_payloads_equals_row_by_row_decoding():
    from kd_assets.sync.landing import rows_from_payloads
    from kd_assets.sync.transform import payload_json, row_from_payload
    payloads = [payload_json(SPEC, r) for r in _rows(9)] + ['{"FCUSTID": 7}', "{}"]
    assert rows_from_payloads(SPEC, payloads) == [row_from_payload(SPEC, p) for p in payloads]
    assert rows_from_payloads(SPEC, []) == []
