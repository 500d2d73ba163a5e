"""A fetched page is landed as the response body the server sent, where its rows still are that
body; read back, it gives exactly the rows landing the parsed rows (encoded again) would."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import sqlalchemy as sa

from kd_assets.kingdee.responses import QueryPage
from kd_assets.sync.landing import decode_page, encode_page, page_body
from kd_assets_tests.sync.rows import SPEC, kd_row

DAY = (dt.datetime(2024, 5, 7), dt.datetime(2024, 5, 8))


def sent_page(rows: list[list], field_keys=SPEC.field_keys, **dumps) -> QueryPage:
    """A page as the client returns it: the body, and the rows it parses to (as client.py parses)."""
    # A lone surrogate can only be sent escaped: backslashreplace writes it as the JSON escape.
    body = json.dumps(rows, ensure_ascii=False, **dumps).encode("utf-8", "backslashreplace")
    return QueryPage(json.loads(body.decode("utf-8"), parse_float=Decimal), body, field_keys)


def tricky_rows() -> list[list]:
    capital = SPEC.field_keys.index(next(c.field for c in SPEC.columns if c.name == "registered_capital"))
    name = SPEC.field_keys.index(next(c.field for c in SPEC.columns if c.name == "customer_name"))
    rows = [kd_row(k) for k in range(1, 8)]
    for row, value in zip(rows, [1.5, 1e21, -0.0, 12345678901234567890, 0.1, 2.50, "3.10"]):
        row[capital] = value
    for row, text in zip(rows, ["客户 Ltd", "e\u0301 \u00e9", "tab\tnew\nline", "\ud800 lone", "\"q\" \\ /", "", None]):
        row[name] = text
    rows[0][name] = {"nested": [1.25, "x"]}  # whatever a server puts in a cell comes back the same
    return rows


def landed(store) -> list[list]:
    return [row for chunk in store.iter_landed(*DAY, chunk_size=1_000) for row in chunk]


def codecs(store) -> list[str]:
    with store.engine.connect() as conn:
        return list(conn.execute(sa.select(store.tables.landing_pages.c.codec)).scalars())


def test_a_page_kept_as_sent_reads_back_as_its_rows_encoded_again_would():
    for dumps in ({}, {"indent": 1}, {"separators": (",", ":")}):
        page = sent_page(tricky_rows(), **dumps)
        codec, body = page_body(page, SPEC.field_keys)
        assert codec.endswith("+sent")
        assert decode_page(codec, body) == decode_page(*encode_page(list(page)))


def test_a_sent_page_lands_and_reads_back_through_the_store(store):
    page = sent_page(tricky_rows())
    expected = decode_page(*encode_page(list(page)))
    assert store.land_rows(page, "run-1", "2024-05-07").landed == 7
    assert [c.endswith("+sent") for c in codecs(store)] == [True]
    assert landed(store) == expected


def test_a_page_whose_rows_are_not_its_body_is_encoded(store):
    changed = sent_page([kd_row(k) for k in (1, 2)])
    changed[1] = kd_row(2, phone="changed after parsing")
    reordered = sent_page([kd_row(3)], field_keys=list(reversed(SPEC.field_keys)))
    store.land_rows(changed, "run-1", None)
    store.land_rows(reordered, "run-1", None)
    assert not any(c.endswith("+sent") for c in codecs(store))
    assert landed(store) == [kd_row(1), kd_row(2, phone="changed after parsing"), kd_row(3)]


def test_only_a_query_page_is_kept_as_sent():
    class Lookalike(list):  # rows built elsewhere that happen to carry a body: encoded all the same
        body, field_keys = b"[]", tuple(SPEC.field_keys)
    rows = [kd_row(1)]
    assert page_body(Lookalike(rows), SPEC.field_keys) == encode_page(rows)
    assert page_body(sent_page(rows), SPEC.field_keys)[0].endswith("+sent")
