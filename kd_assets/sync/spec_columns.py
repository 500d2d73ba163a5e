"""A sync spec's columns: the ``ColumnSpec`` of one Kingdee field → one target column, and the
strict parsing of a spec's ``columns:`` list (types, conversions, checks), every error naming the
column. A mixin of the spec parser (spec.py), which supplies ``fail``, ``typed``, ``mapping``,
``identifier`` and ``field_key``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

# SQL types a spec may use, and the conversions that can produce a value for each.
_SQL_TYPES = {
    re.compile(r"^bigint$"): {"int"},
    re.compile(r"^int$"): {"int"},
    re.compile(r"^varchar\((\d{1,5})\)$"): {"text", "code"},
    re.compile(r"^char\((\d{1,3})\)$"): {"text", "code"},
    re.compile(r"^text$"): {"text", "code"},
    re.compile(r"^decimal\((\d{1,2}),(\d{1,2})\)$"): {"decimal", "amount_text"},
    re.compile(r"^datetime(\(3\))?$"): {"datetime"},
    re.compile(r"^boolean$"): {"bool"},
}
# amount_text: an amount read leniently from a text field (``500万元``); unreadable text is NULL.
CONVERSIONS = ("int", "decimal", "amount_text", "text", "code", "datetime", "bool")
_COLUMN_KEYS = {"field", "name", "type", "conversion", "required", "allowed", "pattern", "min", "entity",
                "future"}
_REQUIRED_COLUMN = {"field", "name", "type", "conversion"}


@dataclass(frozen=True)
class ColumnSpec:
    """One Kingdee field mapped to one target column."""

    field: str
    name: str
    sql_type: str
    conversion: str
    required: bool = False
    allowed: tuple[str, ...] | None = None
    pattern: str | None = None
    min: float | None = None
    entity: str | None = None  # declared entry entity of a bill field (None: header or by name)
    future: bool = False  # a datetime that may lie ahead (delivery, due dates): no "not after now" check

    @property
    def max_length(self) -> int | None:
        """Longest text the SQL type holds (varchar/char), else None."""
        m = re.match(r"^(?:var)?char\((\d+)\)$", self.sql_type)
        return int(m.group(1)) if m else None

    @property
    def precision_scale(self) -> tuple[int, int] | None:
        m = re.match(r"^decimal\((\d+),(\d+)\)$", self.sql_type)
        return (int(m.group(1)), int(m.group(2))) if m else None


class ColumnParsing:
    """Parses ``columns:`` (see the module docstring)."""

    def parse_columns(self, value: Any) -> tuple[ColumnSpec, ...]:
        self.typed(value, "columns", list)
        if not value:
            raise self.fail("columns", "at least one column is required")
        columns, names, reads = [], set(), set()
        for i, raw in enumerate(value):
            col = self.parse_column(raw, i)
            where = f"columns[{i}] ({col.name})"
            if col.name in names:
                raise self.fail(where, f"duplicate target column {col.name!r}")
            # One field feeds two columns only as an amount parsed from text beside that text.
            earlier = {conv for field, conv in reads if field == col.field}
            if earlier and (len(earlier) > 1 or "amount_text" not in earlier | {col.conversion}
                            or col.conversion in earlier):
                raise self.fail(where, f"duplicate Kingdee field {col.field!r} (only an amount_text column "
                                       "may read the same field as one other column)")
            names.add(col.name)
            reads.add((col.field, col.conversion))
            columns.append(col)
        return tuple(columns)

    def parse_column(self, raw: Any, i: int) -> ColumnSpec:
        label = raw.get("name", raw.get("field", "?")) if isinstance(raw, dict) else "?"
        where = f"columns[{i}] ({label})"
        c = self.mapping(raw, where, _COLUMN_KEYS, _REQUIRED_COLUMN)
        field = self.field_key(c["field"], f"{where}.field")
        name = self.identifier(c["name"], f"{where}.name")
        sql_type = self.typed(c["type"], f"{where}.type", str).strip().lower().replace(" ", "")
        conversion = self.typed(c["conversion"], f"{where}.conversion", str)
        if conversion not in CONVERSIONS:
            raise self.fail(f"{where}.conversion", f"unknown conversion {conversion!r} (allowed: {', '.join(CONVERSIONS)})")
        fits = [convs for rx, convs in _SQL_TYPES.items() if rx.match(sql_type)]
        if not fits:
            raise self.fail(f"{where}.type", f"SQL type {c['type']!r} not allowed "
                            "(bigint, int, varchar(N), char(N), text, decimal(P,S), datetime, datetime(3), boolean)")
        if conversion not in fits[0]:
            raise self.fail(where, f"conversion {conversion!r} cannot fill SQL type {sql_type!r}")
        return ColumnSpec(
            field=field, name=name, sql_type=sql_type, conversion=conversion,
            required=self.typed(c.get("required", False), f"{where}.required", bool),
            allowed=self.parse_allowed(c, conversion, where),
            pattern=self.parse_pattern(c, conversion, where),
            min=self.parse_min(c, conversion, where),
            entity=self.field_key(c["entity"], f"{where}.entity") if "entity" in c else None,
            future=self.parse_future(c, conversion, where),
        )

    def parse_future(self, c: dict, conversion: str, where: str) -> bool:
        future = self.typed(c.get("future", False), f"{where}.future", bool)
        if future and conversion != "datetime":
            raise self.fail(f"{where}.future", "only datetime columns take 'future'")
        return future

    def parse_allowed(self, c: dict, conversion: str, where: str) -> tuple[str, ...] | None:
        if conversion != "code":
            if "allowed" in c:
                raise self.fail(f"{where}.allowed", "only a 'code' conversion takes allowed values")
            return None
        if "allowed" not in c:
            raise self.fail(where, "a 'code' conversion needs 'allowed' values")
        values = self.typed(c["allowed"], f"{where}.allowed", list)
        if not values or not all(isinstance(v, str) for v in values):
            raise self.fail(f"{where}.allowed", "expected a non-empty list of strings")
        return tuple(values)

    def parse_pattern(self, c: dict, conversion: str, where: str) -> str | None:
        if "pattern" not in c:
            return None
        if conversion not in ("text", "code"):
            raise self.fail(f"{where}.pattern", "only text and code columns take a pattern")
        pattern = self.typed(c["pattern"], f"{where}.pattern", str)
        try:
            re.compile(pattern)
        except re.error as exc:
            raise self.fail(f"{where}.pattern", f"invalid regex: {exc}") from exc
        return pattern

    def parse_min(self, c: dict, conversion: str, where: str) -> float | None:
        if "min" not in c:
            return None
        if conversion not in ("int", "decimal", "amount_text"):
            raise self.fail(f"{where}.min", "only int, decimal and amount_text columns take a minimum")
        return float(self.typed(c["min"], f"{where}.min", (int, float)))
