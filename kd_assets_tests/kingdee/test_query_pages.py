"""A query page keeps the response body it was parsed from, only while its rows are exactly that body."""

import datetime as dt
import json
from decimal import Decimal

from kd_assets.kingdee import Window
from kd_assets.kingdee.responses import QueryPage
from kd_assets.sync.spec import load_spec

from .conftest import FORM

SPEC = load_spec("bd_customer")
ALL_TIME = Window(dt.datetime(1990, 1, 1), dt.datetime(2100, 1, 1))
SCAN = {"key_field": SPEC.key_field, "change_fields": SPEC.change_time_fields}


def test_a_fetched_page_keeps_the_body_it_was_parsed_from(simulator, client):
    pages = list(client.iter_window(FORM, SPEC.field_keys, ALL_TIME, page_size=7, **SCAN))
    assert len(pages) > 1
    for page in pages:
        assert isinstance(page, QueryPage) and page.field_keys == tuple(SPEC.field_keys)
        assert json.loads(page.body.decode("utf-8"), parse_float=Decimal) == page


def test_a_page_cut_back_to_the_asked_fields_carries_no_body(simulator, client):
    # The key field is fetched for paging, then cut off: the rows are no longer the body.
    pages = list(client.iter_window(FORM, ["FName", "FModifyDate"], ALL_TIME, page_size=7, **SCAN))
    assert pages and all(getattr(page, "body", None) is None for page in pages)


def test_a_page_gives_its_body_only_while_it_holds_the_rows_parsed_from_it():
    def page():
        return QueryPage([[1], [2]], b"[[1],[2]]", ["FCUSTID"])
    changes = [lambda p: p.append([3]), lambda p: p.extend([[3]]), lambda p: p.insert(0, [3]), lambda p: p.pop(),
               lambda p: p.remove([1]), lambda p: p.clear(), lambda p: p.reverse(), lambda p: p.__delitem__(0),
               lambda p: p.__iadd__([[3]]), lambda p: p.__imul__(2), lambda p: p.__setitem__(0, [9]),
               lambda p: p.__setitem__(0, [1]),  # an equal row is not the row parsed: 1.50 and 1.5 are equal
               lambda p: p.__setitem__(slice(None), [p[1], p[0]]), lambda p: p.sort(key=lambda r: -r[0])]
    for change in changes:
        changed = page()
        change(changed)
        assert changed.sent_body(["FCUSTID"]) is None
    unchanged = [lambda p: None, lambda p: p.sort(), lambda p: p.append([3]) or p.pop(),
                 lambda p: p.__setitem__(slice(None), list(p))]
    for change in unchanged:
        kept = page()
        change(kept)
        assert kept.sent_body(["FCUSTID"]) == b"[[1],[2]]"
    assert page().sent_body(["FNumber"]) is None  # the body's rows are in other fields
    assert type(page()[:1]) is list and type(list(page())) is list
