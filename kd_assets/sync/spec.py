"""The sync spec: which Kingdee form and fields map to which target columns, and how.

A spec is the "metadata configuration" of the seed, kept in ``kd_assets/specs/<name>.yaml``.
Everything downstream (conversion, pandera schemas, DDL, upserts) is derived from it, so adding
a column or a second form is a YAML edit. Loading validates the file strictly and every error
names the file and the offending key or column, because a typo here silently empties a column.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from kd_assets.sync.billspec import LAYOUTS, BillSpec, entity_of
from kd_assets.sync.spec_columns import ColumnParsing, ColumnSpec

# libyaml's parser when PyYAML was built with it: ~10x faster than the pure-Python one, and
# every process that loads the code location (CLI, each launched run, the daemon) parses every spec.
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
SPECS_DIR = Path(__file__).resolve().parent.parent / "specs"

SQL_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,63}$")
FIELD_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$")


_TOP_KEYS = {"form_id", "key", "change_time_fields", "extra_filter", "tables", "columns", "business_key",
             "bill"}
_REQUIRED_TOP = {"form_id", "key", "change_time_fields", "tables", "columns"}
_KEY_KEYS = {"field", "column"}
_TABLE_KEYS = {"target", "landing", "clean", "quarantine", "sync_log", "headers"}
_BILL_KEYS = {"number", "entry", "layout", "line_key"}
_ENTRY_KEYS = {"entity", "key"}


class SpecError(ValueError):
    """A sync spec file is wrong; the message names the file and the key or column."""


@dataclass(frozen=True)
class TableNames:
    target: str
    landing: str
    clean: str
    quarantine: str
    sync_log: str
    headers: str | None = None  # a bill's header table (layout header_and_lines); target holds the lines


@dataclass(frozen=True)
class SyncSpec:
    """A validated sync spec. ``field_keys`` is the FieldKeys list sent to ExecuteBillQuery.

    For a bill (``bill`` set, see billspec.py) ``key_field`` is the header key (FID) and
    ``key_column`` the packed (bill id, entry id) line key, the first of ``columns``.
    """

    name: str
    path: Path
    form_id: str
    key_field: str
    key_column: str
    change_time_fields: tuple[str, ...]
    extra_filter: str
    tables: TableNames
    columns: tuple[ColumnSpec, ...]
    # Columns that together identify a record for people (e.g. number + use-org); checked for
    # duplicates, never used as the sync key.
    business_key: tuple[str, ...] = ()
    bill: BillSpec | None = None

    @property
    def page_key(self) -> str | tuple[str, str]:
        """What Kingdee pages are keyed by: the key field, or (bill id, entry id) for a bill."""
        return self.bill.page_key if self.bill else self.key_field

    @property
    def key_fields(self) -> tuple[str, ...]:
        """The fields that make a row's key: ``page_key`` as a tuple."""
        return self.bill.page_key if self.bill else (self.key_field,)

    @property
    def field_keys(self) -> list[str]:
        # Each field once, even when several columns read it (raw text and parsed amount).
        return list(dict.fromkeys(c.field for c in self.columns))

    @property
    def key(self) -> ColumnSpec:
        return next(c for c in self.columns if c.name == self.key_column)

    @property
    def change_columns(self) -> tuple[ColumnSpec, ...]:
        """Target columns of the change-time fields, in spec order."""
        return tuple(self.column_for_field(f) for f in self.change_time_fields)

    def column_for_field(self, field: str) -> ColumnSpec:
        for c in self.columns:
            if c.field == field:
                return c
        raise KeyError(f"{self.path}: no column for Kingdee field {field!r}")


def load_spec(name_or_path: str | Path) -> SyncSpec:
    """Load and validate a spec by name (``bd_customer`` → specs/bd_customer.yaml) or path."""
    path = Path(name_or_path)
    if path.suffix not in (".yaml", ".yml"):
        path = SPECS_DIR / f"{name_or_path}.yaml"
    if not path.is_file():
        raise SpecError(f"{path}: sync spec not found")
    try:
        doc = yaml.load(path.read_text(encoding="utf-8"), Loader=_YAML_LOADER)  # noqa: S506 (a safe loader)
    except yaml.YAMLError as exc:
        raise SpecError(f"{path}: not valid YAML: {exc}") from exc
    return _SpecParser(path).parse(doc)


def parse_spec(doc: Any, path: Path, name: str | None = None) -> SyncSpec:
    """Validate a spec given as a mapping (e.g. inline in a form's defs.yaml); errors name ``path``."""
    spec = _SpecParser(Path(path)).parse(doc)
    return spec if name is None else dataclasses.replace(spec, name=name)


class _SpecParser(ColumnParsing):
    """Turns the YAML document into a SyncSpec, failing on the first mistake with its location."""

    def __init__(self, path: Path):
        self.path = path

    def fail(self, where: str, problem: str) -> SpecError:
        return SpecError(f"{self.path}: {where}: {problem}")

    def mapping(self, value: Any, where: str, allowed: set[str], required: set[str]) -> dict:
        if not isinstance(value, dict):
            raise self.fail(where, f"expected a mapping, got {type(value).__name__}")
        for k in value:
            if k not in allowed:
                raise self.fail(where, f"unknown key {k!r} (allowed: {', '.join(sorted(allowed))})")
        for k in sorted(required - set(value)):
            raise self.fail(where, f"missing key {k!r}")
        return value

    def typed(self, value: Any, where: str, kind: type | tuple[type, ...]) -> Any:
        # bool is an int in Python; a YAML `yes` must not pass as a number.
        if isinstance(value, bool) and kind is not bool:
            ok = False
        else:
            ok = isinstance(value, kind)
        if not ok:
            names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
            raise self.fail(where, f"expected {names}, got {type(value).__name__} {value!r}")
        return value

    def identifier(self, value: Any, where: str) -> str:
        self.typed(value, where, str)
        if not SQL_IDENTIFIER.match(value):
            raise self.fail(where, f"unsafe SQL identifier {value!r} (must match {SQL_IDENTIFIER.pattern})")
        return value

    def field_key(self, value: Any, where: str) -> str:
        self.typed(value, where, str)
        if not FIELD_KEY.match(value):
            raise self.fail(where, f"unsafe Kingdee field key {value!r} (must match {FIELD_KEY.pattern})")
        return value

    def parse(self, doc: Any) -> SyncSpec:
        doc = self.mapping(doc, "top level", _TOP_KEYS, _REQUIRED_TOP)
        form_id = self.field_key(doc["form_id"], "form_id")
        key = self.mapping(doc["key"], "key", _KEY_KEYS, _KEY_KEYS)
        key_field = self.field_key(key["field"], "key.field")
        key_column = self.identifier(key["column"], "key.column")
        extra_filter = self.typed(doc.get("extra_filter", "") or "", "extra_filter", str)
        tables = self.parse_tables(doc["tables"])
        columns = self.parse_columns(doc["columns"])
        self.check_key(columns, key_field, key_column)
        change = self.parse_change_fields(doc["change_time_fields"], columns)
        bill = None
        if "bill" in doc:
            bill, columns = self.parse_bill(doc["bill"], columns, key_column, change)
            key_column = bill.line_key_column
            tables = self.bill_tables(tables, bill, doc["tables"])
        elif "headers" in doc["tables"]:
            raise self.fail("tables.headers", "a header table is only allowed in a bill spec with "
                                              "'layout: header_and_lines'")
        else:
            for c in columns:
                if c.entity:
                    raise self.fail(f"columns ({c.name}).entity",
                                    "an entity is only allowed in a spec with a 'bill:' section")
        return SyncSpec(
            name=self.path.stem, path=self.path, form_id=form_id, key_field=key_field,
            key_column=key_column, change_time_fields=change, extra_filter=extra_filter,
            tables=tables, columns=columns, business_key=self.parse_business_key(doc, columns), bill=bill,
        )

    def parse_bill(self, value: Any, columns: tuple[ColumnSpec, ...], header_key: str,
                   change: tuple[str, ...]) -> tuple[BillSpec, tuple[ColumnSpec, ...]]:
        """The bill section; returns it and the columns with the packed line key first."""
        b = self.mapping(value, "bill", _BILL_KEYS, {"number", "entry"})
        entry = self.mapping(b["entry"], "bill.entry", _ENTRY_KEYS, _ENTRY_KEYS)
        entity = self.field_key(entry["entity"], "bill.entry.entity")
        entry_key = self.field_key(entry["key"], "bill.entry.key")
        layout = self.typed(b.get("layout", "lines"), "bill.layout", str)
        if layout not in LAYOUTS:
            raise self.fail("bill.layout", f"unknown layout {layout!r} (allowed: {', '.join(LAYOUTS)})")
        line_key = self.identifier(b.get("line_key", "line_key"), "bill.line_key")
        by_field = {c.field: c for c in columns}
        for c in columns:
            own = entity_of(c.field, c.entity)
            if own not in (None, entity):
                raise self.fail(f"columns ({c.name})", f"field {c.field!r} belongs to entity {own!r}, a sibling "
                                f"of the entry entity {entity!r}: a query naming both returns their cartesian "
                                "product per bill; sync one entity per spec")
        number = self.field_key(b["number"], "bill.number")
        for where, field, want in (("bill.number", number, None), ("bill.entry.key", entry_key, entity),
                                   *((f"change_time_fields ({f})", f, None) for f in change)):
            if field not in by_field:
                raise self.fail(where, f"{field!r} is not a column of the spec")
            if entity_of(field, by_field[field].entity) != want:
                raise self.fail(where, f"{field!r} must be a {'field of ' + want if want else 'header field'}")
        if by_field[entry_key].conversion != "int":
            raise self.fail("bill.entry.key", f"entry key column {by_field[entry_key].name!r} must use 'int'")
        if line_key in {c.name for c in columns}:
            raise self.fail("bill.line_key", f"column {line_key!r} exists; name the packed line key otherwise")
        bill = BillSpec(header_key_field=self.key_field_of(columns, header_key), header_key_column=header_key,
                        number_field=number, number_column=by_field[number].name, entity=entity,
                        entry_key_field=entry_key, entry_key_column=by_field[entry_key].name,
                        line_key_column=line_key, layout=layout)
        packed = ColumnSpec(field=bill.header_key_field, name=line_key, sql_type="bigint", conversion="int",
                            required=True)
        return bill, (packed, *columns)

    def bill_tables(self, tables: TableNames, bill: BillSpec, given: dict) -> TableNames:
        """A header_and_lines bill keeps its headers in ``tables.headers`` (``<target>_headers``)."""
        if bill.layout != "header_and_lines":
            if "headers" in given:
                raise self.fail("tables.headers", f"a header table needs 'layout: header_and_lines' "
                                                  f"(bill.layout is {bill.layout!r})")
            return tables
        headers = self.identifier(given.get("headers", f"{tables.target}_headers"), "tables.headers")
        others = [tables.target, tables.landing, tables.clean, tables.quarantine, tables.sync_log]
        if headers in others:
            raise self.fail("tables.headers", f"{headers!r} is already the name of another table of the spec")
        return dataclasses.replace(tables, headers=headers)

    @staticmethod
    def key_field_of(columns: tuple[ColumnSpec, ...], key_column: str) -> str:
        return next(c.field for c in columns if c.name == key_column)


    def parse_business_key(self, doc: dict, columns: tuple[ColumnSpec, ...]) -> tuple[str, ...]:
        value = self.typed(doc.get("business_key", []), "business_key", list)
        names = {c.name for c in columns}
        for i, name in enumerate(value):
            if self.typed(name, f"business_key[{i}]", str) not in names:
                raise self.fail(f"business_key[{i}]", f"{name!r} is not a target column of the spec")
        if len(set(value)) != len(value):
            raise self.fail("business_key", "duplicate column")
        return tuple(value)

    def parse_tables(self, value: Any) -> TableNames:
        t = self.mapping(value, "tables", _TABLE_KEYS, {"target"})
        target = self.identifier(t["target"], "tables.target")
        # Derived defaults keep the helper tables next to the target they serve; the sync log is
        # shared by all forms (it has an asset column) so BI tools read one table.
        names = {"landing": f"{target}_landing", "clean": f"{target}_clean",
                 "quarantine": f"{target}_quarantine", "sync_log": "kd_sync_log"}
        for k in names:
            if k in t:
                names[k] = self.identifier(t[k], f"tables.{k}")
        all_names = [target, *names.values()]
        if len(set(all_names)) != len(all_names):
            raise self.fail("tables", f"table names must differ: {all_names}")
        return TableNames(target=target, **names)

    def check_key(self, columns: tuple[ColumnSpec, ...], key_field: str, key_column: str) -> None:
        matches = [c for c in columns if c.field == key_field]
        if not matches:
            raise self.fail("key.field", f"missing key column: no column maps Kingdee field {key_field!r}")
        col = matches[0]
        if col.name != key_column:
            raise self.fail("key.column", f"key field {key_field!r} maps to {col.name!r}, not {key_column!r}")
        if col.conversion != "int":
            raise self.fail("key.field", f"key column {col.name!r} must use the 'int' conversion")

    def parse_change_fields(self, value: Any, columns: tuple[ColumnSpec, ...]) -> tuple[str, ...]:
        self.typed(value, "change_time_fields", list)
        if not value:
            raise self.fail("change_time_fields", "at least one change-time field is required")
        by_field = {c.field: c for c in columns}
        for i, f in enumerate(value):
            self.field_key(f, f"change_time_fields[{i}]")
            if f not in by_field:
                raise self.fail(f"change_time_fields[{i}]", f"{f!r} is not a column of the spec")
            if by_field[f].conversion != "datetime":
                raise self.fail(f"change_time_fields[{i}]", f"{f!r} must use the 'datetime' conversion")
        if len(set(value)) != len(value):
            raise self.fail("change_time_fields", "duplicate field")
        return tuple(value)
