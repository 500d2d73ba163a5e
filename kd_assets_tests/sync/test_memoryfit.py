"""The tables' size against the InnoDB buffer pool: read from the server, scoped to the target's
own database (whose total is what the pool must hold), a warning in the run's log only when the
database is the larger, and a read that fails after publishing is logged (without the password),
never raised."""

from __future__ import annotations

import uuid

import dagster as dg
import pytest
import sqlalchemy as sa

from kd_assets.defs.assets import _memory_fit
from kd_assets.defs.target_db import MySQLResource
from kd_assets.sync import TargetStore
from kd_assets.sync.memoryfit import MIB, MemoryFit, memory_fit
from kd_assets_tests.defs.forms import SPEC
from kd_assets_tests.fixtures.database import MYSQL_SERVER


def _wide_table(md: sa.MetaData) -> sa.Table:
    return sa.Table("wide", md, sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
                    sa.Column("body", sa.String(250)))


def test_the_sizes_are_the_servers_and_only_the_target_databases_tables_count(mysql_url, mysql_server):
    table = _wide_table(sa.MetaData())
    loaded = sa.create_engine(mysql_url)
    other = f"kdt_{uuid.uuid4().hex[:12]}"
    with mysql_server.connect() as conn:
        conn.execute(sa.text(f"CREATE DATABASE `{other}`"))
    empty = sa.create_engine(f"{MYSQL_SERVER}/{other}")
    try:
        table.create(loaded)
        table.create(empty)
        with loaded.begin() as conn:
            conn.execute(table.insert(), [{"id": i, "body": "x" * 250} for i in range(20_000)])
            conn.exec_driver_sql("ANALYZE TABLE wide")
        with loaded.connect() as conn:
            pool = conn.exec_driver_sql("SELECT @@innodb_buffer_pool_size").scalar_one()
        sa.Table("other_form", sa.MetaData(), sa.Column("id", sa.Integer, primary_key=True)).create(loaded)
        fit, bare = memory_fit(loaded, [table]), memory_fit(empty, [table])
        assert fit.tables == ("wide",)
        assert fit.buffer_pool_mib == int(pool) / MIB
        assert fit.tables_mib >= 20_000 * 250 / MIB  # at least the bytes written
        assert bare.tables_mib < 1 < fit.tables_mib  # the same name in another database is not counted
        # the pool is shared by every form: the database's total counts the other tables too
        assert fit.database_mib > fit.tables_mib and bare.database_mib < 1
    finally:
        loaded.dispose()
        empty.dispose()
        with mysql_server.connect() as conn:
            conn.execute(sa.text(f"DROP DATABASE IF EXISTS `{other}`"))


def test_there_is_no_buffer_pool_to_fit_on_sqlite(sqlite_url):
    engine = sa.create_engine(sqlite_url)
    assert memory_fit(engine, [_wide_table(sa.MetaData())]) is None
    engine.dispose()


@pytest.mark.parametrize("database_mib, pool_mib, fits", [(300.0, 128.0, False), (128.0, 128.0, True),
                                                          (90.5, 128.0, True)])
def test_the_warning_names_the_sizes_and_the_remedy_only_when_the_database_outgrows_the_pool(database_mib, pool_mib,
                                                                                             fits, capfd):
    fit = MemoryFit(("bd_customer", "bd_customer_clean"), 80.0, database_mib, pool_mib)
    assert fit.fits is fits
    metadata = {"tables_mib": 80.0, "database_mib": round(database_mib, 1), "buffer_pool_mib": pool_mib}
    assert fit.report(dg.build_asset_context().log) == metadata
    logged = [line for line in capfd.readouterr().err.splitlines() if "WARNING" in line]
    if fits:
        assert fit.warning() is None and logged == []
    else:
        assert fit.warning() == ("the target database's tables take 300 MiB (bd_customer, bd_customer_clean: 80 MiB), "
                                 "more than its InnoDB buffer pool (128 MiB): incremental runs read their rows "
                                 "from disk and slow down; raise innodb_buffer_pool_size (README, \"Sizing the "
                                 "target database\")")
        assert len(logged) == 1 and logged[0].endswith(fit.warning())


def test_a_refused_read_of_the_sizes_is_logged_without_the_password_and_fails_nothing(capfd):
    unreachable = MySQLResource(url="mysql+pymysql://kd_sync:s3cret-pw@127.0.0.1:1/kd")  # nothing listens on 1
    store = TargetStore(sa.create_engine("sqlite://"), SPEC)
    assert _memory_fit(dg.build_asset_context(), unreachable, store) == {}
    err = capfd.readouterr().err  # the run's log (Dagster's handler writes to stderr)
    logged = [line for line in err.splitlines() if "could not read the table sizes" in line]
    assert len(logged) == 1 and "WARNING" in logged[0] and "OperationalError" in logged[0]
    assert "s3cret-pw" not in err
