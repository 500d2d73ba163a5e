"""A served form's field catalog, and how a field path (`FUseOrgId.FNumber`) maps to SQL.

A Form is built from a field table (forms/*.yaml, see formfile.py); nothing here knows a form by
name. Field keys are case-insensitive, as in Kingdee. Reference fields return their internal id
when bare and support `.FNumber` / `.FName`; anything else is an unknown field (MsgCode 9).
A bill form also has entry entities (单据体): each is its own table of lines keyed by an entry
id and joined to the header, so a query naming entry fields returns one row per line.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Column kinds. Dates are stored as 'YYYY-MM-DD HH:MM:SS[.fff]' so text order is time order.
INT, TEXT, REF, DATE, STATUS, DECIMAL, BOOL = "int", "text", "ref", "date", "status", "decimal", "bool"
KINDS = (INT, TEXT, REF, DATE, STATUS, DECIMAL, BOOL)
REF_PROPERTIES = {"fnumber": "number", "fname": "name"}
# The status operations and the (date, user) fields each one stamps.
STAMPS = ("create", "modify", "audit", "forbid", "close")
REQUIRED_STAMPS = ("create", "modify", "audit")


@dataclass(frozen=True)
class RefTarget:
    """Where a reference points: a table and its id, number and name columns."""

    table: str
    id: str = "id"
    number: str = "number"
    name: str = "name"

    def column(self, prop: str) -> str:
        return self.number if prop == "number" else self.name


@dataclass(frozen=True)
class Field:
    key: str
    kind: str
    label: str
    ref: str | None = None  # reference table for REF fields
    editable: bool = True  # may Save set it? System fields are stamped, never taken from input
    indexed: bool = False
    default: Any = None  # value of a new row when Save does not give one (None: by kind)
    entity: str | None = None  # the entry entity holding it; None for header fields
    target: RefTarget | None = None  # what a REF field points at (a ref table or a served form)


@dataclass(frozen=True)
class Entity:
    """One entry entity (单据体) of a bill: its lines live in `table`, one row per entry id."""

    key: str  # e.g. FSaleOrderEntry, the key of its rows in a Save model
    entry_key: str  # e.g. FSaleOrderEntry_FEntryID (Kingdee's `<EntityKey>_FEntryID`)
    table: str
    fields: tuple[Field, ...]  # the entry key first
    first_id: int = 100001
    lines: tuple[int, int, float] = (1, 1, 1.0)  # generated lines per bill: min, max, mean
    empty_share: float = 0.0  # generated bills with no lines in this entity
    recipe: tuple[dict, ...] = ()  # generation steps per line
    writeback: tuple[str, str] | None = None  # (delivered, ordered): what later documents write back
    dirty: tuple[dict, ...] = ()  # what a dirty line gets: {negative: F} or {blank: F}

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(f.key for f in self.fields)


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
    master: str | None  # shared by the use-org rows of one master, e.g. FMasterId; bills: None
    number: str  # FNumber
    number_prefix: str  # prefix of numbers given to new rows, e.g. CUST
    number_digits: int
    first_id: int
    fields: tuple[Field, ...]
    aliases: dict[str, str]  # lower-case alias → field key
    document_status: str
    forbid_status: str | None
    create_org: str | None
    use_org: str | None
    stamps: dict[str, Stamp]  # create/modify/audit[/forbid/close] → Stamp
    change_fields: tuple[str, ...]
    refs: dict[str, list[tuple]] = field(default_factory=dict)  # this form's own ref tables
    recipe: dict[str, Any] = field(default_factory=dict)  # generation steps (data.py)
    activity: dict[str, Any] = field(default_factory=dict)  # background activity (activity.py)
    count_option: str | None = None  # SimulatorConfig field giving the row count
    default_rows: int = 100
    seed_offset: int = 0
    source: str = ""  # the YAML file it came from
    close_status: str | None = None  # bills: FCloseStatus (A open, B closed)
    entities: tuple[Entity, ...] = ()  # bills: the entry entities, in order

    def __post_init__(self) -> None:
        by_lower = {f.key.lower(): f for f in self.all_fields}
        by_lower.update({alias: by_lower[key.lower()] for alias, key in self.aliases.items()})
        object.__setattr__(self, "_by_lower", by_lower)

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(f.key for f in self.fields)

    @property
    def all_fields(self) -> tuple[Field, ...]:
        """Header fields, then every entity's fields."""
        return self.fields + tuple(f for e in self.entities for f in e.fields)

    def entity(self, key: str) -> Entity:
        return next(e for e in self.entities if e.key == key)

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
    """Collects the entity and reference joins a query needs; gives SQL for field paths.

    Each entity a query names is LEFT JOINed to the header: a bill without lines still gives
    one row (entry fields NULL, the entry id 0), and two sibling entities in one query multiply
    into their cartesian product per bill, as the SQL Kingdee generates does.
    """

    def __init__(self, form: Form) -> None:
        self.form = form
        self._entities: dict[str, str] = {}
        self._aliases: dict[str, str] = {}

    def owner(self, field: Field) -> str:
        """The SQL alias of the table holding `field` (joining its entity if needed)."""
        if field.entity is None:
            return "c"
        return self._entities.setdefault(field.entity, f"e{len(self._entities)}")

    def column(self, path: FieldPath) -> str:
        """SQL for the stored value (used in WHERE and ORDER BY)."""
        owner = self.owner(path.field)
        if path.prop is None:
            return f"{owner}.{path.field.key}"
        alias = self._aliases.setdefault(path.field.key, f"r{len(self._aliases)}")
        return f"{alias}.{path.field.target.column(path.prop)}"  # type: ignore[union-attr]

    def condition(self, path: FieldPath) -> str:
        """SQL for WHERE: an entry id of a bill without lines is 0, as it comes back."""
        column = self.column(path)
        return f"coalesce({column}, 0)" if self.is_entry_key(path) else column

    def entry_keys(self) -> list[str]:
        """The entry id columns of the joined entities (a bill's lines in entry order)."""
        return [f"{alias}.{self.form.entity(key).entry_key}" for key, alias in self._entities.items()]

    def is_entry_key(self, path: FieldPath) -> bool:
        return path.field.entity is not None and path.prop is None and any(
            e.entry_key == path.field.key for e in self.form.entities)

    def output(self, path: FieldPath) -> str:
        """SQL that yields the JSON-ready value Kingdee would return for this path."""
        column = self.condition(path)
        if path.kind == DATE:
            return f"replace({column}, ' ', 'T')"
        if path.kind == BOOL:
            return f"json(CASE WHEN {column} THEN 'true' ELSE 'false' END)"
        return column

    def sql(self) -> str:
        joins = [f" LEFT JOIN {self.form.entity(key).table} {alias} ON {alias}.{self.form.key} = c.{self.form.key}"
                 for key, alias in self._entities.items()]
        fields = {f.key: f for f in self.form.all_fields}
        for key, alias in self._aliases.items():
            target = fields[key].target
            joins.append(f" LEFT JOIN {target.table} {alias} ON {alias}.{target.id} = "  # type: ignore[union-attr]
                         f"{self.owner(fields[key])}.{key}")
        return "".join(joins)
