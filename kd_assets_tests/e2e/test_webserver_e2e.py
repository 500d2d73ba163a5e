"""End to end through the Dagster webserver, as a user of the UI would see it.

A seeded K3Cloud simulator, a fresh MariaDB database, and `dagster-webserver` + `dagster-daemon`
as real processes. Everything is asked of the webserver's GraphQL API (what the UI sends) and
checked against the target tables: a partition backfill of the three assets, its materialization
metadata and check results; then an edit at the source that the change sensor must bring into
the target; then the asset graph rendered by headless Chromium (screenshot under test-output/).
"""

from __future__ import annotations

import datetime as dt
import shutil
import time
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from kd_assets.kingdee import ClientConfig, K3CloudClient
from kd_assets_tests.defs.forms import CLEAN, GROUP, RAW, SPEC, TARGET
from kd_assets_tests.defs.sync_harness import SIM_CREDENTIALS, busiest_day, changed_in, source_rows
from kd_assets_tests.e2e import graphql as gql
from kd_assets_tests.e2e.browser import asset_graph_nodes, render
from kd_assets_tests.e2e.dagster_processes import TEST_OUTPUT, DagsterProcesses, start_dagster
from kd_assets_tests.e2e.graphql import FINISHED_RUN_STATUSES, DagsterGraphQL, wait_until

ASSETS = [RAW, CLEAN, TARGET]
SENSOR = "kingdee_customers_change_sensor"
LOCATION = "kd_assets.definitions"
CHECKS = [(CLEAN, "clean_schema"), (CLEAN, "reject_rate"), (CLEAN, "unique_keys"), (TARGET, "target_matches_clean")]
# The simulator's clock starts here (then follows real time); its generated history ends at the
# start of this day, so edits made by the test are the only changes dated CLOCK_DAY.
CLOCK = "2024-03-01 12:00:00"
CLOCK_DAY = "2024-03-01"
BACKFILL_TIMEOUT_S = 180
SENSOR_TIMEOUT_S = 120
T = SPEC.tables


def _days(first: str, last: str) -> list[str]:
    return [d.strftime("%Y-%m-%d") for d in pd.date_range(first, last, freq="D")]


def _day_start(day: str) -> dt.datetime:
    return dt.datetime.strptime(day, "%Y-%m-%d")


def _kd_env(sim, mysql_url: str) -> dict[str, str]:
    """What an operator sets: Kingdee (here the simulator), the target, and a quick sensor."""
    return {
        "KD_SERVER_URL": sim.base_url, "KD_ACCT_ID": SIM_CREDENTIALS["acct_id"],
        "KD_USERNAME": SIM_CREDENTIALS["username"], "KD_APP_ID": SIM_CREDENTIALS["app_id"],
        "KD_APP_SECRET": SIM_CREDENTIALS["app_secret"], "KD_MYSQL_URL": mysql_url,
        "KD_SYNC_START": "2024-01-01", "KD_SENSOR_INTERVAL_S": "3",
    }


def _rows(url: str, sql: str, **params) -> list[sa.Row]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(sa.text(sql), params).all()
    finally:
        engine.dispose()


def _scalar(url: str, sql: str, **params) -> int:
    (row,) = _rows(url, sql, **params)
    return row[0]


def _keys(url: str, sql: str, **params) -> set[int]:
    return {int(k) for (k,) in _rows(url, sql, **params)}


@pytest.fixture
def output_dir(request) -> Path:
    """test-output/e2e/<test>/: process logs, Chromium's log, the screenshot and the DOM."""
    path = TEST_OUTPUT / "e2e" / request.node.name
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


@pytest.fixture
def sim(simulator_factory):
    return simulator_factory(customers=3000, seed=11, clock_start=CLOCK)


@pytest.fixture
def dagster(sim, mysql_url, tmp_path, output_dir) -> DagsterProcesses:
    started = time.monotonic()
    running = start_dagster(_kd_env(sim, mysql_url), tmp_dir=tmp_path, log_dir=output_dir)
    print(f"[e2e] webserver and daemon ready after {time.monotonic() - started:.1f} s")
    yield running
    running.stop()


@pytest.fixture
def api(dagster) -> DagsterGraphQL:
    client = dagster.graphql
    yield client
    client.close()


def test_graphql_operations_match_the_installed_dagster_schema():
    """Every query and mutation the end-to-end test sends is valid for this dagster-graphql."""
    from dagster_graphql.schema import create_schema
    from graphql import parse, validate

    schema = create_schema().graphql_schema
    documents = {name: text for name, text in vars(gql).items()
                 if name.isupper() and isinstance(text, str) and text.lstrip().startswith(("query", "mutation"))}
    assert len(documents) >= 9
    errors = {name: [e.message for e in validate(schema, parse(text))] for name, text in documents.items()}
    assert errors == {name: [] for name in documents}


@pytest.mark.slow
def test_backfill_sensor_and_asset_graph_through_the_webserver(sim, mysql_url, dagster, api, output_dir):
    # The UI's view of the code location: the three assets, in one group, in a chain.
    graph = api.asset_graph()
    assert {k: graph[k] for k in ASSETS} == {
        RAW: {"group": GROUP, "deps": []},
        CLEAN: {"group": GROUP, "deps": [RAW]},
        TARGET: {"group": GROUP, "deps": [CLEAN]},
    }
    assert api.sensor(SENSOR, location=LOCATION)["sensorState"]["status"] == "RUNNING"
    # Schedules fire on the real clock (a nightly re-sync, a reconciliation); off, so that only
    # the backfill and the sensor write while the test counts rows.
    api.stop_schedules(location=LOCATION)

    started = time.monotonic()
    source = source_rows(sim)
    backfill_run = _backfill_and_check(api, dagster, source, mysql_url)
    print(f"[e2e] backfill checked after {time.monotonic() - started:.1f} s")
    sensor_run = _edit_at_source_reaches_target_through_the_sensor(api, dagster, sim, mysql_url, backfill_run)
    print(f"[e2e] sensor run checked after {time.monotonic() - started:.1f} s")
    _asset_graph_renders_in_chromium(api, dagster, output_dir, {backfill_run, sensor_run})
    print(f"[e2e] asset graph checked after {time.monotonic() - started:.1f} s")


def _backfill_and_check(api: DagsterGraphQL, dagster: DagsterProcesses, source: pd.DataFrame,
                        mysql_url: str) -> str:
    """Backfill from a busy day up to the simulator's today; return the (single) run's id."""
    first = busiest_day(source, "2024-02-20", "2024-02-26")
    days = _days(first, CLOCK_DAY)
    expected = changed_in(source, _day_start(first), _day_start(CLOCK_DAY) + dt.timedelta(days=1))
    assert len(expected) >= 20, "the seeded source should change often enough in the backfilled days"

    backfill_id = api.launch_partition_backfill(ASSETS, days, title="e2e initial load")
    backfill = api.wait_for_backfill(backfill_id, BACKFILL_TIMEOUT_S)
    dagster.assert_running()
    assert backfill["status"] == "COMPLETED_SUCCESS", backfill
    assert backfill["partitionNames"] == days
    # BackfillPolicy.single_run: the whole range is one run.
    (run,) = backfill["runs"]
    tags = {t["key"]: t["value"] for t in run["tags"]}
    assert run["status"] == "SUCCESS"
    assert (tags["dagster/asset_partition_range_start"], tags["dagster/asset_partition_range_end"]) == (first, days[-1])
    run_id = run["runId"]

    # Every backfilled partition of every asset has a materialization from that run.
    meta = {}
    for asset in ASSETS:
        events = api.materializations(asset, partitions=days)
        assert sorted(e["partition"] for e in events) == days, asset
        assert {e["runId"] for e in events} == {run_id}, asset
        meta[asset] = events[0]["metadata"]
        assert meta[asset]["partition"] == f"{first}...{days[-1]}"
        assert (meta[asset]["window_start"], meta[asset]["window_end"]) == (f"{first} 00:00:00", "2024-03-02 00:00:00")
    raw, clean, target = meta[RAW], meta[CLEAN], meta[TARGET]

    # The numbers the UI shows are the rows in the tables, counted by the run that wrote them.
    landed = _keys(mysql_url, f"SELECT data_id FROM {T.landing} WHERE run_id = :r", r=run_id)
    cleaned = _keys(mysql_url, f"SELECT data_id FROM {T.clean} WHERE run_id = :r", r=run_id)
    published = _keys(mysql_url, f"SELECT data_id FROM {T.target} WHERE run_id = :r", r=run_id)
    quarantined = _scalar(mysql_url, f"SELECT COUNT(*) FROM {T.quarantine} WHERE run_id = :r", r=run_id)
    assert raw["rows_in"] == raw["kingdee_rows"] == len(expected)
    assert raw["kingdee_calls"] >= 1 and raw["kingdee_failures"] == 0
    assert raw["landed"] == raw["dagster/row_count"] == len(landed)
    assert landed <= expected
    assert clean["rows_in"] == len(landed)
    assert clean["clean"] == clean["dagster/row_count"] == len(cleaned)
    assert raw["rejected"] + clean["rejected"] == quarantined
    assert len(cleaned) + quarantined == len(expected)
    assert clean["reject_share"] == pytest.approx(clean["rejected"] / clean["rows_in"])
    assert target["rows_in"] == len(cleaned)
    assert (target["inserted"], target["updated"], target["skipped_older"]) == (len(published), 0, 0)
    assert published == cleaned
    assert _scalar(mysql_url, f"SELECT COUNT(*) FROM {T.target}") == len(published)

    # Check results of that run: there, passed where the data says so, metadata matching the tables.
    results = {}
    for asset, check in CHECKS:
        executions = [e for e in api.check_executions(asset, check) if e["runId"] == run_id and e["evaluation"]]
        assert len(executions) == 1, (check, api.check_executions(asset, check))
        results[check] = executions[0]
    share = clean["reject_share"]
    assert results["clean_schema"]["evaluation"]["metadata"]["rows"] == clean["rows_in"]
    assert results["clean_schema"]["evaluation"]["metadata"]["rejected"] == clean["rejected"]
    assert results["clean_schema"]["status"] == "SUCCEEDED", "the reject share must stay under KD_MAX_REJECT_SHARE"
    expected_rate = "SUCCEEDED" if share <= results["reject_rate"]["evaluation"]["metadata"]["warn_reject_share"] \
        else "FAILED"
    assert results["reject_rate"]["status"] == expected_rate
    assert results["unique_keys"]["status"] == "SUCCEEDED"
    assert results["unique_keys"]["evaluation"]["metadata"]["duplicate_groups"] == 0
    assert results["target_matches_clean"]["status"] == "SUCCEEDED"
    assert results["target_matches_clean"]["evaluation"]["metadata"]["mismatched_rows"] == 0
    for check in ("clean_schema", "unique_keys", "target_matches_clean"):
        assert results[check]["evaluation"]["success"] is True, check
    return run_id


def _edit_at_source_reaches_target_through_the_sensor(api: DagsterGraphQL, dagster: DagsterProcesses, sim,
                                                      mysql_url: str, backfill_run: str) -> str:
    """Rename a published customer at the source; the sensor's run must publish the new name."""
    key = min(_keys(mysql_url, f"SELECT data_id FROM {T.target} WHERE run_id = :r", r=backfill_run))
    new_name = f"E2E 改名客户 {key}"
    with K3CloudClient(ClientConfig(server_url=sim.base_url, **SIM_CREDENTIALS)) as client:
        client.save(SPEC.form_id, {"FCUSTID": key, "FName": new_name})

    def published_name() -> str | None:
        dagster.assert_running()
        (row,) = _rows(mysql_url, f"SELECT customer_name, run_id FROM {T.target} WHERE data_id = :k", k=key)
        return row.run_id if row.customer_name == new_name else None

    def sensor_state() -> str:
        return f"sensor {api.sensor(SENSOR, location=LOCATION)['sensorState']}; runs {api.runs(limit=10)}"

    writer_run = wait_until(published_name, timeout_s=SENSOR_TIMEOUT_S, what=f"customer {key} renamed in {T.target}",
                            describe=sensor_state)

    sensor_runs = api.runs(tags={"dagster/sensor_name": SENSOR})
    assert [r["runId"] for r in sensor_runs] == [writer_run], "exactly one sensor run, the one that wrote the row"
    run = sensor_runs[0]
    assert run["tags"]["dagster/partition"] == CLOCK_DAY
    assert run["tags"]["kd/pending_rows"] == "1"

    def finished() -> dict | None:
        (current,) = api.runs(run_ids=[writer_run])
        return current if current["status"] in FINISHED_RUN_STATUSES else None

    assert wait_until(finished, timeout_s=60, what=f"sensor run {writer_run} to finish")["status"] == "SUCCESS"
    (event,) = [e for e in api.materializations(TARGET, partitions=[CLOCK_DAY]) if e["runId"] == writer_run]
    counts = event["metadata"]
    assert (counts["rows_in"], counts["inserted"], counts["updated"], counts["unchanged"]) == (1, 0, 1, 0)
    # A one-partition run attributes its check results to the partition.
    (check,) = [e for e in api.check_executions(TARGET, "target_matches_clean", partition=CLOCK_DAY)
                if e["runId"] == writer_run]
    assert (check["status"], check["evaluation"]["partition"]) == ("SUCCEEDED", CLOCK_DAY)
    return writer_run


def _asset_graph_renders_in_chromium(api: DagsterGraphQL, dagster: DagsterProcesses, output_dir: Path,
                                     our_runs: set[str]) -> None:
    """The asset group's lineage page draws the three assets, each linked to a run of this test."""
    api.dismiss_community_dialog()  # the fresh instance's first-visit dialog would cover the graph
    url = f"{dagster.url}/locations/{LOCATION}/asset-groups/{GROUP}"
    page = render(url, output_dir / "asset-graph.png", log=output_dir / "chromium.log")
    (output_dir / "asset-graph.html").write_text(page.dom, encoding="utf-8")

    nodes, run_links = asset_graph_nodes(page.dom)
    assert set(ASSETS) <= set(nodes), f"graph nodes {nodes}; see {output_dir / 'asset-graph.png'}"
    linked = {asset: run for run, asset in run_links}
    assert set(linked) >= set(ASSETS), run_links
    assert {linked[a] for a in ASSETS} <= our_runs, (linked, our_runs)
    assert "Join the Dagster community" not in page.dom
    assert page.screenshot.stat().st_size > 20_000, "the screenshot looks empty"
