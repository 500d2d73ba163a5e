"""Optional background activity (--activity SECONDS) so a demo source keeps changing.

Every period, in every served form, it makes a few edits, creates a row, and forbids/enables/
audits/un-audits someone, through the same WriteService the Save/ExcuteOperation services use.
What it edits and how it names new rows comes from the form's `activity:` section.
"""

from __future__ import annotations

import logging
import random
import threading

from kd_assets.simulator.billactivity import BillActivity
from kd_assets.simulator.data import RowGenerator
from kd_assets.simulator.envelopes import KingdeeError
from kd_assets.simulator.fields import Form
from kd_assets.simulator.generators import run_steps

log = logging.getLogger(__name__)


class Activity:
    def __init__(self, app) -> None:
        self.app = app
        self.period = float(app.config.activity)
        self.rng = random.Random(app.config.seed + 4)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="k3cloud-activity", daemon=True)
        self.rounds = 0
        catalog = app.catalog
        # Values come from the forms' own generators, drawn from the activity's random stream.
        self.generators = {form.form_id: RowGenerator(form, app.bill_refs() if form.entities else app.refs,
                                                      catalog.use_org_sets, 0, app.clock.now(), 0.0, 0.0)
                           for form in catalog.forms.values()}
        for generator in self.generators.values():
            generator.draw.rng.seed(self.rng.random())

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.wait(self.period):
            try:
                self.round()
            except Exception:  # activity must never take the server down
                log.exception("simulator activity round failed")

    def random_ids(self, form: Form, count: int) -> list[int]:
        rows = self.app.store.fetch(f"SELECT {form.key} FROM {form.table} ORDER BY random() LIMIT ?",
                                    (count,))
        return [r[0] for r in rows]

    def round(self) -> None:
        """One burst of changes per form; refusals (e.g. forbidding a forbidden row) are expected."""
        for form in self.app.catalog.forms.values():
            self.form_round(form)
        self.rounds += 1

    def form_round(self, form: Form) -> None:
        if form.entities:
            BillActivity(self, form).round()
            return
        writes, plan = self.app.writes, form.activity
        generator = self.generators[form.form_id]
        if "edit" in plan:
            for row_id in self.random_ids(form, 3):
                values = run_steps([plan["edit"]], generator.context(0), {})
                self._try(writes.save, form.form_id, {"Model": {form.key: row_id, **values}})
        if plan.get("create"):
            values = run_steps(plan["create"], generator.context(0), {})
            self._try(writes.save, form.form_id, {"Model": values})
        for op in ("Forbid", "Enable", "Audit", "UnAudit"):
            for row_id in self.random_ids(form, 1):
                self._try(writes.operate, form.form_id, op, {"Ids": str(row_id)})

    @staticmethod
    def _try(action, *args) -> None:
        try:
            action(*args)
        except KingdeeError as err:
            log.debug("activity change refused: %s", err.message)
