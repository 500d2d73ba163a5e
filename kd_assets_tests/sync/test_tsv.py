"""The whole-column encoders (LOAD DATA fields, datetime and decimal text) give exactly what a
plain value-by-value encoder gives, for every column kind, NULL flavour and escape."""

from __future__ import annotations

import random
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest

from kd_assets.sync.loadfile import FileLoader
from kd_assets.sync.sqltext import datetime_text, decimal_text
from kd_assets.sync.tsv import tsv_bytes

TRICKY = ["tab\there", "new\nline", "cr\rreturn", "back\\slash", "\\N", "NULL", "O'Hara \"q\"", "中文 ✓",
          "nul\0byte", "trailing\\", "  ", "", "\U0001F600", "\\t"]
MARKERS = ["\x01marker", "\x02", "\x02marker"]
KINDS = {"t": ("text", 0), "i": ("int", 0), "d": ("decimal", 2), "z": ("decimal", 0), "b": ("bool", 0),
         "dt": ("datetime", 0)}


def _field(value, kind) -> bytes:
    """One value as LOAD DATA reads it, the obvious way."""
    name, scale = kind
    if value is None or value is pd.NA or (name != "text" and pd.isna(value)):
        return b"\\N"
    if name == "int":
        return str(int(value)).encode()
    if name == "decimal":
        return format(value, f".{scale}f").encode()
    if name == "bool":
        return b"1" if value else b"0"
    if name == "datetime":
        return pd.Timestamp(value).strftime("%Y-%m-%d %H:%M:%S.%f").encode()
    text = value if isinstance(value, str) else str(value)
    for old, new in (("\\", "\\\\"), ("\t", "\\t"), ("\n", "\\n"), ("\r", "\\r"), ("\0", "\\0")):
        text = text.replace(old, new)
    return text.encode("utf-8")


def _reference(frame: pd.DataFrame) -> bytes:
    columns = [[_field(v, KINDS[c]) for v in frame[c].astype(object).tolist()] for c in frame.columns]
    return b"".join(b"\t".join(row) + b"\n" for row in zip(*columns))


def _frame(rows: int, texts: list, seed: int = 1) -> pd.DataFrame:
    rnd = random.Random(seed)
    return pd.DataFrame({
        "t": pd.Series([rnd.choice(texts + [None, pd.NA]) for _ in range(rows)], dtype=object),
        "i": pd.array([rnd.choice([None, -(2**63), 2**63 - 1, rnd.randrange(-10**9, 10**9)]) for _ in range(rows)],
                      dtype="Int64"),
        "d": pd.Series([rnd.choice([None, Decimal("-0.00"), Decimal(rnd.randrange(-10**18, 10**18)).scaleb(-2),
                                    Decimal("1.5"), Decimal("2.675"), 3.14159, 7]) for _ in range(rows)], dtype=object),
        "z": pd.Series([rnd.choice([None, Decimal(rnd.randrange(10**6)), Decimal("7.6")]) for _ in range(rows)],
                       dtype=object),
        "b": pd.array([rnd.choice([True, False, None]) for _ in range(rows)], dtype="boolean"),
        "dt": pd.Series(np.array([rnd.choice([None, rnd.randrange(-5 * 10**18, 9 * 10**18)]) or np.iinfo(np.int64).min
                                  for _ in range(rows)], dtype=np.int64).view("datetime64[ns]")),
    })


@pytest.mark.parametrize("texts", [TRICKY, TRICKY + MARKERS, ["only"], TRICKY + [5, 1.5, float("nan")]])
def test_tsv_bytes_equal_a_value_by_value_encoder(texts):
    frame = _frame(400, texts)
    assert tsv_bytes(KINDS, frame, list(frame.columns)) == _reference(frame)
    for column in frame.columns:  # one column at a time: all-NULL, one-value and no-NULL columns too
        for part in (frame[[column]], frame[[column]].dropna(), frame[[column]].iloc[:1], frame[[column]].iloc[:0]):
            assert tsv_bytes(KINDS, part, [column]) == _reference(part)


def test_batches_of_a_frame_concatenate_to_its_file():
    frame = _frame(1000, TRICKY)
    loader = FileLoader.__new__(FileLoader)  # encoding only: no connection needed
    loader.kinds, loader.columns, loader.key, loader.batch_rows = KINDS, list(frame.columns), None, 7
    batches = list(loader.encode_batches(frame))
    assert [b.rows for b in batches] == [7] * 142 + [6]
    assert b"".join(b.data for b in batches) == _reference(frame)


def test_datetime_text_is_numpys_iso_text():
    micros = np.random.default_rng(7).integers(-9 * 10**18, 9 * 10**18, 20_000) // 1000
    edges = np.array(["1970-01-01", "1969-12-31T23:59:59.999999", "2000-02-29T12:00:00.000001", "1900-03-01",
                      "2100-02-28T23:59:59", "1753-01-01", "1677-09-22", "2262-04-10T23:59:59.999999"],
                     dtype="datetime64[us]")
    values = np.concatenate([micros.view("datetime64[us]"), edges, [np.datetime64("NaT")]]).astype("datetime64[ns]")
    expected = [None if np.isnat(v) else np.datetime_as_string(v.astype("datetime64[us]")).replace("T", " ")
                for v in values]
    assert datetime_text(values).tolist() == expected
    assert datetime_text(np.repeat(values[:1], 3)).tolist() == expected[:1] * 3
    assert datetime_text(np.array(["NaT"] * 2, dtype="datetime64[ns]")).tolist() == [None, None]


@pytest.mark.parametrize("scale", [0, 2, 6, 8])
def test_decimal_text_formats_exactly(scale):
    rnd = random.Random(scale)
    values = [Decimal(rnd.randrange(-10**18, 10**18)).scaleb(-scale) for _ in range(500)]
    odd = [None, Decimal("-0").scaleb(-scale), Decimal("1E+3"), Decimal("1.5"), Decimal("NaN"), 10**17 + 1, 2.675]
    for column in (values, values + odd, odd):
        s = pd.Series(column, dtype=object)
        expected = [format(0 if pd.isna(v) else v, f".{scale}f") for v in column]  # NaN: missing
        assert decimal_text(s, scale).tolist() == expected
