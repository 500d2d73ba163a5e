"""dagster-webserver and dagster-daemon as real subprocesses, as an operator runs them.

Both get a fresh DAGSTER_HOME holding a copy of the project's dagster.yaml, load the project's
workspace.yaml, and see only the KD_* variables the test gives them. Readiness is polled through
the webserver (``/server_info``, then GraphQL: the code location loaded, the daemons healthy),
never waited for with sleeps. At teardown both process groups (with their code servers and run
workers) are stopped; their output stays in log files for debugging.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg

from kd_assets_tests.e2e.graphql import DagsterGraphQL, wait_until

PROJECT = Path(__file__).resolve().parents[2]
TEST_OUTPUT = PROJECT / "test-output"
BIN = Path(sys.executable).parent

# Daemons a backfill and a sensor need; the others (scheduler, freshness…) are not waited for.
NEEDED_DAEMONS = ("BACKFILL", "SENSOR", "QUEUED_RUN_COORDINATOR")
# A port found free may be taken by another process before the webserver binds it.
BIND_ATTEMPTS = 3


def free_port() -> int:
    """A TCP port that was free a moment ago (bind port 0 and read it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def process_env(kd_env: Mapping[str, str], dagster_home: Path) -> dict[str, str]:
    """This process's environment without any KD_* or DAGSTER_* variable, plus ``kd_env``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KD_", "DAGSTER_"))}
    env.update(kd_env)
    env["DAGSTER_HOME"] = str(dagster_home)
    env["PYTHONUNBUFFERED"] = "1"
    return env


@dataclass
class DagsterProcesses:
    """A running webserver and daemon; ``url`` is the UI, ``graphql`` its API."""

    url: str
    dagster_home: Path
    log_dir: Path
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)
    log_starts: dict[str, int] = field(default_factory=dict)  # where the current process's output begins

    @property
    def graphql(self) -> DagsterGraphQL:
        return DagsterGraphQL(self.url)

    def assert_running(self) -> None:
        for name, proc in self.procs.items():
            if proc.poll() is not None:
                raise AssertionError(f"{name} exited with code {proc.returncode}; see {self.log_path(name)}:\n"
                                     f"{self.log_tail(name)}")

    def log_path(self, name: str) -> Path:
        return self.log_dir / f"{name}.log"

    def log_tail(self, name: str, chars: int = 4000) -> str:
        """The end of what the current ``name`` process wrote."""
        path = self.log_path(name)
        if not path.exists():
            return ""
        with open(path, "rb") as log:
            log.seek(self.log_starts.get(name, 0))
            return log.read().decode(errors="replace")[-chars:]

    def spawn(self, name: str, command: list[str], env: Mapping[str, str]) -> None:
        """Start ``name`` in its own process group (stopped with its children), output appended to its log."""
        path = self.log_path(name)
        self.log_starts[name] = path.stat().st_size if path.exists() else 0
        with open(path, "ab") as log:
            # Not the project folder: Dagster would load the .env `make demo` writes there.
            self.procs[name] = subprocess.Popen(command, cwd=self.dagster_home, env=dict(env), stdout=log,
                                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                                start_new_session=True)

    def stop(self, timeout_s: float = 20) -> None:
        """SIGTERM each process group, then SIGKILL what is still there after ``timeout_s``."""
        for proc in self.procs.values():
            _signal_group(proc, signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                pass
            # Code servers and run workers live in the same group and may outlive the leader.
            _signal_group(proc, signal.SIGKILL)
            proc.wait()


def _signal_group(proc: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        pass


def create_instance_storage(dagster_home: Path) -> None:
    """Create the instance's SQLite storage once, before the processes start.

    Two processes opening a fresh DAGSTER_HOME at the same moment race to stamp its schema
    ("Version table 'alembic_version' has more than one head present" when the code location
    loads); an operator avoids it the same way, with `dagster instance migrate` before starting
    the services.
    """
    with dg.DagsterInstance.from_config(str(dagster_home)):
        pass


def start_dagster(kd_env: Mapping[str, str], *, tmp_dir: Path, log_dir: Path,
                  timeout_s: float = 120) -> DagsterProcesses:
    """Start the webserver and the daemon on the project's workspace; return once both are usable.

    ``tmp_dir`` receives DAGSTER_HOME (instance storage, compute logs); ``log_dir`` the two
    processes' stdout and stderr (``webserver.log``, ``daemon.log``).
    """
    dagster_home = tmp_dir / "dagster_home"
    dagster_home.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(PROJECT / "dagster.yaml", dagster_home / "dagster.yaml")
    create_instance_storage(dagster_home)
    log_dir.mkdir(parents=True, exist_ok=True)
    env = process_env(kd_env, dagster_home)
    workspace = str(PROJECT / "workspace.yaml")
    running = DagsterProcesses(url="", dagster_home=dagster_home, log_dir=log_dir)
    try:
        running.spawn("daemon", [str(BIN / "dagster-daemon"), "run", "-w", workspace], env)
        for _ in range(BIND_ATTEMPTS):
            port = free_port()
            running.url = f"http://127.0.0.1:{port}"
            running.spawn("webserver", [str(BIN / "dagster-webserver"), "-h", "127.0.0.1", "-p", str(port),
                                        "-w", workspace], env)
            try:
                wait_ready(running, timeout_s)
                break
            except _PortTaken:
                continue  # another process took the free port before the webserver bound it
        else:
            raise AssertionError(f"the webserver found its port taken {BIND_ATTEMPTS} times; see {log_dir}")
    except BaseException:
        running.stop()
        raise
    return running


class _PortTaken(Exception):
    pass


def wait_ready(running: DagsterProcesses, timeout_s: float) -> None:
    """Webserver answering, the code location loaded, and the needed daemons healthy."""
    api = running.graphql

    def alive_and(check):
        def probe():
            running.assert_running()
            return check()
        return probe

    def server_info():
        webserver = running.procs["webserver"]
        if webserver.poll() is not None and "address already in use" in running.log_tail("webserver").lower():
            raise _PortTaken
        return alive_and(api.server_info)()

    try:
        wait_until(server_info, timeout_s=timeout_s, what="the webserver's /server_info",
                   describe=lambda: running.log_tail("webserver"))
        wait_until(alive_and(api.loaded_repositories), timeout_s=timeout_s, what="the code location to load",
                   describe=lambda: running.log_tail("webserver"))
        last: dict[str, bool] = {}

        def daemons_healthy() -> bool:
            nonlocal last
            last = api.daemon_statuses()
            return all(last.get(d) for d in NEEDED_DAEMONS)

        wait_until(alive_and(daemons_healthy), timeout_s=timeout_s, what="healthy daemons",
                   describe=lambda: f"{last}\n{running.log_tail('daemon')}")
    finally:
        api.close()
