"""The sale-order source workload of the randomized end-to-end test (test_randomized_bill_sync.py).

``BillWorkload`` changes SAL_SaleOrder bills through Kingdee's protocol on the shared frozen clock:
creates (0–4 lines), Saves that add, edit and remove lines (and now and then change the customer,
a header column every line repeats), deletes of unaudited bills, submits, audits, un-audits,
closes, un-closes and write-backs of delivered quantities (/_sim/forms/SAL_SaleOrder/writeback).
Submit, un-audit, un-close and write-back move no change time forward (un-audit and un-close clear
a stamp, so the bill's change time moves back): the bills they touch are ``unstamped`` until a
stamping change, and only reconciliation's status and content comparison brings them.

Lines removed at the source (line removals and deleted bills) stay within ``line_budget``, so every
reconciliation's delete guard keeps its production setting (KD_MAX_DELETE_SHARE, 5%).
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field

import requests

from kd_assets.kingdee import Window
from kd_assets_tests.defs.random_clock import SourceClock
from kd_assets_tests.defs.random_forms import SALE_ORDERS
from kd_assets_tests.defs.sync_harness import client

OPERATIONS = {"create": 10, "lines": 30, "delete": 6, "submit": 3, "audit": 12, "unaudit": 6, "close": 6,
              "unclose": 2, "writeback": 5}
EDITABLE = ("Z", "A", "D")   # Kingdee refuses Save and Delete of submitted (B) and audited (C) bills
EVER = Window(dt.datetime(2000, 1, 1), dt.datetime(2100, 1, 1))


@dataclass
class Bill:
    """What the workload knows of a source bill: document and close status, entry ids."""

    status: str
    closed: str
    entries: list[int] = field(default_factory=list)


class BillWorkload:
    """Random changes to sale orders through Save/Delete/ExcuteOperation on a frozen clock."""

    def __init__(self, sim, rng: random.Random, clock: SourceClock, line_budget: int):
        self.sim, self.rng, self.clock = sim, rng, clock
        self.view = SALE_ORDERS
        self.spec, self.form = SALE_ORDERS.spec, SALE_ORDERS.form_id
        self.entry_field = self.spec.bill.entry_key_field
        self.kingdee = client(sim)
        self.line_budget = line_budget
        self.lines_removed = 0
        self.deleted: list[int] = []
        self.unstamped: set[int] = set()  # bills changed without a newer change time since
        self.created: int | None = None  # the bill the last create made
        self.customers = [r[0] for r in self.kingdee.execute_bill_query("BD_Customer", ["FNumber"], limit=20)]
        self.materials = [r[0] for r in self.kingdee.execute_bill_query("BD_MATERIAL", ["FNumber"], limit=20)]
        self.bills = self.read_bills()

    def close(self) -> None:
        self.kingdee.close()

    # -- reading the source
    def fetch(self) -> list[list]:
        """Every source line as the spec fetches it, by (bill id, entry id) pages."""
        return [r for page in self.kingdee.iter_window(self.form, self.spec.field_keys, EVER,
                                                       key_field=self.spec.page_key,
                                                       change_fields=self.spec.change_time_fields)
                for r in page]

    def source_lines(self) -> dict[tuple[int, int], list]:
        """(bill id, entry id) → the row as the spec fetches it (entry id 0: a bill without lines)."""
        entry = self.spec.field_keys.index(self.entry_field)
        return {(int(r[0]), int(r[entry] or 0)): r for r in self.fetch()}

    def read_bills(self) -> dict[int, Bill]:
        bills: dict[int, Bill] = {}
        for page in self.kingdee.iter_keys(self.form, key_field=self.spec.page_key,
                                           extra_fields=["FDocumentStatus", "FCloseStatus"]):
            for bill, entry, status, closed in page:
                b = bills.setdefault(int(bill), Bill(status, closed))
                if entry:
                    b.entries.append(int(entry))
        return bills

    def _reread(self, bill: int) -> None:
        """One bill's statuses and entry ids, paged (a bill may hold more lines than the server's row cap)."""
        rows = [r for page in self.kingdee.iter_keys(self.form, key_field=self.spec.page_key,
                                                     extra_fields=["FDocumentStatus", "FCloseStatus"],
                                                     extra_filter=f"FID = {bill}") for r in page]
        self.bills[bill] = Bill(rows[0][2], rows[0][3], sorted(int(r[1]) for r in rows if r[1]))

    # -- operations
    def random_operation(self) -> str:
        # A second or more: two Saves of a bill in one whole second share a stamp (the customers'
        # scenario covers that limit of change-time sync).
        self.clock.advance(round(self.rng.uniform(1, 30), 3))
        op = self.rng.choices(list(OPERATIONS), list(OPERATIONS.values()))[0]
        done = getattr(self, op)()
        return done if done is not None else self.create()

    def _pick(self, wanted) -> int | None:
        candidates = sorted(b for b, v in self.bills.items() if wanted(v))
        return self.rng.choice(candidates) if candidates else None

    def create(self) -> str:
        lines = [self.new_line() for _ in range(self.rng.choice([0, 1, 1, 2, 3, 4]))]
        result = self._ok(self.kingdee.save(self.form, {"FCustId": {"FNumber": self.rng.choice(self.customers)},
                                                        "FDate": f"{self.clock.now:%Y-%m-%d}",
                                                        "FSaleOrderEntry": lines}))
        self.created = int(result["Id"])
        self._reread(self.created)
        return f"create {self.created} with {len(lines)} line(s)"

    def lines_of(self, bill: int, lines: list[dict]) -> None:
        """Save exactly ``lines`` (kept ones carry their FEntryID) as the bill's lines."""
        self._ok(self.kingdee.save(self.form, {"FID": bill, "FSaleOrderEntry": lines or [{}]}))
        self._reread(bill)
        self.unstamped.discard(bill)

    def lines(self, bill: int | None = None) -> str | None:
        """One Save of an editable bill: some lines edited, at most two removed (within the
        budget), up to two added; now and then a new customer on the header."""
        bill = bill if bill is not None else self._pick(lambda b: b.status in EDITABLE)
        if bill is None:
            return None
        entries = self.bills[bill].entries
        removable = min(2, len(entries), self.line_budget - self.lines_removed)
        removed = set(self.rng.sample(entries, self.rng.randint(0, removable))) if removable > 0 else set()
        kept = [{"FEntryID": e, **self._line_edit()} for e in entries if e not in removed]
        added = [self.new_line() for _ in range(self.rng.choice([0, 0, 1, 2]))]
        model = {"FID": bill, "FSaleOrderEntry": kept + added or [{}]}
        if self.rng.random() < 0.2:
            model["FCustId"] = {"FNumber": self.rng.choice(self.customers)}
        self._ok(self.kingdee.save(self.form, model))
        self.lines_removed += len(removed)
        self._reread(bill)
        self.unstamped.discard(bill)
        edited = sum(len(k) > 1 for k in kept)
        return (f"save {bill}: {edited} edited, {len(removed)} removed, {len(added)} added"
                f"{', new customer' if 'FCustId' in model else ''}")

    def delete(self) -> str | None:
        left = self.line_budget - self.lines_removed
        bill = self._pick(lambda b: b.status in EDITABLE and len(b.entries) <= left)
        if bill is None:
            return None
        self._ok(self.kingdee.delete(self.form, [bill]))
        self.lines_removed += len(self.bills.pop(bill).entries)
        self.deleted.append(bill)
        self.unstamped.discard(bill)
        return f"delete {bill}"

    def submit(self) -> str | None:
        return self._operate("Submit", lambda b: b.status in ("A", "D"), stamps=False)

    def audit(self) -> str | None:
        return self._operate("Audit", lambda b: b.status in ("A", "B", "D"), stamps=True)

    def unaudit(self) -> str | None:
        return self._operate("UnAudit", lambda b: b.status == "C" and b.closed == "A", stamps=False)

    def close(self) -> str | None:  # noqa: A003 (Kingdee's BillClose)
        return self._operate("BillClose", lambda b: b.status == "C" and b.closed == "A", stamps=True)

    def unclose(self) -> str | None:
        return self._operate("UnBillClose", lambda b: b.closed == "B", stamps=False)

    def writeback(self) -> str | None:
        """Later documents write delivered quantities back: FStockOutQty moves, no date does."""
        bill = self._pick(lambda b: b.status == "C" and b.entries)
        if bill is None:
            return None
        share = self.rng.choice([0.25, 0.5, 1.0])
        reply = requests.post(self.sim.admin_url + f"forms/{self.form}/writeback",
                              json={"ids": [bill], "share": share}, timeout=10)
        reply.raise_for_status()
        self.unstamped.add(bill)
        return f"write-back {share:.0%} on {bill}"

    def _operate(self, op: str, wanted, stamps: bool) -> str | None:
        bill = self._pick(wanted)
        if bill is None:
            return None
        self._ok(self.kingdee.execute_operation(self.form, op, [bill]))
        self._reread(bill)
        if stamps:
            self.unstamped.discard(bill)
        else:
            self.unstamped.add(bill)
        return f"{op.lower()} {bill}"

    def new_line(self) -> dict:
        return {"FMaterialId": {"FNumber": self.rng.choice(self.materials)}, "FQty": float(self.rng.randint(1, 20)),
                "FPrice": self.rng.choice([1.5, 10.0, 99.99])}

    def _line_edit(self) -> dict:
        r = self.rng.random()
        return ({"FQty": float(self.rng.randint(1, 30))} if r < 0.25 else
                {"FPrice": self.rng.choice([2.5, 12.0, 88.8])} if r < 0.35 else {})

    @staticmethod
    def _ok(result: dict) -> dict:
        assert result["ResponseStatus"]["IsSuccess"], result
        return result
