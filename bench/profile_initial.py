"""Where the initial load's CPU goes, step by step: the run's process, mariadbd, the simulator.

    python -m bench.profile_initial [--customers N]

Runs README's CLI initial load (as bench_initial does) while sampling, every 0.25 s, the CPU
seconds (utime+stime from /proc/<pid>/stat) of the CLI process and any process it started (the
run and its step workers), of ``mariadbd`` and of the simulator. Afterwards each step's interval
(STEP_START → STEP_SUCCESS from the run's event log) gets the CPU each of them used in it, as a
share of one core: a step near 1.0 for the run's processes and low for the others is bound by our
Python; near 1.0 for mariadbd, by the server; low everywhere, waiting. mariadbd's figure is the
whole server's (other databases' work included): read it beside the load average.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass

from bench.bench_initial import CLOCK, DAY, SELECTION, SYNC_START, cli_env, load_avg, step_labels
from bench.runlog import run_times
from bench.harness import child_peak_rss_mb, memory_kib, process_tree, scratch_database, simulator_process

_TICK = os.sysconf("SC_CLK_TCK")


def cpu_s(pid: int) -> float:
    """utime + stime of a process (all its threads), seconds; 0 once it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICK


def pid_of(needle: str, below: int | None = None) -> int | None:
    for p in sorted(process_tree(below) if below else (int(e) for e in os.listdir("/proc") if e.isdigit())):
        try:
            with open(f"/proc/{p}/cmdline", "rb") as f:
                if needle.encode() in f.read():
                    return p
        except OSError:
            continue
    return None


@dataclass
class Sample:
    t: float
    run: float  # CLI process and its descendants (those seen so far keep their last figure)
    server: float
    simulator: float
    rss_mb: float  # summed VmRSS of the run's live processes


class Sampler:
    def __init__(self, cli: int, server: int, simulator: int, every_s: float = 0.25) -> None:
        self.cli, self.server, self.simulator, self.every_s = cli, server, simulator, every_s
        self.samples: list[Sample] = []
        self.seen: dict[int, float] = {}
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _loop(self) -> None:
        while not self.done.is_set():
            rss = 0.0
            for p in process_tree(self.cli):
                rss += memory_kib(p)[1] / 1024
                now = cpu_s(p)
                if now:
                    self.seen[p] = max(self.seen.get(p, 0.0), now)
            self.samples.append(Sample(time.time(), sum(self.seen.values()), cpu_s(self.server),
                                       cpu_s(self.simulator), rss))
            self.done.wait(self.every_s)

    def stop(self) -> list[Sample]:
        self.done.set()
        self.thread.join()
        return self.samples


def at(samples: list[Sample], t: float) -> Sample:
    """The last sample at or before ``t`` (the first one if none)."""
    best = samples[0]
    for s in samples:
        if s.t > t:
            break
        best = s
    return best


def step_intervals(dagster_home: str) -> list[tuple[str, float, float]]:
    return [(s.key, s.started, s.started + s.seconds) for s in run_times(dagster_home).steps]


def report(samples: list[Sample], steps: list[tuple[str, float, float]], launched: float, ended: float) -> None:
    labels = step_labels()
    print(f"{'step':<20}{'wall s':>8}{'run cpu':>9}{'server':>8}{'simul.':>8}{'max RSS':>9}   (CPU s; /wall = cores)")
    marks = [("(start-up)", launched, steps[0][1] if steps else ended)] + [
        (labels.get(k, k), a, b) for k, a, b in steps] + [("(whole CLI)", launched, ended)]
    for name, a, b in marks:
        s0, s1 = at(samples, a), at(samples, b)
        wall = max(b - a, 1e-9)
        run, srv, sim = s1.run - s0.run, s1.server - s0.server, s1.simulator - s0.simulator
        peak = max((s.rss_mb for s in samples if a <= s.t <= b), default=0.0)
        print(f"{name:<20}{wall:8.1f}{run:9.1f}{srv:8.1f}{sim:8.1f}{peak:9.0f}   cores {run / wall:.2f} / "
              f"{srv / wall:.2f} / {sim / wall:.2f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--clean-workers", type=int, default=1, help="KD_CLEAN_WORKERS for the run")
    args = parser.parse_args()
    server = pid_of("/usr/sbin/mariadbd") or pid_of("mariadbd") or pid_of("mysqld")
    with tempfile.TemporaryDirectory() as home, scratch_database() as url, simulator_process(
            args.customers, "--history-days", str(6 * 365), "--clock-start", CLOCK, "--session-ttl", "0") as (base, _):
        simulator = pid_of("kd_assets.simulator", below=os.getpid())
        before = load_avg()
        launched = time.time()
        process = subprocess.Popen([sys.executable, "-m", "dagster", "asset", "materialize", "-m",
                                    "kd_assets.definitions", "--select", SELECTION,
                                    "--partition-range", f"{SYNC_START}...{DAY}"],
                                   env={**cli_env(base, url, home), "KD_CLEAN_WORKERS": str(args.clean_workers)}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                   text=True)
        sampler = Sampler(process.pid, server, simulator)
        with child_peak_rss_mb(process.pid) as peak_rss:
            err = process.stderr.read()
            process.wait()
        ended = time.time()
        samples = sampler.stop()
        if process.returncode != 0:
            raise RuntimeError(f"materialize failed: {err[-2000:]}")
        print(f"{args.customers:,} customers, KD_CLEAN_WORKERS={args.clean_workers}: initial load "
              f"{ended - launched:.1f} s, peak RSS {peak_rss():.0f} MiB (VmHWM summed over the run's processes); load average {before} -> "
              f"{load_avg()}\n  memory: {peak_rss.summary()}")
        report(samples, step_intervals(home), launched, ended)


if __name__ == "__main__":
    main()
