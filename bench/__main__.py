"""`make bench` / `python -m bench`: every benchmark in turn, each printing its own figures."""

import subprocess
import sys

BENCHMARKS = ["bench.bench_simulator", "bench.bench_bills", "bench.bench_fetch", "bench.bench_load",
              "bench.bench_incremental", "bench.bench_verify"]


def main() -> int:
    failed = 0
    for module in BENCHMARKS:
        print(f"\n=== {module} ===", flush=True)
        failed += subprocess.run([sys.executable, "-m", module, *sys.argv[1:]]).returncode != 0
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
