"""One --activity round on a bill form: new bills, line edits, status changes, write-backs.

Edits go through Save the way a client would: an unaudited bill gets one line edited, one
removed (IsDeleteEntry) and one added; audited bills are unaudited first now and then, and
audited ones audited, closed or reopened. With `activity_writeback`, a few audited bills get
delivered quantities written back without their modify date moving.
"""

from __future__ import annotations

from typing import Any

from kd_assets.simulator.billwrites import writeback
from kd_assets.simulator.clock import stamp_text
from kd_assets.simulator.fields import Entity, Form
from kd_assets.simulator.generators import run_steps

OPERATIONS = ("Submit", "Audit", "UnAudit", "BillClose", "UnBillClose")


class BillActivity:
    def __init__(self, activity: Any, form: Form) -> None:
        self.activity = activity
        self.app = activity.app
        self.form = form
        self.generator = activity.generators[form.form_id]
        self.entity = form.entities[0]

    def round(self) -> None:
        self.create()
        for bill_id in self.bills("FDocumentStatus IN ('A', 'D')", 2):
            self.edit(bill_id)
        for op in OPERATIONS:
            for bill_id in self.activity.random_ids(self.form, 1):
                self.activity._try(self.app.writes.operate, self.form.form_id, op, {"Ids": str(bill_id)})
        if self.app.config.activity_writeback:
            bills = self.bills(f"{self.form.document_status} = 'C'", 2)
            if bills:
                with self.app.store.transaction() as conn:
                    writeback(conn, self.form, bills, self.activity.rng.choice((0.5, 1.0)))

    def bills(self, where: str, count: int) -> list[int]:
        form = self.form
        where = where.replace("FDocumentStatus", form.document_status)
        return [r[0] for r in self.app.store.fetch(
            f"SELECT {form.key} FROM {form.table} WHERE {where} ORDER BY random() LIMIT ?", (count,))]

    def lines(self, count: int, entity: Entity) -> list[dict]:
        """Editable values of new lines, drawn by the entity's own steps."""
        today = {"FDate": stamp_text(self.app.clock.now(), False)[:10] + " 00:00:00"}
        editable = {f.key for f in entity.fields if f.editable}
        ctx = self.generator.context(0)
        return [{k: v for k, v in run_steps(entity.recipe, ctx, dict(today)).items() if k in editable}
                for _ in range(count)]

    def create(self) -> None:
        form = self.form
        now = {form.stamps["create"].date: stamp_text(self.app.clock.now(), False)}
        header = run_steps([*form.recipe.get("row", ()), *form.activity.get("create", ())],
                           self.generator.context(0), now)
        editable = {f.key for f in form.fields if f.editable}
        model = {k: v for k, v in header.items() if k in editable}
        model[self.entity.key] = self.lines(1 + self.activity.rng.randrange(5), self.entity)
        self.activity._try(self.app.writes.save, form.form_id, {"Model": model})

    def edit(self, bill_id: int) -> None:
        """Edit the first line, drop the last, add one, and change the header's edit field."""
        entity, form = self.entity, self.form
        entry_ids = [r[0] for r in self.app.store.fetch(
            f"SELECT {entity.entry_key} FROM {entity.table} WHERE {form.key} = ? "
            f"ORDER BY {entity.entry_key}", (bill_id,))]
        rows: list[dict] = [{"FEntryID": e} for e in entry_ids[:-1]]
        if rows:
            rows[0].update(self.lines(1, entity)[0])
        rows += self.lines(1, entity)
        header = run_steps([form.activity["edit"]], self.generator.context(0), {}) \
            if "edit" in form.activity else {}
        model = {form.key: bill_id, **header, entity.key: rows}
        self.activity._try(self.app.writes.save, form.form_id, {"Model": model})
