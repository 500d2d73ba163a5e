"""The generated BD_Customer data: deterministic per seed, multi-org, realistic and a bit dirty."""

from __future__ import annotations

import re

from .conftest import ALL_KEYS, Kingdee

CREDIT = re.compile(r"^[0-9A-HJ-NPQRTUWXY]{2}\d{6}[0-9A-HJ-NPQRTUWXY]{10}$")


def snapshot(factory, **config) -> list[list]:
    kd = Kingdee(factory(customers=400, clock_start="2025-06-16 09:30:00", **config))
    kd.login()
    return kd.rows(ALL_KEYS + ",FName,FTEL,FADDRESS,FSELLER.FName,FIsGroup")


def test_same_seed_gives_identical_rows_and_another_seed_does_not(simulator_factory):
    first = snapshot(simulator_factory, seed=11)
    assert first == snapshot(simulator_factory, seed=11)
    assert first != snapshot(simulator_factory, seed=12)


def test_masters_are_allocated_to_several_use_orgs(kd):
    rows = kd.rows("FMasterId,FNumber,FUseOrgId.FNumber,FCreateOrgId.FNumber")
    by_master: dict[int, list] = {}
    for master, number, use_org, create_org in rows:
        by_master.setdefault(master, []).append((number, use_org, create_org))
    shared = [v for v in by_master.values() if len(v) > 1]
    assert len(shared) > 20
    for copies in shared:
        assert len({c[0] for c in copies}) == 1 and len({c[1] for c in copies}) == len(copies)
        assert {c[2] for c in copies} == {"100"}


def test_dates_spread_over_years_and_never_pass_the_clock(kd):
    rows = kd.rows("FCreateDate,FModifyDate")
    years = {r[0][:4] for r in rows}
    assert len(years) >= 5 and max(r[1] for r in rows) < "2025-06-16T00:00:00"


def test_rows_look_like_chinese_companies_with_valid_credit_codes(kd):
    rows = kd.rows("FName,FSOCIALCRECODE,FTEL")
    clean = [r for r in rows if r[0].strip()]
    assert sum(r[0].endswith("公司") for r in clean) == len(clean)
    assert sum(bool(CREDIT.match(r[1])) for r in rows) >= 0.95 * len(rows)


def test_dirty_share_controls_dirty_rows(simulator_factory):
    kd = Kingdee(simulator_factory(customers=1000, dirty_share=0.2))
    kd.login()
    rows = kd.rows("FName,FRegisterFund,FSOCIALCRECODE,FCreateDate,FModifyDate")
    dirty = [r for r in rows if not r[0].strip() or float(r[1]) < 0 or len(r[2]) != 18 or r[4] < r[3]]
    assert 120 < len(dirty) < 300
    clean_kd = Kingdee(simulator_factory(customers=1000, dirty_share=0))
    clean_kd.login()
    clean = clean_kd.rows("FName,FRegisterFund,FSOCIALCRECODE")
    assert all(r[0].strip() and float(r[1]) >= 0 and len(r[2]) == 18 for r in clean)
