"""``row_signature`` values are stored in users' tables (``row_hash``): the same frame must give
the same int64s forever. These are the values computed before any optimisation, for frames with
every column kind, NULLs of each flavour, unicode, repeated and distinct values."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pandas as pd

from kd_assets.sync.sqltext import row_signature
from kd_assets.sync.transform import coerce_frame, to_frame
from kd_assets_tests.sync.rows import SPEC, kd_row

TEXTS = ["Acme", None, "", "  ", "中文 ✓ 客户", "tab\there", "back\\slash", "None", "\x00NULL", "O'Hara",
         "\U0001F600 emoji", "nul\0byte"]


def _rows() -> list[list]:
    return [kd_row(i, master_id=None if i % 5 == 0 else i * 7,
                   customer_name=TEXTS[i % len(TEXTS)] or f"name {i}",
                   short_name=TEXTS[(i + 3) % len(TEXTS)], using_org=["100", "200", None][i % 3],
                   document_status="ABCDZ"[i % 5], registered_capital=[1234.5, "99.99", None, 0, "12,345.678"][i % 5],
                   is_group=[True, False, None][i % 3],
                   created_at=[None, "2024-01-02T09:00:00", "1999-12-31T23:59:59"][i % 3],
                   modified_at=f"2024-05-07T10:{i:02d}:00.{i * 37 % 1000:03d}",
                   forbidden_at=None if i % 2 else "2024-05-07T10:00:00.5")
            for i in range(1, 13)]


TO_FRAME_SIGNATURES = [
    -9169623168702954133, 3290200284176254648, 123409559360894346,
    -2977044282057772558, 4467280072790116122, 5012520120723594171,
    8376387406645923730, -7555816755438843959, 4113769610623344959,
    -2419897714549489208, -6192953147482412480, 317918131708081786,
]

COERCED_SIGNATURES = [
    -4985570242320683239, -2670685082889355297, 4459745642422611608,
    -4738768201184403168, 2307183721850897795, -6879106611590574093,
]


def test_signatures_of_converted_rows_never_change():
    frame = to_frame(SPEC, _rows())
    assert row_signature(SPEC, frame).tolist() == TO_FRAME_SIGNATURES


def _read_back() -> pd.DataFrame:
    """A frame as rows read back from a database look before ``coerce_frame`` (strings, Decimals,
    datetimes, ints, 0/1 flags, NULLs)."""
    frame = to_frame(SPEC, _rows()[:6])[[c.name for c in SPEC.columns]].astype(object)
    frame = frame.where(frame.notna(), None)
    frame["registered_capital"] = [Decimal("1234.50"), None, Decimal("0.00"), Decimal("99.99"), None, Decimal("7")]
    frame["is_group"] = [1, 0, None, 1, 0, None]
    return coerce_frame(SPEC, frame)


def test_signatures_of_rows_read_back_never_change():
    assert row_signature(SPEC, _read_back()).tolist() == COERCED_SIGNATURES


def test_signatures_of_unusual_missing_values_never_change():
    """pd.NA and None in text are the same NULL; a float NaN in a text column hashes as today
    (the text "nan"); a text column with no value at all; one row; no rows."""
    frame = to_frame(SPEC, _rows()[:4])
    frame["short_name"] = pd.Series([pd.NA, None, "x", np.nan], dtype=object)
    frame["address"] = None
    assert row_signature(SPEC, frame).tolist() == UNUSUAL_SIGNATURES
    assert row_signature(SPEC, frame.iloc[:1]).tolist() == UNUSUAL_SIGNATURES[:1]
    assert row_signature(SPEC, frame.iloc[:0]).tolist() == []


UNUSUAL_SIGNATURES = [
    -4418236443588515112, 6693511078300113083, 5284339836151789119,
    -2522758689225704773,
]
