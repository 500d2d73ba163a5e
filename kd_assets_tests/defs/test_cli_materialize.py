"""`dagster asset materialize` from the command line, configured only through KD_* variables."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys

import sqlalchemy as sa

from kd_assets_tests.defs.forms import SPEC
from kd_assets_tests.defs.sync_harness import SIM_CREDENTIALS, busiest_day, changed_in, source_rows

SELECTION = "kingdee_customers_raw,kingdee_customers_clean,wk_wodtop_customer"


def _materialize(env: dict[str, str], *partition_args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "dagster", "asset", "materialize", "-m", "kd_assets.definitions",
         "--select", SELECTION, *partition_args],
        # cwd: not the project folder, whose .env (written by `make demo`) Dagster would load.
        env=env, cwd=env["DAGSTER_HOME"], capture_output=True, text=True, timeout=300,
    )


def test_cli_materializes_a_partition_and_a_range_from_kd_env_vars(simulator_factory, mysql_url, tmp_path):
    sim = simulator_factory(customers=1500, seed=5, clock_start="2024-03-01 12:00:00")
    source = source_rows(sim)
    day = busiest_day(source, "2024-02-01", "2024-02-28")
    env = {k: v for k, v in os.environ.items() if not k.startswith("KD_")}
    env.update({"KD_SERVER_URL": sim.base_url, "KD_ACCT_ID": SIM_CREDENTIALS["acct_id"],
                "KD_USERNAME": SIM_CREDENTIALS["username"], "KD_APP_ID": SIM_CREDENTIALS["app_id"],
                "KD_APP_SECRET": SIM_CREDENTIALS["app_secret"], "KD_MYSQL_URL": mysql_url,
                "KD_SYNC_START": "2024-01-01", "DAGSTER_HOME": str(tmp_path)})

    one = _materialize(env, "--partition", day)
    assert one.returncode == 0, one.stderr[-3000:]
    start = dt.datetime.strptime(day, "%Y-%m-%d")
    end = start + dt.timedelta(days=1)
    with sa.create_engine(mysql_url).connect() as conn:
        published = {k for (k,) in conn.execute(sa.text(f"SELECT data_id FROM {SPEC.tables.target}"))}
        rejected = {int(k) for (k,) in conn.execute(sa.text(f"SELECT record_key FROM {SPEC.tables.quarantine}"))}
    assert published | rejected == changed_in(source, start, end)

    rng = _materialize(env, "--partition-range", "2024-01-01...2024-03-01")
    assert rng.returncode == 0, rng.stderr[-3000:]
    assert SIM_CREDENTIALS["app_secret"] not in one.stderr + one.stdout + rng.stderr + rng.stdout
