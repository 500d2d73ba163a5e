"""Deterministic bills (a header plus entry lines) for a form with entry entities.

A bill is stamped first (statuses, dates, users: the same lifecycle as base data, plus closing),
then its `generate.row:` steps run once per bill and each entity's steps once per line, reading
the header's values (a delivery date after the bill date, the customer of the bill). Lines per
bill follow the entity's `lines: {min, max, mean}`; entry ids rise across bills, with gaps, as
Kingdee's sequences leave them. Rows stream out in batches so a million lines never sit in
memory at once.
"""

from __future__ import annotations

import math
from datetime import timedelta
from operator import itemgetter
from typing import Iterator

from kd_assets.simulator.data import RowGenerator, kind_default
from kd_assets.simulator.fields import Entity
from kd_assets.simulator.generators import run_steps

BATCH_BILLS = 500  # bills per yielded batch


class BillGenerator(RowGenerator):
    """Builds one bill form's headers and lines; refs include the served forms bills point at."""

    def line_count(self, entity: Entity) -> int:
        """Lines of one bill: exponential around the mean, within [min, max]; some bills empty."""
        low, high, mean = entity.lines
        if entity.empty_share and self.draw.random() < entity.empty_share:
            return 0
        if low == high:
            return low
        extra = -math.log(1.0 - self.draw.random()) * max(0.0, mean - low)
        return min(high, low + int(extra))

    def make_dirty_line(self, entity: Entity, line: dict) -> None:
        """One of the entity's `dirty:` kinds: a negative quantity, a blank text."""
        (name, field), = self.draw.pick(entity.dirty).items()
        line[field] = -abs(float(line[field])) or -1.0 if name == "negative" else self.draw.empty_text()

    def batches(self, count: int) -> Iterator[tuple[str, tuple[str, ...], list[tuple]]]:
        """(table, columns, rows) batches: headers of up to BATCH_BILLS bills, then their lines."""
        draw, form, recipe = self.draw, self.form, self.form.recipe
        span = (self.end - self.start).total_seconds()
        offsets = sorted(draw.random() for _ in range(count))
        header_tuple = itemgetter(*form.columns)
        line_tuples = {e.key: itemgetter(form.key, *e.columns) for e in form.entities}
        line_defaults = {e.key: {f.key: kind_default(f.kind) for f in e.fields} for e in form.entities}
        entry_ids = {e.key: e.first_id for e in form.entities}
        dirty = self.dirty_share if recipe.get("dirty") else 0.0
        bill_id = form.first_id
        headers: list[tuple] = []
        lines: dict[str, list[tuple]] = {e.key: [] for e in form.entities}
        for seq in range(1, count + 1):
            ctx = self.context(seq)
            row = {**self.defaults, form.key: bill_id,
                   form.number: f"{form.number_prefix}{seq:0{form.number_digits}d}"}
            self.lifecycle(row, self.start + timedelta(seconds=offsets[seq - 1] * span))
            run_steps(recipe.get("row", ()), ctx, row)
            if draw.random() < dirty:
                self.make_dirty(row)
            headers.append(header_tuple(row))
            for entity in form.entities:
                to_tuple, made = line_tuples[entity.key], lines[entity.key]
                for _ in range(self.line_count(entity)):
                    line = {**row, **line_defaults[entity.key], entity.entry_key: entry_ids[entity.key]}
                    run_steps(entity.recipe, ctx, line)
                    if entity.dirty and draw.random() < self.dirty_share:
                        self.make_dirty_line(entity, line)
                    made.append(to_tuple(line))
                    entry_ids[entity.key] += 1 if draw.random() < 0.95 else 2 + draw.below(3)
            bill_id += 1 if draw.random() < 0.9 else 2 + draw.below(4)
            if len(headers) >= BATCH_BILLS or seq == count:
                yield form.table, form.columns, headers
                for entity in form.entities:
                    yield entity.table, (form.key, *entity.columns), lines[entity.key]
                headers, lines = [], {e.key: [] for e in form.entities}
