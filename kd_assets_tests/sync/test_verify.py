"""Content verification against the simulator (HTTP) and a real target (MariaDB and SQLite).

The target is first loaded by a reconciliation; then the source changes in ways that move no
change time (a DBA's UPDATE, a second Save within the same second), which the key reconciliation
cannot see, and a verification compares, heals and reports.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
import sqlalchemy as sa

from kd_assets.sync.reconcile import reconcile
from kd_assets.sync.verify import verify_content
from kd_assets.sync.verify_scope import FULL_SCOPE, todays_scope, verify_days_from_env
from kd_assets_tests.sync.reconcile_scenario import (  # noqa: F401 (client, sim: fixtures)
    FORM, PASS, SPEC, assert_target_equals_source, client, inject_faults, kingdee_client, live_target_rows, sim,
)
from kd_assets_tests.sync.verify_scenario import freeze_clock, plain_customers, silent_update, source_row

NOW = pd.Timestamp("2030-01-01")


@pytest.fixture
def loaded(client, store):
    """The target after a first reconciliation loaded all 300 source rows into it."""
    assert reconcile(client, store, SPEC, "initial-load").heal.upserted.inserted == 300
    return store


def verify(client, store, scope=FULL_SCOPE, **options):
    return verify_content(client, store, SPEC, "verify", scope, now=NOW, **options)


def test_a_silent_dba_edit_is_healed_and_reported(sim, client, loaded):
    key = plain_customers(client, 10)[-1]
    silent_update(sim, key, FName="悄悄改名有限公司", FTEL="021-55550000")
    assert reconcile(client, loaded, SPEC, "keys-only").differences == 0, "the key scan cannot see it"

    report = reconcile(client, loaded, SPEC, "reconcile-1", verify_days=1)

    content = report.content
    assert (content.source_rows, content.checked, content.differs, content.healed) == (300, 300, 1, 1)
    assert content.samples == [{"key": key, "columns": ["customer_name", "phone"]}]
    assert report.status == "healed" and report.unresolved == 0 and report.healed_rows == 1
    assert "1 differed" in report.summary() and "healed 1" in report.summary()
    assert_target_equals_source(client, loaded)
    again = reconcile(client, loaded, SPEC, "reconcile-2", verify_days=1)
    assert again.content.differs == 0 and again.status == "in_sync"


def test_a_second_edit_within_the_same_second_is_healed(sim, client, loaded):
    key = plain_customers(client, 3)[-1]
    freeze_clock(sim, "2024-03-02 08:00:00")  # both Saves are stamped 2024-03-02T08:00:00
    client.save(FORM, {"FCUSTID": key, "FName": "第一次修改有限公司"})
    assert reconcile(client, loaded, SPEC, "absorbs-first-edit").heal.changed == 1
    client.save(FORM, {"FCUSTID": key, "FName": "第二次修改有限公司"})
    assert source_row(client, key, "FModifyDate")["FModifyDate"] == "2024-03-02T08:00:00"
    assert reconcile(client, loaded, SPEC, "keys-only").differences == 0, "same change time, same status"

    content = verify(client, loaded)

    assert content.samples == [{"key": key, "columns": ["customer_name"]}]
    assert content.heal.upserted.updated == 1, "the >= guard lets a same-change-time version through"
    assert live_target_rows(loaded).set_index("data_id").loc[key, "customer_name"] == "第二次修改有限公司"
    assert_target_equals_source(client, loaded)


def test_a_freshly_synced_table_with_dirty_rows_has_no_false_differences(simulator_factory, store):
    dirty = simulator_factory(customers=400, seed=11, clock_start="2024-03-01 12:00:00", dirty_share=0.05,
                              millis_share=0.5)
    with kingdee_client(dirty) as c:
        load = reconcile(c, store, SPEC, "initial-load")
        raw = [r for page in c.iter_keys(FORM, key_field=SPEC.key_field, extra_fields=SPEC.field_keys[1:])
               for r in page]
        content = verify(c, store)

    fields = dict(zip(SPEC.field_keys, zip(*raw)))
    # The normalisations this test is about are all in the data: text amounts, milliseconds,
    # datetimes without them, '' and ' ' for empty text, flags, and rows that fail validation.
    assert any(isinstance(v, str) for v in fields["FRegisterFund"])
    assert any(v and "." in v for v in fields["FModifyDate"]) and any(v and "." not in v for v in fields["FModifyDate"])
    assert {"", " "} <= set(fields["FShortName"]) and {True, False} <= set(fields["FIsGroup"])
    assert load.heal.quarantined >= 10
    live = len(live_target_rows(store))
    assert (content.source_rows, content.checked, content.differs) == (400, live, 0)
    assert content.known_rejects == load.heal.quarantined and content.new_rejects == 0
    assert (content.missing_in_target, content.missing_at_source, content.unresolved) == (0, 0, 0)


def test_a_silent_edit_that_makes_a_row_invalid_is_quarantined_once(sim, client, loaded):
    key = plain_customers(client, 5)[-1]
    silent_update(sim, key, FName=" ")

    first = verify(client, loaded)
    second = verify(client, loaded)

    assert (first.new_rejects, first.heal.quarantined, first.differs, first.unresolved) == (1, 1, 0, 0)
    assert key in set(loaded.quarantined()["record_key"].astype(int))
    assert (second.new_rejects, second.known_rejects, second.heal.quarantined) == (0, 1, 0)


def test_an_edit_of_the_target_itself_is_healed(client, loaded):
    key = plain_customers(client, 7)[-1]
    t = loaded.tables.target
    with loaded.engine.begin() as conn:  # the stored row signature still matches the source's
        conn.execute(t.update().where(t.c.data_id == key).values(address="改过的地址", registered_capital=1))

    content = verify(client, loaded)

    assert content.samples == [{"key": key, "columns": ["registered_capital", "address"]}]
    assert content.healed == 1
    assert_target_equals_source(client, loaded)


def test_rows_missing_on_either_side_are_counted_and_left_to_reconciliation(client, loaded):
    gone, copied = plain_customers(client, 2)
    t = loaded.tables.target
    with loaded.engine.begin() as conn:  # a lost row, and a row the source never had (after its last key)
        conn.execute(t.delete().where(t.c.data_id == gone))
        conn.execute(t.insert().from_select(
            [c.name for c in t.columns],
            sa.select(*[(c + 10_000_000).label(c.name) if c.name == "data_id" else c for c in t.columns])
            .where(t.c.data_id == copied)))

    content = verify(client, loaded)

    assert (content.missing_in_target, content.missing_at_source, content.differs) == (1, 1, 0)
    assert content.heal.upserted.total == 0 and content.unresolved == 0


def test_a_dry_run_reports_and_changes_nothing(sim, client, loaded):
    key = plain_customers(client, 2)[-1]
    silent_update(sim, key, FADDRESS="上海市浦东新区某路1号")
    before = live_target_rows(loaded)

    content = verify(client, loaded, apply=False)

    assert content.differs == 1 and content.healed == 0 and content.unresolved == 1
    assert live_target_rows(loaded).equals(before)


def test_the_rolling_slice_covers_every_key_exactly_once_over_n_days(client, loaded):
    days, first = 7, dt.date(2024, 3, 4)
    scopes = [todays_scope(loaded.engine, loaded.tables.target, loaded.key, first + dt.timedelta(d), days)
              for d in range(days)]
    reports = [verify(client, loaded, scope) for scope in scopes]

    assert sorted(s.index for s in scopes) == list(range(days))
    keys = [int(k) for k in live_target_rows(loaded)["data_id"]]
    assert all(sum(s.contains(k) for s in scopes) == 1 for k in keys)
    assert sum(r.source_rows for r in reports) == sum(r.checked for r in reports) == 300
    assert all(abs(r.source_rows - 300 / days) <= 1 for r in reports), [r.source_rows for r in reports]
    assert all(r.differs == r.missing_in_target == r.missing_at_source == 0 for r in reports)


def test_keys_new_at_the_source_fall_into_a_slice(client, loaded):
    days = 5
    scopes = [todays_scope(loaded.engine, loaded.tables.target, loaded.key, dt.date(2024, 3, 4) + dt.timedelta(d),
                           days) for d in range(days)]

    assert [s.contains(1) for s in scopes].count(True) == 1, "below every target key"
    assert [s.contains(10**12) for s in scopes].count(True) == 1, "above every target key"


def test_verification_holds_one_page_at_a_time(sim, client, loaded):
    key = plain_customers(client, 200)[-1]
    silent_update(sim, key, FLegalPerson="赵六")
    with kingdee_client(sim, page_size=40) as small_pages:
        content = verify(small_pages, loaded)

    assert content.source_rows == 300 and content.pages == 8
    assert content.max_rows_held <= 2 * 40, "one source page and one target chunk of the same size"
    assert content.samples == [{"key": key, "columns": ["legal_person"]}] and content.healed == 1


def test_a_kingdee_failure_midway_is_reported_and_unresolved(sim, loaded):
    inject_faults(sim, PASS, "http_500", "http_500", "http_500")  # page 2 fails past the retries
    with kingdee_client(sim, page_size=100) as c:
        content = verify(c, loaded)

    assert content.source_rows == 100 and content.failed and "after 100 rows" in content.failed
    assert content.unresolved == 1


def test_verify_days_is_read_and_checked_from_the_environment():
    assert verify_days_from_env({}) == 7
    assert verify_days_from_env({"KD_VERIFY_DAYS": "30"}) == 30
    assert verify_days_from_env({"KD_VERIFY_DAYS": "0"}) == 0
    with pytest.raises(ValueError, match="KD_VERIFY_DAYS"):
        verify_days_from_env({"KD_VERIFY_DAYS": "weekly"})
