"""The demo's settings, and `.env` in the project folder so the `dagster` and `dg` CLIs of another
shell (README's reconcile and backfill commands) reach the same simulator, target and instance.

A user's own `.env` lines win: the demo reads them as settings and writes only the keys they do
not set, in a block it rewrites on every start.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from zoneinfo import ZoneInfo

BEGIN = "# >>> written by `make demo` (rewritten on each start; your own lines above/below win)"
END = "# <<< end of `make demo` block"

HISTORY_DAYS = 365

SIMULATOR_DEFAULTS = {
    "KD_ACCT_ID": "kd-demo",
    "KD_USERNAME": "demo",
    "KD_APP_ID": "300001_S0RBU1NFVFMtREVNTy1BUFAtU0VDUkVU",
    "KD_APP_SECRET": "kdassets-demo-app-secret",
    "KD_LCID": "2052",
}
# The demo's story: the simulator makes ~2% of rows dirty, so a 3% warn share leaves most runs
# green and turns the runs that caught more dirty rows than usual yellow; reconciliation every
# 10 minutes (instead of 02:30) shows what only it can bring within minutes.
DEMO_DEFAULTS = {
    "KD_WARN_REJECT_SHARE": "0.03",
    "KD_RECONCILE_CRON": "*/10 * * * *",
}


def read_env_file(path: Path) -> tuple[dict[str, str], list[str]]:
    """The user's ``KEY=value`` settings and lines of ``path``, without the demo's block."""
    if not path.exists():
        return {}, []
    values, lines, inside = {}, [], False
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip() == BEGIN:
            inside = True
        elif line.strip() == END:
            inside = False
        elif not inside:
            lines.append(line)
            key, sep, value = line.strip().removeprefix("export ").partition("=")
            if sep and key and not key.startswith("#"):
                values[key.strip()] = value.strip().strip("'\"")
    return values, lines


def write_env_file(path: Path, env: dict[str, str]) -> list[str]:
    """Write the demo's DAGSTER_HOME and KD_* settings the user's ``.env`` lacks; returns their keys."""
    user, lines = read_env_file(path)
    ours = {k: v for k, v in sorted(env.items())
            if (k == "DAGSTER_HOME" or k.startswith("KD_")) and not k.startswith("KD_DEMO_") and k not in user}
    while lines and not lines[-1].strip():
        lines.pop()
    block = [BEGIN, *(f"{k}='{v}'" for k, v in ours.items()), END]  # quoted: a cron has spaces
    path.write_text("\n".join([*lines, *([""] if lines else []), *block]) + "\n", encoding="utf-8")
    return list(ours)


def demo_environment(project: Path, dagster_home: Path, sim_port: int) -> dict[str, str]:
    """The process environment of the demo's children: shell, then the user's .env, then defaults."""
    user, _ = read_env_file(project / ".env")
    env = {**user, **os.environ}
    env["DAGSTER_HOME"] = str(dagster_home)
    if not env.get("KD_SERVER_URL"):
        env["KD_SERVER_URL"] = f"http://127.0.0.1:{sim_port}/k3cloud/"
        for key, value in SIMULATOR_DEFAULTS.items():
            env.setdefault(key, value)
    for key, value in DEMO_DEFAULTS.items():
        env.setdefault(key, value)
    # The simulator spreads a year of history before today: sync from the day before it.
    today = dt.datetime.now(ZoneInfo(env.get("KD_SOURCE_TIMEZONE") or "Asia/Shanghai")).date()
    env.setdefault("KD_SYNC_START", (today - dt.timedelta(days=HISTORY_DAYS + 1)).isoformat())
    env.setdefault("KD_SQLITE_PATH", str(dagster_home / "kd_target.sqlite"))
    return env
