"""Typed frame columns → ``LOAD DATA`` field bytes (loadfile.py), a whole column at a time.

Each column becomes a list of UTF-8 ``bytes`` fields, escaped as LOAD DATA's default
``ESCAPED BY '\\'`` reads them (backslash, tab, newline, CR, NUL), ``\\N`` for NULL. Text goes
through one joined string (``sqltext.escaped_join``, one encode, one split), datetimes through
integer arithmetic (``sqltext.datetime_bytes``); the only per-row Python left is ``b"\\t".join``.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from kd_assets.sync.sqltext import (NULL_SENTINEL, SEPARATOR, Kind, datetime_bytes, decimal_text, escaped_join,
                                    filled, value_texts)

_NULL = b"\\N"
# LOAD DATA's default escapes (FIELDS ESCAPED BY '\\'): backslash first, then the separators.
_ESCAPES = (("\\", "\\\\"), ("\t", "\\t"), ("\n", "\\n"), ("\r", "\\r"), ("\0", "\\0"))


def tsv_bytes(kinds: dict[str, Kind], frame: pd.DataFrame, columns: Sequence[str]) -> bytes:
    """``frame[columns]`` as a LOAD DATA file: fields joined by tab, rows ended by newline."""
    return tsv_rows(tsv_fields_of(kinds, frame, columns))


def tsv_fields_of(kinds: dict[str, Kind], frame: pd.DataFrame, columns: Sequence[str]) -> list[list[bytes]]:
    return [tsv_fields(frame[c], kinds[c]) for c in columns]


def tsv_rows(fields: Sequence[list[bytes]]) -> bytes:
    """Columns of fields as LOAD DATA lines: one ``b"".join`` over the fields interleaved row by
    row with their separators (a tab after each field, the last one's a newline)."""
    rows, width = len(fields[0]) if fields else 0, 2 * len(fields)
    if not rows:
        return b""
    flat = [b"\t"] * (rows * width)
    for i, column in enumerate(fields):
        flat[2 * i::width] = column
    flat[width - 1::width] = [b"\n"] * rows
    return b"".join(flat)


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
    escaped = escaped_join(values, _ESCAPES)
    if escaped is None:
        return [_NULL if v is None else _escape_one(v).encode("utf-8") for v in value_texts(values)]
    joined, nulls = escaped
    if nulls:  # a lone sentinel is a NULL and nothing else (escaped_join counted them)
        joined = joined.replace(NULL_SENTINEL, "\\N")
    return joined.encode("utf-8").split(b"\x01")


def _joined_fields(texts: list[str]) -> list[bytes]:
    """Texts that need no escaping (digits, signs, points) as UTF-8 bytes, in three C calls."""
    return SEPARATOR.join(texts).encode("utf-8").split(b"\x01") if texts else []


def _escape_one(v: str) -> str:
    for old, new in _ESCAPES:
        v = v.replace(old, new)
    return v


def tsv_values_sql(data: bytes) -> str:
    """A LOAD DATA file (``tsv_rows``) as the rows of a multi-row ``INSERT``: ``('v1','v2',…),(…)``.

    The file's escapes (backslash, tab, newline, CR, NUL) are MySQL string-literal escapes too, so
    each field is quoted as it is, with its quotes escaped; ``\\N`` becomes NULL, and the server
    converts the text as LOAD DATA would have. Escaped content never holds ``'\\N'``: a backslash
    in it starts a pair (``\\\\``, ``\\t`` … ``\\'``), never ``\\N``. Lets a batch encoded only for
    LOAD DATA take the multi-row statement without keeping its frame.
    """
    if not data:
        return ""
    body = data[:-1].decode("utf-8").replace("'", "\\'").replace("\t", "','").replace("\n", "'),('")
    return ("('" + body + "')").replace("'\\N'", "NULL")
