"""A sync run as the change sensor launches it: a running daemon ticks, asks for the day, and the
default run launcher starts the run in a new process that loads the code location.

Its span (the run record's creation by the daemon to its end) is what a deployment pays per
change; it includes the new process and the code location's start-up (creation → start), which
a CLI run pays before its run record exists.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import dagster as dg

from bench.runlog import RunTimes, run_times

ROOT = Path(__file__).resolve().parent.parent
SENSOR_TAG = "dagster/sensor_name"


def sensor_launched_run(env: dict[str, str], sensor_name: str, timeout_s: float = 300.0) -> tuple[RunTimes, float]:
    """Start ``dagster-daemon`` on ``env``'s instance, wait for ``sensor_name`` to launch a run and
    for that run to end; returns its times and the seconds from the daemon's start to the run's
    creation (daemon start-up plus the tick, not counted in the run)."""
    home = env["DAGSTER_HOME"]
    with tempfile.TemporaryDirectory() as tmp:
        workspace = Path(tmp) / "workspace.yaml"
        workspace.write_text("load_from:\n  - python_module:\n      module_name: kd_assets.definitions\n"
                             f"      working_directory: {ROOT}\n")
        launched = time.time()
        daemon = subprocess.Popen([sys.executable, "-m", "dagster._daemon", "run", "-w", str(workspace)],
                                  env={**env, "KD_SENSOR_INTERVAL_S": "5"}, cwd=ROOT,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            run_id = _wait_for_run(home, sensor_name, launched, timeout_s)
        finally:
            daemon.terminate()
            daemon.wait(timeout=60)
    times = run_times(home, run_id)
    return times, times.created - launched


def _wait_for_run(home: str, sensor_name: str, since: float, timeout_s: float) -> str:
    """Poll the instance (another process writes it) until the sensor's run has ended."""
    deadline = time.monotonic() + timeout_s
    with dg.DagsterInstance.from_config(home) as instance:
        while time.monotonic() < deadline:
            runs = [r for r in instance.get_run_records(dg.RunsFilter(tags={SENSOR_TAG: sensor_name}), limit=5)
                    if r.create_timestamp.timestamp() >= since]
            if runs and runs[0].dagster_run.is_finished:
                if runs[0].dagster_run.status != dg.DagsterRunStatus.SUCCESS:
                    raise RuntimeError(f"the sensor's run {runs[0].dagster_run.run_id} ended "
                                       f"{runs[0].dagster_run.status.value}")
                return runs[0].dagster_run.run_id
            time.sleep(0.5)  # another process (the daemon) does the work; nothing to wait on here
    raise TimeoutError(f"{sensor_name} launched no finished run within {timeout_s:.0f} s")


if __name__ == "__main__":  # python -m bench.sensor_run: on the current environment (KD_*, DAGSTER_HOME)
    name = sys.argv[1] if len(sys.argv) > 1 else "kingdee_customers_change_sensor"
    t, waited = sensor_launched_run(dict(os.environ), name)
    print(f"daemon start to run creation {waited:.1f} s; launch (creation to run start) "
          f"{t.started - t.created:.2f} s; {t.summary()}")
