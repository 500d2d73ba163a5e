"""Deterministic rows for any served form, from its field table's `generate:` recipe.

Same seed and same clock day give identical rows. Rows of one master share FMasterId/FNumber
(whatever the form calls them) and differ in the key and the use-org. A configurable share of
rows is dirty on purpose, so the quality checks downstream have something to find.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from operator import itemgetter
from typing import Any, Iterator, Sequence

from kd_assets.simulator.fields import BOOL, DATE, DECIMAL, INT, REF, STATUS, Form
from kd_assets.simulator.generators import REGIONS, Context, Draw, run_steps

LOGIN_USER_ID = 100100  # the configured integration user
DEFAULT_HISTORY_DAYS = 6 * 365
# Lifecycle of generated rows; a form's `generate.lifecycle` may override any of these.
LIFECYCLE = {
    "status_weights": {"C": 80, "A": 8, "B": 4, "D": 5, "Z": 3},  # mostly audited
    "modified_share": 0.7, "forbidden_share": 0.07,
    "users": [LOGIN_USER_ID, 100101, 100102],  # creators and modifiers
    "approver": 100102, "forbidder": 100102, "closed_share": 0.15,
}


def weighted(entries: Sequence[tuple[Any, int]]) -> list:
    """Weighted choices as repeated entries, so one draw picks among them."""
    return [value for value, weight in entries for _ in range(weight)]


def reference_rows(login_user: str, tables: dict[str, list[tuple]]) -> dict[str, list[tuple]]:
    """Every reference table (id, FNumber, FName); the login user is one of the users."""
    rows = {name: list(values) for name, values in tables.items()}
    rows["user"] = [(LOGIN_USER_ID, login_user, login_user), *rows.get("user", [])]
    return rows


def kind_default(kind: str) -> Any:
    """A column's value when nothing set it: Kingdee's text columns default to ' '."""
    return {INT: 0, REF: 0, BOOL: 0, DECIMAL: 0.0, DATE: None, STATUS: "A"}.get(kind, " ")


class RowGenerator:
    """Builds one form's rows in column order; one instance per generation run."""

    def __init__(self, form: Form, refs: dict[str, list[tuple]], use_org_sets: list,
                 seed: int, end: datetime, dirty_share: float, millis_share: float,
                 history_days: int = DEFAULT_HISTORY_DAYS) -> None:
        self.form = form
        self.draw = Draw(random.Random(seed + form.seed_offset), millis_share)
        self.end = end
        self.start = end - timedelta(days=history_days)
        self.dirty_share = dirty_share
        self.refs = refs
        orgs = {number: org_id for org_id, number, _ in refs["org"]}
        self.org_sets = weighted([([orgs[n] for n in s["orgs"]], s["weight"])
                                  for s in form.recipe.get("use_org_sets") or use_org_sets])
        life = {**LIFECYCLE, **form.recipe.get("lifecycle", {})}
        self.life = life
        self.statuses = weighted(list(life["status_weights"].items()))
        self.defaults = {f.key: kind_default(f.kind) for f in form.fields}
        self.ref_of = {f.key: f.ref for f in form.all_fields}.get
        self._ref_ids: dict[tuple, list[int]] = {}

    def ref_ids(self, table: str, numbers: Sequence[str] | None) -> list[int]:
        """Ids of a reference table (all, or those numbers), memoised: lines ask for them often."""
        key = (table, None if numbers is None else tuple(numbers))
        found = self._ref_ids.get(key)
        if found is None:
            rows = self.refs[table]
            by_number = {str(row[1]): row[0] for row in rows}
            found = self._ref_ids[key] = ([row[0] for row in rows] if numbers is None
                                          else [by_number[str(n)] for n in numbers])
        return found

    def context(self, seq: int) -> Context:
        return Context(self.draw, self.draw.pick(REGIONS), seq, self.ref_ids, self.ref_of)

    def lifecycle(self, row: dict, created: datetime) -> None:
        """Statuses, dates and the users who stamped them, consistent with each other."""
        draw, form, life = self.draw, self.form, self.life
        span = max(1, int((self.end - created).total_seconds()))
        modified = (created + timedelta(seconds=draw.below(span))
                    if draw.random() < life["modified_share"] else created)
        status = draw.pick(self.statuses)
        approved = created + (modified - created) * draw.random() if status == "C" else None
        forbid_at = None
        if form.forbid_status and draw.random() < life["forbidden_share"]:
            forbid_at = created + timedelta(seconds=draw.below(span))
        stamps = form.stamps
        row.update({
            form.document_status: status,
            stamps["create"].user: draw.pick(life["users"]),
            stamps["modify"].user: draw.pick(life["users"]),
            stamps["audit"].user: life["approver"] if approved else 0,
            stamps["create"].date: draw.stamp(created), stamps["modify"].date: draw.stamp(modified),
            stamps["audit"].date: draw.stamp(approved) if approved else None,
        })
        if form.forbid_status:
            self.status_stamp(row, "forbid", form.forbid_status, forbid_at, life["forbidder"])
        if form.close_status:  # only audited bills get closed
            closed = approved is not None and draw.random() < life["closed_share"]
            close_at = approved + (self.end - approved) * draw.random() if closed else None
            self.status_stamp(row, "close", form.close_status, close_at, life["approver"])

    def status_stamp(self, row: dict, name: str, status: str, when: datetime | None,
                     user: int) -> None:
        """Status B with its date and user when `when` is set, else A and no stamp."""
        stamp = self.form.stamps[name]
        row.update({status: "B" if when else "A", stamp.user: user if when else 0,
                    stamp.date: self.draw.stamp(when) if when else None})

    def make_dirty(self, row: dict) -> None:
        kind = self.draw.pick(self.form.recipe["dirty"])
        name, field = next(iter(kind.items())) if isinstance(kind, dict) else (kind, None)
        if name == "blank":
            row[field] = self.draw.empty_text()
        elif name == "negative":
            row[field] = -abs(float(row[field])) or -1.0
        elif name == "bad_credit_code":
            row[field] = str(row[field])[:15] + "IO"  # 17 chars, forbidden letters
        else:  # modify_before_create
            row[self.form.stamps["modify"].date] = "2001-01-01 00:00:00"

    def rows(self, count: int) -> Iterator[tuple]:
        draw, form, recipe = self.draw, self.form, self.form.recipe
        span = (self.end - self.start).total_seconds()
        offsets = sorted(draw.random() for _ in range(count))
        row_id, seq, made = form.first_id, 0, 0
        to_tuple = itemgetter(*form.columns)
        dirty = self.dirty_share if recipe.get("dirty") else 0.0
        while made < count:
            seq += 1
            ctx = self.context(seq)
            shared = run_steps(recipe.get("master", ()), ctx,
                               {form.number: f"{form.number_prefix}{seq:0{form.number_digits}d}"})
            orgs = draw.pick(self.org_sets)
            master_id = row_id
            for org in orgs[: count - made]:
                row = {**self.defaults, **shared, form.key: row_id, form.master: master_id,
                       form.create_org: orgs[0], form.use_org: org}
                run_steps(recipe.get("row", ()), ctx, row)
                self.lifecycle(row, self.start + timedelta(seconds=offsets[made] * span))
                if draw.random() < dirty:
                    self.make_dirty(row)
                yield to_tuple(row)
                made += 1
                # Ids are not dense: deleted rows leave gaps.
                row_id += 1 if draw.random() < 0.9 else 2 + draw.below(4)
