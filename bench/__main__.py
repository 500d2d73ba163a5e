"""`make bench` / `python -m bench`: every benchmark in turn, each printing its own figures.

``python -m bench --quick`` (``make bench-quick``) runs only the end-to-end initial loads (issue 12's
customers, issue 11's sales-order lines) at a tenth of the size.
"""

import subprocess
import sys

QUICK = ["bench.bench_initial", "bench.bench_bill_initial"]
BENCHMARKS = [*QUICK, "bench.bench_simulator", "bench.bench_bills", "bench.bench_bill_lines",
              "bench.bench_fetch",
              "bench.bench_load", "bench.bench_incremental", "bench.bench_verify"]


def main() -> int:
    failed = 0
    quick = "--quick" in sys.argv[1:]
    for module in QUICK if quick else BENCHMARKS:
        print(f"\n=== {module} ===", flush=True)
        failed += subprocess.run([sys.executable, "-m", module, *sys.argv[1:]]).returncode != 0
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
