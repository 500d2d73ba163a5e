"""Which keys a content verification reads: today's slice of a rolling split, or every key.

Re-reading every row's content from Kingdee every day costs as much as an initial load, so the
key space is split into ``KD_VERIFY_DAYS`` contiguous key ranges of about equal row counts (cut at
the target's key quantiles) and each day verifies the range whose number is the day's ordinal
modulo N: the whole table every N days, at 1/N of the rows a day. Ranges are contiguous so that
Kingdee answers each page with an index range scan, and they tile the whole key line (the first
has no lower bound, the last no upper one), so keys the target has never seen are read as well.

The quantiles are recomputed each day. A table that only grows (Kingdee hands out ascending ids)
shifts every cut upwards, so a key near a cut can be passed over in one cycle; it then lies below
the cut it slipped under and is read in the next cycle: at most 2·N days late. A full verification
on demand reads everything.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Mapping
from dataclasses import dataclass

import sqlalchemy as sa

from kd_assets.kingdee.filters import combine, compare
from kd_assets.sync.billspec import bill_of, bill_range
from kd_assets.sync.spec import SyncSpec

DEFAULT_VERIFY_DAYS = 7


@dataclass(frozen=True)
class ContentScope:
    """Keys in ``[lo, hi)`` (None: unbounded); slice ``index`` of ``of`` (0 of 1 is every key)."""

    lo: int | None = None
    hi: int | None = None
    index: int = 0
    of: int = 1

    @property
    def full(self) -> bool:
        return self.lo is None and self.hi is None

    def contains(self, key: int) -> bool:
        return (self.lo is None or key >= self.lo) and (self.hi is None or key < self.hi)

    def kingdee_filter(self, spec: SyncSpec) -> str:
        """The FilterString of this key range, and-ed with the spec's own filter. A bill spec's
        range (of line keys, cut at bill starts: ``for_bills``) is asked for by bill id."""
        lo, hi = (self.lo, self.hi) if not spec.bill else (
            None if self.lo is None else bill_of(self.lo), None if self.hi is None else bill_of(self.hi))
        return combine(spec.extra_filter,
                       compare(spec.key_field, ">=", lo) if lo is not None else "",
                       compare(spec.key_field, "<", hi) if hi is not None else "")

    def for_bills(self) -> "ContentScope":
        """The same slice with its bounds moved down to the start of their bill, so a bill's lines
        are verified together and consecutive slices still tile the keys."""
        def start(key):
            return None if key is None else bill_range(bill_of(key))[0]
        return ContentScope(start(self.lo), start(self.hi), self.index, self.of)

    def describe(self, spec: SyncSpec) -> str:
        if self.full and self.of == 1:
            return f"every {spec.key_field}"
        lo = "" if self.lo is None else f"{self.lo} ≤ "
        hi = "" if self.hi is None else f" < {self.hi}"
        return f"slice {self.index + 1} of {self.of}: {lo}{spec.key_field}{hi}"


FULL_SCOPE = ContentScope()


def verify_days_from_env(environ: Mapping[str, str] | None = None) -> int:
    """``KD_VERIFY_DAYS``: days to verify the whole table's content over (7); 1 = every row every
    day, 0 = no content verification."""
    raw = (os.environ if environ is None else environ).get("KD_VERIFY_DAYS", "").strip()
    if not raw:
        return DEFAULT_VERIFY_DAYS
    if not raw.isdigit() or int(raw) > 366:
        raise ValueError(f"KD_VERIFY_DAYS must be a whole number of days from 0 (off) to 366, got {raw!r}")
    return int(raw)


def todays_scope(engine: sa.Engine, target: sa.Table, key_column: str, today: dt.date,
                 days: int) -> ContentScope | None:
    """The slice of ``today`` (source-local date) in a split over ``days``; None when ``days`` is 0."""
    if days <= 0:
        return None
    if days == 1:
        return FULL_SCOPE
    index = today.toordinal() % days
    cuts = key_quantiles(engine, target, key_column, days)
    return ContentScope(lo=cuts[index - 1] if index > 0 else None,
                        hi=cuts[index] if index < days - 1 else None, index=index, of=days)


def key_quantiles(engine: sa.Engine, target: sa.Table, key_column: str, parts: int) -> list[int | None]:
    """The ``parts - 1`` keys that cut the target's keys into ``parts`` runs of equal length.

    One indexed ``ORDER BY key LIMIT 1 OFFSET r`` per cut. An empty target yields None cuts: every
    slice is then the whole key line (reconciliation runs first, so the source is empty too).
    """
    key = target.c[key_column]
    with engine.connect() as conn:
        count = int(conn.execute(sa.select(sa.func.count()).select_from(target)).scalar_one())
        if count == 0:
            return [None] * (parts - 1)
        return [int(conn.execute(sa.select(key).order_by(key).limit(1).offset(i * count // parts)).scalar_one())
                for i in range(1, parts)]
