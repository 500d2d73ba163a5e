"""The customers' and suppliers' source workload of the randomized end-to-end test
(test_randomized_sync.py).

``SourceWorkload``: random creates, edits, late commits, forbids, enables, audits, un-audits,
submits, renumbers and deletes made through Kingdee's protocol on a simulator with a frozen clock
that the workload moves itself, so a seed replays the same stamps; and changes that stamp nothing:
a DBA's direct update (the simulator's silent_update) and a second edit stamped in the same whole
second as the row's last one; and Allocate, whose use-org copy carries its master's old stamps, so
only the reconciliation brings it. What Dagster runs is in random_deployment.py, the view of both
sides in random_compare.py.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass

import requests

from kd_assets_tests.defs.random_clock import SourceClock
from kd_assets_tests.defs.random_compare import read_source, stamp
from kd_assets_tests.defs.random_forms import CUSTOMERS, FormView
from kd_assets_tests.defs.sync_harness import client
from kd_assets_tests.sync.allocation_scenario import allocate

# ---- the source workload --------------------------------------------------------------------

OPERATIONS = {"edit": 30, "create": 12, "forbid": 9, "enable": 8, "audit": 9, "unaudit": 8, "submit": 3,
              "delete": 8, "renumber": 3, "late_commit": 3, "silent_update": 3, "same_second_edit": 3, "allocate": 3}
USE_ORG_IDS = {"101": 100329, "102": 100330, "103": 100331, "T00": 100332}  # Allocate's TOrgIds
LATE_COMMIT_S = 540  # at most this much earlier: inside the sensor's default look-back (KD_SENSOR_LAG_S=600)


@dataclass
class Mirror:
    """What the workload knows of a source row: document and forbid status."""

    document: str
    forbid: str


class SourceWorkload:
    """Random changes to one form through Kingdee's Save/Delete/ExcuteOperation services, on a
    frozen clock."""

    def __init__(self, sim, rng: random.Random, delete_budget: int, view: FormView = CUSTOMERS,
                 clock: SourceClock | None = None):
        self.sim, self.rng, self.view = sim, rng, view
        self.form, self.key_field = view.form_id, view.key_field
        self.kingdee = client(sim)
        self.delete_budget = delete_budget
        self.deleted: list[int] = []
        self.hot: list[int] = []
        self.renumbered = 0
        self.rows: dict[int, Mirror] = {}
        self.unstamped: set[int] = set()  # content changed without a newer change time
        self.allocated: set[int] = set()  # copies born with their master's old stamps, untouched since
        self.untouchable: set[int] = set()  # future-dated rows: no later change could move their change time
        self.clock = clock or SourceClock(sim)
        self.refresh()

    def close(self) -> None:
        self.kingdee.close()

    @property
    def now(self) -> dt.datetime:
        return self.clock.now

    def advance(self, seconds: float) -> dt.datetime:
        return self.clock.advance(seconds)

    def random_advance(self) -> float:
        """Seconds to a couple of days, so changes spread over several daily partitions."""
        r = self.rng.random()
        if r < 0.35:
            return round(self.rng.uniform(1, 600), 3)
        if r < 0.75:
            return round(self.rng.uniform(600, 8 * 3600), 3)
        return round(self.rng.uniform(8 * 3600, 2 * 86400), 3)

    # -- state
    def refresh(self) -> None:
        self.rows = {k: Mirror(v["FDocumentStatus"], v["FForbidStatus"])
                     for k, v in read_source(self.kingdee, self.view, ("FDocumentStatus", "FForbidStatus")).items()}

    def source(self) -> dict[int, dict]:
        return read_source(self.kingdee, self.view)

    def _pick(self, wanted=lambda m: True, prefer_newest: float = 0.0) -> int | None:
        candidates = [k for k, m in self.rows.items() if wanted(m) and k not in self.untouchable]
        if not candidates:
            return None
        if prefer_newest and self.rng.random() < prefer_newest:
            return max(candidates)  # deleting the newest key lets the simulator hand it out again
        hot = [k for k in self.hot if k in candidates]
        if hot and self.rng.random() < 0.4:
            return self.rng.choice(hot)
        return self.rng.choice(sorted(candidates))

    def _touch(self, key: int) -> None:
        self.hot = (self.hot + [key])[-25:]
        self.allocated.discard(key)  # stamped now: the sensor sees it again

    # -- operations
    def random_operation(self) -> str:
        self.advance(round(self.rng.uniform(0, 30), 3))
        names, weights = zip(*((n, w) for n, w in OPERATIONS.items() if n != "allocate" or self.view.allocates))
        op = self.rng.choices(names, weights)[0]
        done = getattr(self, op)()
        return done if done is not None else self.edit()

    def edit(self, key: int | None = None) -> str:
        """Save new values for some of name, registered capital and phone."""
        key = key if key is not None else self._pick()
        makers = {"FName": self._name, "FRegisterFund": self._capital, self.view.phone_field: self._phone}
        fields = [f for f in makers if self.rng.random() < 0.5] or ["FName"]
        self._save({self.key_field: key, **{f: makers[f]() for f in fields}})
        self._touch(key)
        return f"edit {key} {'+'.join(fields)}"

    def create(self) -> str:
        audited = self.rng.random() < 0.3
        model = {"FName": self._name(), "FRegisterFund": self._capital(), self.view.phone_field: self._phone(),
                 "FCreateOrgId": {"FNumber": "100"}, "FUseOrgId": {"FNumber": self.rng.choice(("100", "101", "102"))}}
        result = self._save(model, **({"IsAutoSubmitAndAudit": True} if audited else {}))
        key = int(result["Id"])
        self.rows[key] = Mirror("C" if audited else "A", "A")
        self._touch(key)
        return f"create {key}{' audited' if audited else ''}"

    def forbid(self) -> str | None:
        return self._operate("Forbid", lambda m: m.forbid == "A", forbid="B")

    def enable(self) -> str | None:
        return self._operate("Enable", lambda m: m.forbid == "B", forbid="A")

    def audit(self) -> str | None:
        return self._operate("Audit", lambda m: m.document in ("A", "B", "D"), document="C")

    def unaudit(self) -> str | None:
        return self._operate("UnAudit", lambda m: m.document == "C", document="D")

    def submit(self) -> str | None:
        return self._operate("Submit", lambda m: m.document in ("A", "D"), document="B")

    def delete(self, key: int | None = None) -> str | None:
        """Delete (un-auditing first, as Kingdee requires) while the delete budget lasts."""
        if len(self.deleted) >= self.delete_budget:
            return None
        key = key if key is not None else self._pick(lambda m: m.document != "B", prefer_newest=0.25)
        if key is None:
            return None
        note = ""
        if self.rows[key].document == "C":
            self._ok(self.kingdee.unaudit(self.form, [key]))
            note = " (un-audited first)"
        self._ok(self.kingdee.delete(self.form, [key]))
        del self.rows[key]
        self.deleted.append(key)
        return f"delete {key}{note}"

    def renumber(self) -> str:
        """A new FNumber: the simulator changes (and stamps) every use-org row of the master."""
        key = self._pick()
        self.renumbered += 1
        number = f"RN{self.rng.randrange(10**6):06d}{self.renumbered:03d}"
        self._save({self.key_field: key, "FNumber": number})
        self._touch(key)
        return f"renumber {key} → {number}"

    def late_commit(self) -> str | None:
        """An edit committed now but stamped up to LATE_COMMIT_S earlier, as a slow transaction is.

        The stamp stays after the row's own newest change: stamped before a newer forbid or approve
        date, the edit would leave the row's change time where it was, which no change-time
        comparison can see (and which a real Kingdee would not produce: the writes queue on the
        row's lock).
        """
        key = self._pick()
        (times,) = self.kingdee.execute_bill_query(self.form, list(self.view.change_fields),
                                                   filter_string=f"{self.key_field} = {key}")
        newest = max((t for t in map(stamp, times) if t is not None), default=None)
        room = LATE_COMMIT_S if newest is None else min(LATE_COMMIT_S, (self.now - newest).total_seconds() - 2)
        if room < 1:
            return None
        back = round(self.rng.uniform(1, room), 3)
        self.advance(-back)
        try:
            done = self.edit(key)
        finally:
            self.advance(back)
        return f"late commit ({back:.0f} s early): {done}"

    def allocate(self) -> str | None:
        """Allocate an audited, enabled master to a use-org it lacks (official SDK): the new row is
        unaudited and carries the master's create and modify dates."""
        fields = ["FMasterId", "FUseOrgId.FNumber", "FDocumentStatus", "FForbidStatus"]
        rows = [r for page in self.kingdee.iter_keys(self.form, key_field=self.key_field, extra_fields=fields)
                for r in page]
        orgs: dict[int, set[str]] = {}
        for _, master, org, _, _ in rows:
            orgs.setdefault(master, set()).add(org)
        masters = [r[0] for r in rows if r[0] == r[1] and r[3] == "C" and r[4] == "A"
                   and set(USE_ORG_IDS) - orgs[r[0]]]
        if not masters:
            return None
        master = self.rng.choice(masters)
        org = self.rng.choice(sorted(set(USE_ORG_IDS) - orgs[master]))
        (copy,) = allocate(self.sim, [master], USE_ORG_IDS[org])
        self.rows[copy] = Mirror("A", "A")
        self.allocated.add(copy)
        return f"allocate {master} to {org} → {copy}"

    def silent_update(self) -> str:
        """What a plug-in or DBA script does: ``update … set FName/FTEL … where FCUSTID = …``."""
        key = self._pick()
        values = {"FName": self._name()} if self.rng.random() < 0.5 else {self.view.phone_field: self._phone()}
        self.write_silently(key, values)
        self.unstamped.add(key)
        return f"silent update {key} {'+'.join(values)}"

    def write_silently(self, key: int, values: dict) -> None:
        """The simulator's silent_update: stored fields change, no date or user is stamped."""
        reply = requests.post(self.sim.admin_url + f"forms/{self.form}/silent_update",
                              json={"ids": [key], "values": values}, timeout=10)
        assert reply.status_code == 200 and reply.json()["updated"] == 1, reply.text

    def same_second_edit(self) -> str | None:
        """An edit stamped within the whole second of the row's FModifyDate. Without milliseconds on
        either stamp (about half the cases) the change time does not move at all; otherwise it moves
        by less than a second, forwards or backwards."""
        key = self._pick()
        (times,) = self.kingdee.execute_bill_query(self.form, list(self.view.change_fields),
                                                   filter_string=f"{self.key_field} = {key}")
        modified, *others = map(stamp, times)
        if modified is None or any(t is not None and t >= modified.replace(microsecond=0) for t in others):
            return None  # the row's change time is not its FModifyDate's second
        back = (self.now - modified.replace(microsecond=0)).total_seconds()  # self.now: whole seconds
        self.advance(-back)
        try:
            done = self.edit(key)
        finally:
            self.advance(back)
        self.unstamped.add(key)
        return f"same-second edit (at {modified:%m-%d %H:%M:%S.%f}): {done}"

    # -- the scenario's one-off changes
    def poison_date(self, key: int, value: str = "0001-01-01T00:00:00") -> str:
        """A DBA script writes an out-of-range date into FCreateDate (Kingdee's 'no date' in some imports)."""
        self.write_silently(key, {"FCreateDate": value})
        self.unstamped.add(key)
        return f"silent FCreateDate = {value} on {key}"

    def future_forbid(self, when: dt.datetime) -> str | None:
        """Forbid a row while the server's clock reads ``when`` (a mis-set clock, an import): its
        FForbidDate, so its change time, lies in the future. Nothing later can move that change time,
        so the workload leaves the row alone afterwards."""
        key = self._pick(lambda m: m.forbid == "A")
        if key is None:
            return None
        back = (when - self.now).total_seconds()
        self.advance(back)
        try:
            self._ok(self.kingdee.execute_operation(self.form, "Forbid", [key]))
        finally:
            self.advance(-back)
        self.rows[key].forbid = "B"
        self.untouchable.add(key)
        return f"forbid {key} stamped {when:%Y-%m-%d %H:%M}"

    def bad_credit_code(self, key: int) -> str:
        """Save a malformed unified social credit code: the row is rejected until someone fixes it."""
        self._save({self.key_field: key, "FSOCIALCRECODE": f"BAD-{self.rng.randrange(10**4):04d}"})
        self._touch(key)
        return f"bad credit code on {key}"

    def _operate(self, op: str, wanted, **status) -> str | None:
        key = self._pick(wanted)
        if key is None:
            return None
        self._ok(self.kingdee.execute_operation(self.form, op, [key]))
        for name, value in status.items():
            setattr(self.rows[key], name, value)
        self._touch(key)
        return f"{op.lower()} {key}"

    def _save(self, model: dict, **options) -> dict:
        return self._ok(self.kingdee.save(self.form, model, **options))

    @staticmethod
    def _ok(result: dict) -> dict:
        assert result["ResponseStatus"]["IsSuccess"], result
        return result

    def _name(self) -> str:
        return f"随机{self.rng.choice('华鼎恒金瑞宏中星天博')}{self.rng.randrange(10**6):06d}有限公司"

    def _capital(self) -> float | str:
        amount = round(self.rng.uniform(0, 5e7), 2) if self.rng.random() < 0.9 else 0.0
        if not self.view.capital_as_text:
            return amount
        return f"{self.rng.randrange(1, 5000)}万元" if self.rng.random() < 0.2 else f"{amount:.0f}"

    def _phone(self) -> str:
        return f"0{self.rng.randrange(10, 999)}-{self.rng.randrange(10**7, 10**8)}"


__all__ = ["SourceWorkload"]
