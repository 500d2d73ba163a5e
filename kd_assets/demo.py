"""`make demo`: the K3Cloud simulator with live activity plus `dagster dev`, stopped by Ctrl-C.

Everything is local: DAGSTER_HOME is `.dagster_home/` in the project, the target is the
embedded SQLite file unless KD_MYSQL_URL is set, and Kingdee is the simulator unless
KD_SERVER_URL points at a real server.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
DAGSTER_HOME = PROJECT / ".dagster_home"

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
            raise SystemExit(f"the simulator exited with code {proc.returncode} before listening")
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
    env.setdefault("KD_SYNC_START", "2024-01-01")
    env.setdefault("KD_SQLITE_PATH", str(DAGSTER_HOME / "kd_target.sqlite"))
    return env


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


def main() -> int:
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
                 "--customers", customers, "--activity", "5"],
                cwd=PROJECT, env=env, start_new_session=True,
            )
            procs.append(sim)
            _wait_for_port("127.0.0.1", sim_port, sim)
        dagster = subprocess.Popen(
            [sys.executable, "-m", "dagster", "dev", "-h", "127.0.0.1", "-p", ui_port,
             "-w", str(PROJECT / "workspace.yaml")],
            cwd=PROJECT, env=env, start_new_session=True,
        )
        procs.append(dagster)
        print(f"\nDagster UI: http://127.0.0.1:{ui_port}   (Ctrl-C stops everything)\n", flush=True)
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
