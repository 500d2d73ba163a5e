"""Values real tenants hold (issue 10.4), through the sync assets: simulator over HTTP, real target.

The source rows are changed the way Kingdee plug-ins and DBA scripts do it, by writing the
simulator's table directly (`update T_BD_CUSTOMER set … where FCUSTID=…`).
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import pytest
import sqlalchemy as sa

from kd_assets_tests.defs.forms import SPEC
from kd_assets_tests.defs.sync_harness import busiest_day, changed_in, resources, source_rows, sync, table_keys

CLOCK = "2024-03-01 12:00:00"
TARGET, QUARANTINE = SPEC.tables.target, SPEC.tables.quarantine


@pytest.fixture
def sim(simulator_factory):
    return simulator_factory(customers=600, seed=11, clock_start=CLOCK, dirty_share=0.0)


def dba_update(sim, custid: int, **values) -> None:
    """Change a source row without any stamp, as a plug-in or DBA script does."""
    assignments = ", ".join(f"{name} = ?" for name in values)
    with sim.app.store.transaction() as conn:
        conn.execute(f"UPDATE customer SET {assignments} WHERE FCUSTID = ?", [*values.values(), custid])


def busy_day_keys(sim) -> tuple[str, list[int]]:
    source = source_rows(sim)
    day = busiest_day(source, "2024-01-01", "2024-02-28")
    start = dt.datetime.strptime(day, "%Y-%m-%d")
    return day, sorted(changed_in(source, start, start + dt.timedelta(days=1)))


def quarantine_reasons(url: str) -> dict[int, list[dict]]:
    with sa.create_engine(url).connect() as conn:
        rows = conn.execute(sa.text(f"SELECT record_key, reasons FROM {QUARANTINE}")).all()
    return {int(key): json.loads(reasons) for key, reasons in rows}


def test_out_of_range_dates_are_conversion_rejects_naming_field_and_record(sim, target_url, monkeypatch):
    monkeypatch.setenv("KD_MAX_REJECT_SHARE", "0.5")  # two rejects in one day's few rows must publish the rest
    day, keys = busy_day_keys(sim)
    year_one, forever = keys[0], keys[1]
    dba_update(sim, year_one, FCreateDate="0001-01-01 00:00:00")   # .NET DateTime.MinValue
    dba_update(sim, forever, FCreateDate="9999-12-31 23:59:59")

    result = sync(resources(sim, target_url), day)

    assert result.success
    reasons = quarantine_reasons(target_url)
    for key, raw in ((year_one, "0001-01-01T00:00:00"), (forever, "9999-12-31T23:59:59")):
        (reason,) = reasons[key]
        assert reason["check"] == "conversion" and reason["field"] == "FCreateDate" and reason["value"] == raw
        assert f"FCUSTID={key}: FCreateDate" in reason["message"]
    assert table_keys(target_url, TARGET) == set(keys) - {year_one, forever}
    with sa.create_engine(target_url).connect() as conn:
        earliest = conn.execute(sa.text(f"SELECT min(created_at) FROM {TARGET}")).scalar()
    assert str(earliest) >= "1990"  # nothing wrapped into the 1700s


@pytest.mark.parametrize("lcid", [1033, 9999])
def test_wrong_kd_lcid_fails_the_run_naming_it_instead_of_quarantining_every_row(sim, sqlite_url, lcid):
    day, _ = busy_day_keys(sim)

    result = sync(resources(sim, sqlite_url, lcid=lcid), day)

    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    assert f"KD_LCID={lcid}" in str(failure.event_specific_data.error)
    assert not any(e.event_type_value == "STEP_UP_FOR_RETRY" for e in result.all_events)
    assert table_keys(sqlite_url, QUARANTINE) == set()


def test_decimals_round_trip_exactly_into_mariadb(sim, mysql_url):
    """decimal(18,2) holds 16 integer digits; float64 kept ~15.9 and refused or changed them."""
    day, keys = busy_day_keys(sim)
    amounts = {keys[0]: ("9999999999999999.99", "9999999999999999.99"),
               keys[1]: ("1234567890123.455", "1234567890123.46"),   # half-up, as MySQL rounds
               keys[2]: ("90071992547409.93", "90071992547409.93"),  # above 2**53 cents
               keys[3]: (1.005, "1.01")}  # a JSON number: decoded as the decimal it spells, not a float
    for key, (sent, _) in amounts.items():
        dba_update(sim, key, FRegisterFund=sent)

    result = sync(resources(sim, mysql_url), day)

    assert result.success
    with sa.create_engine(mysql_url).connect() as conn:
        stored = dict(conn.execute(sa.text(f"SELECT data_id, registered_capital FROM {TARGET} "
                                           f"WHERE data_id IN ({', '.join(map(str, amounts))})")).all())
    assert stored == {key: Decimal(expected) for key, (_, expected) in amounts.items()}
    assert table_keys(mysql_url, QUARANTINE) == set()


TENANT_FUND_TEXTS = ["500万元", "5000万人民币", "1,000.00", "壹佰万", "见营业执照", "100万美元"]
PARSED = {"500万元": Decimal("5000000.00"), "5000万人民币": Decimal("50000000.00"), "1,000.00": Decimal("1000.00"),
          "壹佰万": Decimal("1000000.00"), "见营业执照": None, "100万美元": None}


def test_a_tenant_writing_register_fund_as_text_is_published_not_blocked(sim, target_url):
    """FRegisterFund is a text field in Kingdee's metadata; here a fifth of the values are text."""
    source = source_rows(sim)
    # The range starts at the first partition, which also holds every earlier change.
    keys = sorted(changed_in(source, dt.datetime(1900, 1, 1), dt.datetime(2024, 3, 2)))
    texts = {key: TENANT_FUND_TEXTS[n % len(TENANT_FUND_TEXTS)] for n, key in enumerate(keys[::5])}
    for key, text in texts.items():
        dba_update(sim, key, FRegisterFund=text)
    assert len(texts) > 10  # above the reject gate's floor: as rejects, they would block publishing

    result = sync(resources(sim, target_url), first="2024-01-01", last="2024-03-01")

    assert result.success
    assert table_keys(target_url, TARGET) == set(keys) and table_keys(target_url, QUARANTINE) == set()
    with sa.create_engine(target_url).connect() as conn:
        stored = {key: (amount, text) for key, amount, text in conn.execute(sa.text(
            f"SELECT data_id, registered_capital, registered_capital_text FROM {TARGET}"))}
    for key, text in texts.items():
        amount = stored[key][0]
        assert stored[key][1] == text
        assert (amount is None) if PARSED[text] is None else Decimal(str(amount)) == PARSED[text]
    numeric = next(key for key in keys if key not in texts)
    assert stored[numeric][0] is not None and Decimal(stored[numeric][1]) == Decimal(str(stored[numeric][0]))
