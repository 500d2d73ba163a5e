"""Integers from 2**53 on come back from the database exactly, also in a chunk where the same column
holds a NULL (pandas' row constructor reads such a column as float64, which rounds them): through
iter_clean, the target reads (read_target, iter_target) and a split bill's header publish."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
import sqlalchemy as sa
import yaml

from kd_assets.sync.bill_headers_publish import newest_headers
from kd_assets.sync.schemas import validate
from kd_assets.sync.spec import SPECS_DIR, parse_spec
from kd_assets.sync.store import TargetStore, create_target_engine
from kd_assets.sync.transform import to_frame

from .rows import clean_frame, kd_row

BIG = 2**53 + 1  # float64 holds 2**53 and 2**53 + 2, not this
END = dt.datetime(2030, 1, 1)


def assert_exact(values: pd.Series) -> None:
    assert str(values.dtype) == "Int64"
    assert [None if pd.isna(v) else int(v) for v in values] == [BIG, None]


def stored(store, table: sa.Table, column: str, key: str) -> list:
    with store.engine.connect() as conn:
        return [v for (v,) in conn.execute(sa.select(table.c[column]).order_by(table.c[key]))]


def test_big_ints_beside_nulls_read_back_exactly(store):
    store.write_clean(clean_frame(kd_row(1, master_id=BIG), kd_row(2, master_id=None)), "r1", "p")
    clean = pd.concat(store.iter_clean(None, END), ignore_index=True)
    assert_exact(clean["master_id"])

    store.upsert_target(clean, "r1")  # the frame path writes what iter_clean read
    assert stored(store, store.tables.target, "master_id", "data_id") == [BIG, None]
    assert_exact(store.read_target()["master_id"])
    assert_exact(pd.concat(store.iter_target(lambda key: key > 0), ignore_index=True)["master_id"])


SPLIT_DOC = yaml.safe_load((SPECS_DIR / "sal_saleorder.yaml").read_text(encoding="utf-8"))
SPLIT_DOC["bill"]["layout"] = "header_and_lines"
SPLIT_DOC["columns"].append({"field": "FCustId", "name": "customer_id", "type": "bigint", "conversion": "int"})
SPLIT = parse_spec(SPLIT_DOC, SPECS_DIR / "sal_saleorder.yaml", name="sal_saleorder")


def order_row(bill: int, customer_id: int | None) -> list:
    values = {"FID": bill, "FBillNo": f"SO{bill}", "FDate": "2025-06-01T00:00:00", "FDocumentStatus": "C",
              "FModifyDate": "2025-06-02T10:00:00", "FSaleOrderEntry_FEntryID": 1, "FQty": 1, "FPrice": 2,
              "FCustId": customer_id}
    return [values.get(f) for f in SPLIT.field_keys]


@pytest.fixture
def split_store(target_url):
    store = TargetStore(create_target_engine(target_url), SPLIT)
    store.ensure_tables()
    yield store
    store.engine.dispose()


def test_a_split_bills_big_header_ints_beside_nulls_publish_and_read_back_exactly(split_store):
    store = split_store
    result = validate(SPLIT, to_frame(SPLIT, [order_row(1, BIG), order_row(2, None)]), now=pd.Timestamp(END))
    assert result.rejects.empty, result.rejects.to_dict("records")
    store.write_clean(result.clean, "r1", "p")
    with store.engine.connect() as conn:
        assert_exact(newest_headers(conn, store, 0, 2**62, None, END)["customer_id"])

    store.publish_clean(None, END, "r1")
    assert stored(store, store.tables.headers, "customer_id", "bill_id") == [BIG, None]
    assert_exact(store.read_target()["customer_id"])
    assert_exact(pd.concat(store.iter_target(lambda key: key > 0), ignore_index=True)["customer_id"])
