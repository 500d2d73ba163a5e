"""Exact decimal amounts, and lenient ones from text: ``500万元`` → 5000000, ``壹佰万`` → 1000000.

Some Kingdee fields that hold amounts are *text* in the form's own metadata (FRegisterFund,
注册资本), and tenants write what people type: units (万, 亿), 元 or 人民币, thousands separators,
full-width digits, Chinese numerals. The ``amount_text`` conversion reads what it can and leaves
the rest NULL without a reject (the raw text is kept in its own text column), so such a tenant's
publishing is never blocked by a field that was never numeric to begin with.
"""

from __future__ import annotations

import re
import unicodedata
from decimal import ROUND_HALF_UP, Context, Decimal, InvalidOperation
from typing import Sequence

import numpy as np

# Words around a yuan amount; another currency (美元, USD, 港币…) is left unparsed on purpose.
_YUAN_AFFIXES = re.compile(r"^(?:人民币|RMB|CNY|¥)|(?:元整|元人民币|元|人民币|RMB|CNY)$", re.IGNORECASE)
_ARABIC = re.compile(r"^(?P<number>[+-]?(?:\d+(?:\.\d*)?|\.\d+))(?P<unit>[千万亿]|万亿)?$")
_UNITS = {None: 1, "千": 1000, "万": 10**4, "亿": 10**8, "万亿": 10**12}
_CN_DIGITS = {c: d for d, chars in enumerate(("零〇", "一壹", "二贰两", "三叁", "四肆", "五伍", "六陆", "七柒",
                                               "八捌", "九玖")) for c in chars}
_CN_SMALL = {"十": 10, "拾": 10, "百": 100, "佰": 100, "千": 1000, "仟": 1000}
_CN_BIG = {"万": 10**4, "亿": 10**8}


def exact_decimals(texts: Sequence, precision: int, scale: int) -> tuple[np.ndarray, np.ndarray]:
    """(Decimals rounded half-up to ``scale`` as MySQL rounds, mask of values that are not numbers
    or do not fit ``decimal(precision, scale)``); None stays None.

    Exact where float64 is not: a decimal(18,2) holds 16 integer digits, float64 about 15.9, so
    9999999999999999.99 came out as 1e16 (and was refused by the column's range). The client
    decodes JSON numbers as Decimal, so no digit is lost on the way here either.
    """
    context = Context(prec=max(28, precision + 2), rounding=ROUND_HALF_UP, traps=[InvalidOperation])
    quantum, limit = Decimal(1).scaleb(-scale), Decimal(10) ** (precision - scale)
    create, quantize = context.create_decimal, Decimal.quantize
    out = np.full(len(texts), None, dtype=object)
    bad = np.zeros(len(texts), dtype=bool)
    for pos, text in enumerate(texts):
        if text is None:
            continue
        try:
            value = quantize(create(text), quantum, context=context)
        except (InvalidOperation, ValueError, TypeError):  # not a number, or more digits than fit
            bad[pos] = True
            continue
        if value.is_nan() or abs(value) >= limit:
            bad[pos] = True
        else:
            out[pos] = value if value else abs(value)  # -0.00 is 0.00, as the column stores it
    return out, bad


def amounts_from_text(values: Sequence, precision: int, scale: int) -> tuple[np.ndarray, np.ndarray]:
    """(exact Decimals rounded half-up to ``scale``, mask of nothing): numbers and numeric text
    convert as ``decimal`` does; other text is parsed leniently, and NULL when it cannot be."""
    amounts, unreadable = exact_decimals(values, precision, scale)
    for pos in np.flatnonzero(unreadable):
        parsed = parse_amount(values[pos])
        if parsed is not None:
            amounts[pos] = exact_decimals([parsed], precision, scale)[0][0]
    return amounts, np.zeros(len(amounts), dtype=bool)


def parse_amount(text: object) -> Decimal | None:
    """The yuan amount a person wrote, or None: ``5000万人民币`` → 50000000, ``1,000.00`` → 1000."""
    if not isinstance(text, str):
        return None
    cleaned = unicodedata.normalize("NFKC", text)  # full-width digits, commas and signs
    cleaned = re.sub(r"[\s,，]", "", cleaned)
    cleaned = _YUAN_AFFIXES.sub("", _YUAN_AFFIXES.sub("", cleaned))
    arabic = _ARABIC.match(cleaned)
    if arabic:
        return Decimal(arabic["number"]) * _UNITS[arabic["unit"]]
    return _chinese_numeral(cleaned)


def _chinese_numeral(text: str) -> Decimal | None:
    """壹佰万 → 1000000, 一亿五千万 → 150000000; None if anything else is in the text."""
    if not text:
        return None
    total = section = number = 0
    for char in text:
        if char in _CN_DIGITS:
            number = _CN_DIGITS[char]
        elif char in _CN_SMALL:
            section += (number or 1) * _CN_SMALL[char]
            number = 0
        elif char in _CN_BIG:
            section += number
            number = 0
            if _CN_BIG[char] == 10**8:
                total = (total + section) * 10**8
            else:
                total += section * 10**4
            section = 0
        else:
            return None
    return Decimal(total + section + number)
