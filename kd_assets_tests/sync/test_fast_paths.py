"""The clean step's fast paths give what the straightforward per-value definitions give.

Property style: many random chunks mixing ordinary values with tricky ones (whitespace of every
Unicode kind, blanks, None, non-text values, the separators the fast paths join on, fractions,
impossible and out-of-range dates), each compared with the plain definition it replaces.
"""

from __future__ import annotations

import random
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest

import kd_assets.sync.schemas as schemas
from kd_assets.sync.checkproof import ColumnValues, passes_everywhere
from kd_assets.sync.spec import load_spec
from kd_assets.sync.transform import (_DATETIME_RX, DATETIME_MAX, DATETIME_MIN, _all_datetime_text,
                                      _clean_text, _to_int, convert_column, to_frame)

SPACES = [chr(c) for c in range(0x110000) if chr(c).isspace()] + ["\x1c", "\x1f", "\x85", "\u200b", "\ufeff"]
ODD_DIGITS = "٠١٢٣٤٥٦٧٨٩０１２３"  # \d in Python's re, not to numpy
SPECS = [load_spec(name) for name in ("bd_customer", "bd_material", "bd_supplier", "sal_saleorder")]
NOW = pd.Timestamp("2024-06-01 12:00:00")


def a_datetime(rnd: random.Random) -> str:
    text = (f"{rnd.randrange(1000, 10000):04d}-{rnd.randrange(0, 14):02d}-{rnd.randrange(0, 33):02d}"
            f"{rnd.choice('T ')}{rnd.randrange(0, 25):02d}:{rnd.randrange(0, 61):02d}:{rnd.randrange(0, 61):02d}")
    return text + rnd.choice(["", "", "." + "".join(rnd.choice("0123456789") for _ in range(rnd.randrange(1, 8)))])


def odd_datetime(rnd: random.Random) -> object:
    good = a_datetime(rnd)
    return rnd.choice([
        None, good[:10], good[:16], good + "Z", good + "+08:00", good.replace("-", "/"), good + ",", "," + good,
        good + "," + good, good[:4] + rnd.choice(ODD_DIGITS) + good[5:], rnd.choice(SPACES) + good,
        "0001-01-01T00:00:00", "1752-12-31T23:59:59.999", "1753-01-01T00:00:00", "2262-04-10T23:59:59.999",
        "2262-04-11T00:00:00", "9999-12-31T23:59:59", "2024-02-30", "2023-02-29T00:00:00", "2024-W01",
        "2016-12-31T23:59:60", "NaT", "today", 20240101, 1.5, True])


def datetime_column(rnd: random.Random) -> list:
    n, dirt = rnd.choice([1, 3, 40]), rnd.choice([0.0, 0.0, 0.05, 0.5])
    return [odd_datetime(rnd) if rnd.random() < dirt else a_datetime(rnd) for _ in range(n)]


def plain_datetimes(values: list, unit: str) -> tuple[list, list]:
    """The definition, value by value: the pattern, numpy's calendar, the storable range."""
    typed, bad = [], []
    for value in _clean_text(values):
        parsed = np.datetime64("NaT")
        if value is not None and _DATETIME_RX.fullmatch(value):
            try:
                parsed = np.datetime64(value, unit)
            except ValueError:
                pass
        if not np.isnat(parsed) and not DATETIME_MIN <= parsed < DATETIME_MAX:
            parsed = np.datetime64("NaT")
        typed.append(parsed.astype("datetime64[ns]"))
        bad.append(value is not None and np.isnat(parsed))
    return typed, bad


@pytest.mark.parametrize("seed", range(300))
def test_datetime_columns_convert_as_value_by_value(seed):
    rnd = random.Random(seed)
    values = datetime_column(rnd)
    for col in (c for s in SPECS for c in s.columns if c.conversion == "datetime"):
        typed, bad, _ = convert_column(col, values)
        want_typed, want_bad = plain_datetimes(values, "s" if col.sql_type == "datetime" else "ms")
        assert typed.dtype == "datetime64[ns]"
        assert [str(v) for v in typed] == [str(v) for v in want_typed], values
        assert bad.tolist() == want_bad, values


def test_the_datetime_shape_check_agrees_with_the_pattern_on_every_kind_of_character():
    """Each digit of any script, and every character below U+3000, in a digit's and a separator's place."""
    template = "2024-01-02T03:04:05.678"
    chars = [chr(cp) for cp in range(0x3000)] + [chr(cp) for cp in range(0x3000, 0x110000) if chr(cp).isdecimal()]
    for where in (3, 10):
        for char in chars:
            value = template[:where] + char + template[where + 1:]
            assert _all_datetime_text([value]) == (_DATETIME_RX.fullmatch(value) is not None), (hex(ord(char)), where)


@pytest.mark.parametrize("seed", range(300))
def test_the_datetime_shape_check_is_the_pattern_on_every_value(seed):
    rnd = random.Random(seed)
    values = [v for v in _clean_text(datetime_column(rnd))]
    assert _all_datetime_text(values) == all(v is None or _DATETIME_RX.fullmatch(v) for v in values)


def odd_int(rnd: random.Random) -> object:
    big = rnd.choice([2**31, 2**53, 2**63])
    return rnd.choice([
        None, "", " ", "12abc", " 42 ", "4.0", "4.5", "1e3", "-0", "0x10", "٣", True, False, 1.0, 2.5, float("nan"),
        Decimal("7"), big - 1, big, big + 1, -big, -big - 1, 1 - big, str(big - 1), str(big), str(big + 1),
        f"{big}.0", 2**64, -(2**64), "99999999999999999999", rnd.choice(SPACES) + "5"])


@pytest.mark.parametrize("seed", range(300))
def test_int_columns_convert_as_the_general_text_path(seed):
    """JSON ints in C, the rest as text: the same as converting every value as text."""
    rnd = random.Random(seed)
    n, dirt = rnd.choice([1, 3, 40]), rnd.choice([0.0, 0.05, 0.5, 1.0])
    values = [odd_int(rnd) if rnd.random() < dirt else rnd.randrange(-10**6, 10**6) for _ in range(n)]
    for col in (c for s in SPECS for c in s.columns if c.conversion == "int"):
        typed, bad, problem = convert_column(col, values)
        text = np.array(_clean_text(values), dtype=object)
        want_typed, want_bad, want_problem = _to_int(col, text, np.equal(text, None))
        assert pd.array(typed).dtype == "Int64"
        assert [None if pd.isna(v) else int(v) for v in typed] == \
            [None if pd.isna(v) else int(v) for v in want_typed], values
        assert np.asarray(bad).tolist() == want_bad.tolist() and problem in ("", want_problem), values


# ---- validate: the check proofs never pass a column pandera would fail ------------------

def tricky_value(col, rnd: random.Random):
    space = rnd.choice(SPACES)
    return rnd.choice([
        None, "", space, " x", "x" * rnd.choice([255, 256, 80, 81, 50, 51]), "Q", "z", "a", "A", "B", "Z",
        "91350100M000100Y43", "91350100M000100I43", "91350100M000100Y4", "91350100m000100Y43",
        "91350100M000100Y43\n", "x,y", "x\x1fy", -1, 0, "-0.00", "0", "1e30", "NaN", "-1", "abc", 1.5, True,
        "1989-12-31T23:59:59", "1990-01-01T00:00:00", "2024-06-02T12:00:00", "2024-06-02T12:00:01",
        "2099-01-01T00:00:00", "2024-13-01", "12abc", 2**63, "٣", rnd.randrange(10**6)])


def ordinary_value(col, rnd: random.Random, key: int):
    conversion = col.conversion
    if conversion == "int":
        return key
    if conversion in ("decimal", "amount_text"):
        return rnd.choice([0, 1.25, "12.30", 10**6, Decimal("0.001")])
    if conversion == "datetime":
        return f"20{rnd.randrange(10, 24)}-0{rnd.randrange(1, 10)}-1{rnd.randrange(10)}T0{rnd.randrange(10)}:00:00"
    if conversion == "bool":
        return rnd.choice([True, False])
    if col.allowed is not None:
        return rnd.choice(sorted(col.allowed))
    if col.pattern is not None:
        return "91350100M000100Y43"
    return rnd.choice(["Acme", "客户 Co.", "x" * rnd.randrange(1, 30), None if not col.required else "y"])


def random_rows(spec, rnd: random.Random, n: int | None = None, dirt: float | None = None) -> list[list]:
    n = n or rnd.choice([1, 2, 30])
    dirt = rnd.choice([0.0, 0.0, 0.01, 0.2]) if dirt is None else dirt
    rows = []
    for key in range(1, n + 1):
        by_field = {}
        for col in spec.columns:
            by_field.setdefault(col.field, tricky_value(col, rnd) if rnd.random() < dirt
                                else ordinary_value(col, rnd, key))
        rows.append([by_field.get(f, key) for f in spec.field_keys])
    if dirt and rnd.random() < 0.2:
        rows.append(list(rows[0]))  # a duplicate key
    return rows


def as_compared(result) -> tuple:
    return (result.clean.to_dict("list"), [str(v) for v in result.clean.dtypes],
            result.rejects.to_dict("list"))


@pytest.mark.parametrize("seed", range(150))
def test_validate_with_the_check_proofs_is_validate_without_them(seed, monkeypatch):
    rnd = random.Random(seed)
    spec = SPECS[seed % len(SPECS)]
    frame = to_frame(spec, random_rows(spec, rnd))
    now = NOW if seed % 2 else NOW.to_pydatetime()  # callers pass either
    fast = as_compared(schemas.validate(spec, frame, now))
    monkeypatch.setattr(schemas, "passes_everywhere", lambda check, column: False)
    assert repr(fast) == repr(as_compared(schemas.validate(spec, frame, now)))


@pytest.mark.parametrize("seed", range(150))
def test_a_check_proof_holds_only_where_pandera_passes_every_row(seed):
    rnd = random.Random(seed)
    spec = SPECS[seed % len(SPECS)]
    frame = to_frame(spec, random_rows(spec, rnd))
    for schema in schemas._schemas(spec, NOW):
        for name, column in schema.columns.items():
            values = frame[name]
            for check in column.checks:
                if passes_everywhere(check, ColumnValues(values)):
                    assert check(values).check_output.all(), (name, check.name, values.tolist())


def test_the_proofs_hold_on_ordinary_chunks_so_pandera_is_not_run():
    """The point of the proofs: on a clean chunk none of the bd_customer checks needs pandera."""
    spec = SPECS[0]
    frame = to_frame(spec, random_rows(spec, random.Random(7), n=200, dirt=0.0))
    clean = schemas.validate(spec, frame, NOW).clean
    unproven = [(name, check.name) for schema in schemas._schemas(spec, NOW)
                for name, column in schema.columns.items() for check in column.checks
                if not passes_everywhere(check, ColumnValues(clean[name]))]
    assert unproven == []


@pytest.mark.parametrize("values, allowed", [
    (["A", "B", None], ["A", "B"]), (["A", "C"], ["A", "B"]), ([None, None], ["A"]), ([1, "A"], ["A"]),
    (["A", float("nan")], ["A"]), (["", "A"], ["A"]), ([], ["A"]),
])
def test_the_isin_proof_on_edges(values, allowed):
    import pandera.pandas as pa
    check, series = pa.Check.isin(allowed), pd.Series(values, dtype=object)
    if passes_everywhere(check, ColumnValues(series)):
        assert check(series).check_output.all()


@pytest.mark.parametrize("values", [
    [Decimal("0"), Decimal("1")], [Decimal("-0.01")], [Decimal("NaN"), Decimal("1")], [None, Decimal("2")],
    [Decimal("1"), 0], [Decimal("sNaN")],
])
def test_the_minimum_proof_on_edges(values):
    import pandera.pandas as pa
    check, series = pa.Check.ge(0.0), pd.Series(values, dtype=object)
    try:
        want = bool(check(series).check_output.all())
    except Exception:  # noqa: BLE001 - whatever pandera does, the proof must not claim a pass
        want = False
    assert passes_everywhere(check, ColumnValues(series)) in (False, want)
