"""Keyset paging checks that the server sent each page in strictly ascending key order."""

import pytest

from kd_assets.kingdee.errors import MalformedResponseError
from kd_assets.kingdee.paging import _check_ascending

ONE, PAIR = ("FCUSTID",), ("FID", "FEntity_FEntryID")


def check(rows, last=None, key_fields=ONE):
    _check_ascending(rows, list(range(len(key_fields))), last, "BD_Customer", key_fields)


def test_ascending_pages_pass():
    check([[1], [2], [10]])
    check([[11], [12]], last=(10,))
    check([])
    check([[5, None], [5, 1], [6, None], [6, 0 + 2]], key_fields=PAIR)  # a null entry id reads as 0
    check([[7, 1]], last=(6, 0), key_fields=PAIR)


@pytest.mark.parametrize("rows, last, culprit", [
    ([[1], [3], [2]], None, "(3,) then (2,)"),
    ([[1], [1]], None, "(1,) then (1,)"),
    ([[10]], (10,), "(10,) then (10,)"),
    ([[9], [11]], (10,), "(10,) then (9,)"),
])
def test_a_key_not_above_the_one_before_is_named(rows, last, culprit):
    with pytest.raises(MalformedResponseError, match="not strictly ascending") as error:
        check(rows, last)
    assert culprit in str(error.value)


def test_pairs_compare_bill_first_then_entry_with_null_as_zero():
    with pytest.raises(MalformedResponseError, match=r"\(5, 1\) then \(5, 0\)"):
        check([[5, 1], [5, None]], key_fields=PAIR)
    with pytest.raises(MalformedResponseError, match=r"\(6, 0\) then \(5, 9\)"):
        check([[5, 9]], last=(6, 0), key_fields=PAIR)
