"""Benchmark: rows/s for fetching 100,000 BD_Customer rows from the simulator over real HTTP.

Starts ``python -m kd_assets.simulator --customers N --port <free>`` in a separate process (so
server work does not share our interpreter), fetches every customer through
``K3CloudClient.iter_window`` with a wide window (keyset pages of 2000), and prints:
- rows/s of an unprofiled run;
- where the client's wall time goes in a cProfile run: HTTP (requests, incl. waiting for the
  server), JSON decoding, and our own code (filters, paging, parsing, checks, logging).

    python -m bench.bench_fetch [--customers 100000] [--page-size 2000]
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import pstats
import statistics
import time

from bench.harness import simulator_process
from kd_assets.kingdee import ClientConfig, K3CloudClient, Window
from kd_assets.sync.spec import load_spec

FIELDS = ("FCUSTID", "FMasterId", "FNumber", "FName", "FShortName", "FUseOrgId.FNumber", "FCreateOrgId.FNumber",
          "FDocumentStatus", "FForbidStatus", "FRegisterFund", "FLegalPerson", "FSOCIALCRECODE", "FTEL",
          "FADDRESS", "FSELLER.FName", "FCreateDate", "FModifyDate", "FForbidDate", "FApproveDate")
SPEC = load_spec("bd_customer")
EVERYTHING = Window(dt.datetime(1990, 1, 1), dt.datetime(2100, 1, 1))


def fetch_all(base_url: str, page_size: int) -> tuple[int, K3CloudClient]:
    config = ClientConfig(base_url, "kd-demo", "demo", app_id="300001_S0RBU1NFVFMtREVNTy1BUFAtU0VDUkVU",
                          app_secret="kdassets-demo-app-secret", page_size=page_size)
    client = K3CloudClient(config)
    rows = sum(len(page) for page in client.iter_window(SPEC.form_id, FIELDS, EVERYTHING, key_field=SPEC.key_field,
                                                       change_fields=SPEC.change_time_fields))
    client.close()
    return rows, client


def _cumulative(stats: pstats.Stats, predicate) -> float:
    return sum(entry[3] for key, entry in stats.stats.items() if predicate(key))  # entry[3]: cumulative


def time_shares(base_url: str, page_size: int) -> dict[str, float]:
    profiler = cProfile.Profile()
    started = time.perf_counter()
    profiler.runcall(fetch_all, base_url, page_size)
    total = time.perf_counter() - started
    stats = pstats.Stats(profiler)
    http = _cumulative(stats, lambda k: k[0].endswith("requests/sessions.py") and k[2] == "post")
    decode = _cumulative(stats, lambda k: k[0].endswith("json/__init__.py") and k[2] == "loads")
    return {"total_s": total, "http": http / total, "json": decode / total, "ours": 1 - (http + decode) / total}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--page-size", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    with simulator_process(args.customers) as (base_url, _startup_s):
        fetch_all(base_url, args.page_size)  # warm-up: server caches, connection pool
        rates, client, rows = [], None, 0
        for _ in range(args.runs):
            started = time.perf_counter()
            rows, client = fetch_all(base_url, args.page_size)
            rates.append(rows / (time.perf_counter() - started))
        shares = time_shares(base_url, args.page_size)
    meta = client.stats.as_metadata()
    print(f"fetched {rows} rows x {len(FIELDS)} fields: {statistics.median(rates):,.0f} rows/s median of "
          f"{args.runs} runs (range {min(rates):,.0f}-{max(rates):,.0f}); {meta['kingdee_calls']} calls, "
          f"{meta['kingdee_bytes'] / 1e6:.1f} MB, p50 {meta['kingdee_latency_p50_ms']} ms, "
          f"p95 {meta['kingdee_latency_p95_ms']} ms per page")
    print(f"client time shares (cProfile run, {shares['total_s']:.2f}s): HTTP incl. server {shares['http']:.0%}, "
          f"JSON decoding {shares['json']:.0%}, our code {shares['ours']:.0%}")

if __name__ == "__main__":
    main()
