"""Benchmark: how fast the simulator generates and serves 50,000 sales orders (~1,000,000 lines).

Starts ``python -m kd_assets.simulator --orders N`` in its own process, then pages through every
line with keyset paging over (bill id, entry id) — ``FID > x or (FID = x and
FSaleOrderEntry_FEntryID > y)``, ``OrderString FID ASC, FSaleOrderEntry_FEntryID ASC``, pages of
2000 — asking for every header and line field, and prints startup (generation) seconds and
lines/s.

    python -m bench.bench_bills [--orders 50000] [--page-size 2000] [--runs 1]
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

FORM = load_catalog().get("SAL_SaleOrder")
ENTITY = FORM.entities[0]
# FID and the entry id lead, then every header and line field (references as FNumber).
FIELD_KEYS = ",".join([FORM.key, ENTITY.entry_key, *(
    f.key + (".FNumber" if f.kind == REF else "")
    for f in (*FORM.fields, *ENTITY.fields) if f.key not in (FORM.key, ENTITY.entry_key))])


def fetch_all(base_url: str, page_size: int) -> tuple[int, int, float]:
    """(lines, bills, seconds) for one keyset pass over every order line."""
    http = requests.Session()
    login = http.post(base_url + p.VALIDATE_USER + p.SERVICE_SUFFIX,
                      json={"parameters": ["kd-demo", "demo", "demo-pass", 2052]}, timeout=60)
    assert login.json()["LoginResultType"] == p.LOGIN_SUCCESS, login.text
    url = base_url + p.EXECUTE_BILL_QUERY + p.SERVICE_SUFFIX
    rows, bills, last = 0, set(), (0, 0)
    started = time.perf_counter()
    while True:
        data = {"FormId": FORM.form_id, "FieldKeys": FIELD_KEYS,
                "FilterString": f"FID > {last[0]} or (FID = {last[0]} and {ENTITY.entry_key} > {last[1]})",
                "OrderString": f"FID ASC, {ENTITY.entry_key} ASC", "Limit": page_size}
        page = json.loads(http.post(url, json={"data": data}, timeout=120).content)
        rows += len(page)
        bills.update(r[0] for r in page)
        if len(page) < page_size:
            return rows, len(bills), time.perf_counter() - started
        last = (page[-1][0], page[-1][1])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=50_000)
    parser.add_argument("--page-size", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args(argv)
    with simulator_process(1000, "--orders", str(args.orders), "--materials", "2000") as (base_url, startup):
        results = [fetch_all(base_url, args.page_size) for _ in range(args.runs)]
    rows, bills = results[0][:2]
    seconds = statistics.median(r[2] for r in results)
    print(f"simulator startup (generate {args.orders} orders = {rows} lines + base data + bind): "
          f"{startup:.1f} s")
    print(f"served {rows} lines of {bills} orders x {len(FIELD_KEYS.split(','))} fields in keyset "
          f"pages of {args.page_size}: {seconds:.2f} s median of {args.runs} runs = "
          f"{rows / seconds:,.0f} lines/s")


if __name__ == "__main__":
    main()
