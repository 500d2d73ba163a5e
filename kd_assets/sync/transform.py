"""Kingdee rows (lists in FieldKeys order) → a typed, renamed pandas frame, per the spec.

Conversions are vectorised per column over a chunk. A value that cannot be converted never
raises: the row carries its conversion errors (naming the record key and field) in
``_conversion_errors`` and its raw list in ``_raw``, and validation sends it to quarantine.
Datetimes stay naive source-local (Kingdee's clock, usually UTC+8): no time-zone shift, so
stored values, windows and Kingdee filters all speak the same local time.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Sequence

import numpy as np
import pandas as pd

from kd_assets.sync.amounts import amounts_from_text, exact_decimals
from kd_assets.sync.billspec import line_keys
from kd_assets.sync.spec import ColumnSpec, SyncSpec

CHANGE_TIME = "change_time"
RAW = "_raw"
CONVERSION_ERRORS = "_conversion_errors"

# Kingdee sends `YYYY-MM-DDTHH:MM:SS` and sometimes `.fff`; a time-zone suffix would mean the
# value is not source-local, so it is an error rather than a silent shift.
_DATETIME_RX = re.compile(r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?)?")
# Datetimes a target can hold. The bounds are deliberate, the intersection of every place a value
# goes: Kingdee's own database is SQL Server, whose `datetime` starts at 1753-01-01, so an earlier
# value is a placeholder (.NET's DateTime.MinValue 0001-01-01 from an empty date) or garbage, not
# a real change; frames hold datetime64[ns], which ends at 2262-04-11 (values beyond it, like a
# 9999-12-31 "forever", wrapped silently into the 1700s before this check); MySQL/MariaDB
# DATETIME (1000-01-01..9999-12-31) holds the whole range. Outside it: a conversion reject.
_DIGITS_AS_ZERO = str.maketrans("123456789", "000000000")
DATETIME_MIN = np.datetime64("1753-01-01T00:00:00")
DATETIME_MAX = np.datetime64("2262-04-11T00:00:00")  # exclusive
_BOOL_WORDS = {"true": True, "1": True, "y": True, "false": False, "0": False, "n": False}
_INT_RANGE = {"int": 2**31, "bigint": 2**63}  # the SQL type holds [-range, range)
# Text pandas.to_numeric reads as a number (ASCII digits, an optional point and exponent); the
# integers among them are ints. Python's int() alone would also take "1_000" and other scripts' digits.
_NUMBER_TEXT = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_INTEGER_TEXT_BOUND = 2**64  # beyond every column's range


def to_frame(spec: SyncSpec, rows: Sequence[Sequence]) -> pd.DataFrame:
    """Convert one chunk of rows; adds ``change_time`` (greatest non-null change field)."""
    width = len(spec.field_keys)
    for row in rows:
        if len(row) != width:
            # Misaligned rows would put values in the wrong columns: fail loudly, not quietly.
            raise ValueError(f"{spec.form_id}: row {row[:1]!r}… has {len(row)} values, "
                             f"FieldKeys has {width}")
    # Column-wise Python lists: one transpose in C, then per-column work (no per-row frames).
    raw_columns = list(zip(*rows)) if rows else [()] * width
    typed_columns: dict[str, object] = {}
    failures: dict[int, list[dict]] = {}
    position = {field: pos for pos, field in enumerate(spec.field_keys)}
    keys = record_labels(spec, raw_columns, position)
    for col in spec.columns:
        values = raw_columns[position[col.field]]
        if spec.bill and col.name == spec.key_column:
            typed, bad = line_keys(values, raw_columns[position[spec.bill.entry_key_field]])
            typed, problem = pd.array(typed, dtype="Int64"), "and its entry id do not form a line key"
            typed[bad] = pd.NA
        else:
            typed, bad, problem = convert_column(col, values)
        typed_columns[col.name] = typed
        for pos in np.flatnonzero(bad):
            failures.setdefault(int(pos), []).append(
                conversion_failure(spec, col, keys[pos], values[pos], problem))
    frame = pd.DataFrame(typed_columns, index=pd.RangeIndex(len(rows)))
    frame[CHANGE_TIME] = frame[[c.name for c in spec.change_columns]].max(axis=1)
    frame[RAW] = pd.Series(list(rows), index=frame.index, dtype=object)
    errors = np.full(len(frame), None, dtype=object)
    for pos, errs in failures.items():
        errors[pos] = errs
    frame[CONVERSION_ERRORS] = errors
    return frame


def conversion_failure(spec: SyncSpec, col: ColumnSpec, key, value, problem: str) -> dict:
    label = key if spec.bill else f"{spec.key_field}={key!r}"
    return {
        "check": "conversion", "field": col.field, "column": col.name, "value": _jsonable(value),
        "message": f"{spec.form_id} {label}: {col.field} ({col.name}) value {value!r} {problem}",
    }


def record_labels(spec: SyncSpec, raw_columns: list, position: dict) -> Sequence:
    """What names each row in a message: its key, or for a bill line its number, id and entry id."""
    keys = raw_columns[position[spec.key_field]]
    if not spec.bill:
        return keys
    b = spec.bill
    numbers, entries = raw_columns[position[b.number_field]], raw_columns[position[b.entry_key_field]]
    return [f"{b.number_field}={n!r} {b.header_key_field}={k!r} {b.entry_key_field}={e!r}"
            for n, k, e in zip(numbers, keys, entries)]


def _clean_text(values: Sequence) -> list:
    """Trimmed text; None, "" and whitespace become None. Non-text values are rendered as text."""
    return [(v.strip() or None) if type(v) is str else (None if v is None else (str(v).strip() or None))
            for v in values]


def convert_column(col: ColumnSpec, values: Sequence) -> tuple[pd.Series | np.ndarray, np.ndarray, str]:
    """Return (typed values, mask of unconvertible non-blank values, what went wrong)."""
    if col.conversion == "int" and (fast := _int_fast_path(col, values)) is not None:
        return fast
    if col.conversion == "int":
        return _to_int(col, *_ints_and_text(values))
    text = np.array(_clean_text(values), dtype=object)
    if col.conversion in ("text", "code"):
        return text, np.zeros(len(text), dtype=bool), ""
    blank = np.equal(text, None)
    if col.conversion == "decimal":
        return _to_decimal(col, text, blank)
    if col.conversion == "amount_text":  # lenient: what cannot be read is NULL, never a reject
        return (*amounts_from_text(text.tolist(), *col.precision_scale), "")
    if col.conversion == "datetime":
        return _to_datetime(col, text, blank)
    if col.conversion == "bool":
        flags = pd.array([_BOOL_WORDS.get(v.lower()) if v is not None else None for v in text.tolist()],
                         dtype="boolean")
        return flags, np.asarray(flags.isna()) & ~blank, "is not a Kingdee flag (true/false/1/0)"
    raise ValueError(f"unknown conversion {col.conversion!r} for {col.field}")


def _int_fast_path(col: ColumnSpec, values: Sequence):
    """JSON ids are plain ints: convert in C. None when the column needs the general path."""
    if not all(type(v) is int for v in values):
        return None
    try:
        arr = np.array(values, dtype=np.int64)
    except OverflowError:
        return None
    limit = _INT_RANGE[col.sql_type]
    bad = (arr < -limit) | (arr >= limit)  # not abs(): it overflows at -2**63
    if bad.any():
        return None
    return pd.array(arr, dtype="Int64"), bad, ""


def _ints_and_text(values: Sequence) -> tuple[list, np.ndarray]:
    """JSON ints as they are, every other value as cleaned text; and where the values are blank."""
    others = [pos for pos, v in enumerate(values) if type(v) is not int]
    mixed = list(values)
    for pos, text in zip(others, _clean_text([values[pos] for pos in others])):
        mixed[pos] = text
    blank = np.zeros(len(mixed), dtype=bool)
    blank[others] = np.equal(np.array([mixed[pos] for pos in others], dtype=object), None)
    return mixed, blank


def _to_int(col: ColumnSpec, values: Sequence, blank: np.ndarray):
    """Python ints and integer text ("42", "4.0", "1e3", as pandas reads numbers) as exact Int64,
    blanks NA; anything else, or out of the column's range, is bad. ``values``: ints or cleaned text.
    Exact at any size: no float64 on the way, which would round integers from 2**53 on."""
    limit = _INT_RANGE[col.sql_type]
    exact = [v if type(v) is int else _integer_text(v) for v in values]
    fits = np.array([v is not None and -limit <= v < limit for v in exact], dtype=bool)
    numbers = np.array([v if ok else 0 for v, ok in zip(exact, fits)], dtype=np.int64)
    return pd.arrays.IntegerArray(numbers, ~fits), ~fits & ~blank, f"is not an integer within {col.sql_type}"


def _integer_text(text: str | None) -> int | None:
    """The integer a number's text holds exactly, or None (blank, not a number, a fraction)."""
    if text is None or not _NUMBER_TEXT.fullmatch(text):
        return None
    try:
        return int(text)
    except ValueError:  # a point or an exponent
        number = Decimal(text)
    # Bounded before int(): "1e999999999" is an integer, and a huge one to build.
    if abs(number) >= _INTEGER_TEXT_BOUND or number != number.to_integral_value():
        return None
    return int(number)


def _to_decimal(col: ColumnSpec, text: np.ndarray, blank: np.ndarray):
    values, bad = exact_decimals(text.tolist(), *col.precision_scale)
    return values, bad, f"is not a number that fits {col.sql_type}"


def _to_datetime(col: ColumnSpec, text: list, blank: np.ndarray):
    # Store exactly what the column can hold so re-reads compare equal: whole seconds for
    # `datetime`, milliseconds for `datetime(3)`. numpy parses ISO text in C; the regex keeps
    # out what numpy would also accept but Kingdee never sends (time zones, week dates).
    unit = "s" if col.sql_type == "datetime" else "ms"
    values = text.tolist()
    checked = values if _all_datetime_text(values) else [
        v if v is None or _DATETIME_RX.fullmatch(v) else "NaT" for v in values]
    try:
        parsed = np.array(checked, dtype=f"datetime64[{unit}]")
    except ValueError:  # a calendar-impossible date such as 2024-13-01: parse one by one
        parsed = np.array([_one_datetime(v, unit) for v in checked], dtype=f"datetime64[{unit}]")
    # Range first: a value outside datetime64[ns] would wrap around silently in the cast below.
    out_of_range = ~np.isnat(parsed) & ((parsed < DATETIME_MIN) | (parsed >= DATETIME_MAX))
    parsed = np.where(out_of_range, np.datetime64("NaT"), parsed).astype("datetime64[ns]")
    bad = np.isnat(parsed) & ~blank
    return parsed, bad, (f"is not a source-local datetime YYYY-MM-DDTHH:MM:SS[.fff] from {DATETIME_MIN} "
                         f"to before {DATETIME_MAX}")


def _all_datetime_text(values: list) -> bool:
    """Whether every value but None fullmatches ``_DATETIME_RX``, read in C: the pattern tells
    digits apart only as ``\\d``, so a value matches exactly when its shape does (ASCII digits
    written as 0), and a chunk has a few distinct shapes. Values holding the separator: False."""
    texts = list(filter(None, values))  # cleaned text: None or non-empty str
    if not texts:
        return True
    joined = ",".join(texts)
    if joined.count(",") != len(texts) - 1:
        return False
    shapes = set(joined.translate(_DIGITS_AS_ZERO).split(","))
    return all(map(_DATETIME_RX.fullmatch, shapes))


def _one_datetime(v, unit: str):
    try:
        return np.datetime64(v, unit) if v is not None else np.datetime64("NaT")
    except ValueError:
        return np.datetime64("NaT")


def coerce_frame(spec: SyncSpec, frame: pd.DataFrame) -> pd.DataFrame:
    """Give a frame read back from a database the dtypes ``to_frame`` produces."""
    out = pd.DataFrame(index=frame.index)
    for col in spec.columns:
        s = frame[col.name]
        if col.conversion == "int":  # Python ints (and NULLs) straight to Int64, not through float64
            out[col.name] = pd.array(s.tolist(), dtype="Int64") if s.dtype == object else s.astype("Int64")
        elif col.conversion in ("decimal", "amount_text"):
            out[col.name] = exact_decimals(_clean_text(s.astype(object).tolist()), *col.precision_scale)[0]
        elif col.conversion == "datetime":
            out[col.name] = pd.to_datetime(s).astype("datetime64[ns]")
        elif col.conversion == "bool":
            out[col.name] = s.astype("boolean")
        else:
            out[col.name] = s.astype(object).where(s.notna(), None)
    for extra in frame.columns.difference(out.columns, sort=False):
        out[extra] = frame[extra]
    if CHANGE_TIME in frame:
        out[CHANGE_TIME] = pd.to_datetime(frame[CHANGE_TIME]).astype("datetime64[ns]")
    return out


def read_frame(spec: SyncSpec, rows: Sequence[Sequence], names: Sequence[str]) -> pd.DataFrame:
    """Rows read back from a database (columns ``names``) as ``coerce_frame`` types them.

    pandas' row constructor makes an integer column holding a NULL float64, which rounds integers
    from 2**53 on: such a spec int column is taken again from the rows, straight to Int64."""
    frame = pd.DataFrame(rows, columns=names)
    for col in spec.columns:
        if col.conversion == "int" and col.name in frame and frame[col.name].dtype.kind == "f":
            at = list(names).index(col.name)
            frame[col.name] = pd.array([r[at] for r in rows], dtype="Int64")
    return coerce_frame(spec, frame)


# One encoder for all payloads: json.dumps with options builds a new encoder on every call.
_encode_payload = json.JSONEncoder(ensure_ascii=False, default=str, separators=(",", ":")).encode


def payload_json(spec: SyncSpec, row: Sequence) -> str:
    """The raw row as a JSON object keyed by Kingdee field (robust to spec column changes)."""
    return _encode_payload(dict(zip(spec.field_keys, row)))


def payloads_json(spec: SyncSpec, rows: Sequence[Sequence]) -> list[str]:
    """``payload_json`` for a whole chunk, reading the spec's field list once."""
    fields = spec.field_keys
    return [_encode_payload(dict(zip(fields, row))) for row in rows]


def row_from_payload(spec: SyncSpec, payload: str) -> list:
    """A landed payload back to a row in the current spec's FieldKeys order."""
    d = json.loads(payload)
    return [d.get(k) for k in spec.field_keys]


def _jsonable(value):
    return value if value is None or isinstance(value, (str, int, float, bool)) else str(value)


def record_key_text(value) -> str:
    """A record key as quarantine text; a missing key still gets a stable, visible name."""
    if value is None or (pd.api.types.is_scalar(value) and pd.isna(value)):
        return "<missing>"
    return str(value)[:64]


__all__ = ["CHANGE_TIME", "RAW", "CONVERSION_ERRORS", "to_frame", "coerce_frame", "read_frame", "convert_column",
           "payload_json", "payloads_json", "row_from_payload", "record_key_text"]
