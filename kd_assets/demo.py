"""`make demo`: the K3Cloud simulator with live activity plus `dg dev`, stopped by Ctrl-C.

Everything is local: DAGSTER_HOME is `.dagster_home/` in the project, the target is the
embedded SQLite file unless KD_MYSQL_URL is set, and Kingdee is the simulator unless
KD_SERVER_URL points at a real server. Every form's initial load starts by itself, then its
reconciliation once; the demo's settings go to `.env` so the CLIs of another shell see them.
Quiet by default (INFO and up); KD_DEMO_VERBOSE=1 shows Dagster's DEBUG events too.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO

import requests

from kd_assets.demo_env import HISTORY_DAYS, demo_environment, write_env_file
from kd_assets.demo_loads import DemoGraphQLError, DemoLoads, demo_forms

PROJECT = Path(__file__).resolve().parent.parent
DAGSTER_HOME = PROJECT / ".dagster_home"
POLL_S = 5
QUIET = (" - DEBUG - ", " - \x1b[34mDEBUG\x1b[0m - ", " - INFO - ", " - \x1b[34mINFO\x1b[0m - ",
         # dg dev runs in the project folder; the demo copies that dagster.yaml into DAGSTER_HOME.
         "Found a dagster instance configuration value (dagster.yaml) in the current folder")


def _wait_for_port(host: str, port: int, proc: subprocess.Popen, timeout_s: float = 60) -> None:
    """Poll until something listens on host:port, or fail if the process died first."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{proc.args[0]} exited with code {proc.returncode} before listening")
        with socket.socket() as sock:
            sock.settimeout(0.5)
            if sock.connect_ex((host, port)) == 0:
                return
        time.sleep(0.2)  # polling a starting server, not synchronising a test
    raise SystemExit(f"nothing listens on {host}:{port} after {timeout_s:.0f} s")


def _say(text: str) -> None:
    print(f"kd-assets demo: {text}", flush=True)


def dagster_command(ui_port: str, verbose: bool) -> list[str]:
    """`dg dev` (what Dagster 1.13 recommends) for this project, quiet unless verbose."""
    dg = Path(sys.executable).parent / "dg"
    level = "debug" if verbose else "warning"  # the daemon logs every sensor tick at INFO
    return [str(dg) if dg.exists() else "dg", "dev", "--use-active-venv", "-h", "127.0.0.1", "-p", ui_port,
            "--log-level", level, "--code-server-log-level", level]


def _relay(stream: IO[str], verbose: bool) -> None:
    """Print Dagster's output, without the run workers' DEBUG and INFO events unless verbose."""
    for line in stream:
        if verbose or not any(level in line for level in QUIET):
            sys.stdout.write(line)
            sys.stdout.flush()


def _start_dagster(env: dict[str, str], ui_port: str) -> subprocess.Popen:
    verbose = env.get("KD_DEMO_VERBOSE", "") not in ("", "0")
    env = {**env, "VIRTUAL_ENV": env.get("VIRTUAL_ENV") or sys.prefix}  # dg: this venv is the project's
    proc = subprocess.Popen(dagster_command(ui_port, verbose), cwd=PROJECT, env=env, start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace")
    threading.Thread(target=_relay, args=(proc.stdout, verbose), daemon=True).start()
    return proc


def _start_simulator(env: dict[str, str], sim_port: int) -> subprocess.Popen:
    sizes = {"--customers": "KD_DEMO_CUSTOMERS", "--suppliers": "KD_DEMO_SUPPLIERS",
             "--materials": "KD_DEMO_MATERIALS"}
    defaults = {"--customers": "3000", "--suppliers": "1000", "--materials": "1000"}
    args = [a for flag, var in sizes.items() for a in (flag, env.get(var) or defaults[flag])]
    sim = subprocess.Popen(
        # --db: a restarted demo finds Kingdee as it left it, in step with the target it keeps.
        [sys.executable, "-m", "kd_assets.simulator", "--port", str(sim_port), *args,
         "--db", str(DAGSTER_HOME / "kd_simulator.sqlite"),
         "--history-days", str(HISTORY_DAYS), "--activity", "5"],
        cwd=PROJECT, env=env, start_new_session=True,
    )
    _wait_for_port("127.0.0.1", sim_port, sim)
    return sim


def _drive_loads(loads: DemoLoads, procs: list[subprocess.Popen]) -> None:
    """Start the initial loads, then each form's reconciliation once its load finished."""
    deadline = time.monotonic() + 180
    while True:
        try:
            for line in loads.start_initial_loads():
                _say(line)
            break
        except (requests.RequestException, DemoGraphQLError, KeyError, TypeError, ValueError) as exc:
            if time.monotonic() > deadline:
                _say(f"could not start the initial loads ({exc}); start them from the UI")
                return
            time.sleep(2)  # the code location is still loading
    while all(p.poll() is None for p in procs) and len(loads.reconciled) < len(loads.forms):
        try:
            for line in loads.reconcile_finished_loads():
                _say(line)
        except (requests.RequestException, DemoGraphQLError, KeyError, TypeError, ValueError) as exc:
            _say(f"waiting for the initial loads: {exc}")
        time.sleep(POLL_S)  # polling the webserver for finished backfills


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
    _prepare_dagster_home()
    env = demo_environment(PROJECT, DAGSTER_HOME, sim_port)
    env.setdefault("KD_DAGSTER_UI_URL", f"http://127.0.0.1:{ui_port}")  # links in alerts
    written = write_env_file(PROJECT / ".env", env)
    _say(f"wrote {len(written)} settings to {PROJECT / '.env'} for the dagster/dg CLIs of other shells")
    os.environ.update(env)  # the forms are read with the demo's settings
    procs: list[subprocess.Popen] = []
    try:
        if env["KD_SERVER_URL"].startswith(f"http://127.0.0.1:{sim_port}/"):
            procs.append(_start_simulator(env, sim_port))
        procs.append(_start_dagster(env, ui_port))
        ui_url = f"http://127.0.0.1:{ui_port}"
        _wait_for_port("127.0.0.1", int(ui_port), procs[-1], timeout_s=180)
        print(f"\nDagster UI: {ui_url}   (Ctrl-C stops everything)\n", flush=True)
        _drive_loads(DemoLoads(ui_url, demo_forms()), procs)
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
