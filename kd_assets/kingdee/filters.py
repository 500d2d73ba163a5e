"""FilterString building: field keys validated, values rendered as safe literals.

Kingdee pastes FilterString into SQL (PROTOCOL.md §7), so every value we put there goes through
:func:`literal`: strings with quotes doubled, numbers validated, datetimes formatted in the
source time zone. No configured or fetched value can change a filter's meaning.
"""

from __future__ import annotations

import datetime as dt
import decimal
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

FIELD_KEY_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$")
DATETIME_FORMAT = "%Y-%m-%d %H:%M:%S"
DEFAULT_SOURCE_TIMEZONE = "Asia/Shanghai"
KINGDEE_EARLIEST = dt.datetime(1753, 1, 1)  # SQL Server datetime's floor: an unbounded start in templates


class FilterError(ValueError):
    """A field key or value that cannot be rendered safely."""


@dataclass(frozen=True)
class Window:
    """A half-open change-time window ``[start, end)``; ``start=None`` means no lower bound.

    Naive datetimes are source-local (Kingdee's own clock); aware ones are converted to the
    source time zone before rendering. An unbounded window (the first partition, which holds all
    history) also matches rows with no change time at all, so they reach quarantine, not limbo.
    """

    start: dt.datetime | None
    end: dt.datetime

    def __post_init__(self) -> None:
        if self.start is None:
            return
        if (self.start.tzinfo is None) != (self.end.tzinfo is None):
            raise FilterError("window start and end must both be naive or both be aware")
        if self.end <= self.start:
            raise FilterError(f"empty window: end {self.end} is not after start {self.start}")


def field_key(name: str) -> str:
    """``name`` if it is a plain or one-dot field key (``FUseOrgId.FNumber``), else FilterError."""
    if not isinstance(name, str) or not FIELD_KEY_RE.match(name):
        raise FilterError(f"invalid field key {name!r}")
    return name


def source_local(value: dt.datetime, source_timezone: str = DEFAULT_SOURCE_TIMEZONE) -> dt.datetime:
    """``value`` as naive source-local time: naive is taken as already local, aware is converted."""
    if value.tzinfo is None:
        return value
    return value.astimezone(ZoneInfo(source_timezone)).replace(tzinfo=None)


def literal(value: object, source_timezone: str = DEFAULT_SOURCE_TIMEZONE) -> str:
    """``value`` as a FilterString literal that is matched exactly, whatever it contains.

    Datetimes are rendered to the second, as Kingdee's own docs write them. Dropping the
    fraction keeps windows tiling: adjacent windows share a boundary, truncated alike on both.
    """
    if value is None:
        raise FilterError("None has no literal; write 'is null' explicitly")
    if isinstance(value, bool):  # bool is an int subclass; Kingdee stores flags as 0/1
        return "1" if value else "0"
    if isinstance(value, int):
        return str(int(value))
    if isinstance(value, (float, decimal.Decimal)):
        if isinstance(value, float) and not math.isfinite(value):
            raise FilterError(f"non-finite number {value!r}")
        return format(decimal.Decimal(str(value)), "f")  # never exponent notation
    if isinstance(value, dt.datetime):
        return "'" + source_local(value, source_timezone).strftime(DATETIME_FORMAT) + "'"
    if isinstance(value, dt.date):
        return "'" + value.isoformat() + "'"
    if isinstance(value, str):
        if "\x00" in value:
            raise FilterError("NUL character in a filter value")
        return "'" + value.replace("'", "''") + "'"
    raise FilterError(f"no filter literal for {type(value).__name__}")


def compare(field: str, op: str, value: object, source_timezone: str = DEFAULT_SOURCE_TIMEZONE) -> str:
    if op not in {"=", "<>", "!=", ">", ">=", "<", "<=", "like"}:
        raise FilterError(f"invalid operator {op!r}")
    return f"{field_key(field)} {op} {literal(value, source_timezone)}"


def window_predicate(change_fields: Sequence[str], window: Window,
                     source_timezone: str = DEFAULT_SOURCE_TIMEZONE) -> str:
    """Rows whose change time lies in ``[start, end)`` over any of ``change_fields`` (OR).

    With no start: any change field before ``end``, or no change field set at all.
    """
    if not change_fields:
        raise FilterError("at least one change-time field is needed")
    end = literal(window.end, source_timezone)
    if window.start is None:
        undated = " and ".join(f"{field_key(f)} is null" for f in change_fields)
        return "(" + " or ".join([*(f"{f} < {end}" for f in change_fields), f"({undated})"]) + ")"
    start = literal(window.start, source_timezone)
    terms = [f"({field_key(f)} >= {start} and {f} < {end})" for f in change_fields]
    return "(" + " or ".join(terms) + ")"


def keyset_predicate(key_field: str, after: object) -> str:
    """Rows whose key is strictly after ``after``: the next keyset page."""
    return f"{field_key(key_field)} > {literal(after)}"


def in_predicate(key_field: str, keys: Iterable[object]) -> str:
    rendered = ",".join(literal(k) for k in keys)
    if not rendered:
        raise FilterError("'in' needs at least one value")
    return f"{field_key(key_field)} in ({rendered})"


def combine(*parts: str) -> str:
    """``and`` of the non-empty parts, each parenthesised so a user's ``or`` stays inside."""
    kept = [p.strip() for p in parts if p and p.strip()]
    if len(kept) == 1:
        return kept[0]
    return " and ".join(f"({p})" for p in kept)


# {{NAME}} or {{NAME|kind}}, optionally already wrapped in quotes by the template's author
# (the seed writes FModifyDate >= '{{LAST_SYNC_TIME}}'); the quotes are replaced by ours.
# A quote on one side only (``like '{{X}}%'``) would splice our literal into the author's string:
# refused, because no rendering of it is safe.
_HALF_QUOTED = re.compile(r"'\{\{[^}]*\}\}(?!')|(?<!')\{\{[^}]*\}\}'")
_BARE = r"\{\{\s*([A-Z_][A-Z0-9_]*)\s*(?:\|\s*([a-z]+)\s*)?\}\}"
_PLACEHOLDER = re.compile(f"'{_BARE}'|{_BARE}")
_KINDS = {"datetime": (dt.datetime,), "date": (dt.date,), "int": (int,), "str": (str,), "number": (int, float, decimal.Decimal)}


def render_template(template: str, values: Mapping[str, object],
                    source_timezone: str = DEFAULT_SOURCE_TIMEZONE) -> str:
    """Fill ``{{NAME|kind}}`` placeholders (e.g. ``{{LAST_SYNC_TIME|datetime}}``) with safe literals.

    An unknown name or a value of the wrong kind is an error, never an empty string.
    """

    def substitute(match: re.Match[str]) -> str:
        name, kind = (match.group(1), match.group(2)) if match.group(1) else (match.group(3), match.group(4))
        if name not in values:
            raise FilterError(f"unknown placeholder {{{{{name}}}}} in filter template")
        value = values[name]
        if kind is not None:
            if kind not in _KINDS:
                raise FilterError(f"unknown placeholder kind {kind!r} for {name}")
            if not isinstance(value, _KINDS[kind]) or (kind == "int" and isinstance(value, bool)):
                raise FilterError(f"placeholder {name} needs a {kind}, got {type(value).__name__}")
        return literal(value, source_timezone)

    if _HALF_QUOTED.search(template):
        raise FilterError("a placeholder must stand alone or be wrapped in quotes on both sides")
    return _PLACEHOLDER.sub(substitute, template)


def window_template_values(window: Window, last_sync_time: dt.datetime | None = None) -> dict[str, object]:
    """The standard placeholders for a window: WINDOW_START, WINDOW_END, LAST_SYNC_TIME.

    An unbounded start renders as SQL Server's earliest ``datetime`` (1753-01-01), the floor
    Kingdee's database can compare against.
    """
    start = window.start if window.start is not None else KINGDEE_EARLIEST
    return {
        "WINDOW_START": start,
        "WINDOW_END": window.end,
        "LAST_SYNC_TIME": last_sync_time if last_sync_time is not None else start,
    }
