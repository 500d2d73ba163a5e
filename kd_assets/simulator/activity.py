"""Optional background activity (--activity SECONDS) so a demo source keeps changing.

Every period it makes a few edits, creates a customer, and forbids/enables/audits/un-audits
someone, through the same WriteService the Save/ExcuteOperation services use.
"""

from __future__ import annotations

import logging
import random
import threading

from kd_assets.simulator.envelopes import KingdeeError
from kd_assets.simulator.fields import FORM_ID

log = logging.getLogger(__name__)


class Activity:
    def __init__(self, app) -> None:
        self.app = app
        self.period = float(app.config.activity)
        self.rng = random.Random(app.config.seed + 4)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="k3cloud-activity", daemon=True)
        self.rounds = 0

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

    def random_ids(self, count: int) -> list[int]:
        rows = self.app.store.fetch("SELECT FCUSTID FROM customer ORDER BY random() LIMIT ?", (count,))
        return [r[0] for r in rows]

    def round(self) -> None:
        """One burst of changes; refusals (e.g. forbidding a forbidden row) are expected."""
        writes, rng = self.app.writes, self.rng
        for custid in self.random_ids(3):
            self._try(writes.save, FORM_ID, {"Model": {"FCUSTID": custid,
                                                       "FTEL": f"021-{rng.randrange(10**7, 10**8)}"}})
        self._try(writes.save, FORM_ID, {"Model": {"FName": f"演示新客户{rng.randrange(10**6):06d}有限公司",
                                                   "FRegisterFund": rng.randrange(1, 500) * 10000}})
        for op in ("Forbid", "Enable", "Audit", "UnAudit"):
            for custid in self.random_ids(1):
                self._try(writes.operate, FORM_ID, op, {"Ids": str(custid)})
        self.rounds += 1

    @staticmethod
    def _try(action, *args) -> None:
        try:
            action(*args)
        except KingdeeError as err:
            log.debug("activity change refused: %s", err.message)
