"""Randomized: creates, line adds, edits and removals, bill deletes, audits, closes and write-backs
at the source, interleaved with windowed syncs, failed runs (landed, never published), stale runs
published late, reconciliation and content verification; the target's live lines must end equal to
the source's, line by line and column by column."""

from __future__ import annotations

import datetime as dt
import random

import pandas as pd
import pytest
import requests

from kd_assets.kingdee.filters import Window
from kd_assets.sync.reconcile import reconcile
from kd_assets.sync.schemas import validate
from kd_assets.sync.transform import to_frame
from kd_assets.sync.verify import verify_content
from kd_assets.sync.verify_scope import FULL_SCOPE

from .conftest import FORM, SPEC, advance, fetch, land, line, live_lines, source_lines, stage_and_publish, sync
from .line_compare import line_differences

ENTRY_AT = SPEC.field_keys.index("FSaleOrderEntry_FEntryID")


class Source:
    """Random changes through Kingdee's protocol; the clock moves only when the workload says."""

    def __init__(self, sim, client, rng: random.Random):
        self.sim, self.client, self.rng = sim, client, rng

    def bills(self) -> dict[int, dict]:
        out: dict[int, dict] = {}
        for r in fetch(self.client):
            bill = out.setdefault(r[0], {"status": r[SPEC.field_keys.index("FDocumentStatus")],
                                         "closed": r[SPEC.field_keys.index("FCloseStatus")], "entries": []})
            if r[ENTRY_AT]:
                bill["entries"].append(r[ENTRY_AT])
        return out

    def step(self) -> str:
        rng, bills = self.rng, self.bills()
        open_ = [b for b, v in bills.items() if v["status"] in ("A", "Z")]
        created = [b for b, v in bills.items() if v["status"] == "A"]  # 暂存 (Z) cannot be audited
        audited = [b for b, v in bills.items() if v["status"] == "C" and v["closed"] == "A"]
        kind = rng.choice(["create", "lines", "lines", "lines", "delete", "audit", "close", "writeback"])
        if kind == "create" or (kind in ("lines", "delete", "audit") and not open_):
            n = rng.choice([0, 1, 2, 3, 5])
            self._save({"FCustId": {"FNumber": "CUST000003"}, "FDate": "2025-07-01",
                        "FSaleOrderEntry": [self._new_line() for _ in range(n)]})
            return "create"
        if kind == "lines":
            bill = rng.choice(open_)
            kept = [e for e in bills[bill]["entries"] if rng.random() < 0.6]
            lines = [{"FEntryID": e, **({"FQty": float(rng.randint(1, 9))} if rng.random() < 0.5 else {})}
                     for e in kept] + [self._new_line() for _ in range(rng.choice([0, 0, 1, 2]))]
            self._save({"FID": bill, "FSaleOrderEntry": lines or [{}]})
            return "lines"
        if kind == "delete":
            assert self.client.delete(FORM, [rng.choice(open_)])["ResponseStatus"]["IsSuccess"]
        elif kind == "audit" and created:
            assert self.client.audit(FORM, [rng.choice(created)])["ResponseStatus"]["IsSuccess"]
        elif audited and kind == "close":
            self.client.execute_operation(FORM, "BillClose", [rng.choice(audited)])
        elif audited:
            requests.post(self.sim.admin_url + f"forms/{FORM}/writeback",
                          json={"ids": [rng.choice(audited)], "share": rng.choice([0.25, 0.5, 1.0])},
                          timeout=10).raise_for_status()
        return kind

    def _new_line(self) -> dict:
        rng = self.rng
        return line(f"MAT00000{rng.randint(1, 9)}", float(rng.randint(1, 20)), rng.choice([1.5, 10.0, 99.99]))

    def _save(self, model: dict) -> None:
        result = self.client.save(FORM, model)
        assert result["ResponseStatus"]["IsSuccess"], result


def assert_lines_equal(client, store) -> None:
    problems = line_differences(SPEC, source_lines(client), live_lines(store))
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("seed", [3, 17])
def test_random_bill_workloads_end_with_the_target_lines_equal_to_the_source(sim, client, lines_store, seed):
    rng = random.Random(seed)
    source = Source(sim, client, rng)
    sync(client, lines_store, "initial")
    held: list[tuple[list, Window]] = []  # rows a slow run fetched, published later
    for step in range(40):
        source.step()
        now = advance(sim, rng.randint(1, 600))
        window = Window(now - dt.timedelta(hours=3), dt.datetime(2100, 1, 1))
        roll = rng.random()
        if roll < 0.15:
            held.append((fetch(client, window), window))
        elif roll < 0.25:
            land(lines_store, fetch(client, window), f"failed-{step}")  # fails before clean/publish
        elif roll < 0.7:
            sync(client, lines_store, f"sensor-{step}", window)
        if held and rng.random() < 0.2:
            rows, old = held.pop(0)
            if rng.random() < 0.5:
                lines_store.upsert_target(validate(SPEC, to_frame(SPEC, rows), now).clean, f"late-{step}")
            else:
                land(lines_store, rows, f"late-{step}")
                stage_and_publish(lines_store, f"late-{step}", old)
    sync(client, lines_store, "nightly")
    # Before reconciliation: every bill still at the source has exactly its lines (only whole
    # deleted bills are left for reconciliation to find).
    at_source = source_lines(client)
    bills = {b for b, _ in at_source}
    assert sorted(k for k in live_lines(lines_store) if k[0] in bills) == sorted(at_source)
    reconcile(client, lines_store, SPEC, "reconcile", now=pd.Timestamp(now), max_delete_share=1.0)
    verify_content(client, lines_store, SPEC, "verify", FULL_SCOPE, now=pd.Timestamp(now))
    assert_lines_equal(client, lines_store)
