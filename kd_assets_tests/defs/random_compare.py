"""The randomized end-to-end test's independent view of both sides (test_randomized_sync.py): the
source read over HTTP by key pages, the target read with SQL, each normalized here (not with the
product's transform), and a short diff naming each disagreement."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal

import sqlalchemy as sa

from kd_assets.sync.store import TargetStore, create_target_engine
from kd_assets_tests.defs.random_forms import CUSTOMERS, FormView

CENT = Decimal("0.01")
# Read besides a form's compared fields to recognise deliberately dirty rows.
DIRTY_FIELDS = ("FCreateDate", "FSOCIALCRECODE")
# Dates the product's validation accepts: datetime's range in MySQL, up to now + 1 day (real time).
OLDEST_DATE = dt.datetime(1000, 1, 1)
CREDIT_CODE = re.compile(r"^[0-9A-HJ-NPQRTUWXY]{2}\d{6}[0-9A-HJ-NPQRTUWXY]{10}$")


# ---- normalization: both sides to plain Python values ----------------------------------------

def _text(value) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _money(value) -> Decimal | None:
    text = _text(value)
    return None if text is None else Decimal(text).quantize(CENT, ROUND_HALF_EVEN)


def stamp(value) -> dt.datetime | None:
    """ISO text or a datetime, to milliseconds (what datetime(3) keeps)."""
    if isinstance(value, str):
        value = _text(value)
        if value is None:
            return None
        value = dt.datetime.fromisoformat(value.replace("T", " "))
    if value is None:
        return None
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


def _normal(view: FormView, column: str, value):
    return (stamp(value) if column in view.time_columns else
            _money(value) if column in view.money_columns else _text(value))


def expected_row(source: dict, view: FormView = CUSTOMERS) -> dict:
    """What the target must hold for one source row."""
    row = {column: _normal(view, column, source[field]) for field, column in view.compared.items()}
    times = [row[c] for c in view.change_columns if row[c] is not None]
    row["change_time"] = max(times) if times else None
    return row


def _out_of_range(stamp: dt.datetime | None) -> bool:
    return stamp is not None and not OLDEST_DATE <= stamp <= dt.datetime.now() + dt.timedelta(days=1)


def is_dirty(source: dict, view: FormView = CUSTOMERS) -> bool:
    """The simulator's dirty kinds: empty name, negative capital, malformed credit code, modified
    before created; and what the workload writes: dates out of range (0001-01-01, 2030). Judged
    here from the raw values, not by the product's validation."""
    capital = None if view.capital_as_text else _money(source["FRegisterFund"])
    code = _text(source["FSOCIALCRECODE"])
    created, modified = stamp(source["FCreateDate"]), stamp(source["FModifyDate"])
    stamps = [created, *(stamp(source[f]) for f in view.change_fields)]
    return (_text(source["FName"]) is None or (capital is not None and capital < 0)
            or (code is not None and not CREDIT_CODE.match(code))
            or (created is not None and modified is not None and modified < created)
            or any(_out_of_range(s) for s in stamps))


# ---- reading both sides ---------------------------------------------------------------------

def read_source(kingdee, view: FormView = CUSTOMERS, fields: Iterable[str] | None = None,
                page: int = 500) -> dict[int, dict]:
    """Every source row, by keyset pages (key > last, ascending) until an empty page (so a server
    cap below ``page`` only makes more pages)."""
    fields = list(fields if fields is not None else dict.fromkeys([*view.compared, *DIRTY_FIELDS]))
    rows, last, key = {}, 0, view.key_field
    while True:
        batch = kingdee.execute_bill_query(view.form_id, [key, *fields], filter_string=f"{key} > {last}",
                                           order_string=f"{key} ASC", limit=page)
        if not batch:
            return rows
        for r in batch:
            rows[int(r[0])] = dict(zip(fields, r[1:]))
        last = int(batch[-1][0])


@dataclass(frozen=True)
class TargetRow:
    values: dict
    deleted: bool


class Target:
    """The target table, read with plain SQL."""

    def __init__(self, url: str, view: FormView = CUSTOMERS):
        self.view = view
        self.engine = create_target_engine(url)
        self.store = TargetStore(self.engine, view.spec)
        self.store.ensure_tables()

    def rows(self) -> dict[int, TargetRow]:
        t = self.store.tables.target
        columns = [*self.view.compared.values(), "change_time"]
        query = sa.select(t.c.data_id, *[t.c[c] for c in columns], t.c.is_deleted, t.c.deleted_at)
        out = {}
        with self.engine.connect() as conn:
            for r in conn.execute(query):
                m = r._mapping
                deleted = bool(m["is_deleted"])
                assert not deleted or m["deleted_at"] is not None, f"{r.data_id}: soft-deleted without deleted_at"
                out[int(r.data_id)] = TargetRow({c: _normal(self.view, c, m[c]) for c in columns}, deleted)
        return out

    def quarantined_keys(self) -> set[int]:
        q = self.store.tables.quarantine
        with self.engine.connect() as conn:
            return {int(k) for (k,) in conn.execute(sa.select(q.c.record_key)) if str(k).isdigit()}

    def quarantine_reasons(self, key: int) -> list[str]:
        """The quarantine's reasons for ``key``, as stored (JSON text per partition)."""
        q = self.store.tables.quarantine
        with self.engine.connect() as conn:
            return [r for (r,) in conn.execute(sa.select(q.c.reasons).where(q.c.record_key == str(key)))]

    def dispose(self) -> None:
        self.engine.dispose()


# ---- comparing ------------------------------------------------------------------------------

def _value(v) -> str:
    return v.isoformat(" ", "milliseconds") if isinstance(v, dt.datetime) else str(v)


def _show(row: dict) -> str:
    return "{" + ", ".join(f"{k}={_value(v)}" for k, v in row.items()) + "}"


def _row_diff(want: dict, got: dict) -> str:
    return ", ".join(f"{c}: source={_value(want[c])} target={_value(got.get(c))}"
                     for c in want if want[c] != got.get(c))


def compare(source: dict[int, dict], target: dict[int, TargetRow], exempt: set[int] = frozenset(),
            keys: Iterable[int] | None = None, limit: int = 6, view: FormView = CUSTOMERS) -> list[str]:
    """Short lines naming each disagreement (at most ``limit`` per kind, with totals).

    A source row must be live in the target with equal values; a target row whose key is gone
    from the source must be soft-deleted. ``keys`` restricts the comparison; ``exempt`` keys
    (known dirty rows held in quarantine) are skipped.
    """
    kinds: dict[str, list[str]] = {"missing in target": [], "soft-deleted in target but at the source": [],
                                   "different": [], "live in target but deleted at the source": []}
    for key in sorted(set(source) | set(target) if keys is None else set(keys)):
        if key in exempt:
            continue
        src, tgt = source.get(key), target.get(key)
        if src is None:
            if tgt is not None and not tgt.deleted:
                kinds["live in target but deleted at the source"].append(f"{key}: target {_show(tgt.values)}")
            continue
        want = expected_row(src, view)
        if tgt is None:
            kinds["missing in target"].append(f"{key}: source {_show(want)}")
        elif tgt.deleted:
            kinds["soft-deleted in target but at the source"].append(f"{key}: source {_show(want)}")
        elif want != tgt.values:
            kinds["different"].append(f"{key}: {_row_diff(want, tgt.values)}")
    lines = []
    for kind, found in kinds.items():
        if found:
            lines.append(f"{len(found)} {kind}:")
            lines += [f"  {line}" for line in found[:limit]] + ([f"  … {len(found) - limit} more"]
                                                                if len(found) > limit else [])
    return lines


def changed_keys(before: dict[int, TargetRow], after: dict[int, TargetRow]) -> set[int]:
    return {k for k in set(before) | set(after) if before.get(k) != after.get(k)}


__all__ = ["Target", "TargetRow", "changed_keys", "compare", "expected_row", "is_dirty", "read_source", "stamp"]
