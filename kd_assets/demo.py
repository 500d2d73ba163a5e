"""`make demo`: the K3Cloud simulator with live activity plus `dagster dev`, stopped by Ctrl-C.

Everything is local: DAGSTER_HOME is `.dagster_home/` in the project, the target is the
embedded SQLite file unless KD_MYSQL_URL is set, and Kingdee is the simulator unless
KD_SERVER_URL points at a real server.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from zoneinfo import ZoneInfo

import requests

PROJECT = Path(__file__).resolve().parent.parent
DAGSTER_HOME = PROJECT / ".dagster_home"

HISTORY_DAYS = 365
SYNC_ASSETS = ["kingdee_customers_raw", "kingdee_customers_clean", "wk_wodtop_customer"]
LAUNCH_BACKFILL = """
mutation InitialLoad($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PythonError { message }
    ... on UnauthorizedError { message }
  }
}"""
EXISTING_BACKFILLS = "{ partitionBackfillsOrError { ... on PartitionBackfills { results { id } } } }"

SIMULATOR_DEFAULTS = {
    "KD_ACCT_ID": "kd-demo",
    "KD_USERNAME": "demo",
    "KD_APP_ID": "300001_S0RBU1NFVFMtREVNTy1BUFAtU0VDUkVU",
    "KD_APP_SECRET": "kdassets-demo-app-secret",
    "KD_LCID": "2052",
}


def _wait_for_port(host: str, port: int, proc: subprocess.Popen, timeout_s: float = 60) -> None:
    """Poll until something listens on host:port, or fail if the process died first."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{proc.args[2]} exited with code {proc.returncode} before listening")
        with socket.socket() as sock:
            sock.settimeout(0.5)
            if sock.connect_ex((host, port)) == 0:
                return
        time.sleep(0.2)  # polling a starting server, not synchronising a test
    raise SystemExit(f"nothing listens on {host}:{port} after {timeout_s:.0f} s")


def _demo_environment(sim_port: int) -> dict[str, str]:
    env = dict(os.environ)
    env["DAGSTER_HOME"] = str(DAGSTER_HOME)
    if not env.get("KD_SERVER_URL"):
        env["KD_SERVER_URL"] = f"http://127.0.0.1:{sim_port}/k3cloud/"
        for key, value in SIMULATOR_DEFAULTS.items():
            env.setdefault(key, value)
    # The simulator spreads a year of history before today: sync from the day before it.
    today = dt.datetime.now(ZoneInfo(env.get("KD_SOURCE_TIMEZONE") or "Asia/Shanghai")).date()
    env.setdefault("KD_SYNC_START", (today - dt.timedelta(days=HISTORY_DAYS + 1)).isoformat())
    env.setdefault("KD_SQLITE_PATH", str(DAGSTER_HOME / "kd_target.sqlite"))
    return env


def launch_initial_load(ui_url: str, timeout_s: float = 180) -> str:
    """Start the initial load once: one single-run backfill of the sync assets over all partitions.

    Skipped when this DAGSTER_HOME already has a backfill (a restarted demo keeps its state).
    """
    graphql = ui_url.rstrip("/") + "/graphql"
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            # The UI's "join the community" dialog would cover the first page a newcomer sees.
            requests.post(graphql, json={"query": "mutation { setNuxSeen }"}, timeout=30)
            existing = requests.post(graphql, json={"query": EXISTING_BACKFILLS}, timeout=30).json()
            if existing["data"]["partitionBackfillsOrError"].get("results"):
                return "an earlier backfill exists; not starting another"
            params = {"assetSelection": [{"path": [a]} for a in SYNC_ASSETS], "allPartitions": True,
                      "title": "Initial load (make demo)"}
            answer = requests.post(graphql, json={"query": LAUNCH_BACKFILL, "variables": {"params": params}},
                                   timeout=60).json()["data"]["launchPartitionBackfill"]
            if answer["__typename"] == "LaunchBackfillSuccess":
                return f"initial load started: backfill {answer['backfillId']}"
            problem = answer.get("message", answer["__typename"])
        except (requests.RequestException, KeyError, TypeError, ValueError) as exc:
            problem = str(exc)
        if time.monotonic() > deadline:
            return f"could not start the initial load ({problem}); start it from the UI"
        time.sleep(2)  # the code location is still loading


def _prepare_dagster_home() -> None:
    DAGSTER_HOME.mkdir(exist_ok=True)
    shutil.copyfile(PROJECT / "dagster.yaml", DAGSTER_HOME / "dagster.yaml")


def _stop(procs: list[subprocess.Popen]) -> None:
    for proc in procs:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def _raise_interrupt(signum, frame) -> None:
    raise KeyboardInterrupt  # SIGTERM stops the demo like Ctrl-C: children are stopped too


def main() -> int:
    signal.signal(signal.SIGTERM, _raise_interrupt)
    sim_port = int(os.environ.get("KD_DEMO_SIMULATOR_PORT", "8090"))
    ui_port = os.environ.get("KD_DEMO_UI_PORT", "3000")
    customers = os.environ.get("KD_DEMO_CUSTOMERS", "3000")
    _prepare_dagster_home()
    env = _demo_environment(sim_port)
    procs: list[subprocess.Popen] = []
    try:
        if env["KD_SERVER_URL"].startswith(f"http://127.0.0.1:{sim_port}/"):
            sim = subprocess.Popen(
                [sys.executable, "-m", "kd_assets.simulator", "--port", str(sim_port),
                 "--customers", customers, "--history-days", str(HISTORY_DAYS), "--activity", "5"],
                cwd=PROJECT, env=env, start_new_session=True,
            )
            procs.append(sim)
            _wait_for_port("127.0.0.1", sim_port, sim)
        dagster = subprocess.Popen(
            [sys.executable, "-m", "dagster", "dev", "-h", "127.0.0.1", "-p", ui_port,
             "-w", str(PROJECT / "workspace.yaml")],
            cwd=DAGSTER_HOME, env=env, start_new_session=True,
        )
        procs.append(dagster)
        ui_url = f"http://127.0.0.1:{ui_port}"
        _wait_for_port("127.0.0.1", int(ui_port), dagster, timeout_s=180)
        print(f"\nDagster UI: {ui_url}   (Ctrl-C stops everything)", flush=True)
        print(f"kd-assets demo: {launch_initial_load(ui_url)}\n", flush=True)
        while all(p.poll() is None for p in procs):
            try:
                procs[-1].wait(timeout=1)
            except subprocess.TimeoutExpired:
                pass
        return next(p.returncode for p in procs if p.poll() is not None) or 0
    except KeyboardInterrupt:
        return 0
    finally:
        _stop(procs)


if __name__ == "__main__":
    raise SystemExit(main())
