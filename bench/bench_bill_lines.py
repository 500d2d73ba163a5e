"""Benchmark: bill lines through the store's publish path (land → clean → publish with lines
replaced per bill) into MariaDB, without Kingdee: what the sync side costs per line.

Makes N sales-order lines (20 per bill, the simulator's mean) as ExecuteBillQuery rows of the
shipped ``sal_saleorder`` spec, then times (1) the initial load and (2) a re-sync after every
bill was edited and lost one line (the lines-replaced-per-bill path soft-deletes N/20 lines).
Prints rows/s per phase and the peak RSS.

    python -m bench.bench_bill_lines [--lines 100000] [--chunk 10000]
"""

from __future__ import annotations

import argparse
import datetime as dt
import time

from bench.harness import peak_rss_mb, scratch_database
from kd_assets.sync.schemas import validate
from kd_assets.sync.spec import load_spec
from kd_assets.sync.store import TargetStore, create_target_engine
from kd_assets.sync.transform import to_frame

SPEC = load_spec("sal_saleorder")
LINES_PER_BILL = 20
NOW = dt.datetime(2025, 7, 1, 8, 0)
WINDOW = (dt.datetime(2000, 1, 1), dt.datetime(2100, 1, 1))


def bill_rows(bills: int, modified: str, drop_first: bool = False) -> list[list]:
    values = {
        "FBillNo": None, "FDate": "2025-06-01T00:00:00", "FCustId.FNumber": "CUST000001",
        "FSaleOrgId.FNumber": "100", "FDocumentStatus": "A", "FCloseStatus": "A", "FModifyDate": modified,
        "FApproveDate": None, "FCloseDate": None, "FMaterialId.FNumber": "MAT000001", "FQty": 10.0,
        "FPrice": 12.5, "FAllAmount": 125.0, "FDeliveryDate": "2025-06-20T00:00:00", "FStockOutQty": 0.0}
    rows = []
    for b in range(bills):
        bill = 100_001 + b
        for e in range(1 if drop_first else 0, LINES_PER_BILL):
            row = {**values, "FID": bill, "FBillNo": f"XSDD{bill:06d}",
                   "FSaleOrderEntry_FEntryID": 500_001 + b * 100 + e}
            rows.append([row[f] for f in SPEC.field_keys])
    return rows


def sync(store: TargetStore, rows: list[list], run_id: str, chunk: int) -> tuple[dict, float]:
    started = time.perf_counter()
    for i in range(0, len(rows), chunk):
        store.land_rows(rows[i:i + chunk], run_id, "p")
    landed = time.perf_counter()
    for landed_rows in store.iter_landed(*WINDOW, chunk_size=chunk, partition_key="p"):
        result = validate(SPEC, to_frame(SPEC, landed_rows), NOW)
        store.write_clean(result.clean, run_id, "p")
    cleaned = time.perf_counter()
    counts = store.publish_clean(*WINDOW, run_id, chunk_size=chunk)
    done = time.perf_counter()
    return {"land": landed - started, "clean": cleaned - landed, "publish": done - cleaned,
            "counts": counts}, done - started


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=100_000)
    parser.add_argument("--chunk", type=int, default=10_000)
    args = parser.parse_args(argv)
    bills = args.lines // LINES_PER_BILL
    with scratch_database() as url:
        engine = create_target_engine(url)
        store = TargetStore(engine, SPEC)
        store.ensure_tables()
        for label, rows in (("initial load", bill_rows(bills, "2025-06-01T10:00:00")),
                            ("every bill lost a line", bill_rows(bills, "2025-06-02T10:00:00", drop_first=True))):
            phases, seconds = sync(store, rows, label, args.chunk)
            c = phases["counts"]
            print(f"{label}: {len(rows)} lines of {bills} bills in {seconds:.1f} s = {len(rows) / seconds:,.0f} "
                  f"lines/s (land {phases['land']:.1f} s, clean {phases['clean']:.1f} s, publish "
                  f"{phases['publish']:.1f} s = {len(rows) / phases['publish']:,.0f} lines/s); inserted "
                  f"{c.inserted}, updated {c.updated}, lines removed {c.lines_removed}")
        engine.dispose()
    print(f"peak RSS {peak_rss_mb():.0f} MiB")


if __name__ == "__main__":
    main()
