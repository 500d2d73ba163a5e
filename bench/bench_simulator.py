"""Benchmark: how fast the simulator serves 100,000 BD_Customer rows over HTTP.

Starts ``python -m kd_assets.simulator`` in its own process (the honest measure: the server
does not share our interpreter), logs in, then pages through every row with keyset paging
(``FCUSTID > last``, ``OrderString FCUSTID ASC``, pages of 2000) using plain ``requests``, and
prints startup time, seconds and rows/s (median of several runs; shared machines are noisy).

    python -m bench.bench_simulator [--customers 100000] [--page-size 2000] [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import requests

from bench.harness import simulator_process
from kd_assets.kingdee import protocol as p
from kd_assets.simulator.fields import REF
from kd_assets.simulator.formfile import load_catalog

FIELDS = load_catalog().get("BD_Customer").fields
# Every field of the form; references as their FNumber, the way a sync spec asks for them.
FIELD_KEYS = ",".join(f.key + (".FNumber" if f.kind == REF else "") for f in FIELDS)


def fetch_all(base_url: str, page_size: int) -> tuple[int, float]:
    """(rows, seconds) for one keyset pass over every customer."""
    http = requests.Session()
    login = http.post(base_url + p.VALIDATE_USER + p.SERVICE_SUFFIX,
                      json={"parameters": ["kd-demo", "demo", "demo-pass", 2052]}, timeout=60)
    assert login.json()["LoginResultType"] == p.LOGIN_SUCCESS, login.text
    url = base_url + p.EXECUTE_BILL_QUERY + p.SERVICE_SUFFIX
    rows, last = 0, 0
    started = time.perf_counter()
    while True:
        data = {"FormId": "BD_Customer", "FieldKeys": FIELD_KEYS, "FilterString": f"FCUSTID > {last}",
                "OrderString": "FCUSTID ASC", "Limit": page_size}
        page = json.loads(http.post(url, json={"data": data}, timeout=60).content)
        rows += len(page)
        if len(page) < page_size:
            return rows, time.perf_counter() - started
        last = page[-1][0]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--page-size", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    with simulator_process(args.customers) as (base_url, startup):
        results = [fetch_all(base_url, args.page_size) for _ in range(args.runs)]
    rows = results[0][0]
    seconds = statistics.median(s for _, s in results)
    print(f"simulator startup (generate {args.customers} rows + bind): {startup:.1f} s")
    print(f"served {rows} rows x {len(FIELDS)} fields in pages of {args.page_size}: "
          f"{seconds:.2f} s median of {args.runs} runs = {rows / seconds:,.0f} rows/s")


if __name__ == "__main__":
    main()
