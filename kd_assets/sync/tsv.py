"""Typed frame columns → ``LOAD DATA`` field bytes (loadfile.py), a whole column at a time.

Each column becomes a list of UTF-8 ``bytes`` fields, escaped as LOAD DATA's default
``ESCAPED BY '\\'`` reads them (backslash, tab, newline, CR, NUL), ``\\N`` for NULL. Text goes
through one joined string (C-speed replaces, one encode, one split), datetimes through integer
arithmetic (``sqltext.datetime_bytes``); the only per-row Python left is ``b"\\t".join``.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
from pandas._libs import lib

from kd_assets.sync.sqltext import Kind, datetime_bytes, decimal_text, filled

_NULL = b"\\N"
# LOAD DATA's default escapes (FIELDS ESCAPED BY '\\'): backslash first, then the separators.
_ESCAPES = (("\\", "\\\\"), ("\t", "\\t"), ("\n", "\\n"), ("\r", "\\r"), ("\0", "\\0"))
_SEPARATOR, _NULL_SENTINEL = "\x01", "\x02"


def tsv_bytes(kinds: dict[str, Kind], frame: pd.DataFrame, columns: Sequence[str]) -> bytes:
    """``frame[columns]`` as a LOAD DATA file: fields joined by tab, rows ended by newline."""
    return tsv_rows(tsv_fields_of(kinds, frame, columns))


def tsv_fields_of(kinds: dict[str, Kind], frame: pd.DataFrame, columns: Sequence[str]) -> list[list[bytes]]:
    return [tsv_fields(frame[c], kinds[c]) for c in columns]


def tsv_rows(fields: Sequence[list[bytes]]) -> bytes:
    """Columns of fields as LOAD DATA lines. One join over the fields interleaved row by row, a
    newline field closing each row; escaped fields hold no tab or newline, so "\\t\\n\\t" is
    exactly a row's end."""
    rows, width = len(fields[0]) if fields else 0, len(fields) + 1
    if not rows:
        return b""
    flat = [b"\n"] * (rows * width)
    for i, column in enumerate(fields):
        flat[i::width] = column
    return (b"\t".join(flat) + b"\t").replace(b"\t\n\t", b"\n")


def tsv_fields(values, kind: Kind) -> list[bytes]:
    """One column as LOAD DATA fields (UTF-8 bytes, escaped, ``\\N`` for NULL)."""
    name, scale = kind
    if name == "datetime":
        s = values if isinstance(values, pd.Series) else pd.Series(values)
        text, nat = datetime_bytes(s.to_numpy(dtype="datetime64[ns]"))
        text[nat] = _NULL
        return text.tolist()
    if name not in ("int", "decimal", "bool"):
        return _escaped_fields(np.asarray(values, dtype=object))
    s = values if isinstance(values, pd.Series) else pd.Series(values)
    missing = s.isna().to_numpy()
    if name == "int":
        out = [b"%d" % v for v in filled(s, 0).astype("int64").tolist()]
    elif name == "decimal":
        out = _joined_fields(decimal_text(s, scale).tolist())
    else:
        return np.where(missing, _NULL, np.where(filled(s, False).astype(bool), b"1", b"0")).tolist()
    for i in np.flatnonzero(missing).tolist():
        out[i] = _NULL
    return out


def tsv_column(values, kind: Kind) -> list[str]:
    """``tsv_fields`` as text."""
    return [field.decode("utf-8") for field in tsv_fields(values, kind)]


def _escaped_fields(values: np.ndarray) -> list[bytes]:
    """Text fields: str values as they are, None/pd.NA as NULL, anything else as ``str(v)``."""
    if not len(values):
        return []
    texts, nulls = _marked_texts(values)
    joined = _SEPARATOR.join(texts)
    if joined.count(_SEPARATOR) != len(texts) - 1 or joined.count(_NULL_SENTINEL) != nulls:
        # A value contains one of our marker characters: escape value by value.
        return [_NULL if v is None or v is pd.NA else _escape_one(v if type(v) is str else str(v)).encode("utf-8")
                for v in values.tolist()]
    for old, new in _ESCAPES:
        if old in joined:
            joined = joined.replace(old, new)
    if nulls:  # a lone sentinel is a NULL and nothing else (counted above)
        joined = joined.replace(_NULL_SENTINEL, "\\N")
    return joined.encode("utf-8").split(b"\x01")


_NULL_TYPES = {type(None), type(pd.NA)}


def _marked_texts(values: np.ndarray) -> tuple[list[str], int]:
    """The values as str with NULLs (None, pd.NA) as the sentinel, and how many NULLs."""
    if lib.is_string_array(values, skipna=False):
        return values.tolist(), 0
    missing = pd.isna(values)
    if _NULL_TYPES.issuperset(map(type, values[missing].tolist())):  # not NaN or NaT: text "nan"/"NaT"
        marked = values.copy()
        marked[missing] = _NULL_SENTINEL
        if lib.is_string_array(marked, skipna=False):
            return marked.tolist(), int(np.count_nonzero(missing))
    texts = [None if v is None or v is pd.NA else v if type(v) is str else str(v) for v in values.tolist()]
    nulls = texts.count(None)
    return ([_NULL_SENTINEL if v is None else v for v in texts] if nulls else texts), nulls


def _joined_fields(texts: list[str]) -> list[bytes]:
    """Texts that need no escaping (digits, signs, points) as UTF-8 bytes, in three C calls."""
    return _SEPARATOR.join(texts).encode("utf-8").split(b"\x01") if texts else []


def _escape_one(v: str) -> str:
    for old, new in _ESCAPES:
        v = v.replace(old, new)
    return v
