"""The sale-order lines of both sides, compared line by line and column by column: the source's
rows as the spec fetches them against the target's live lines (shared by the sync-level and the
Dagster randomized tests)."""

from __future__ import annotations

import pandas as pd

from kd_assets.sync.spec import SyncSpec

# Source field → target column, every one compared (header columns are repeated on each line).
COMPARED = {"FBillNo": "bill_no", "FDocumentStatus": "document_status", "FCloseStatus": "close_status",
            "FCustId.FNumber": "customer_number", "FMaterialId.FNumber": "material_number", "FQty": "qty",
            "FPrice": "price", "FAllAmount": "all_amount", "FStockOutQty": "stock_out_qty",
            "FModifyDate": "modified_at", "FApproveDate": "approved_at", "FCloseDate": "closed_at"}


def _comparable(field: str, want, have):
    if field.endswith("Date"):
        return (None if want in (None, "") else pd.Timestamp(want)), (None if pd.isna(have) else pd.Timestamp(have))
    if isinstance(want, float):
        return want, (None if have is None else float(have))
    return want, have


def line_differences(spec: SyncSpec, source: dict[tuple[int, int], list], live: dict[tuple[int, int], object],
                     limit: int = 8) -> list[str]:
    """Short lines naming each disagreement: (bill id, entry id) keys live in the target but not at
    the source or the other way round, then every differing column of the lines both hold."""
    problems = [f"lines at the source, not live in the target: {sorted(set(source) - set(live))[:limit]}"
                if set(source) - set(live) else "",
                f"lines live in the target, not at the source: {sorted(set(live) - set(source))[:limit]}"
                if set(live) - set(source) else ""]
    problems = [p for p in problems if p]
    differing = []
    for key in sorted(set(source) & set(live)):
        row, got = source[key], live[key]
        for field, column in COMPARED.items():
            want, have = _comparable(field, row[spec.field_keys.index(field)], getattr(got, column))
            if have != want:
                differing.append(f"{key} {column}: source={want} target={have}")
    if differing:
        problems.append(f"{len(differing)} differing column(s):")
        problems += [f"  {d}" for d in differing[:limit]]
    return problems
