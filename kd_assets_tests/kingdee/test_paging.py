"""Keyset paging: complete, never repeating, even when the source changes between pages."""

import datetime as dt

import pytest

from kd_assets.kingdee import Window
from kd_assets.kingdee.filters import compare
from kd_assets.sync.spec import load_spec

from .conftest import FORM

SPEC = load_spec("bd_customer")
KEY, CHANGE = SPEC.key_field, SPEC.change_time_fields
SCAN = {"key_field": KEY, "change_fields": CHANGE}
ALL_TIME = Window(dt.datetime(1990, 1, 1), dt.datetime(2100, 1, 1))
CLOCK = "2024-06-01 00:00:00"  # generated data ends before this day; writes are stamped from it
NEW_ORG = {"FCreateOrgId": {"FNumber": "100"}, "FUseOrgId": {"FNumber": "100"}}


def _time(text):
    return dt.datetime.fromisoformat(text) if text else None


def _saved_id(result):
    status = result.get("ResponseStatus") or {}
    entities = status.get("SuccessEntitys") or []
    return int(result.get("Id") or entities[0]["Id"])


def _all_rows(client):
    """Every customer's key and change times, through a plain full keyset scan."""
    return [row for page in client.iter_keys(FORM, key_field=KEY, extra_fields=CHANGE) for row in page]


def _in_window(row, window):
    return any(t is not None and window.start <= t < window.end for t in map(_time, row[1:]))


@pytest.fixture
def sim(simulator_factory):
    return simulator_factory(customers=230, clock_start=CLOCK)


@pytest.fixture
def sim_client(sim, make_client):
    return make_client(sim)


def _keys(pages):
    return [row[0] for page in pages for row in page]


def test_window_holds_exactly_the_rows_changed_in_it_half_open(sim_client):
    everything = _all_rows(sim_client)
    modified = sorted(_time(r[1]) for r in everything if r[1])
    window = Window(modified[len(modified) // 4].replace(microsecond=0), modified[3 * len(modified) // 4].replace(microsecond=0))
    expected = sorted(r[0] for r in everything if _in_window(r, window))
    got = _keys(sim_client.iter_window(FORM, ["FCUSTID", "FName"], window, page_size=17, **SCAN))
    assert got == expected and len(set(got)) == len(got)


def test_window_start_is_included_and_end_excluded(sim_client):
    row = next(r for r in _all_rows(sim_client) if r[1] and "." not in r[1])
    at = _time(row[1])
    one_second = Window(at, at + dt.timedelta(seconds=1))
    assert row[0] in _keys(sim_client.iter_window(FORM, ["FCUSTID"], one_second, **SCAN))
    assert row[0] not in _keys(sim_client.iter_window(FORM, ["FCUSTID"], Window(at - dt.timedelta(hours=1), at),
                                                      key_field=KEY, change_fields=("FModifyDate",)))


def test_aware_window_is_converted_to_source_time(sim_client):
    local = Window(dt.datetime(2023, 1, 1, 8, 0), dt.datetime(2024, 1, 1, 8, 0))
    utc = Window(dt.datetime(2023, 1, 1, tzinfo=dt.timezone.utc), dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc))
    assert (_keys(sim_client.iter_window(FORM, ["FCUSTID"], local, **SCAN))
            == _keys(sim_client.iter_window(FORM, ["FCUSTID"], utc, **SCAN)))


def test_pages_are_full_until_the_last_short_one_which_an_empty_page_confirms(sim_client):
    pages = list(sim_client.iter_window(FORM, ["FNumber", "FName"], ALL_TIME, page_size=50, **SCAN))
    assert [len(p) for p in pages[:-1]] == [50] * (len(pages) - 1) and 0 < len(pages[-1]) < 50
    assert all(len(row) == 2 for page in pages for row in page)  # key fetched for paging, then cut off
    assert sim_client.stats.calls == len(pages) + 1  # a short page proves nothing; the empty one ends it
    assert "kingdee_server_row_cap_observed" not in sim_client.stats.as_metadata()


def test_every_scan_is_complete_when_the_server_caps_rows_below_the_page_size(simulator_factory, make_client,
                                                                             caplog):
    """A real server above its WebAPIMaxQueryLimit silently returns fewer rows: not an end of data."""
    sim = simulator_factory(customers=300, clock_start=CLOCK, max_limit=40)
    truth = _keys(make_client(sim, server_max_limit=40).iter_keys(FORM, key_field=KEY))
    assert len(truth) == 300
    client = make_client(sim, page_size=2000, server_max_limit=2000, keys_per_request=100)
    with caplog.at_level("WARNING", logger="kd_assets.kingdee"):
        assert _keys(client.iter_keys(FORM, key_field=KEY)) == truth
        assert _keys(client.iter_window(FORM, ["FCUSTID", "FName"], ALL_TIME, **SCAN)) == truth
        fetched = client.fetch_by_keys(FORM, ["FCUSTID", "FNumber"], truth, key_field=KEY)
        assert _keys(fetched) == truth
    assert client.stats.server_row_cap_observed == 40
    assert client.stats.as_metadata()["kingdee_server_row_cap_observed"] == 40
    learned = [r.getMessage() for r in caplog.records if "at most 40 rows per call" in r.getMessage()]
    assert len(learned) == 1 and "page_size 2000" in learned[0] and "server_max_limit 2000" in learned[0]
    # Learned once, later scans ask for 40: 8 pages each (7 full, 1 short) plus the confirming empty page.
    calls = client.stats.calls
    assert _keys(client.iter_keys(FORM, key_field=KEY)) == truth
    assert client.stats.calls - calls == 9


def test_page_size_is_clamped_to_the_server_cap(sim, make_client):
    client = make_client(sim, server_max_limit=100, page_size=5000)
    pages = list(client.iter_keys(FORM, key_field=KEY))
    assert max(len(p) for p in pages) == 100
    assert sum(len(p) for p in pages) == len(_all_rows(client))


def test_no_row_skipped_or_repeated_when_rows_change_between_pages(sim_client):
    """Window covers all time, so edited, forbidden and created rows stay in it: each must come once."""
    client = sim_client
    before = {r[0] for r in _all_rows(client)}
    seen, created = [], []
    for number, page in enumerate(client.iter_window(FORM, ["FCUSTID", "FName"], ALL_TIME, page_size=40, **SCAN)):
        seen += [row[0] for row in page]
        if number < 3:
            unseen = sorted(before - set(seen))
            client.save(FORM, {"FCUSTID": seen[0], "FName": f"edited seen {number}"})
            client.save(FORM, {"FCUSTID": unseen[-1], "FName": f"edited unseen {number}"})
            client.execute_operation(FORM, "Forbid", [seen[1 + number], unseen[0]])
            created.append(_saved_id(client.save(FORM, {"FNumber": f"PG-NEW-{number}", "FName": "new", **NEW_ORG})))
    assert len(seen) == len(set(seen)), "a row was read twice"
    assert set(seen) == before | set(created), "a row was skipped"


def test_rows_leaving_the_window_mid_scan_do_not_shift_later_pages(sim_client):
    """Offset paging skips a row whenever an earlier row leaves the filter; keyset paging does not."""
    client = sim_client
    window = Window(dt.datetime(1990, 1, 1), dt.datetime.fromisoformat(CLOCK))  # writes land after it
    expected = [r[0] for r in _all_rows(client) if _in_window(r, window)]
    seen = []
    for page in client.iter_window(FORM, ["FCUSTID"], window, key_field=KEY, change_fields=("FModifyDate",),
                                   page_size=30):
        seen += [row[0] for row in page]
        for key in seen[-3:]:  # edit rows already read: they move out of the window
            client.save(FORM, {"FCUSTID": key, "FName": "moved out"})
    assert seen == expected


def test_offset_paging_would_have_skipped_rows_under_the_same_edits(sim_client):
    """The control for the test above: the same edits make StartRow paging lose rows."""
    client = sim_client
    window_filter = "FModifyDate < '2024-06-01 00:00:00'"
    expected = _keys([client.execute_bill_query(FORM, ["FCUSTID"], window_filter, "FCUSTID ASC")])
    seen, start = [], 0
    while True:
        page = client.execute_bill_query(FORM, ["FCUSTID"], window_filter, "FCUSTID ASC", start_row=start, limit=30)
        seen += [row[0] for row in page]
        for key in seen[-3:]:
            client.save(FORM, {"FCUSTID": key, "FName": "moved out"})
        if len(page) < 30:
            break
        start += 30
    assert len(set(expected) - set(seen)) > 0


def test_injection_attempt_is_matched_literally(sim_client):
    client = sim_client
    name = "x' or '1'='1"
    key = _saved_id(client.save(FORM, {"FNumber": "INJ-1", "FName": name, **NEW_ORG}))
    rows = client.execute_bill_query(FORM, ["FCUSTID", "FName"], compare("FName", "=", name))
    assert rows == [[key, name]]
    by_name = compare("FName", "=", name)
    assert _keys(client.iter_window(FORM, ["FCUSTID"], ALL_TIME, extra_filter=by_name, **SCAN)) == [key]


def test_extra_filter_template_and_user_or_stay_inside_parentheses(sim_client):
    client = sim_client
    org_rows = _keys(client.iter_window(FORM, ["FCUSTID"], ALL_TIME, extra_filter="FUseOrgId.FNumber = '101'",
                                        **SCAN))
    either = _keys(client.iter_window(
        FORM, ["FCUSTID"], ALL_TIME,
        extra_filter="FUseOrgId.FNumber = '101' or FModifyDate >= '{{WINDOW_END|datetime}}'", **SCAN))
    assert org_rows and either == org_rows  # the `or` did not escape the window predicate


def test_iter_keys_and_fetch_by_keys_agree(sim, make_client):
    client = make_client(sim, keys_per_request=25)
    keys = [row[0] for page in client.iter_keys(FORM, key_field=KEY, page_size=60) for row in page]
    wanted = keys[::3]
    fetched = [row for page in client.fetch_by_keys(FORM, ["FNumber", "FCUSTID"], wanted, key_field=KEY)
               for row in page]
    assert [row[1] for row in fetched] == wanted
