"""The incremental one-day run at 1M rows, repeatable: one database loaded once, many A/B runs.

    python -m bench.bench_oneday setup                      # simulator (1M, kept in a file) + initial load
    python -m bench.bench_oneday day [--trees A B ...] [--rounds 2]

``setup`` starts the simulator on a SQLite file (generated once, ~3 min; later starts reuse it),
and loads every customer into a MariaDB database that is kept (``KD_ONEDAY_DB``, default
``kdoneday_1m``) with README's CLI, as ``bench_initial`` does. It leaves the simulator running
(its pid and URL in ``STATE``). ``day`` then, per round and per tree (a checkout; default this
one), moves the simulator's clock to a day no run has seen, edits 1% of the customers through
Kingdee's Save (a different 1% each time, so every run reads rows the buffer pool has not just
seen), and runs README's one-day CLI (``--partition DAY``) with that tree's code. Prints each
step's own time (bench/runlog.py) and the load average. Trees alternate within a round, so they
see the same load; each run's rows are new, so each does the same work.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import sqlalchemy as sa

from bench.bench_initial import CLOCK, DAY, SELECTION, SYNC_START, cli_env, load_avg, step_labels
from bench.harness import DEMO_CREDENTIALS, MYSQL_SERVER
from bench.runlog import run_times

STATE = Path(os.environ.get("KD_ONEDAY_STATE", "/tmp/kd-oneday"))
DB = os.environ.get("KD_ONEDAY_DB", "kdoneday_1m")
CUSTOMERS = 1_000_000
HERE = Path(__file__).resolve().parent.parent


def _state() -> dict:
    path = STATE / "state.json"
    return json.loads(path.read_text()) if path.exists() else {}


def _save_state(**values) -> None:
    (STATE / "state.json").write_text(json.dumps({**_state(), **values}))


def start_simulator() -> str:
    STATE.mkdir(parents=True, exist_ok=True)
    log = STATE / "simulator.log"
    process = subprocess.Popen([sys.executable, "-m", "kd_assets.simulator", "--port", "0", "--db",
                                str(STATE / "simulator.sqlite"), "--customers", str(CUSTOMERS),
                                "--history-days", str(6 * 365), "--clock-start", CLOCK, "--session-ttl", "0"],
                               stdout=open(log, "w"), stderr=subprocess.STDOUT, start_new_session=True)
    # The simulator outlives this script (it is kept for later runs), so it writes to a file, not a
    # pipe we could block on: poll the file once a second, for at most 15 minutes (1M rows: ~1-3 min).
    deadline = time.monotonic() + 900
    while "listening on" not in (text := log.read_text()):  # printed once the data is loaded
        if process.poll() is not None:
            raise RuntimeError(f"simulator exited: {text[-2000:]}")
        if time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"simulator not listening after 15 minutes: {text[-2000:]}")
        time.sleep(1)
    url = text.split("listening on", 1)[1].split()[0]
    _save_state(simulator_pid=process.pid, base_url=url)
    return url


def target_url() -> str:
    return f"{MYSQL_SERVER}/{DB}?charset=utf8mb4"


def setup() -> None:
    started = time.perf_counter()
    base = start_simulator()
    print(f"simulator at {base} in {time.perf_counter() - started:.0f} s", flush=True)
    server = sa.create_engine(f"{MYSQL_SERVER}/", isolation_level="AUTOCOMMIT")
    with server.connect() as conn:
        conn.execute(sa.text(f"DROP DATABASE IF EXISTS {DB}"))
        conn.execute(sa.text(f"CREATE DATABASE {DB} CHARACTER SET utf8mb4"))
    before, started = load_avg(), time.perf_counter()
    home = tempfile.mkdtemp(prefix="oneday-home-")
    _run_cli(HERE, cli_env(base, target_url(), home), "--partition-range", f"{SYNC_START}...{DAY}")
    print(f"initial load {time.perf_counter() - started:.0f} s; load average {before} -> {load_avg()}", flush=True)
    _save_state(day=DAY)


def _run_cli(tree: Path, env: dict, *args: str) -> None:
    env = {**env, "PYTHONPATH": str(tree)}
    out = subprocess.run([sys.executable, "-m", "dagster", "asset", "materialize", "-m", "kd_assets.definitions",
                          "--select", SELECTION, *args], env=env, cwd=tree, capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-3000:])


def edit_day(base: str, day: str, seed: int, share: float = 0.01) -> int:
    """Move the simulator's clock to ``day`` and edit ``share`` of the customers through Save."""
    from kd_assets.kingdee import ClientConfig, K3CloudClient
    import urllib.request
    req = urllib.request.Request(base.split("/k3cloud")[0] + "/_sim/clock", method="POST",
                                 data=json.dumps({"now": f"{day} 09:00:00"}).encode())
    urllib.request.urlopen(req).read()
    engine = sa.create_engine(target_url())
    with engine.connect() as conn:  # the keys, from the target (faster than paging them from Kingdee)
        keys = [k for (k,) in conn.exec_driver_sql("SELECT data_id FROM wk_wodtop_customer")]
    engine.dispose()
    picked = random.Random(seed).sample(keys, int(len(keys) * share))

    def save(part: list[int]) -> None:
        with K3CloudClient(ClientConfig(base, **DEMO_CREDENTIALS)) as client:
            for key in part:
                client.save("BD_Customer", {"FCUSTID": key, "FTEL": f"0755-{(key + seed) % 10_000_000:08d}"})

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(save, [picked[i::4] for i in range(4)]))
    return len(picked)


def one_day(tree: Path, label: str) -> None:
    state = _state()
    day = (dt.date.fromisoformat(state["day"]) + dt.timedelta(days=1)).isoformat()
    _save_state(day=day)
    edited = edit_day(state["base_url"], day, seed=dt.date.fromisoformat(day).toordinal())
    home = tempfile.mkdtemp(prefix="oneday-home-")
    before, started = load_avg(), time.perf_counter()
    _run_cli(tree, cli_env(state["base_url"], target_url(), home), "--partition", day)
    wall = time.perf_counter() - started
    t = run_times(home)
    labels = step_labels()
    steps = " ".join(f"{labels.get(s.key, s.key).split()[0]}={s.ours:.2f}" for s in t.steps)
    print(f"{label} {day} ({edited} edits): CLI {wall:.1f} s, span {t.span:.2f}, ours {t.ours:.2f}: {steps}; "
          f"load {before} -> {load_avg()}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["setup", "simulator", "day"])
    parser.add_argument("--trees", nargs="*", default=[str(HERE)])
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    if args.action == "setup":
        setup()
    elif args.action == "simulator":
        print(start_simulator())
    else:
        for _ in range(args.rounds):
            for i, tree in enumerate(args.trees):
                one_day(Path(tree).resolve(), "AB"[i] if len(args.trees) == 2 else Path(tree).name)


if __name__ == "__main__":
    main()
