"""The bill part of a sync spec: a header keyed by FID, one entry entity, one row per line.

A bill spec adds a ``bill:`` section to a spec (see ``kd_assets/specs/sal_saleorder.yaml``)::

    key: {field: FID, column: bill_id}          # the header key
    bill:
      number: FBillNo                           # the bill number, named in every reject reason
      entry: {entity: FSaleOrderEntry, key: FSaleOrderEntry_FEntryID}
      layout: lines                             # lines | header_and_lines (bill_headers.py)
      line_key: line_key                        # optional: the packed row key column

A column belongs to the header unless it says ``entity: <Entity>`` or its field key follows
Kingdee's ``<Entity>_F…`` naming (``FSaleOrderEntry_FEntryID``). Fields of any other entity are
refused: a query naming two sibling entities returns their cartesian product per bill.

Rows are keyed by (bill id, entry id). The store, its keyset reads and its guarded upserts work
on one integer key, so the pair is packed into one BIGINT ``line_key = bill_id·2³¹ + entry_id``
(Kingdee ids are SQL Server ``int``s, below 2³¹): ordering by it is ordering by (bill, entry),
and a bill's lines are the range [bill_id·2³¹, (bill_id+1)·2³¹). A bill without lines comes back
as one row with entry id 0 (or null) and is kept as that header row.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

LINE_SHIFT = 31
ID_LIMIT = 2 ** LINE_SHIFT
LAYOUTS = ("lines", "header_and_lines")
_ENTITY_PREFIX = re.compile(r"^(F[A-Za-z0-9]+)_F")


@dataclass(frozen=True)
class BillSpec:
    """Header key, bill number and the one entry entity of a bill form."""

    header_key_field: str
    header_key_column: str
    number_field: str
    number_column: str
    entity: str
    entry_key_field: str
    entry_key_column: str
    line_key_column: str
    layout: str = "lines"

    @property
    def split(self) -> bool:
        """Layout ``header_and_lines``: a header table beside a lines table of line columns."""
        return self.layout == "header_and_lines"

    @property
    def page_key(self) -> tuple[str, str]:
        """Kingdee keyset: (bill id, entry id), in that order."""
        return (self.header_key_field, self.entry_key_field)


def entity_of(field: str, declared: str | None) -> str | None:
    """The entity a field belongs to: the declared one, else ``<Entity>_F…``, else the header (None)."""
    if declared:
        return declared
    m = _ENTITY_PREFIX.match(field)
    return m.group(1) if m else None


def header_column_names(spec) -> list[str]:
    """A split bill's header table columns: the header fields' columns, bill id first."""
    b = spec.bill
    names = [c.name for c in spec.columns if c.name != b.line_key_column and entity_of(c.field, c.entity) is None]
    return [b.header_key_column, *[n for n in names if n != b.header_key_column]]


def line_column_names(spec) -> list[str]:
    """A split bill's lines table columns: line key, bill id, then the entry entity's columns."""
    b = spec.bill
    entry = [c.name for c in spec.columns if entity_of(c.field, c.entity) == b.entity]
    return [b.line_key_column, b.header_key_column, *entry]


def line_keys(bill_ids, entry_ids) -> tuple[np.ndarray, np.ndarray]:
    """Packed keys (int64, 0 where bad) and the mask of rows whose ids cannot form one.

    A null entry id is a bill without lines (entry id 0); a null, negative or too large bill id,
    or an entry id outside [0, 2³¹), cannot be keyed."""
    bills = np.array([b if type(b) is int else _int_or_none(b) for b in bill_ids], dtype=object)
    entries = np.array([0 if e is None else (e if type(e) is int else _int_or_none(e)) for e in entry_ids],
                       dtype=object)
    bad = np.array([b is None or e is None or not (0 < b < ID_LIMIT) or not (0 <= e < ID_LIMIT)
                    for b, e in zip(bills, entries)], dtype=bool)
    keys = np.zeros(len(bills), dtype=np.int64)
    ok = ~bad
    if ok.any():
        keys[ok] = (bills[ok].astype(np.int64) << LINE_SHIFT) + entries[ok].astype(np.int64)
    return keys, bad


def bill_of(line_key: int) -> int:
    return int(line_key) >> LINE_SHIFT


def entry_of(line_key: int) -> int:
    return int(line_key) & (ID_LIMIT - 1)


def bill_range(bill_id: int) -> tuple[int, int]:
    """[lo, hi) of the line keys of one bill."""
    return int(bill_id) << LINE_SHIFT, (int(bill_id) + 1) << LINE_SHIFT


def _int_or_none(value) -> int | None:
    try:
        f = float(str(value).strip())
    except (TypeError, ValueError):
        return None
    return int(f) if f.is_integer() else None
