"""What each kind of process pays to load the code location, and that it loads the same definitions.

A code server (the UI's source) gets the list of installed component types; a run process (the
daemon's launches: a reconstructing load), the CLI and scripts (a plain import) do not build it.
Each load runs in a fresh interpreter, as Dagster starts them.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import dagster as dg

PROJECT = Path(__file__).resolve().parents[2]
JSON_KEY = "plugin_component_types_json"

SUMMARY = f"""
import gc, json
def summary(repo):
    meta = repo.metadata or {{}}
    return {{"jobs": sorted(j.name for j in repo.get_all_jobs()), "sensors": sorted(s.name for s in repo.sensor_defs),
             "schedules": sorted(s.name for s in repo.schedule_defs),
             "assets": sorted(k.to_user_string() for k in repo.asset_graph.get_all_asset_keys()),
             "checks": sorted(k.to_user_string() for k in repo.asset_graph.asset_check_keys),
             "component_tree": repo.get_component_tree() is not None, "types_json": {JSON_KEY!r} in meta,
             "frozen": gc.get_freeze_count()}}
"""

CODE_SERVER = SUMMARY + """
import dagster as dg
from dagster._core.remote_origin import InProcessCodeLocationOrigin
from dagster._core.types.loadable_target_origin import LoadableTargetOrigin
from dagster.components.core.load_defs import get_plugin_component_jsons_for_code_location
origin = InProcessCodeLocationOrigin(LoadableTargetOrigin(module_name="kd_assets.definitions", working_directory="."),
                                     location_name="kd_assets.definitions")
with dg.DagsterInstance.ephemeral() as instance, origin.create_location(instance) as location:
    (repo,) = location._loaded_repositories.definitions_by_name.values()
    out = summary(repo)
    out["types"] = [c["name"] for _, c in get_plugin_component_jsons_for_code_location(location)]
print(json.dumps(out))
"""

RUN_PROCESS = SUMMARY + """
from dagster._core.definitions.reconstruct import ReconstructableRepository
print(json.dumps(summary(ReconstructableRepository.for_module("kd_assets.definitions", "defs", ".").get_definition())))
"""

PLAIN_IMPORT = SUMMARY + """
import kd_assets.definitions
print(json.dumps(summary(kd_assets.definitions.defs.get_repository_def())))
"""


def _load(script: str) -> dict:
    done = subprocess.run([sys.executable, "-c", script], cwd=PROJECT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.splitlines()[-1])


def _definitions(summary: dict) -> dict:
    return {k: summary[k] for k in ("jobs", "sensors", "schedules", "assets", "checks", "component_tree")}


def test_only_a_code_server_lists_the_component_types_and_every_load_has_the_same_definitions():
    served, run, imported = _load(CODE_SERVER), _load(RUN_PROCESS), _load(PLAIN_IMPORT)

    assert served["types_json"] and "kd_assets.KingdeeFormSync" in served["types"]
    assert not run["types_json"] and not imported["types_json"]
    assert _definitions(run) == _definitions(imported) == _definitions(served)
    assert served["component_tree"] and "kingdee_customers_sync" in served["jobs"]
    assert "kingdee_customers_change_sensor" in served["sensors"] and len(served["checks"]) >= 16


def test_a_loaded_location_is_frozen_out_of_the_garbage_collector():
    assert _load(PLAIN_IMPORT)["frozen"] > 100_000


def test_the_daemon_looks_at_the_run_queue_every_second_and_keeps_the_queue_limits(tmp_path):
    shutil.copyfile(PROJECT / "dagster.yaml", tmp_path / "dagster.yaml")
    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        assert instance.run_coordinator.dequeue_interval_seconds == 1
        limits = instance.get_concurrency_config().run_queue_config.tag_concurrency_limits
    assert [limit["key"] for limit in limits] == ["kd/form_partition"]
