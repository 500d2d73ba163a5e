"""A served form's field catalog, and how a field path (`FUseOrgId.FNumber`) maps to SQL.

A Form is built from a field table (forms/*.yaml, see formfile.py); nothing here knows a form by
name. Field keys are case-insensitive, as in Kingdee. Reference fields return their internal id
when bare and support `.FNumber` / `.FName`; anything else is an unknown field (MsgCode 9).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Column kinds. Dates are stored as 'YYYY-MM-DD HH:MM:SS[.fff]' so text order is time order.
INT, TEXT, REF, DATE, STATUS, DECIMAL, BOOL = "int", "text", "ref", "date", "status", "decimal", "bool"
KINDS = (INT, TEXT, REF, DATE, STATUS, DECIMAL, BOOL)
REF_PROPERTIES = {"fnumber": "number", "fname": "name"}
# The status operations and the (date, user) fields each one stamps.
STAMPS = ("create", "modify", "audit", "forbid")


@dataclass(frozen=True)
class Field:
    key: str
    kind: str
    label: str
    ref: str | None = None  # reference table for REF fields
    editable: bool = True  # may Save set it? System fields are stamped, never taken from input
    indexed: bool = False
    default: Any = None  # value of a new row when Save does not give one (None: by kind)


@dataclass(frozen=True)
class Stamp:
    """Where an operation records when (date field) and who (user field)."""

    date: str
    user: str


@dataclass(frozen=True, eq=False)
class Form:
    """One served form: its table, key fields, fields, statuses, stamps and generation recipe."""

    form_id: str
    name: str  # display name, e.g. 客户
    table: str
    key: str  # the row's internal id, e.g. FCUSTID
    master: str  # shared by the use-org rows of one master, e.g. FMasterId
    number: str  # FNumber
    number_prefix: str  # prefix of numbers given to new rows, e.g. CUST
    number_digits: int
    first_id: int
    fields: tuple[Field, ...]
    aliases: dict[str, str]  # lower-case alias → field key
    document_status: str
    forbid_status: str
    create_org: str
    use_org: str
    stamps: dict[str, Stamp]  # create/modify/audit/forbid → Stamp
    change_fields: tuple[str, ...]
    refs: dict[str, list[tuple]] = field(default_factory=dict)  # this form's own ref tables
    recipe: dict[str, Any] = field(default_factory=dict)  # generation steps (data.py)
    activity: dict[str, Any] = field(default_factory=dict)  # background activity (activity.py)
    count_option: str | None = None  # SimulatorConfig field giving the row count
    default_rows: int = 100
    seed_offset: int = 0
    source: str = ""  # the YAML file it came from

    def __post_init__(self) -> None:
        by_lower = {f.key.lower(): f for f in self.fields}
        by_lower.update({alias: by_lower[key.lower()] for alias, key in self.aliases.items()})
        object.__setattr__(self, "_by_lower", by_lower)

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(f.key for f in self.fields)

    def lookup(self, key: str) -> Field:
        """The field for a bare key, case-insensitively (aliases too); raises UnknownField."""
        found = self._by_lower.get(key.strip().lower())  # type: ignore[attr-defined]
        if found is None:
            raise UnknownField(key.strip())
        return found

    def resolve(self, path: str) -> "FieldPath":
        """Resolve `FKey` or `FRef.FNumber`/`FRef.FName`; raises UnknownField."""
        text = path.strip()
        head, dot, tail = text.partition(".")
        found = self._by_lower.get(head.lower()) if head else None  # type: ignore[attr-defined]
        if found is None:
            raise UnknownField(text)
        if not dot:
            return FieldPath(found, None)
        prop = REF_PROPERTIES.get(tail.lower())
        if found.kind != REF or prop is None:
            raise UnknownField(text)
        return FieldPath(found, prop)

    def label(self, row: Any) -> str:
        """How messages name a record: `客户 CUST000001（FCUSTID=100001）`."""
        return f"{self.name} {row[self.number]}（{self.key}={row[self.key]}）"


class UnknownField(ValueError):
    """A field path that the form does not have; `path` is the text the client sent."""

    def __init__(self, path: str) -> None:
        super().__init__(f"元数据中标识为 {path} 的字段不存在")
        self.path = path


@dataclass(frozen=True)
class FieldPath:
    """A resolved field path: the field, and `number`/`name` when a reference sub-property."""

    field: Field
    prop: str | None

    @property
    def kind(self) -> str:
        # A reference's number or name is text; the bare reference is its integer id.
        if self.field.kind == REF:
            return TEXT if self.prop else INT
        return self.field.kind


class JoinSet:
    """Collects the reference joins a query needs and gives SQL expressions for field paths."""

    def __init__(self, form: Form) -> None:
        self.form = form
        self._aliases: dict[str, str] = {}

    def column(self, path: FieldPath) -> str:
        """SQL for the stored value (used in WHERE and ORDER BY)."""
        if path.prop is None:
            return f"c.{path.field.key}"
        alias = self._aliases.setdefault(path.field.key, f"r{len(self._aliases)}")
        return f"{alias}.{path.prop}"

    def output(self, path: FieldPath) -> str:
        """SQL that yields the JSON-ready value Kingdee would return for this path."""
        column = self.column(path)
        if path.kind == DATE:
            return f"replace({column}, ' ', 'T')"
        if path.kind == BOOL:
            return f"json(CASE WHEN {column} THEN 'true' ELSE 'false' END)"
        return column

    def sql(self) -> str:
        refs = {f.key: f.ref for f in self.form.fields if f.ref}
        return "".join(
            f" LEFT JOIN ref_{refs[key]} {alias} ON {alias}.id = c.{key}"
            for key, alias in self._aliases.items()
        )
