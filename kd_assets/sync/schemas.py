"""pandera schemas derived from the spec, and the split of a chunk into clean rows and rejects.

Two schemas: ``raw_schema`` (the key is present and an integer, the row has a change time) and
``clean_schema`` (business rules: required fields, code sets, patterns, minimums, lengths that fit
the SQL column, plausible dates, unique key in the chunk). Validation is lazy, so a row collects
every failed check, and per chunk, so memory stays bounded. Nothing is dropped: every input row
ends in ``clean`` or in ``rejects`` (with reasons and raw payload) — ``len(clean) + len(rejects)
== len(frame)``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import lru_cache
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pandera.pandas as pa
from pandera.dtypes import DataType
from pandera.engines.pandas_engine import Engine

from kd_assets.sync.checkproof import PLAUSIBLE_FROM, PLAUSIBLE_TO, ColumnValues, passes_everywhere
from kd_assets.sync.spec import ColumnSpec, SyncSpec
from kd_assets.sync.transform import CHANGE_TIME, CONVERSION_ERRORS, RAW, payload_json, record_key_text

EARLIEST_PLAUSIBLE = pd.Timestamp("1990-01-01")
DEFAULT_SOURCE_TIMEZONE = "Asia/Shanghai"
REJECT_COLUMNS = ["key", "change_time", "reasons", "payload"]

# Decimals are exact Decimal objects (object dtype), rounded to the column's scale.
_DTYPES = {"int": "Int64", "decimal": "object", "amount_text": "object", "text": "object", "code": "object",
           "datetime": "datetime64[ns]", "bool": "boolean"}


@dataclass(frozen=True)
class ValidationResult:
    """``clean``: typed spec columns + change_time. ``rejects``: key, change_time, reasons, payload."""

    clean: pd.DataFrame
    rejects: pd.DataFrame


def source_now(source_timezone: str = DEFAULT_SOURCE_TIMEZONE) -> pd.Timestamp:
    """Now on the source's wall clock (naive), the frame of reference of Kingdee datetimes."""
    return pd.Timestamp(dt.datetime.now(ZoneInfo(source_timezone)).replace(tzinfo=None))


def raw_schema(spec: SyncSpec) -> pa.DataFrameSchema:
    """The row can be placed at all: an integer key and at least one change time."""
    return pa.DataFrameSchema(
        {
            spec.key_column: pa.Column("Int64", nullable=False, title=spec.key_field),
            CHANGE_TIME: pa.Column("datetime64[ns]", nullable=False,
                                   description="greatest of " + ", ".join(spec.change_time_fields)),
        },
        name=f"{spec.form_id}_raw",
    )


def clean_schema(spec: SyncSpec, now: pd.Timestamp | None = None) -> pa.DataFrameSchema:
    """Business rules of the target table; ``now`` is source-local (dates up to now + 1 day)."""
    latest = (now if now is not None else source_now()) + pd.Timedelta(days=1)
    columns = {c.name: _clean_column(spec, c, latest) for c in spec.columns}
    columns[CHANGE_TIME] = pa.Column("datetime64[ns]", nullable=False)
    return pa.DataFrameSchema(columns, name=f"{spec.form_id}_clean", strict=False)


def _clean_column(spec: SyncSpec, c: ColumnSpec, latest: pd.Timestamp) -> pa.Column:
    checks = []
    if c.allowed is not None:
        checks.append(pa.Check.isin(list(c.allowed)))
    if c.pattern is not None:
        checks.append(pa.Check.str_matches(c.pattern))
    if c.min is not None:
        checks.append(pa.Check.ge(c.min))
    if c.max_length is not None:
        # MySQL in strict mode rejects the whole batch for one overlong value; catch it per row.
        checks.append(pa.Check.str_length(max_value=c.max_length))
    # The statistics name the bounds for checkproof (same rule as the lambda, without pandera).
    if c.conversion == "datetime" and c.future:
        checks.append(pa.Check(lambda s: s.isna() | (s >= EARLIEST_PLAUSIBLE),
                               name=f"plausible_date({EARLIEST_PLAUSIBLE.date()}..)",
                               statistics={PLAUSIBLE_FROM: EARLIEST_PLAUSIBLE, PLAUSIBLE_TO: None}))
    elif c.conversion == "datetime":
        checks.append(pa.Check(lambda s: s.isna() | ((s >= EARLIEST_PLAUSIBLE) & (s <= latest)),
                               name=f"plausible_date({EARLIEST_PLAUSIBLE.date()}..{latest:%Y-%m-%d %H:%M})",
                               statistics={PLAUSIBLE_FROM: EARLIEST_PLAUSIBLE, PLAUSIBLE_TO: latest}))
    return pa.Column(_DTYPES[c.conversion], checks=checks, nullable=not c.required,
                     unique=c.name == spec.key_column, report_duplicates="all", title=c.field)


def validate(spec: SyncSpec, frame: pd.DataFrame, now: pd.Timestamp | None = None) -> ValidationResult:
    """Split one transformed chunk into clean rows and rejects with every failed check.

    Each schema's checks run vectorised, column by column; a reason (a dict) is built only for a
    row that fails. Reasons come in schema order: per column not_nullable, field_uniqueness, then
    the column's checks (pandera's own order)."""
    reasons: dict[int, list[dict]] = {}  # row position → its reasons
    if CONVERSION_ERRORS in frame:
        for pos, errs in enumerate(frame[CONVERSION_ERRORS].tolist()):
            if errs:
                reasons[pos] = list(errs)
    by_name = {c.name: c for c in spec.columns}
    for schema in _schemas(spec, now if now is not None else source_now()):
        for pos, reason in _failed_checks(schema, frame, by_name):
            found = reasons.setdefault(pos, [])
            # Both schemas check the key; report each (check, column) once.
            if not any(r["check"] == reason["check"] and r["column"] == reason["column"] for r in found):
                found.append(reason)
    bad = np.zeros(len(frame), dtype=bool)
    bad[list(reasons)] = True
    clean = frame.loc[~bad, [c.name for c in spec.columns] + [CHANGE_TIME]].reset_index(drop=True)
    return ValidationResult(clean=clean, rejects=_rejects(spec, frame.iloc[np.flatnonzero(bad)],
                                                          [reasons[p] for p in np.flatnonzero(bad)]))


@lru_cache(maxsize=16)
def _schemas(spec: SyncSpec, now: pd.Timestamp) -> tuple[pa.DataFrameSchema, pa.DataFrameSchema]:
    """Both schemas, built once per spec and ``now`` (a run validates every chunk against one now)."""
    return raw_schema(spec), clean_schema(spec, now)


def _failed_checks(schema: pa.DataFrameSchema, frame: pd.DataFrame, by_name: dict[str, ColumnSpec]):
    """Yield (row position, reason) for every failing value; a frame without the schema's columns
    or dtypes is a bug, not a reject: raise."""
    positional = frame.index.equals(pd.RangeIndex(len(frame)))
    for name, column in schema.columns.items():
        if name not in frame or not column.dtype.check(_engine_dtype(frame[name].dtype), frame[name]):
            got = frame[name].dtype if name in frame else "missing"
            raise TypeError(f"{schema.name}: frame does not have the spec's shape or dtypes: "
                            f"column {name!r} is {got}, the schema wants {column.dtype}")
        values = frame[name] if positional else pd.Series(frame[name].array, name=name)  # positions as labels
        col = by_name.get(name)
        for check, failed in _column_failures(column, values):
            for pos in np.flatnonzero(failed):
                value = values.iat[pos]
                yield int(pos), {"check": check, "field": col.field if col else name, "column": name,
                                 "value": None if pd.isna(value) else str(value)}


def _engine_dtype(dtype) -> DataType:
    """pandera's dtype for a frame's dtype, looked up once for the plain dtypes ``to_frame`` makes
    (pandera's lookup tries to import geopandas on every call)."""
    if isinstance(dtype, np.dtype) or type(dtype) in (pd.Int64Dtype, pd.BooleanDtype):
        return _plain_engine_dtype(dtype)
    return Engine.dtype(dtype)


@lru_cache(maxsize=64)
def _plain_engine_dtype(dtype) -> DataType:
    return Engine.dtype(dtype)


def _column_failures(column: pa.Column, values: pd.Series):
    """(check name, mask of failing rows) per failed check of one column, in pandera's order.
    Nulls pass every check but not_nullable (pandera's ``ignore_na``). A check that
    ``checkproof`` shows to pass on every row is not run."""
    if not column.nullable:
        missing = values.isna().to_numpy()
        if missing.any():
            yield "not_nullable", missing
    if column.unique and not values.is_unique:
        dup = values.duplicated(keep=False).to_numpy() & values.notna().to_numpy()
        if dup.any():
            yield "field_uniqueness", dup
    proof_input = ColumnValues(values)
    for check in column.checks:
        if passes_everywhere(check, proof_input):
            continue
        out = check(values).check_output  # pandera leaves the nulls out when ignore_na
        failed = out.index[~out.to_numpy(dtype=bool)]
        if len(failed):
            mask = np.zeros(len(values), dtype=bool)
            mask[failed.to_numpy()] = True
            yield check.error or check.name or str(check), mask


def bill_line_names(spec: SyncSpec, row: pd.Series, raw) -> dict:
    """The bill number, bill id and entry id of a rejected line (raw values when unconvertible)."""
    b, fields = spec.bill, spec.field_keys
    pick = (lambda f, c: raw[fields.index(f)]) if raw is not None else (lambda f, c: row[c])
    return {"bill_no": record_key_text(pick(b.number_field, b.number_column)),
            "bill_id": record_key_text(pick(b.header_key_field, b.header_key_column)),
            "entry_id": record_key_text(pick(b.entry_key_field, b.entry_key_column))}


def _rejects(spec: SyncSpec, bad: pd.DataFrame, reasons: list[list[dict]]) -> pd.DataFrame:
    key_pos = spec.field_keys.index(spec.key_field)
    rows = []
    for (_, row), why in zip(bad.iterrows(), reasons):
        raw = row[RAW] if RAW in bad else None
        key = raw[key_pos] if raw is not None else row[spec.key_column]
        if spec.bill:  # a line: keyed by its line key, named by its bill number in every reason
            key = row[spec.key_column] if pd.notna(row[spec.key_column]) else key
            why = [{**r, **bill_line_names(spec, row, raw)} for r in why]
        rows.append({
            # The raw key names the record even when it failed to convert.
            "key": record_key_text(key),
            "change_time": row[CHANGE_TIME],
            "reasons": why,
            "payload": payload_json(spec, raw) if raw is not None else None,
        })
    return pd.DataFrame(rows, columns=REJECT_COLUMNS)
