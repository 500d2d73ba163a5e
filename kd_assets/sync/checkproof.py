"""Cheap proofs that a pandera check passes on every row of a column.

``validate`` asks ``passes_everywhere`` before running a check through pandera (about a
millisecond per check and chunk, mostly pandera's and pandas' overhead). The answer is True
only when every non-null value passes (pandera's ``ignore_na``: nulls are not checked), and
False whenever it is unsure, so a failing check still runs in pandera, which finds the rows.
Each proof reads the column once per chunk, in C (``map``, ``set``, ``min``/``max``, numpy).
"""

from __future__ import annotations

import re
from decimal import Decimal
from functools import cached_property

import numpy as np
import pandas as pd
import pandera.pandas as pa

_NONE = type(None)
# Statistics of a "plausible date" check (a plain pandera Check around a lambda): its bounds.
PLAUSIBLE_FROM, PLAUSIBLE_TO = "plausible_from", "plausible_to"


class ColumnValues:
    """One column's values, read once for all of its checks' proofs."""

    def __init__(self, values: pd.Series):
        self.series = values

    @cached_property
    def items(self) -> list | None:
        """The values of an object column but None, when they are all of one type; else None."""
        if self.series.dtype != object:
            return None
        values = self.series.tolist()
        present = list(filter(None, values))  # in C; it also drops "", 0, False: then the long way
        if len(present) + values.count(None) != len(values):
            present = [v for v in values if v is not None]
        return present if len(set(map(type, present))) <= 1 else None

    def all_of(self, kind: type) -> list | None:
        items = self.items
        return items if items is not None and (not items or type(items[0]) is kind) else None


def passes_everywhere(check: pa.Check, column: ColumnValues) -> bool:
    """True when ``check`` passes on every non-null value of the column; False when unsure."""
    stats = check.statistics or {}
    if PLAUSIBLE_FROM in stats:
        return _dates_within(column.series, stats[PLAUSIBLE_FROM], stats.get(PLAUSIBLE_TO))
    proof = _PROOFS.get(check.name)
    return proof is not None and proof(stats, column)


def _lengths_fit(stats: dict, column: ColumnValues) -> bool:
    texts = column.all_of(str)
    if texts is None:
        return False
    exact = stats.get("exact_value")
    lo, hi = (exact, exact) if exact is not None else (stats.get("min_value"), stats.get("max_value"))
    if lo is None and hi is None:  # pandera refuses such a check: let it say so
        return False
    if not texts:
        return True
    return (lo is None or min(map(len, texts)) >= lo) and (hi is None or max(map(len, texts)) <= hi)


def _all_allowed(stats: dict, column: ColumnValues) -> bool:
    texts = column.all_of(str)
    try:
        return texts is not None and set(texts) <= set(stats["allowed_values"])
    except TypeError:  # unhashable allowed values
        return False


def _all_match(stats: dict, column: ColumnValues) -> bool:
    texts = column.all_of(str)  # pandas' str.match: re.compile(pattern).match from the start
    return texts is not None and all(map(re.compile(stats["pattern"]).match, texts))


def _all_at_least(stats: dict, column: ColumnValues) -> bool:
    numbers = column.all_of(Decimal)
    if numbers is None:
        return False
    try:  # a NaN cannot be ordered (InvalidOperation): pandera decides
        return not numbers or min(numbers) >= stats["min_value"]
    except (ArithmeticError, TypeError):
        return False


def _dates_within(series: pd.Series, earliest, latest) -> bool:
    """Every date from ``earliest`` to ``latest`` (None: no end), compared as pandas compares."""
    try:
        bounds = [pd.Timestamp(b) if b is not None else None for b in (earliest, latest)]
    except (TypeError, ValueError):
        return False
    if series.dtype != "datetime64[ns]" or any(b is not None and b.tzinfo is not None for b in bounds):
        return False
    values = series.to_numpy()
    values = values[~np.isnat(values)]
    if not len(values):
        return True
    low, high = bounds
    return bool(values.min() >= low.to_datetime64() and (high is None or values.max() <= high.to_datetime64()))


_PROOFS = {"str_length": _lengths_fit, "isin": _all_allowed, "str_matches": _all_match,
           "greater_than_or_equal_to": _all_at_least}
