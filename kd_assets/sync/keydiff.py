"""Merge-compare of two key-ordered streams: a Kingdee key scan and the target's key rows.

Both sides arrive sorted by key (the source by keyset paging, the target by ``ORDER BY key``),
so one pass with one page of each in memory classifies every key. Change times are compared as
integers (nanoseconds, None for missing) and statuses as stripped text, after the same
conversions the sync applies, so a value the sync stored compares equal to the value it came from.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Iterable, Iterator, NamedTuple, Sequence

import numpy as np
import pandas as pd

from kd_assets.sync.billspec import line_keys
from kd_assets.sync.spec import ColumnSpec, SyncSpec
from kd_assets.sync.transform import convert_column
from kd_assets.sync.use_orgs import UseOrgTally, org_label, use_org_column


class Kind(str, Enum):
    """How a key differs between source and target."""

    MISSING = "missing_in_target"    # at the source; absent from the target or soft-deleted there
    STALE = "stale_in_target"        # the source's change time is newer
    DRIFT = "status_drift"           # same or older change time, but a status or change time differs
    DELETED = "deleted_at_source"    # live in the target, absent from the source scan


class KeyState(NamedTuple):
    """One key's comparable state: change time (ns since epoch or None) and status texts."""

    key: int
    change_ns: int | None
    statuses: tuple
    deleted: bool = False
    org: str | None = None  # use-org label, when the spec maps FUseOrgId


class Difference(NamedTuple):
    kind: Kind
    key: int
    change_ns: int | None  # the source's change time (None for DELETED)
    org: str | None = None


@dataclass
class ScanTotals:
    """Rows seen on each side, counted while the streams are consumed."""

    source_rows: int = 0
    target_rows: int = 0
    target_live: int = 0
    last_source_key: int | None = None
    by_org: UseOrgTally = field(default_factory=UseOrgTally)
    source_bills: int = 0   # bills (distinct header keys) of a bill spec's scan, and live in the target
    target_bills: int = 0


def status_columns(spec: SyncSpec) -> tuple[ColumnSpec, ...]:
    """The status columns compared besides change times: the spec's ``code`` columns."""
    return tuple(c for c in spec.columns if c.conversion == "code")


def scan_fields(spec: SyncSpec) -> list[str]:
    """Fields a key scan asks for after the key (a bill's: after bill id and entry id):
    change-time fields, status fields, the use-org."""
    org = use_org_column(spec)
    return [*spec.change_time_fields, *[c.field for c in status_columns(spec)], *([org.field] if org else [])]


def target_scan_columns(spec: SyncSpec) -> tuple[str, ...]:
    """Target columns ``TargetStore.target_keys`` adds after is_deleted: the use-org, if mapped."""
    org = use_org_column(spec)
    return (org.name,) if org else ()


def source_states(spec: SyncSpec, pages: Iterable[Sequence[Sequence]], totals: ScanTotals) -> Iterator[KeyState]:
    """Key-scan pages (``[key, *scan_fields(spec)]``) as KeyStates, converted like the sync does."""
    change_cols, status_cols = spec.change_columns, status_columns(spec)
    for page in pages:
        if not page:
            continue
        columns = list(zip(*page))
        keys, skip = _scan_keys(spec, columns)
        columns = columns[skip - 1:]
        times = pd.DataFrame({c.name: convert_column(c, columns[1 + i])[0] for i, c in enumerate(change_cols)})
        change_ns = _ns_or_none(times.max(axis=1).to_numpy(dtype="datetime64[ns]"))
        offset = 1 + len(change_cols)
        statuses = list(zip(*[_texts(convert_column(c, columns[offset + i])[0])
                              for i, c in enumerate(status_cols)])) or [()] * len(page)
        org_col = use_org_column(spec)
        orgs = ([org_label(v) for v in convert_column(org_col, columns[offset + len(status_cols)])[0]]
                if org_col else [None] * len(page))
        for key, ns, status, org in zip(keys, change_ns, statuses, orgs):
            totals.source_rows += 1
            totals.source_bills += spec.bill is not None and _new_bill(totals.last_source_key, key)
            totals.last_source_key = key
            if org is not None:
                totals.by_org.source[org] += 1
            yield KeyState(key, ns, status, org=org)


def target_states(spec: SyncSpec, rows: Iterable[Sequence], totals: ScanTotals) -> Iterator[KeyState]:
    """``TargetStore.target_keys`` rows (key, change_time, *status columns, is_deleted, *target_scan_columns)
    as KeyStates."""
    n_status, has_org = len(status_columns(spec)), bool(target_scan_columns(spec))
    width, last_live = 3 + n_status + has_org, None
    for row in rows:
        if len(row) != width:
            raise ValueError(f"{spec.tables.target}: key row has {len(row)} values, expected {width} "
                             f"(key, change_time, {n_status} status columns, is_deleted"
                             f"{', use-org' if has_org else ''})")
        deleted = bool(row[2 + n_status])
        org = org_label(row[-1]) if has_org else None
        totals.target_rows += 1
        totals.target_live += not deleted
        if spec.bill is not None and not deleted:
            totals.target_bills += _new_bill(last_live, int(row[0]))
            last_live = int(row[0])
        if org is not None and not deleted:
            totals.by_org.target_live[org] += 1
        stamp = pd.Timestamp(row[1]) if row[1] is not None else None
        yield KeyState(int(row[0]), None if stamp is None else int(stamp.value),
                       tuple(_text(v) for v in row[2:2 + n_status]), deleted, org)


def diff_keys(source: Iterator[KeyState], target: Iterator[KeyState]) -> Iterator[Difference]:
    """Every difference between two key-ascending streams, in key order."""
    s, t = next(source, None), next(target, None)
    while s is not None or t is not None:
        if t is None or (s is not None and s.key < t.key):
            yield Difference(Kind.MISSING, s.key, s.change_ns, s.org)
            s = next(source, None)
        elif s is None or t.key < s.key:
            if not t.deleted:
                yield Difference(Kind.DELETED, t.key, None, t.org)
            t = next(target, None)
        else:
            kind = compare(s, t)
            if kind is not None:
                yield Difference(kind, s.key, s.change_ns, s.org)
            s, t = next(source, None), next(target, None)


def compare(source: KeyState, target: KeyState) -> Kind | None:
    """The difference between the source and target state of one key, or None when they agree."""
    if target.deleted:
        return Kind.MISSING
    if source.change_ns is not None and (target.change_ns is None or source.change_ns > target.change_ns):
        return Kind.STALE
    if source.change_ns != target.change_ns or source.statuses != target.statuses:
        return Kind.DRIFT
    return None


def _scan_keys(spec: SyncSpec, columns: list) -> tuple[list[int], int]:
    """A page's keys (a bill's packed line keys) and how many leading columns they took."""
    if not spec.bill:
        return _int_keys(spec, columns[0]), 1
    keys, bad = line_keys(columns[0], columns[1])
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"{spec.form_id}: key scan returned {spec.key_field}={columns[0][i]!r}, "
                         f"{spec.bill.entry_key_field}={columns[1][i]!r}, not a bill line key")
    return keys.tolist(), 2


def _new_bill(previous: int | None, key: int) -> bool:
    """Whether line key ``key`` starts another bill than line key ``previous`` (keys ascend)."""
    return previous is None or (previous >> 31) != (key >> 31)


def _int_keys(spec: SyncSpec, values: Sequence) -> list[int]:
    keys, bad, _ = convert_column(spec.key, values)
    if np.asarray(bad).any() or pd.isna(pd.Series(keys)).any():
        value = next(v for v, b, k in zip(values, bad, keys) if b or pd.isna(k))
        raise ValueError(f"{spec.form_id}: key scan returned {spec.key_field}={value!r}, not an integer key")
    return [int(k) for k in keys]


def _ns_or_none(stamps: np.ndarray) -> list[int | None]:
    ints = stamps.astype("int64")
    return [None if nat else int(v) for v, nat in zip(ints.tolist(), np.isnat(stamps).tolist())]


def _texts(values) -> list:
    return [_text(v) for v in values]


def _text(value) -> str | None:
    # MySQL CHAR columns drop trailing blanks and Kingdee pads with them: compare stripped text.
    if value is None or value is pd.NA:
        return None
    return str(value).strip() or None
