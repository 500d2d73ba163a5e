"""Field tables (forms/*.yaml) → validated Form objects; a mistake names the file and the field.

The package ships BD_Customer, BD_Supplier and BD_MATERIAL plus refs.yaml (reference tables all
forms share); `--forms-dir DIR` adds more forms without Python. forms/README.md is the format.
"""

from __future__ import annotations

import functools
import zlib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Iterable

import yaml

from kd_assets.simulator.fields import (
    DATE, INT, KINDS, REF, REQUIRED_STAMPS, STAMPS, STATUS, Entity, Field, Form, RefTarget, Stamp,
)
from kd_assets.simulator.generators import GENERATORS, STEP_KEYS

FORMS_DIR = Path(__file__).parent / "forms"
SHARED_REFS = "refs.yaml"
_FORM_KEYS = {"form", "name", "table", "key", "master", "number", "first_id", "rows_option",
              "default_rows", "seed_offset", "aliases", "statuses", "orgs", "stamps",
              "change_fields", "refs", "fields", "generate", "activity", "entities"}
_ENTITY_KEYS = {"key", "entry_key", "table", "first_id", "lines", "empty_share", "writeback",
                "fields", "generate", "dirty"}
_FIELD_KEYS = {"key", "kind", "label", "ref", "editable", "indexed", "default"}
_DIRTY_KINDS = {"blank", "negative", "bad_credit_code"}
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when present: ~10x faster
_NAME_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")


class FormFileError(ValueError):
    """A field table that cannot be served: the message names the file and the field."""


@dataclass(frozen=True)
class Catalog:
    """Everything the simulator serves: forms by lower-case id, and all reference tables."""

    forms: dict[str, Form]
    refs: dict[str, list[tuple]]
    use_org_sets: list

    def get(self, form_id: str) -> Form | None:
        return self.forms.get(str(form_id).strip().lower())


class _Checker:
    """Validation helpers that prefix every message with the file (and where in it)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def fail(self, where: str, message: str) -> None:
        raise FormFileError(f"{self.path}: {where}: {message}")

    def name(self, where: str, value: Any) -> str:
        if not isinstance(value, str) or not value or not set(value) <= _NAME_CHARS:
            self.fail(where, f"{value!r} is not a field name (letters, digits, _)")
        return value

    def mapping(self, where: str, value: Any, keys: Iterable[str] = ()) -> dict:
        if not isinstance(value, dict):
            self.fail(where, f"expected a mapping, got {type(value).__name__}")
        missing = [k for k in keys if k not in value]
        if missing:
            self.fail(where, f"missing {', '.join(missing)}")
        return value

    def ref_rows(self, where: str, rows: Any) -> list[tuple]:
        if not isinstance(rows, list) or not rows:
            self.fail(where, "expected a list of [id, FNumber, FName] rows")
        out = []
        for i, row in enumerate(rows):
            if not (isinstance(row, list) and len(row) == 3 and isinstance(row[0], int)):
                self.fail(f"{where}[{i}]", f"expected [integer id, FNumber, FName], got {row!r}")
            out.append((row[0], str(row[1]), str(row[2])))
        return out


def _read(path: Path) -> Any:
    return yaml.load(path.read_text(encoding="utf-8"), Loader=_LOADER)


def load_shared_refs(path: Path = FORMS_DIR / SHARED_REFS) -> tuple[dict[str, list[tuple]], list]:
    check = _Checker(path)
    doc = check.mapping("top level", _read(path),
                        ("tables", "use_org_sets"))
    tables = {check.name(f"tables.{t}", t): check.ref_rows(f"tables.{t}", rows)
              for t, rows in check.mapping("tables", doc["tables"]).items()}
    return tables, doc["use_org_sets"]


def _field(check: _Checker, index: int, raw: Any, entity: str | None = None) -> Field:
    where = f"fields[{index}]" if entity is None else f"entities.{entity}.fields[{index}]"
    raw = check.mapping(where, raw, ("key", "kind", "label"))
    key = check.name(where + ".key", raw["key"])
    where = f"field {key}"
    unknown = set(raw) - _FIELD_KEYS
    if unknown:
        check.fail(where, f"unknown settings {sorted(unknown)}; known: {sorted(_FIELD_KEYS)}")
    if raw["kind"] not in KINDS:
        check.fail(where, f"kind {raw['kind']!r} is not one of {', '.join(KINDS)}")
    if (raw["kind"] == REF) != ("ref" in raw):
        check.fail(where, "a ref field needs `ref: TABLE`, and only ref fields have one")
    ref = check.name(where + " ref", raw["ref"]) if "ref" in raw else None
    return Field(key, raw["kind"], str(raw["label"]), ref, bool(raw.get("editable", True)),
                 bool(raw.get("indexed", False)), raw.get("default"), entity)


def _steps(check: _Checker, where: str, steps: Any, fields: dict[str, Field],
           made: set[str] | None = None) -> list[dict]:
    """Validate steps; with `made` (fields generated so far), a step may only read those."""
    if not isinstance(steps, list):
        check.fail(where, "expected a list of steps")
    for i, step in enumerate(steps):
        step = check.mapping(f"{where}[{i}]", step, ("field", "gen"))
        here = f"{where}[{i}] (field {step['field']})"
        if step["field"] not in fields:
            check.fail(here, f"no field {step['field']!r} in fields")
        if step["gen"] not in GENERATORS:
            check.fail(here, f"unknown generator {step['gen']!r}; known: {', '.join(GENERATORS)}")
        missing = [p for p in GENERATORS[step["gen"]][0] if p not in step]
        unknown = set(step) - STEP_KEYS - set(GENERATORS[step["gen"]][0])
        if missing or unknown:
            check.fail(here, f"generator {step['gen']} needs {list(GENERATORS[step['gen']][0])}; "
                             f"missing {missing}, unknown {sorted(unknown)}")
        reads = {k: step[k] for k in ("of", "times") if k in step} or (
            {"as_text": step["field"]} if step["gen"] == "as_text" else {})
        for name, read in reads.items():
            if read not in fields:
                check.fail(here, f"`{name}: {read}` names no field")
            if made is not None and read not in made:
                check.fail(here, f"reads {read}, which no earlier step generates")
        if made is not None:
            made.add(step["field"])
        if step["gen"] in ("ref", "region_ref") and fields[step["field"]].kind != REF:
            check.fail(here, f"generator {step['gen']} needs a ref field")
    return steps


def _recipe(check: _Checker, raw: Any, fields: dict[str, Field], made: set[str]) -> dict:
    """`made`: fields set before the steps run (a bill's stamps); steps add theirs to it."""
    recipe = dict(check.mapping("generate", raw or {}))
    for part in ("master", "row"):
        recipe[part] = _steps(check, f"generate.{part}", recipe.get(part, []), fields, made)
    _dirty(check, "generate.dirty", recipe.get("dirty") or [], fields)
    return recipe


def _dirty(check: _Checker, where: str, kinds: Any, fields: dict[str, Field],
           allowed: tuple[str, ...] = ("modify_before_create", *sorted(_DIRTY_KINDS))) -> list:
    for i, kind in enumerate(kinds):
        name, field = next(iter(kind.items())) if isinstance(kind, dict) else (kind, None)
        if name not in allowed or (name == "modify_before_create") != (field is None) or (
                field is not None and field not in fields):
            check.fail(f"{where}[{i}]", f"{kind!r}: expected one of {', '.join(allowed)} "
                                        f"(with `: FIELD` but modify_before_create)")
    return kinds


def _field_of(check: _Checker, fields: dict[str, Field], where: str, key: Any,
              kinds: tuple[str, ...] = ()) -> str:
    if key not in fields:
        check.fail(where, f"{key!r} is not one of the fields")
    if kinds and fields[key].kind not in kinds:
        check.fail(where, f"field {key} has kind {fields[key].kind}, expected {'/'.join(kinds)}")
    return key


def load_form(path: Path) -> Form:
    """Read and validate one field table (cached while its text is unchanged)."""
    return _load_form(path, path.read_text(encoding="utf-8"))


@functools.lru_cache(maxsize=64)
def _load_form(path: Path, text: str) -> Form:
    check = _Checker(path)
    try:
        doc = yaml.load(text, Loader=_LOADER)
    except yaml.YAMLError as err:
        raise FormFileError(f"{path}: not valid YAML: {err}") from None
    doc = check.mapping("top level", doc, ("form", "name", "table", "key", "number", "statuses",
                                           "stamps", "fields"))
    unknown = set(doc) - _FORM_KEYS
    if unknown:
        check.fail("top level", f"unknown settings {sorted(unknown)}; known: {sorted(_FORM_KEYS)}")
    fields = _fields(check, doc["fields"], {})
    entities = tuple(_entity(check, i, raw, fields)
                     for i, raw in enumerate(doc.get("entities") or []))
    everything = {**fields, **{f.key: f for e in entities for f in e.fields}}
    number = check.mapping("number", doc["number"], ("field", "prefix"))
    statuses = check.mapping("statuses", doc["statuses"], ("document",))
    orgs = check.mapping("orgs", doc.get("orgs") or {})
    stamps = _stamps(check, doc["stamps"], fields)
    optional = lambda section, name, kinds: (  # noqa: E731
        _field_of(check, fields, f"{section}.{name}", doc[section][name], kinds)
        if name in (doc.get(section) or {}) else None)
    for status, stamp in (("forbid", "forbid"), ("close", "close")):
        if (status in statuses) != (stamp in stamps):
            check.fail("statuses", f"a {status} status needs a `stamps.{stamp}`, and only then")
    aliases = {}
    for alias, target in (doc.get("aliases") or {}).items():
        aliases[check.name("aliases", alias).lower()] = _field_of(check, everything, f"aliases.{alias}", target)
    refs = {check.name(f"refs.{t}", t): check.ref_rows(f"refs.{t}", rows)
            for t, rows in (doc.get("refs") or {}).items()}
    activity = check.mapping("activity", doc.get("activity") or {})
    for part in ("create",):
        _steps(check, f"activity.{part}", activity.get(part, []), fields)
    if "edit" in activity:
        _steps(check, "activity.edit", [activity["edit"]], fields)
    form_id = check.name("form", doc["form"])
    # A bill's statuses and stamps are drawn before its steps run, so steps may read them.
    made = {f.key for f in fields.values() if f.kind in (DATE, STATUS) or f.key in
            {s.user for s in stamps.values()}} if entities else set()
    return Form(
        form_id=form_id, name=str(doc["name"]), table=check.name("table", doc["table"]),
        key=_field_of(check, fields, "key", doc["key"], (INT,)),
        master=_field_of(check, fields, "master", doc["master"], (INT,)) if doc.get("master") else None,
        number=_field_of(check, fields, "number.field", number["field"]),
        number_prefix=str(number["prefix"]), number_digits=int(number.get("digits", 6)),
        first_id=int(doc.get("first_id", 100001)), fields=tuple(fields.values()), aliases=aliases,
        document_status=_field_of(check, fields, "statuses.document", statuses["document"], (STATUS,)),
        forbid_status=optional("statuses", "forbid", (STATUS,)),
        create_org=optional("orgs", "create", (REF,)), use_org=optional("orgs", "use", (REF,)),
        stamps=stamps, change_fields=tuple(_field_of(check, fields, "change_fields", k, (DATE,))
                                           for k in doc.get("change_fields") or ()),
        refs=refs, recipe=_recipe(check, doc.get("generate"), fields, made), activity=activity,
        count_option=doc.get("rows_option"), default_rows=int(doc.get("default_rows", 100)),
        seed_offset=int(doc.get("seed_offset", zlib.crc32(form_id.encode()) % 1_000_000)),
        source=str(path), close_status=optional("statuses", "close", (STATUS,)), entities=entities)


def _stamps(check: _Checker, raw: Any, fields: dict[str, Field]) -> dict[str, Stamp]:
    """create/modify/audit, and forbid/close when the form has that status."""
    raw = check.mapping("stamps", raw, REQUIRED_STAMPS)
    stamps = {}
    for name in (n for n in STAMPS if n in raw):
        stamp = check.mapping(f"stamps.{name}", raw[name], ("date", "user"))
        stamps[name] = Stamp(_field_of(check, fields, f"stamps.{name}.date", stamp["date"], (DATE,)),
                             _field_of(check, fields, f"stamps.{name}.user", stamp["user"], (REF,)))
    return stamps


def _fields(check: _Checker, raw_fields: Any, taken: dict[str, Field],
            entity: str | None = None) -> dict[str, Field]:
    """Fields by key; a key may appear once in a form, header and entities together."""
    if not isinstance(raw_fields, list):
        check.fail(f"entities.{entity}.fields" if entity else "fields", "expected a list")
    fields: dict[str, Field] = {}
    for i, raw in enumerate(raw_fields):
        field = _field(check, i, raw, entity)
        if field.key.lower() in {k.lower() for k in [*taken, *fields]}:
            check.fail(f"field {field.key}", "defined twice (keys are case-insensitive)")
        fields[field.key] = field
    return fields


def _entity(check: _Checker, index: int, raw: Any, header: dict[str, Field]) -> Entity:
    """One entry entity; its entry key is `<EntityKey>_FEntryID` (or FEntryID), an int field."""
    raw = check.mapping(f"entities[{index}]", raw, ("key", "entry_key", "table", "fields"))
    key = check.name(f"entities[{index}].key", raw["key"])
    where = f"entities.{key}"
    unknown = set(raw) - _ENTITY_KEYS
    if unknown:
        check.fail(where, f"unknown settings {sorted(unknown)}; known: {sorted(_ENTITY_KEYS)}")
    entry_key = check.name(f"{where}.entry_key", raw["entry_key"])
    if entry_key.lower() not in (f"{key}_fentryid".lower(), "fentryid"):
        check.fail(f"{where}.entry_key", f"{entry_key!r}: Kingdee names an entry key "
                                         f"{key}_FEntryID (or FEntryID)")
    raw_fields = raw["fields"] if isinstance(raw["fields"], list) else check.fail(f"{where}.fields", "expected a list")
    fields = _fields(check, [{"key": entry_key, "kind": INT, "label": "分录内码", "editable": False},
                             *raw_fields], header, key)
    lines = check.mapping(f"{where}.lines", raw.get("lines") or {"min": 1, "max": 1})
    low, high = int(lines.get("min", 1)), int(lines.get("max", 1))
    if not 0 <= low <= high:
        check.fail(f"{where}.lines", f"expected 0 <= min <= max, got {lines}")
    readable = {**header, **fields}
    steps = _steps(check, f"{where}.generate", raw.get("generate") or [], readable,
                   {f for f in header} | {entry_key})
    if any(s["field"] not in fields for s in steps):
        check.fail(f"{where}.generate", "a line step may only set the entity's own fields")
    writeback = raw.get("writeback")
    if writeback is not None:  # {field: FStockOutQty, of: FQty}: delivered, out of ordered
        writeback = check.mapping(f"{where}.writeback", writeback, ("field", "of"))
        writeback = tuple(_field_of(check, fields, f"{where}.writeback.{k}", writeback[k], ("decimal",))
                          for k in ("field", "of"))
    return Entity(key, entry_key, check.name(f"{where}.table", raw["table"]), tuple(fields.values()),
                  int(raw.get("first_id", 100001)),
                  (low, high, float(lines.get("mean", (low + high) / 2))),
                  float(raw.get("empty_share", 0.0)), tuple(steps), writeback,
                  tuple(_dirty(check, f"{where}.dirty", raw.get("dirty") or [], fields,
                               ("blank", "negative"))))


def resolve_refs(form: Form, forms: dict[str, Form], refs: dict) -> Form:
    """The form with every REF field pointing at a served form (by form id) or a ref table."""
    def resolve(field: Field) -> Field:
        if field.kind != REF:
            return field
        served = forms.get(str(field.ref).lower())
        if served is not None and any(f.key == "FName" for f in served.fields):
            return replace(field, target=RefTarget(served.table, served.key, served.number, "FName"))
        if field.ref not in refs:
            raise FormFileError(f"{form.source}: field {field.key}: reference table {field.ref!r} "
                                f"is neither in refs:, nor in {SHARED_REFS}, nor a served form "
                                f"with FName")
        return replace(field, target=RefTarget(f"ref_{field.ref}"))
    entities = tuple(replace(e, fields=tuple(map(resolve, e.fields))) for e in form.entities)
    return replace(form, fields=tuple(map(resolve, form.fields)), entities=entities)


def form_files(directory: Path) -> list[Path]:
    """The field tables of a folder (every *.yaml but the shared refs file)."""
    if not directory.is_dir():
        raise FormFileError(f"{directory}: forms folder does not exist")
    return sorted(p for p in directory.glob("*.y*ml") if p.name != SHARED_REFS)


def load_catalog(extra_dirs: Iterable[str | Path] = ()) -> Catalog:
    """The shipped forms plus those of `extra_dirs`; one form id and one ref table name once."""
    refs, use_org_sets = load_shared_refs()
    refs = dict(refs)
    forms: dict[str, Form] = {}
    tables: dict[str, str] = {}
    for path in [*form_files(FORMS_DIR), *(p for d in extra_dirs for p in form_files(Path(d)))]:
        form = load_form(path)
        own = {form.table, *(e.table for e in form.entities)}
        clash = forms.get(form.form_id.lower()) or next(
            (f for f in forms.values() if own & {f.table, *(e.table for e in f.entities)}), None)
        if clash is not None:
            raise FormFileError(f"{path}: form {form.form_id} (tables {', '.join(sorted(own))}) is "
                                f"already served from {clash.source}")
        if len(own) <= len(form.entities):
            raise FormFileError(f"{path}: form {form.form_id}: its header and entities need "
                                f"tables of their own")
        for table, rows in form.refs.items():
            if table in refs and refs[table] != rows:
                raise FormFileError(f"{path}: refs.{table} differs from the table of the same "
                                    f"name in {tables.get(table, FORMS_DIR / SHARED_REFS)}")
            refs[table], tables[table] = rows, str(path)
        forms[form.form_id.lower()] = form
    forms = {name: resolve_refs(form, forms, refs) for name, form in forms.items()}
    return Catalog(forms, refs, use_org_sets)
