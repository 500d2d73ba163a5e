"""Keyset pages by (bill id, entry id) over HTTP: no line skipped or repeated at any page size."""

from __future__ import annotations

from collections import Counter

from kd_assets.kingdee.paging import iter_keyset

from .conftest import ENTRY, FORM, client_for

FIELDS = ["FID", "FBillNo", ENTRY, "FQty"]


def scan(client, fields=FIELDS, **kw) -> list[list[list]]:
    return list(iter_keyset(client, FORM, fields, key_field=("FID", ENTRY), **kw))


def test_pages_of_any_size_give_every_line_once_even_when_bills_straddle_pages(sim):
    with client_for(sim, page_size=1000, server_max_limit=1000) as whole:
        truth = [row for page in scan(whole) for row in page]
    counts = Counter(r[0] for r in truth)
    assert sum(counts.values()) == len(truth) > 37 and max(counts.values()) > 7  # the cap of 37 binds
    for size in (1, 3, 7, 10):
        with client_for(sim, page_size=size, server_max_limit=1000) as c:
            pages = scan(c)
        rows = [row for page in pages for row in page]
        assert rows == truth, size
        straddling = {p[-1][0] for p in pages[:-1]} & {p[0][0] for p in pages[1:]}
        assert straddling, size  # some bill continued on the next page


def test_a_server_cap_below_the_page_size_is_learned_and_nothing_is_lost(sim):
    with client_for(sim, page_size=1000, server_max_limit=1000) as c:
        pages = scan(c, ["FBillNo"])
        assert len(pages[0]) == len(pages[1]) == 37 and c.page_size_for() == 37
    with client_for(sim, page_size=5) as small:
        assert sum(map(len, pages)) == sum(len(p) for p in scan(small, ["FBillNo"]))


def test_a_bill_without_lines_is_one_row_with_entry_id_zero(sim, client):
    saved = client.save(FORM, {"FCustId": {"FNumber": "CUST000001"}, "FDate": "2025-07-01", "FSaleOrderEntry": []})
    bill = saved["Id"]
    rows = [r for page in scan(client) for r in page if r[0] == bill]
    assert rows == [[bill, saved["Number"], 0, None]]


def test_bill_ids_fetch_every_line_of_those_bills(sim, client):
    truth = [r for page in scan(client) for r in page]
    bills = sorted({r[0] for r in truth})[3:6]
    got = [r for page in client.fetch_by_keys(FORM, FIELDS, bills, key_field=("FID", ENTRY)) for r in page]
    assert got == [r for r in truth if r[0] in bills]
